//! Ordered consumption's queue locks (Java's `MessageListenerOrderly` with a clustering group):
//! LOCK_BATCH_MQ (41) and UNLOCK_BATCH_MQ (42) calls, and what the client knows of each lock.
//!
//! A broker grants a queue's lock to one client of a group at a time and lets it lapse 60 s
//! after its last renewal. The client counts a lock as held for [`LOCK_MAX_LIVE`] (30 s) after the
//! broker last granted it and renews every lock it holds every [`LOCK_RENEW_INTERVAL`] (20 s),
//! as Java's client does, so it stops consuming well before another client could be granted
//! the queue. Invariants the push consumer keeps with these: a queue is locked before its
//! starting offset is read; a message is handed to the listener only while the lock is held;
//! on giving a queue up, its consumption has ended and its offset is persisted before the
//! unlock. So the next owner starts after the last message this client consumed, and never
//! consumes the queue at the same time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use courier_remoting::body::{
    from_json, to_json, LockBatchRequestBody, LockBatchResponseBody, MessageQueue as WireQueue,
};
use courier_remoting::code::request;
use courier_remoting::RemotingCommand;
use parking_lot::Mutex;

use crate::error::{decode_failed, Result};
use crate::instance::ClientInstance;
use crate::message_queue::MessageQueue;
use crate::producer::now_ms;

/// How long a granted lock counts as held without a renewal (Java's
/// `REBALANCE_LOCK_MAX_LIVE_TIME`); the broker's own expiry is 60 s.
pub(crate) const LOCK_MAX_LIVE: Duration = Duration::from_secs(30);
/// How often held locks are renewed (Java's `lockAll` period).
pub(crate) const LOCK_RENEW_INTERVAL: Duration = Duration::from_secs(20);
/// Wait before asking again for a lock another client holds.
pub(crate) const LOCK_RETRY: Duration = Duration::from_secs(1);

/// What this client knows of one queue's lock.
#[derive(Default)]
pub(crate) struct QueueLock {
    /// Until when the lock counts as held; `None` when not held.
    until: Mutex<Option<Instant>>,
    /// When the broker last granted it (Unix ms, 0: never), for the running info.
    granted_ms: AtomicI64,
}

impl QueueLock {
    /// True while the last grant is younger than [`LOCK_MAX_LIVE`].
    pub fn is_held(&self) -> bool {
        self.until.lock().is_some_and(|t| Instant::now() < t)
    }

    /// When the broker last granted the lock (Unix ms), 0 if never.
    pub fn last_granted_ms(&self) -> i64 {
        self.granted_ms.load(Ordering::Relaxed)
    }

    fn set(&self, granted: bool) {
        *self.until.lock() = granted.then(|| Instant::now() + LOCK_MAX_LIVE);
        if granted {
            self.granted_ms.store(now_ms(), Ordering::Relaxed);
        }
    }
}

fn request_body(
    client_id: &str,
    group: &str,
    queues: &[(MessageQueue, &QueueLock)],
) -> LockBatchRequestBody {
    LockBatchRequestBody {
        client_id: client_id.to_string(),
        consumer_group: group.to_string(),
        mq_set: queues.iter().map(|(q, _)| q.to_wire()).collect(),
        only_this_broker: true,
    }
}

/// Asks each queue's broker for the locks of `queues` (one LOCK_BATCH_MQ per broker) and records
/// the answer in each [`QueueLock`]: granted, or not held (refused, or the broker unreachable).
pub(crate) async fn lock(
    instance: &ClientInstance,
    group: &str,
    queues: &[(MessageQueue, &QueueLock)],
) {
    for (broker, batch) in by_broker(queues) {
        let granted = match lock_on(instance, group, &batch).await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(broker, error = %e, "cannot lock queues for ordered consumption; retrying");
                Vec::new()
            }
        };
        for (q, state) in &batch {
            state.set(granted.contains(&q.to_wire()));
        }
    }
}

async fn lock_on(
    instance: &ClientInstance,
    group: &str,
    batch: &[(MessageQueue, &QueueLock)],
) -> Result<Vec<WireQueue>> {
    let addr = instance.master_for(&batch[0].0)?;
    let body = request_body(&instance.client_id, group, batch);
    let cmd = RemotingCommand::new_request(request::LOCK_BATCH_MQ).with_body(to_json(&body));
    let resp = instance
        .invoke_ok(&addr, cmd, instance.options.request_timeout)
        .await?;
    let locked: LockBatchResponseBody =
        from_json(resp.body_bytes()).map_err(decode_failed("LOCK_BATCH_MQ response"))?;
    Ok(locked.lock_ok_mq_set)
}

/// Gives the locks of `queues` back (one UNLOCK_BATCH_MQ per broker, best effort: a lock not
/// given back lapses on the broker after 60 s).
pub(crate) async fn unlock(
    instance: &ClientInstance,
    group: &str,
    queues: &[(MessageQueue, &QueueLock)],
) {
    for (broker, batch) in by_broker(queues) {
        for (_, state) in &batch {
            state.set(false);
        }
        let Ok(addr) = instance.master_for(&batch[0].0) else {
            continue;
        };
        let body = request_body(&instance.client_id, group, &batch);
        let cmd = RemotingCommand::new_request(request::UNLOCK_BATCH_MQ).with_body(to_json(&body));
        if let Err(e) = instance
            .invoke_ok(&addr, cmd, instance.options.request_timeout)
            .await
        {
            tracing::warn!(broker, error = %e, "cannot unlock queues; the broker lets them lapse");
        }
    }
}

/// `queues` split by broker name.
fn by_broker<'a>(
    queues: &[(MessageQueue, &'a QueueLock)],
) -> BTreeMap<String, Vec<(MessageQueue, &'a QueueLock)>> {
    let mut out: BTreeMap<String, Vec<(MessageQueue, &QueueLock)>> = BTreeMap::new();
    for (q, s) in queues {
        out.entry(q.broker_name.clone())
            .or_default()
            .push((q.clone(), *s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_is_held_for_its_max_live_and_a_refusal_clears_it() {
        let l = QueueLock::default();
        assert!(!l.is_held());
        l.set(true);
        assert!(l.is_held());
        *l.until.lock() = Some(Instant::now() - Duration::from_millis(1));
        assert!(!l.is_held(), "a lock not renewed in time no longer counts");
        l.set(true);
        l.set(false);
        assert!(!l.is_held());
    }

    #[test]
    fn queues_are_grouped_per_broker() {
        let (a, b) = (QueueLock::default(), QueueLock::default());
        let qs = [
            (MessageQueue::new("T", "broker-b", 0), &a),
            (MessageQueue::new("T", "broker-a", 1), &b),
            (MessageQueue::new("T", "broker-b", 2), &b),
        ];
        let g = by_broker(&qs);
        assert_eq!(g.keys().collect::<Vec<_>>(), ["broker-a", "broker-b"]);
        assert_eq!(g["broker-b"].len(), 2);
        let body = request_body("c@1", "g", &g["broker-b"]);
        assert!(body.only_this_broker);
        assert_eq!(body.mq_set[1].queue_id, 2);
    }
}
