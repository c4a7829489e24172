//! How long puts take, from the call to its result (under SYNC_FLUSH that includes the wait for
//! the disk; under ASYNC_FLUSH any wait for write-behind room). Kept two ways:
//!
//! - RocketMQ's view, which GET_BROKER_RUNTIME_INFO reports and its tools show: puts counted in
//!   Java's millisecond bands (`[<=0ms]`, `[0~10ms]`, ... `[10s~]`) over the current minute
//!   (`putMessageDistributeTime`), and the longest put since the store opened
//!   (`putMessageEntireTimeMax`, in ms). Java's store rotates the bands every 60 s from a
//!   service thread; here a minute is a whole multiple of 60 s since the store opened, and the
//!   first record or read in a new minute starts it from zero (the thread that moves `minute`
//!   on clears the bands). A put recorded while another thread rotates may be counted in either
//!   minute, or cleared with the old one: these are statistics, not an audit.
//! - A cumulative histogram since open in finer buckets, for Prometheus (`histogram_quantile`
//!   over it gives the put latency's percentiles), with the sum and the count.
//!
//! Recording is a few relaxed atomic adds and no lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Java's band labels, in its order. A put that took `ms` whole milliseconds goes in the first
/// band whose `BAND_BELOW_MS` bound is above `ms` (band 0: zero ms), or in the last band.
pub const BAND_LABELS: [&str; 13] = [
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
];
const BAND_BELOW_MS: [u64; 12] = [
    1, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10_000,
];

/// Upper bounds of the Prometheus buckets, in microseconds (`+Inf` is the count).
pub const BUCKET_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

const MINUTE: Duration = Duration::from_secs(60);

/// A snapshot of the put latency statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutLatencySnapshot {
    /// Puts per Java band over the current minute (see [`BAND_LABELS`]).
    pub bands: [u64; 13],
    /// The longest put since the store opened, in whole milliseconds.
    pub max_ms: u64,
    /// Cumulative counts: puts that took at most `BUCKET_BOUNDS_US[i]` µs.
    pub buckets: [u64; 16],
    /// Every put since open.
    pub count: u64,
    /// Their summed time, µs.
    pub sum_us: u64,
}

impl PutLatencySnapshot {
    /// The bands as Java's runtime info prints them: `[<=0ms]:3 [0~10ms]:120 ... ` (each entry
    /// followed by one space, as in Java).
    pub fn distribution_text(&self) -> String {
        BAND_LABELS
            .iter()
            .zip(self.bands)
            .map(|(label, n)| format!("{label}:{n} "))
            .collect()
    }
}

/// The store's put latency statistics.
pub(crate) struct PutLatency {
    opened: Instant,
    /// The minute (since `opened`) the bands count.
    minute: AtomicU64,
    bands: [AtomicU64; 13],
    max_ms: AtomicU64,
    /// Per bucket (not cumulative; summed when read), the last one past every bound.
    buckets: [AtomicU64; 17],
    sum_us: AtomicU64,
}

