//! Queue locks for orderly consumers (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ): per consumer group, which
//! client holds each message queue.
//!
//! Invariants: a lock is granted when the queue is free, its holder's lock is older than the
//! expiry (60 s, RocketMQ's `lockMaxLiveTime`), or the requester already holds it (which renews
//! it); a queue is never granted to two clients at once; unlock only releases locks the requesting
//! client holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use courier_remoting::body::MessageQueue;
use parking_lot::Mutex;

/// RocketMQ's broker-side lock lifetime.
pub const LOCK_MAX_LIVE_TIME: Duration = Duration::from_secs(60);

struct LockEntry {
    client_id: String,
    last_update: Instant,
}

/// The lock table. Share as part of the broker context.
pub struct RebalanceLockManager {
    expiry: Duration,
    groups: Mutex<HashMap<String, HashMap<MessageQueue, LockEntry>>>,
}

impl Default for RebalanceLockManager {
    fn default() -> Self {
        Self::new(LOCK_MAX_LIVE_TIME)
    }
}

impl RebalanceLockManager {
    /// A table whose locks expire after `expiry` without renewal.
    pub fn new(expiry: Duration) -> Self {
        RebalanceLockManager {
            expiry,
            groups: Mutex::new(HashMap::new()),
        }
    }

    /// Tries to lock every queue for `client_id`; returns the queues it now holds.
    pub fn try_lock_batch(
        &self,
        group: &str,
        mqs: &[MessageQueue],
        client_id: &str,
        now: Instant,
    ) -> Vec<MessageQueue> {
        let mut groups = self.groups.lock();
        let table = groups.entry(group.to_string()).or_default();
        let mut ok = Vec::new();
        for mq in mqs {
            let grant = match table.get_mut(mq) {
                Some(e) if e.client_id == client_id => {
                    e.last_update = now;
                    true
                }
                Some(e) if now.saturating_duration_since(e.last_update) > self.expiry => {
                    tracing::info!(group, ?mq, old = %e.client_id, new = client_id, "expired queue lock taken over");
                    e.client_id = client_id.to_string();
                    e.last_update = now;
                    true
                }
                Some(_) => false,
                None => {
                    table.insert(
                        mq.clone(),
                        LockEntry {
                            client_id: client_id.to_string(),
                            last_update: now,
                        },
                    );
                    true
                }
            };
            if grant {
                ok.push(mq.clone());
            }
        }
        ok
    }

    /// Releases the queues `client_id` holds among `mqs`.
    pub fn unlock_batch(&self, group: &str, mqs: &[MessageQueue], client_id: &str) {
        let mut groups = self.groups.lock();
        if let Some(table) = groups.get_mut(group) {
            for mq in mqs {
                if table.get(mq).is_some_and(|e| e.client_id == client_id) {
                    table.remove(mq);
                }
            }
            if table.is_empty() {
                groups.remove(group);
            }
        }
    }

    /// True when some client holds an unexpired lock in the group (an orderly group).
    pub fn group_has_locks(&self, group: &str, now: Instant) -> bool {
        self.groups.lock().get(group).is_some_and(|t| {
            t.values()
                .any(|e| now.saturating_duration_since(e.last_update) <= self.expiry)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: q,
        }
    }

    #[test]
    fn exclusive_renewable_and_expiring() {
        let m = RebalanceLockManager::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(m.try_lock_batch("g", &[mq(0), mq(1)], "a", t0).len(), 2);
        assert_eq!(
            m.try_lock_batch("g", &[mq(1), mq(2)], "b", t0),
            vec![mq(2)],
            "queue 1 is held by a"
        );
        assert_eq!(m.try_lock_batch("g", &[mq(1)], "a", t0).len(), 1, "renewal");
        assert!(m.group_has_locks("g", t0));
        let later = t0 + Duration::from_secs(61);
        assert_eq!(m.try_lock_batch("g", &[mq(0)], "b", later), vec![mq(0)]);
        // Only the holder can unlock.
        m.unlock_batch("g", &[mq(2)], "a");
        assert!(m.try_lock_batch("g", &[mq(2)], "a", t0).is_empty());
        m.unlock_batch("g", &[mq(2)], "b");
        assert_eq!(m.try_lock_batch("g", &[mq(2)], "a", t0), vec![mq(2)]);
        assert!(!m.group_has_locks("other", t0));
    }
}
