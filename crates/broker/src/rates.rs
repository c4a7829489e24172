//! Rates and sums over the last minute, hour and day, for the admin statistics RocketMQ's tools
//! show: `topicPutTps` of GET_TOPIC_STATS_INFO, `consumeTps` of GET_CONSUME_STATS, the
//! minute / hour / day figures of VIEW_BROKER_STATS_DATA (`mqadmin statsAll`'s messages in the
//! last 24 hours), and the broker-wide rates over 10 s, a minute and 10 minutes of
//! GET_BROKER_RUNTIME_INFO (`putTps` and the like).
//!
//! Rates come from totals that grow anyway, sampled every [`SAMPLE_EVERY`]: a topic's puts are
//! the sum of its queues' max offsets, a group's consumption of a topic the sum of its committed
//! offsets, the broker's puts and gets its counters. So the send path counts nothing for them
//! (the pull path counts found and missed pulls for the runtime info). As Java's `StatsItem`
//! keeps them, each key has three rings: every sample for the table's fine span (a minute, or 10
//! minutes for the broker-wide tables), one sample per [`HOUR_STEP`] for the last hour, one per
//! [`DAY_STEP`] for the last day. A figure over a span is the newest sample minus the newest one
//! at least the span older (else the oldest kept, which may be up to one step older than the
//! span for the coarse rings), and 0 until two samples exist. A total that went down (a queue
//! deleted, offsets reset backwards) counts as no progress, not as a negative rate.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often the background service samples the totals.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The span a rate covers.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The fine span of the broker-wide tables: the runtime info's longest rate.
pub const TEN_MINUTES: Duration = Duration::from_secs(600);
/// Spacing of the samples kept for the last hour.
pub const HOUR_STEP: Duration = Duration::from_secs(600);
/// Spacing of the samples kept for the last day.
pub const DAY_STEP: Duration = Duration::from_secs(3600);

/// A span figures are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Minute,
    Hour,
    Day,
}

impl Span {
    /// (how long its ring reaches back, the spacing of its kept samples); the minute's ring is
    /// the table's fine ring.
    fn shape(self, fine: Duration) -> (Duration, Duration) {
        match self {
            Span::Minute => (fine, Duration::ZERO),
            Span::Hour => (Duration::from_secs(3600), HOUR_STEP),
            Span::Day => (Duration::from_secs(24 * 3600), DAY_STEP),
        }
    }
}

/// What a span saw: how much the total grew and the rate per second.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpanFigures {
    pub sum: u64,
    pub per_second: f64,
}

/// One key's samples, one ring per span.
#[derive(Default)]
struct Rings {
    rings: [VecDeque<(Instant, u64)>; 3],
}

fn index(span: Span) -> usize {
    match span {
        Span::Minute => 0,
        Span::Hour => 1,
        Span::Day => 2,
    }
}

impl Rings {
    fn push(&mut self, now: Instant, total: u64, fine: Duration) {
        for span in [Span::Minute, Span::Hour, Span::Day] {
            let (length, step) = span.shape(fine);
            let ring = &mut self.rings[index(span)];
            let due = ring
                .back()
                .is_none_or(|&(t, _)| now.duration_since(t) >= step);
            if due {
                ring.push_back((now, total));
            }
            // Keep the oldest sample at least `length` old: a figure can then span all of it.
            while ring.len() > 2 && now.duration_since(ring[1].0) >= length {
                ring.pop_front();
            }
        }
    }

    /// The growth over `length` in `span`'s ring, up to the newest sample.
    fn over(&self, span: Span, length: Duration) -> SpanFigures {
        let ring = &self.rings[index(span)];
        // The coarse rings take a sample only every step; the newest total is the fine ring's.
        let Some(&(t1, b)) = self.rings[index(Span::Minute)].back() else {
            return SpanFigures::default();
        };
        let from = ring
            .iter()
            .rev()
            .find(|(t, _)| t1.duration_since(*t) >= length)
            .or(ring.front());
        match from {
            Some(&(t0, a)) if t1 > t0 => {
                let sum = b.saturating_sub(a);
                SpanFigures {
                    sum,
                    per_second: sum as f64 / t1.duration_since(t0).as_secs_f64(),
                }
            }
            _ => SpanFigures::default(),
        }
    }
}

