//! The broker-wide counters as RocketMQ's runtime info reports them (GET_BROKER_RUNTIME_INFO,
//! what `mqadmin brokerStatus` and the dashboard's cluster page show): the rate of each over the
//! last 10 seconds, minute and 10 minutes (`putTps`, `getFoundTps`, `getMissTps`,
//! `getTotalTps`, `getTransferredTps`: three figures separated by spaces), and the puts and
//! gets totals at the last two midnights (`msgPutTotalTodayMorning`, `...YesterdayMorning`), so
//! that "today" is `TodayNow - TodayMorning`.
//!
//! The counters themselves are `BrokerStats`' (since start, never reset); they are sampled with
//! the other rates, every `rates::SAMPLE_EVERY`. A rate spans the newest sample and the newest
//! one at least the span older, or the oldest kept one while the broker is younger than the
//! span (Java reports nothing until it has the whole span); with one sample it is 0. Midnight
//! is UTC midnight, and the first sample after it moves today's morning figures to yesterday's.
//! Until the first midnight both are 0, as in Java, so "today" counts since start.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The counters, in this order, in every sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Messages stored.
    pub put: u64,
    /// Pulls that returned messages.
    pub pulls_found: u64,
    /// Pulls that returned none.
    pub pulls_missed: u64,
    /// Messages returned by pulls.
    pub got: u64,
}

/// Rates per second over one span, per counter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    pub put: f64,
    pub pulls_found: f64,
    pub pulls_missed: f64,
    pub got: f64,
}

/// The spans of the runtime info's rate triples.
pub const SPANS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
];

/// Samples kept: enough to span the longest of `SPANS` at one sample per `SAMPLE_EVERY`.
const KEPT: usize = 61;

/// The puts and gets totals at the last two (UTC) midnights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mornings {
    pub put_today: u64,
    pub put_yesterday: u64,
    pub got_today: u64,
    pub got_yesterday: u64,
}

#[derive(Default)]
struct State {
    samples: VecDeque<(Instant, Counters)>,
    /// The UTC day (days since the epoch) of the last sample; `None` before the first.
    day: Option<i64>,
    mornings: Mornings,
}

/// The sampled broker-wide counters.
#[derive(Default)]
pub struct BrokerTotals {
    state: Mutex<State>,
}

impl BrokerTotals {
    /// Records the counters as they were at `now`, on UTC day `day` (days since the epoch).
    pub fn sample(&self, now: Instant, day: i64, counters: Counters) {
        let mut s = self.state.lock();
        if s.samples.len() == KEPT {
            s.samples.pop_front();
        }
        s.samples.push_back((now, counters));
        match s.day {
            Some(d) if d < day => {
                // A midnight passed since the last sample: it counts as the morning's totals.
                let m = &mut s.mornings;
                m.put_yesterday = m.put_today;
                m.got_yesterday = m.got_today;
                m.put_today = counters.put;
                m.got_today = counters.got;
            }
            _ => {}
        }
        s.day = Some(day);
    }

    /// Each counter's rate per second over `span` (see the module docs for short histories).
    pub fn rates(&self, span: Duration) -> Rates {
        let s = self.state.lock();
        let Some(&(t1, c1)) = s.samples.back() else {
            return Rates::default();
        };
        let from = s
            .samples
            .iter()
            .rev()
            .find(|(t, _)| t1.duration_since(*t) >= span)
            .or(s.samples.front())
            .copied();
        match from {
            Some((t0, c0)) if t1 > t0 => {
                let secs = t1.duration_since(t0).as_secs_f64();
                let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
                Rates {
                    put: rate(c0.put, c1.put),
                    pulls_found: rate(c0.pulls_found, c1.pulls_found),
                    pulls_missed: rate(c0.pulls_missed, c1.pulls_missed),
                    got: rate(c0.got, c1.got),
                }
            }
            _ => Rates::default(),
        }
    }

    /// One counter's rates over `SPANS`, as Java renders them: three numbers and two spaces.
    pub fn triple(&self, pick: impl Fn(&Rates) -> f64) -> String {
        SPANS
            .iter()
            .map(|&span| java_double(pick(&self.rates(span))))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The totals at the last two midnights.
    pub fn mornings(&self) -> Mornings {
        self.state.lock().mornings
    }
}

/// A double as Java's `String.valueOf` writes it for ordinary magnitudes: a whole number keeps
/// one decimal ("12.0").
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

/// Days since the Unix epoch (UTC) of `ms` milliseconds since it.
pub fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(c: u64) -> Counters {
        Counters {
            put: c,
            pulls_found: c / 2,
            pulls_missed: 1,
            got: c * 3,
        }
    }

    #[test]
    fn rates_span_the_newest_sample_old_enough() {
        let t = BrokerTotals::default();
        let t0 = Instant::now();
        assert_eq!(t.triple(|r| r.put), "0.0 0.0 0.0");
        t.sample(t0, 0, at(0));
        assert_eq!(t.triple(|r| r.put), "0.0 0.0 0.0", "one sample is no rate");
        // 100 puts a second for two minutes, then 1,000 a second for 10 s.
        for i in 1..=12u64 {
            t.sample(t0 + Duration::from_secs(i * 10), 0, at(i * 1000));
        }
        t.sample(t0 + Duration::from_secs(130), 0, at(22_000));
        let r10 = t.rates(SPANS[0]);
        assert_eq!(
            (r10.put, r10.pulls_found, r10.pulls_missed, r10.got),
            (1000.0, 500.0, 0.0, 3000.0)
        );
        // The minute: 50 s at 100/s and 10 s at 1,000/s.
        assert_eq!(t.rates(SPANS[1]).put, 250.0);
        // Younger than 10 minutes: the whole history, 22,000 in 130 s.
        assert_eq!(t.rates(SPANS[2]).put, 22_000.0 / 130.0);
        assert_eq!(t.triple(|r| r.got).split(' ').next(), Some("3000.0"));
    }

    #[test]
    fn only_the_last_ten_minutes_are_kept() {
        let t = BrokerTotals::default();
        let t0 = Instant::now();
        for i in 0..200u64 {
            t.sample(t0 + Duration::from_secs(i * 10), 0, at(i * 10));
        }
        assert_eq!(t.state.lock().samples.len(), KEPT);
        assert_eq!(t.rates(SPANS[2]).put, 1.0);
    }

    #[test]
    fn midnights_move_the_morning_totals() {
        let t = BrokerTotals::default();
        let t0 = Instant::now();
        t.sample(t0, 100, at(5));
        assert_eq!(t.mornings(), Mornings::default(), "no midnight seen yet");
        t.sample(t0 + Duration::from_secs(10), 100, at(9));
        t.sample(t0 + Duration::from_secs(20), 101, at(40));
        let m = t.mornings();
        assert_eq!(
            (m.put_today, m.put_yesterday, m.got_today, m.got_yesterday),
            (40, 0, 120, 0)
        );
        t.sample(t0 + Duration::from_secs(30), 102, at(70));
        let m = t.mornings();
        assert_eq!((m.put_today, m.put_yesterday), (70, 40));
    }

    #[test]
    fn java_renders_whole_doubles_with_one_decimal() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(12.0), "12.0");
        assert_eq!(java_double(2.5), "2.5");
        assert_eq!(utc_day(0), 0);
        assert_eq!(utc_day(86_400_000 * 3 + 5), 3);
        assert_eq!(utc_day(-1), -1);
    }
}
