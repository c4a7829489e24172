//! A push consumer's per-topic rates, as it reports them in its running info
//! (GET_CONSUMER_RUNNING_INFO's `statusTable`; `mqadmin consumerStatus` prints them): pull round
//! trip and messages pulled per second, listener time per call, messages consumed and failed
//! per second, and messages failed in the last hour.
//!
//! Counters only grow; each topic keeps snapshots of them at most every `SAMPLE_EVERY`, taken as
//! they are recorded or read (no timer task), for up to an hour. A rate is the growth since the
//! newest snapshot at least a minute old (or the oldest one, early on), over the time between:
//! Java's "last minute" figures, without its sampling thread.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use courier_remoting::body::ConsumeStatus;
use parking_lot::Mutex;

/// How often a topic's counters are snapshotted (Java samples its minute figures every 10 s).
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The window of the per-second rates.
const RATE_WINDOW: Duration = Duration::from_secs(60);
/// The window of `consumeFailedMsgs`.
const FAILED_WINDOW: Duration = Duration::from_secs(3600);

/// What one topic has seen since the consumer started.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    pulls: u64,
    pull_micros: u64,
    pulled: u64,
    calls: u64,
    call_micros: u64,
    ok: u64,
    failed: u64,
}

#[derive(Default)]
struct Topic {
    now: Totals,
    /// Oldest first; the first is taken when the topic is first seen.
    samples: VecDeque<(Instant, Totals)>,
}

impl Topic {
    fn sample(&mut self, at: Instant) {
        let due = self
            .samples
            .back()
            .is_none_or(|(t, _)| at.saturating_duration_since(*t) >= SAMPLE_EVERY);
        if due {
            self.samples.push_back((at, self.now));
        }
        // Keep one snapshot at least FAILED_WINDOW old, so the hour is always covered.
        while self.samples.len() > 1
            && at.saturating_duration_since(self.samples[1].0) >= FAILED_WINDOW
        {
            self.samples.pop_front();
        }
    }

    /// The newest snapshot at least `window` old at `at`, or the oldest one.
    fn base(&self, at: Instant, window: Duration) -> Option<&(Instant, Totals)> {
        self.samples
            .iter()
            .rev()
            .find(|(t, _)| at.saturating_duration_since(*t) >= window)
            .or_else(|| self.samples.front())
    }
}

/// The rates of every topic a consumer pulls.
#[derive(Default)]
pub(crate) struct ConsumeStats {
    topics: Mutex<HashMap<String, Topic>>,
}

impl ConsumeStats {
    fn with_topic(&self, topic: &str, at: Instant, f: impl FnOnce(&mut Totals)) {
        let mut topics = self.topics.lock();
        let t = match topics.get_mut(topic) {
            Some(t) => t,
            None => topics.entry(topic.to_string()).or_default(),
        };
        t.sample(at);
        f(&mut t.now);
    }

    /// A pull of `topic` that took `took` and brought `messages`.
    pub(crate) fn pulled(&self, topic: &str, messages: usize, took: Duration) {
        self.with_topic(topic, Instant::now(), |t| {
            t.pulls += 1;
            t.pull_micros += took.as_micros() as u64;
            t.pulled += messages as u64;
        });
    }

    /// One listener call on `messages` messages of `topic` that took `took`.
    pub(crate) fn consumed(&self, topic: &str, messages: usize, ok: bool, took: Duration) {
        self.with_topic(topic, Instant::now(), |t| {
            t.calls += 1;
            t.call_micros += took.as_micros() as u64;
            if ok {
                t.ok += messages as u64;
            } else {
                t.failed += messages as u64;
            }
        });
    }

    /// `topic`'s figures now (all zero for a topic nothing was recorded for).
    pub(crate) fn status(&self, topic: &str) -> ConsumeStatus {
        self.status_at(topic, Instant::now())
    }

    fn status_at(&self, topic: &str, at: Instant) -> ConsumeStatus {
        let mut topics = self.topics.lock();
        let Some(t) = topics.get_mut(topic) else {
            return ConsumeStatus::default();
        };
        t.sample(at);
        let now = t.now;
        let (Some(&(since, r)), Some(&(_, h))) =
            (t.base(at, RATE_WINDOW), t.base(at, FAILED_WINDOW))
        else {
            return ConsumeStatus::default();
        };
        let secs = at.saturating_duration_since(since).as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let mean_ms = |micros: u64, n: u64| {
            if n == 0 {
                0.0
            } else {
                micros as f64 / n as f64 / 1000.0
            }
        };
        ConsumeStatus {
            consume_failed_msgs: (now.failed - h.failed) as i64,
            consume_failed_tps: per_s(now.failed - r.failed),
            consume_ok_tps: per_s(now.ok - r.ok),
            consume_rt: mean_ms(now.call_micros - r.call_micros, now.calls - r.calls),
            pull_rt: mean_ms(now.pull_micros - r.pull_micros, now.pulls - r.pulls),
            pull_tps: per_s(now.pulled - r.pulled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(s: &ConsumeStats, at: Instant, pulled: u64, ok: u64, failed: u64) {
        s.with_topic("T", at, |t| {
            t.pulls += 1;
            t.pull_micros += 2_000;
            t.pulled += pulled;
            t.calls += 1;
            t.call_micros += 500;
            t.ok += ok;
            t.failed += failed;
        });
    }

    #[test]
    fn rates_cover_the_last_minute_and_failures_the_last_hour() {
        let s = ConsumeStats::default();
        let t0 = Instant::now();
        // 10 failures at the start, then steady traffic every 10 s for two hours.
        record(&s, t0, 0, 0, 10);
        for i in 1..=720 {
            record(&s, t0 + Duration::from_secs(10 * i), 100, 90, 10);
        }
        let at = t0 + Duration::from_secs(7200);
        let st = s.status_at("T", at);
        // The newest snapshot a minute old was taken just before the record at 7140 s, so the
        // seven records since (7140 s to 7200 s) count, over 60 s.
        assert!((st.pull_tps - 700.0 / 60.0).abs() < 1e-9, "{st:?}");
        assert!((st.consume_ok_tps - 630.0 / 60.0).abs() < 1e-9, "{st:?}");
        assert!((st.consume_failed_tps - 70.0 / 60.0).abs() < 1e-9, "{st:?}");
        assert!((st.pull_rt - 2.0).abs() < 1e-9, "{st:?}");
        assert!((st.consume_rt - 0.5).abs() < 1e-9, "{st:?}");
        // Failures from 3600 s on (361 records); the first hour's are out of the window.
        assert_eq!(st.consume_failed_msgs, 3610);
        // Memory stays bounded: an hour of snapshots, not two.
        assert!(s.topics.lock()["T"].samples.len() <= 362);
    }

    #[test]
    fn a_quiet_topic_decays_to_zero_and_an_unknown_one_is_all_zero() {
        let s = ConsumeStats::default();
        let t0 = Instant::now();
        record(&s, t0, 100, 100, 0);
        let later = s.status_at("T", t0 + Duration::from_secs(600));
        assert!(later.pull_tps < 0.2, "{later:?}");
        assert_eq!(later.consume_failed_msgs, 0);
        assert_eq!(s.status("U"), ConsumeStatus::default());
    }
}
