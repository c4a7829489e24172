//! The pull hold service (long polling): a PULL_MESSAGE that finds no new message and carries the
//! SUSPEND flag is parked here per (topic, queue) until a message that its filter accepts arrives
//! or its suspend time runs out.
//!
//! Design: no polling loop. Each parked pull owns a oneshot receiver and waits on it with one
//! `tokio::time::timeout_at`; the store's arrival listener calls `notify_arrival`, which completes
//! the oneshot of every parked pull on that queue whose requested offset is <= the arrived queue
//! offset and whose filter accepts the arrived message: its tags code, or for an SQL92 selector
//! its properties (a message the pull would not take does not wake it).
//!
//! Invariants:
//! - `held_count()` is the number of parked pulls; `hold` refuses beyond `max_held` (the caller
//!   then answers at once), so memory is bounded.
//! - A `HeldPull` removes its own entry when dropped (timeout, client gone, request cancelled), so
//!   the table never keeps dead entries.
//! - `notify_arrival` costs one atomic load when nothing is parked (it runs on every dispatch).
//! - Lost-wakeup safety is the caller's job: after `hold`, re-check the queue's max offset, since
//!   a message may have arrived between the empty read and the parking (see processor/pull.rs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::filter::PullFilter;

struct Parked {
    id: u64,
    offset: i64,
    filter: Arc<PullFilter>,
    tx: oneshot::Sender<()>,
}

type QueueTable = HashMap<i32, Vec<Parked>>;

/// The hold service. Share as `Arc<PullHoldService>`.
pub struct PullHoldService {
    table: Mutex<HashMap<String, QueueTable>>,
    held: AtomicUsize,
    max_held: usize,
    next_id: AtomicU64,
}

/// Why a parked pull resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeReason {
    /// A matching message arrived on the queue.
    Arrived,
    /// The suspend time ran out.
    Timeout,
}

/// A parked pull. Wait on it with `wait_until`; dropping it un-parks it.
pub struct HeldPull {
    service: Arc<PullHoldService>,
    topic: String,
    queue_id: i32,
    id: u64,
    rx: Option<oneshot::Receiver<()>>,
}

impl PullHoldService {
    /// A service that parks at most `max_held` pulls at once.
    pub fn new(max_held: usize) -> Arc<PullHoldService> {
        Arc::new(PullHoldService {
            table: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
            max_held,
            next_id: AtomicU64::new(1),
        })
    }

    /// Number of parked pulls.
    pub fn held_count(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Parks a pull for messages at or after `offset` on (topic, queue). `None` when full.
    pub fn hold(
        self: &Arc<Self>,
        topic: &str,
        queue_id: i32,
        offset: i64,
        filter: Arc<PullFilter>,
    ) -> Option<HeldPull> {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut table = self.table.lock();
            if self.held.load(Ordering::Acquire) >= self.max_held {
                return None;
            }
            let queues = match table.get_mut(topic) {
                Some(q) => q,
                None => table.entry(topic.to_string()).or_default(),
            };
            queues.entry(queue_id).or_default().push(Parked {
                id,
                offset,
                filter,
                tx,
            });
            self.held.fetch_add(1, Ordering::AcqRel);
        }
        Some(HeldPull {
            service: self.clone(),
            topic: topic.to_string(),
            queue_id,
            id,
            rx: Some(rx),
        })
    }

    /// Wakes the pulls parked on (topic, queue) that want `queue_offset` and accept a message
    /// with `tags_code` and these encoded `properties`. Returns how many were woken.
    pub fn notify_arrival(
        &self,
        topic: &str,
        queue_id: i32,
        queue_offset: i64,
        tags_code: i64,
        properties: &str,
    ) -> usize {
        if self.held.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let mut woken = 0;
        let mut table = self.table.lock();
        let Some(queues) = table.get_mut(topic) else {
            return 0;
        };
        let Some(parked) = queues.get_mut(&queue_id) else {
            return 0;
        };
        let mut i = 0;
        while i < parked.len() {
            let p = &parked[i];
            if p.offset <= queue_offset
                && p.filter.matches_code(tags_code)
                && p.filter.matches_properties(properties)
            {
                let p = parked.swap_remove(i);
                self.held.fetch_sub(1, Ordering::AcqRel);
                // The receiver may be gone already (client closed); nothing to wake then.
                if p.tx.send(()).is_ok() {
                    woken += 1;
                }
            } else {
                i += 1;
            }
        }
        if parked.is_empty() {
            queues.remove(&queue_id);
            if queues.is_empty() {
                table.remove(topic);
            }
        }
        woken
    }

    /// Wakes every pull parked on (topic, queue), whatever it waits for (an offset reset: they
    /// re-run, and the reset group's pull answers the new offset). Returns how many were woken.
    pub fn wake_queue(&self, topic: &str, queue_id: i32) -> usize {
        if self.held.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let mut table = self.table.lock();
        let Some(queues) = table.get_mut(topic) else {
            return 0;
        };
        let Some(parked) = queues.remove(&queue_id) else {
            return 0;
        };
        if queues.is_empty() {
            table.remove(topic);
        }
        let mut woken = 0;
        for p in parked {
            self.held.fetch_sub(1, Ordering::AcqRel);
            if p.tx.send(()).is_ok() {
                woken += 1;
            }
        }
        woken
    }

    /// Wakes every parked pull (shutdown: they re-run and answer before the server closes).
    pub fn wake_all(&self) {
        let mut table = self.table.lock();
        for (_, queues) in table.drain() {
            for (_, parked) in queues {
                for p in parked {
                    self.held.fetch_sub(1, Ordering::AcqRel);
                    let _ = p.tx.send(());
                }
            }
        }
    }

