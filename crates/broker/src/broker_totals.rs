//! The broker-wide figures of RocketMQ's runtime info (GET_BROKER_RUNTIME_INFO, what `mqadmin
//! brokerStatus`, `clusterList` and the dashboard's cluster page show) that are not plain
//! counters: the rate triples (`putTps`, `getFoundTps`, `getMissTps`, `getTotalTps`,
//! `getTransferredTps`: three rates over the last 10 s, minute and 10 minutes, space-separated,
//! read from the broker-wide tables of `rates.rs`), and the puts and gets totals at the last two
//! midnights (`msgPutTotalTodayMorning`, `...YesterdayMorning`), so that "today" is
//! `TodayNow - TodayMorning`.
//!
//! The totals are `BrokerStats`' counters (since start, never reset), recorded with the rates'
//! samples. Midnight is UTC midnight, and the first sample after it moves today's morning totals
//! to yesterday's. Until the first midnight both are 0, as in Java, so "today" counts since start.

use std::time::Duration;

use parking_lot::Mutex;

/// The spans of the runtime info's rate triples.
pub const SPANS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
];

/// One rate over each of `SPANS`, as Java renders them: three numbers and two spaces.
pub fn triple(rate_over: impl Fn(Duration) -> f64) -> String {
    SPANS
        .iter()
        .map(|&span| java_double(rate_over(span)))
        .collect::<Vec<_>>()
        .join(" ")
}

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
    /// The UTC day (days since the epoch) of the last record; `None` before the first.
    day: Option<i64>,
    mornings: Mornings,
}

/// Keeps the totals seen at the last two midnights.
#[derive(Default)]
pub struct MorningTotals {
    state: Mutex<State>,
}

impl MorningTotals {
    /// Records the puts and gets totals as they were on UTC day `day` (days since the epoch).
    pub fn record(&self, day: i64, put: u64, got: u64) {
        let mut s = self.state.lock();
        if s.day.is_some_and(|d| d < day) {
            // A midnight passed since the last record: it counts as the morning's totals.
            let m = &mut s.mornings;
            m.put_yesterday = m.put_today;
            m.got_yesterday = m.got_today;
            m.put_today = put;
            m.got_today = got;
        }
        s.day = Some(day);
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
    use std::time::Instant;

    use super::*;
    use crate::rates::{RateTable, TEN_MINUTES};

    /// The four broker-wide tables, sampled with a counter value `c` each (as the broker samples
    /// its counters): put = c, pulls found = c / 2, pulls missed = 1, got = 3c.
    struct Tables([RateTable<&'static str>; 4]);

    impl Tables {
        fn new() -> Self {
            Tables(std::array::from_fn(|_| {
                RateTable::with_fine_span(TEN_MINUTES)
            }))
        }

        fn sample(&self, now: Instant, c: u64) {
            for (t, v) in self.0.iter().zip([c, c / 2, 1, c * 3]) {
                t.sample([("b", v)], now);
            }
        }

        fn rates(&self, span: Duration) -> (f64, f64, f64, f64) {
            let r = |i: usize| self.0[i].rate_over(&"b", span);
            (r(0), r(1), r(2), r(3))
        }
    }

    #[test]
    fn rates_span_the_newest_sample_old_enough() {
        let t = Tables::new();
        let t0 = Instant::now();
        assert_eq!(triple(|s| t.rates(s).0), "0.0 0.0 0.0");
        t.sample(t0, 0);
        assert_eq!(
            triple(|s| t.rates(s).0),
            "0.0 0.0 0.0",
            "one sample is no rate"
        );
        // 100 puts a second for two minutes, then 1,000 a second for 10 s.
        for i in 1..=12u64 {
            t.sample(t0 + Duration::from_secs(i * 10), i * 1000);
        }
        t.sample(t0 + Duration::from_secs(130), 22_000);
        assert_eq!(t.rates(SPANS[0]), (1000.0, 500.0, 0.0, 3000.0));
        // The minute: 50 s at 100/s and 10 s at 1,000/s.
        assert_eq!(t.rates(SPANS[1]).0, 250.0);
        // Younger than 10 minutes: the whole history, 22,000 in 130 s.
        assert_eq!(t.rates(SPANS[2]).0, 22_000.0 / 130.0);
        assert_eq!(triple(|s| t.rates(s).3).split(' ').next(), Some("3000.0"));
    }

    #[test]
    fn only_the_last_ten_minutes_are_kept() {
        let t = RateTable::with_fine_span(TEN_MINUTES);
        let t0 = Instant::now();
        for i in 0..200u64 {
            t.sample([("b", i * 10)], t0 + Duration::from_secs(i * 10));
        }
        // 61 samples 10 s apart span exactly 10 minutes: the oldest kept is 600 s old.
        assert_eq!(t.kept(&"b"), 61);
        assert_eq!(t.rate_over(&"b", SPANS[2]), 1.0);
    }

    #[test]
    fn midnights_move_the_morning_totals() {
        let t = MorningTotals::default();
        t.record(100, 5, 15);
        assert_eq!(t.mornings(), Mornings::default(), "no midnight seen yet");
        t.record(100, 9, 27);
        t.record(101, 40, 120);
        let m = t.mornings();
        assert_eq!(
            (m.put_today, m.put_yesterday, m.got_today, m.got_yesterday),
            (40, 0, 120, 0)
        );
        t.record(102, 70, 210);
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
