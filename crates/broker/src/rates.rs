//! Per-second rates over the last minute, for the admin statistics RocketMQ's tools show
//! (`topicPutTps` of GET_TOPIC_STATS_INFO, `consumeTps` of GET_CONSUME_STATS).
//!
//! Rates come from totals that grow anyway, sampled every [`SAMPLE_EVERY`]: a topic's puts are
//! the sum of its queues' max offsets, a group's consumption of a topic the sum of its committed
//! offsets. So neither the send nor the pull path counts anything for them. Like Java's
//! "in minute" statistics, a rate spans the samples of the last [`WINDOW`] (the oldest kept one
//! may be up to one sample older), and is 0 until two samples exist. A total that went down (a
//! queue deleted, offsets reset backwards) counts as no progress, not as a negative rate.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often the background service samples the totals.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// The span a rate covers.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Samples of growing totals, by key.
pub struct RateTable<K> {
    samples: Mutex<HashMap<K, VecDeque<(Instant, u64)>>>,
}

impl<K: Eq + Hash> Default for RateTable<K> {
    fn default() -> Self {
        RateTable {
            samples: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> RateTable<K> {
    /// Records one sample of every key's total taken at `now`. Keys missing from `totals` are
    /// dropped (a deleted topic, a group whose offsets are gone).
    pub fn sample(&self, totals: impl IntoIterator<Item = (K, u64)>, now: Instant) {
        let mut samples = self.samples.lock();
        let mut next = HashMap::with_capacity(samples.len());
        for (key, total) in totals {
            let mut ring = samples.remove(&key).unwrap_or_default();
            ring.push_back((now, total));
            // Keep the newest sample at least WINDOW old: the rate then spans the whole window.
            while ring.len() > 2 && now.duration_since(ring[1].0) >= WINDOW {
                ring.pop_front();
            }
            next.insert(key, ring);
        }
        *samples = next;
    }

    /// The key's rate per second over the kept samples; 0 with fewer than two.
    pub fn per_second(&self, key: &K) -> f64 {
        let samples = self.samples.lock();
        let Some(ring) = samples.get(key) else {
            return 0.0;
        };
        match (ring.front(), ring.back()) {
            (Some(&(t0, a)), Some(&(t1, b))) if t1 > t0 => {
                b.saturating_sub(a) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// The broker's sampled rates.
#[derive(Default)]
pub struct BrokerRates {
    /// Messages put per second, by topic.
    pub topic_puts: RateTable<String>,
    /// Messages consumed (committed) per second, by (group, topic).
    pub group_consumes: RateTable<(String, String)>,
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
        assert_eq!(t.samples.lock()[&"a"].len(), 7);
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
}