/// Samples of growing totals, by key.
pub struct RateTable<K> {
    samples: Mutex<HashMap<K, Rings>>,
    /// How long the every-sample ring reaches back: the longest span `rate_over` serves.
    fine: Duration,
}

impl<K: Eq + Hash> Default for RateTable<K> {
    fn default() -> Self {
        Self::with_fine_span(WINDOW)
    }
}

impl<K: Eq + Hash> RateTable<K> {
    /// A table keeping every sample for `fine` (at least a minute).
    pub fn with_fine_span(fine: Duration) -> Self {
        RateTable {
            samples: Mutex::new(HashMap::new()),
            fine: fine.max(WINDOW),
        }
    }

    /// Records one sample of every key's total taken at `now`. Keys missing from `totals` are
    /// dropped (a deleted topic, a group whose offsets are gone).
    pub fn sample(&self, totals: impl IntoIterator<Item = (K, u64)>, now: Instant) {
        let mut samples = self.samples.lock();
        let mut next = HashMap::with_capacity(samples.len());
        for (key, total) in totals {
            let mut rings = samples.remove(&key).unwrap_or_default();
            rings.push(now, total, self.fine);
            next.insert(key, rings);
        }
        *samples = next;
    }

    /// The key's rate per second over the last minute's samples; 0 with fewer than two.
    pub fn per_second(&self, key: &K) -> f64 {
        self.figures(key, Span::Minute)
            .map_or(0.0, |f| f.per_second)
    }

    /// The key's figures over `span`; `None` for a key never sampled (or dropped since).
    pub fn figures(&self, key: &K, span: Span) -> Option<SpanFigures> {
        let samples = self.samples.lock();
        let rings = samples.get(key)?;
        Some(match span {
            Span::Minute => rings.over(Span::Minute, WINDOW),
            // A coarse ring's oldest sample is the one kept for the whole span.
            Span::Hour | Span::Day => rings.over(span, Duration::MAX),
        })
    }

    /// Samples kept in the key's fine ring (tests check how far back it reaches).
    #[cfg(test)]
    pub(crate) fn kept(&self, key: &K) -> usize {
        self.samples
            .lock()
            .get(key)
            .map_or(0, |r| r.rings[index(Span::Minute)].len())
    }

    /// The key's rate per second over the last `span` of the fine ring (its whole history
    /// while it is younger than `span`); 0 for a key never sampled or with one sample.
    pub fn rate_over(&self, key: &K, span: Duration) -> f64 {
        let samples = self.samples.lock();
        samples.get(key).map_or(0.0, |r| {
            r.over(Span::Minute, span.min(self.fine)).per_second
        })
    }
}

/// The broker's sampled rates.
pub struct BrokerRates {
    /// Messages put per second, by topic.
    pub topic_puts: RateTable<String>,
    /// Messages consumed (committed) per second, by (group, topic).
    pub group_consumes: RateTable<(String, String)>,
    /// Messages stored by the whole broker, keyed by its cluster's name (Java's
    /// `BROKER_PUT_NUMS`); every sample kept for 10 minutes, as the broker-wide tables below.
    pub broker_puts: RateTable<String>,
    /// Messages returned by the whole broker's pulls, keyed by its cluster's name
    /// (`BROKER_GET_NUMS`).
    pub broker_gets: RateTable<String>,
    /// Pulls that returned messages, keyed by the cluster's name (runtime info `getFoundTps`).
    pub broker_pulls_found: RateTable<String>,
    /// Pulls that returned none (`getMissTps`).
    pub broker_pulls_missed: RateTable<String>,
    /// The puts and gets totals at the last two midnights (runtime info).
    pub mornings: crate::broker_totals::MorningTotals,
}

