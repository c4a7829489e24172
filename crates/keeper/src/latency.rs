//! Request latency and outstanding-request counters behind `srvr`, `stat`, `mntr` and `cons`.
//!
//! Latency runs from the moment a request's frame is decoded to the moment its reply is handed
//! to the connection's writer, for every request including pings, as ZooKeeper measures it.
//! ZooKeeper reports whole milliseconds for min and max and a fractional average; the counters
//! keep microseconds so the average stays meaningful when every request takes under 1 ms.
//!
//! Counters are relaxed atomics: a reader may see a count without its matching sum for an
//! instant, which skews one printed average slightly and nothing else. `reset` (`srst`, `crst`)
//! races with recording the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Min / average / max over the requests recorded since the last reset.
#[derive(Debug)]
pub struct Latency {
    count: AtomicU64,
    total_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
    last_us: AtomicU64,
}

impl Default for Latency {
    fn default() -> Latency {
        Latency {
            count: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
        }
    }
}

/// What `Latency::summary` reports, in ZooKeeper's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Whole milliseconds (0 when nothing was recorded).
    pub min_ms: u64,
    /// Milliseconds with a fraction.
    pub avg_ms: f64,
    /// Whole milliseconds.
    pub max_ms: u64,
    /// The most recent request, whole milliseconds.
    pub last_ms: u64,
    /// Requests recorded.
    pub count: u64,
}

impl Latency {
    /// Records one answered request.
    pub fn record(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        // Every request of every connection records here: a plain load first keeps the usual
        // case (no new extreme) from taking the shared cache line for a read-modify-write.
        if us < self.min_us.load(Ordering::Relaxed) {
            self.min_us.fetch_min(us, Ordering::Relaxed);
        }
        if us > self.max_us.load(Ordering::Relaxed) {
            self.max_us.fetch_max(us, Ordering::Relaxed);
        }
        self.last_us.store(us, Ordering::Relaxed);
    }

    /// Forgets everything recorded.
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total_us.store(0, Ordering::Relaxed);
        self.min_us.store(u64::MAX, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
        self.last_us.store(0, Ordering::Relaxed);
    }

    /// The figures as ZooKeeper prints them.
    pub fn summary(&self) -> LatencySummary {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return LatencySummary {
                min_ms: 0,
                avg_ms: 0.0,
                max_ms: 0,
                last_ms: 0,
                count: 0,
            };
        }
        let total = self.total_us.load(Ordering::Relaxed);
        LatencySummary {
            min_ms: self.min_us.load(Ordering::Relaxed) / 1000,
            avg_ms: total as f64 / count as f64 / 1000.0,
            max_ms: self.max_us.load(Ordering::Relaxed) / 1000,
            last_ms: self.last_us.load(Ordering::Relaxed) / 1000,
            count,
        }
    }
}

impl LatencySummary {
    /// `min/avg/max` as `srvr` prints it.
    pub fn slashed(&self) -> String {
        format!("{}/{:.4}/{}", self.min_ms, self.avg_ms, self.max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_reports_zeros() {
        let l = Latency::default();
        assert_eq!(l.summary().slashed(), "0/0.0000/0");
        assert_eq!(l.summary().count, 0);
    }

    #[test]
    fn min_avg_max_in_milliseconds() {
        let l = Latency::default();
        l.record(Duration::from_micros(1_500));
        l.record(Duration::from_micros(2_500));
        l.record(Duration::from_micros(11_000));
        let s = l.summary();
        assert_eq!((s.min_ms, s.max_ms, s.last_ms, s.count), (1, 11, 11, 3));
        assert!((s.avg_ms - 5.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.slashed(), "1/5.0000/11");
    }

    #[test]
    fn sub_millisecond_requests_keep_a_fractional_average() {
        let l = Latency::default();
        l.record(Duration::from_micros(200));
        l.record(Duration::from_micros(400));
        assert_eq!(l.summary().slashed(), "0/0.3000/0");
    }

    #[test]
    fn reset_forgets() {
        let l = Latency::default();
        l.record(Duration::from_millis(7));
        l.reset();
        assert_eq!(l.summary().count, 0);
        l.record(Duration::from_millis(3));
        assert_eq!(l.summary().slashed(), "3/3.0000/3");
    }
}