    fn remove(&self, topic: &str, queue_id: i32, id: u64) {
        let mut table = self.table.lock();
        let Some(queues) = table.get_mut(topic) else {
            return;
        };
        let Some(parked) = queues.get_mut(&queue_id) else {
            return;
        };
        if let Some(pos) = parked.iter().position(|p| p.id == id) {
            parked.swap_remove(pos);
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
        if parked.is_empty() {
            queues.remove(&queue_id);
            if queues.is_empty() {
                table.remove(topic);
            }
        }
    }
}

impl HeldPull {
    /// Waits until a matching arrival or `deadline`.
    pub async fn wait_until(mut self, deadline: Instant) -> WakeReason {
        let Some(rx) = self.rx.take() else {
            return WakeReason::Timeout;
        };
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(())) => WakeReason::Arrived,
            // Sender dropped without sending cannot happen while parked; treat like a timeout.
            Ok(Err(_)) | Err(_) => WakeReason::Timeout,
        }
    }
}

impl Drop for HeldPull {
    fn drop(&mut self) {
        self.service.remove(&self.topic, self.queue_id, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::TagFilter;
    use std::time::Duration;

    fn all() -> Arc<PullFilter> {
        Arc::new(PullFilter::all())
    }

    #[tokio::test]
    async fn arrival_wakes_matching_pull() {
        let s = PullHoldService::new(10);
        let h = s.hold("T", 0, 5, all()).unwrap();
        assert_eq!(s.held_count(), 1);
        assert_eq!(s.notify_arrival("T", 1, 9, 0, ""), 0, "other queue");
        assert_eq!(s.notify_arrival("U", 0, 9, 0, ""), 0, "other topic");
        assert_eq!(
            s.notify_arrival("T", 0, 4, 0, ""),
            0,
            "older than wanted offset"
        );
        let waiter = tokio::spawn(h.wait_until(Instant::now() + Duration::from_secs(3600)));
        tokio::task::yield_now().await;
        assert_eq!(s.notify_arrival("T", 0, 5, 0, ""), 1);
        assert_eq!(waiter.await.unwrap(), WakeReason::Arrived);
        assert_eq!(s.held_count(), 0);
    }

    #[tokio::test]
    async fn non_matching_tag_does_not_wake() {
        let s = PullHoldService::new(10);
        let f = Arc::new(PullFilter::Tag(TagFilter::parse("TagA").unwrap()));
        let h = s.hold("T", 0, 0, f).unwrap();
        assert_eq!(
            s.notify_arrival("T", 0, 0, crate::filter::tag_code("TagB"), ""),
            0
        );
        assert_eq!(s.held_count(), 1);
        assert_eq!(s.notify_arrival("T", 0, 1, 2598919, ""), 1);
        assert_eq!(
            h.wait_until(Instant::now() + Duration::from_secs(3600))
                .await,
            WakeReason::Arrived
        );
    }

    #[tokio::test]
    async fn sql92_pull_wakes_only_for_matching_properties() {
        let s = PullHoldService::new(10);
        let selector = courier_sql92::Selector::parse("region = 'east' AND a > 5").unwrap();
        let h = s
            .hold("T", 0, 0, Arc::new(PullFilter::Sql92(Arc::new(selector))))
            .unwrap();
        assert_eq!(
            s.notify_arrival("T", 0, 0, 0, "region\u{1}west\u{2}a\u{1}9\u{2}"),
            0
        );
        assert_eq!(
            s.notify_arrival("T", 0, 1, 0, "region\u{1}east\u{2}a\u{1}1\u{2}"),
            0
        );
        assert_eq!(
            s.notify_arrival("T", 0, 2, 0, ""),
            0,
            "no properties at all"
        );
        assert_eq!(s.held_count(), 1);
        assert_eq!(
            s.notify_arrival("T", 0, 3, 0, "a\u{1}6\u{2}region\u{1}east\u{2}"),
            1
        );
        assert_eq!(
            h.wait_until(Instant::now() + Duration::from_secs(3600))
                .await,
            WakeReason::Arrived
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_unparks_and_removes_entry() {
        let s = PullHoldService::new(10);
        let h = s.hold("T", 0, 0, all()).unwrap();
        let r = h
            .wait_until(Instant::now() + Duration::from_millis(15_000))
            .await;
        assert_eq!(r, WakeReason::Timeout);
        assert_eq!(s.held_count(), 0);
        assert_eq!(s.notify_arrival("T", 0, 0, 0, ""), 0);
    }

    #[tokio::test]
    async fn capacity_is_bounded_and_drop_frees_slots() {
        let s = PullHoldService::new(2);
        let a = s.hold("T", 0, 0, all()).unwrap();
        let _b = s.hold("T", 1, 0, all()).unwrap();
        assert!(s.hold("T", 2, 0, all()).is_none());
        drop(a);
        assert_eq!(s.held_count(), 1);
        assert!(s.hold("T", 2, 0, all()).is_some());
    }

    #[tokio::test]
    async fn wake_all_releases_everything() {
        let s = PullHoldService::new(10);
        let a = s.hold("T", 0, 0, all()).unwrap();
        let b = s.hold("U", 3, 7, all()).unwrap();
        s.wake_all();
        assert_eq!(s.held_count(), 0);
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(a.wait_until(far).await, WakeReason::Arrived);
        assert_eq!(b.wait_until(far).await, WakeReason::Arrived);
    }
}