impl Default for BrokerRates {
    fn default() -> Self {
        BrokerRates {
            topic_puts: RateTable::default(),
            group_consumes: RateTable::default(),
            broker_puts: RateTable::with_fine_span(TEN_MINUTES),
            broker_gets: RateTable::with_fine_span(TEN_MINUTES),
            broker_pulls_found: RateTable::with_fine_span(TEN_MINUTES),
            broker_pulls_missed: RateTable::with_fine_span(TEN_MINUTES),
            mornings: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_rate_needs_two_samples_and_spans_the_kept_ones() {
        let t = RateTable::<&str>::default();
        let t0 = Instant::now();
        assert_eq!(t.per_second(&"a"), 0.0);
        t.sample([("a", 100)], t0);
        assert_eq!(t.per_second(&"a"), 0.0);
        t.sample([("a", 300)], t0 + secs(10));
        assert_eq!(t.per_second(&"a"), 20.0);
        t.sample([("a", 400)], t0 + secs(20));
        assert_eq!(t.per_second(&"a"), 15.0);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let t = RateTable::<&str>::default();
        let t0 = Instant::now();
        // 10/s for a minute, then 100/s: after another minute only the fast part counts.
        for i in 0..=6u64 {
            t.sample([("a", i * 100)], t0 + secs(i * 10));
        }
        assert_eq!(t.per_second(&"a"), 10.0);
        for i in 1..=6u64 {
            t.sample([("a", 600 + i * 1000)], t0 + secs(60 + i * 10));
        }
        assert_eq!(t.per_second(&"a"), 100.0);
        assert_eq!(t.samples.lock()[&"a"].rings[0].len(), 7);
    }

    #[test]
    fn missing_keys_are_dropped_and_totals_going_down_are_no_progress() {
        let t = RateTable::<&str>::default();
        let t0 = Instant::now();
        t.sample([("a", 50), ("b", 50)], t0);
        t.sample([("a", 10), ("b", 150)], t0 + secs(10));
        assert_eq!(t.per_second(&"a"), 0.0);
        assert_eq!(t.per_second(&"b"), 10.0);
        t.sample([("a", 20)], t0 + secs(20));
        assert_eq!(t.per_second(&"b"), 0.0);
        assert!(!t.samples.lock().contains_key(&"b"));
    }

    #[test]
    fn hour_and_day_sums_span_their_coarser_samples() {
        let t = RateTable::<&str>::default();
        let t0 = Instant::now();
        // 1 message a second for 26 hours, sampled every 10 s.
        let mut now = t0;
        let mut total = 0;
        for _ in 0..(26 * 360) {
            t.sample([("a", total)], now);
            now += SAMPLE_EVERY;
            total += 10;
        }
        let last = now - SAMPLE_EVERY;
        let minute = t.figures(&"a", Span::Minute).unwrap();
        assert_eq!((minute.sum, minute.per_second), (60, 1.0));
        let hour = t.figures(&"a", Span::Hour).unwrap();
        let day = t.figures(&"a", Span::Day).unwrap();
        // The oldest kept sample is up to one step older than the span.
        assert!((3600..=3600 + 600).contains(&hour.sum), "{hour:?}");
        assert!((86_400..=86_400 + 3600).contains(&day.sum), "{day:?}");
        assert!((hour.per_second - 1.0).abs() < 1e-9 && (day.per_second - 1.0).abs() < 1e-9);
        {
            let samples = t.samples.lock();
            let rings = &samples[&"a"].rings;
            assert!(rings[1].len() <= 8 && rings[2].len() <= 26);
            assert_eq!(rings[0].back().map(|s| s.0), Some(last));
        }
        assert!(t.figures(&"b", Span::Day).is_none());
    }
}