impl PutLatency {
    pub fn new(opened: Instant) -> PutLatency {
        PutLatency {
            opened,
            minute: AtomicU64::new(0),
            bands: Default::default(),
            max_ms: AtomicU64::new(0),
            buckets: Default::default(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Records a put that took `took`, finishing at `now`.
    pub fn record(&self, took: Duration, now: Instant) {
        self.enter_minute(now);
        let ms = took.as_millis() as u64;
        let band = BAND_BELOW_MS
            .iter()
            .position(|&below| ms < below)
            .unwrap_or(BAND_BELOW_MS.len());
        self.bands[band].fetch_add(1, Ordering::Relaxed);
        // Almost no put sets a new maximum: a plain load spares the rest a locked compare-exchange.
        if ms > self.max_ms.load(Ordering::Relaxed) {
            self.max_ms.fetch_max(ms, Ordering::Relaxed);
        }
        let us = took.as_micros() as u64;
        let bucket = BUCKET_BOUNDS_US
            .iter()
            .position(|&le| us <= le)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The statistics as of `now`.
    pub fn snapshot(&self, now: Instant) -> PutLatencySnapshot {
        self.enter_minute(now);
        let mut bands = [0; 13];
        for (b, a) in bands.iter_mut().zip(&self.bands) {
            *b = a.load(Ordering::Relaxed);
        }
        let mut buckets = [0; 16];
        let mut below = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            below += c.load(Ordering::Relaxed);
            if i < buckets.len() {
                buckets[i] = below;
            }
        }
        PutLatencySnapshot {
            bands,
            max_ms: self.max_ms.load(Ordering::Relaxed),
            buckets,
            count: below,
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }

    /// Starts a new minute's bands from zero if `now` is past the current one.
    fn enter_minute(&self, now: Instant) {
        let minute = now.saturating_duration_since(self.opened).as_secs() / MINUTE.as_secs();
        let mut current = self.minute.load(Ordering::Relaxed);
        while current < minute {
            match self.minute.compare_exchange_weak(
                current,
                minute,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    for b in &self.bands {
                        b.store(0, Ordering::Relaxed);
                    }
                    return;
                }
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Each band takes what Java's `setPutMessageEntireTimeMax` puts in it: whole
    /// milliseconds, each bound belonging to the band above it.
    #[test]
    fn puts_fall_in_javas_bands() {
        let t0 = Instant::now();
        let l = PutLatency::new(t0);
        let cases = [
            (Duration::from_micros(999), 0),
            (ms(1), 1),
            (ms(9), 1),
            (ms(10), 2),
            (ms(49), 2),
            (ms(50), 3),
            (ms(199), 4),
            (ms(200), 5),
            (ms(999), 6),
            (ms(1000), 7),
            (ms(2500), 8),
            (ms(3000), 9),
            (ms(4999), 10),
            (ms(5000), 11),
            (ms(10_000), 12),
            (ms(60_000), 12),
        ];
        for (took, _) in cases {
            l.record(took, t0);
        }
        let s = l.snapshot(t0);
        let mut want = [0u64; 13];
        for (_, band) in cases {
            want[band] += 1;
        }
        assert_eq!(s.bands, want);
        assert_eq!(s.max_ms, 60_000);
        assert_eq!(s.count, cases.len() as u64);
        assert_eq!(
            s.distribution_text(),
            "[<=0ms]:1 [0~10ms]:2 [10~50ms]:2 [50~100ms]:1 [100~200ms]:1 [200~500ms]:1 \
             [500ms~1s]:1 [1~2s]:1 [2~3s]:1 [3~4s]:1 [4~5s]:1 [5~10s]:1 [10s~]:2 "
        );
    }

    /// The bands start from zero each minute; the maximum and the histogram do not.
    #[test]
    fn the_bands_count_the_current_minute_only() {
        let t0 = Instant::now();
        let l = PutLatency::new(t0);
        l.record(ms(20), t0 + Duration::from_secs(10));
        l.record(ms(3), t0 + Duration::from_secs(59));
        assert_eq!(l.snapshot(t0 + Duration::from_secs(59)).bands[1..3], [1, 1]);
        // Read in the next minute, before any put in it: nothing yet.
        let next = l.snapshot(t0 + Duration::from_secs(61));
        assert_eq!(next.bands, [0; 13]);
        assert_eq!((next.max_ms, next.count), (20, 2));
        l.record(ms(4), t0 + Duration::from_secs(125));
        let later = l.snapshot(t0 + Duration::from_secs(125));
        assert_eq!(later.bands.iter().sum::<u64>(), 1);
        assert_eq!(later.bands[1], 1);
        assert_eq!(later.count, 3);
        // A clock reading older than the current minute (another thread's) changes nothing.
        l.record(ms(1), t0 + Duration::from_secs(70));
        assert_eq!(l.snapshot(t0 + Duration::from_secs(125)).bands[1], 2);
    }

    /// The Prometheus buckets are cumulative: each counts every put at or under its bound.
    #[test]
    fn the_histogram_is_cumulative_with_sum_and_count() {
        let t0 = Instant::now();
        let l = PutLatency::new(t0);
        for us in [50, 100, 101, 900, 4_000, 20_000_000] {
            l.record(Duration::from_micros(us), t0);
        }
        let s = l.snapshot(t0);
        assert_eq!(s.buckets[0], 2, "le 100 µs");
        assert_eq!(s.buckets[1], 3, "le 250 µs");
        assert_eq!(s.buckets[3], 4, "le 1 ms");
        assert_eq!(s.buckets[5], 5, "le 5 ms");
        assert_eq!(s.buckets[15], 5, "le 10 s: the 20 s put is only in +Inf");
        assert_eq!(s.count, 6);
        assert_eq!(s.sum_us, 50 + 100 + 101 + 900 + 4_000 + 20_000_000);
    }
}
