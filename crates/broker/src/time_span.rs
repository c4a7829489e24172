//! A consumer group's progress told in store times instead of offsets: per queue, the store
//! times of its oldest and newest messages and of the last one the group consumed, and how long
//! the group's next message has been waiting. QUERY_CONSUME_TIME_SPAN answers it per queue and
//! `/metrics` exports the longest wait per group and topic (the lag to alert on: 100,000
//! messages behind is a second of traffic on one topic and a day on another).
//!
//! Reads the store, maybe from disk (a lagging group's next message is old): call it off the
//! async workers. A group with no committed offset on a queue is taken to start at the queue's
//! oldest message. Times are milliseconds since the epoch, -1 where the queue has no such
//! message; a wait is never negative.

use courier_remoting::body::{MessageQueue, QueueTimeSpan};

use crate::context::BrokerContext;

/// Queue `queue` of `topic` as `group` sees it at `now_ms`.
pub fn queue_time_span(
    ctx: &BrokerContext,
    group: &str,
    topic: &str,
    queue: i32,
    now_ms: i64,
) -> QueueTimeSpan {
    let at = |offset: i64| {
        ctx.store
            .store_timestamp(topic, queue, offset)
            .unwrap_or(-1)
    };
    let (min, max) = (
        ctx.store.min_offset(topic, queue),
        ctx.store.max_offset(topic, queue),
    );
    let min_time = if max > min { at(min) } else { -1 };
    let max_time = if max > min { at(max - 1) } else { -1 };
    let committed = ctx.offsets.query(group, topic, queue);
    let consume_time = match committed {
        Some(c) if c > min => at(c - 1),
        _ => min_time,
    };
    QueueTimeSpan {
        consume_time_stamp: consume_time,
        delay_time: next_wait(ctx, committed, topic, queue, (min, max), now_ms),
        max_time_stamp: max_time,
        message_queue: MessageQueue {
            topic: topic.to_string(),
            broker_name: ctx.config().broker_name.clone(),
            queue_id: queue,
        },
        min_time_stamp: min_time,
    }
}

/// The longest any of `topic`'s first `queues` queues has kept `group`'s next message waiting,
/// in milliseconds (0 when the group is caught up everywhere).
pub fn longest_wait_ms(
    ctx: &BrokerContext,
    group: &str,
    topic: &str,
    queues: i32,
    now_ms: i64,
) -> i64 {
    (0..queues)
        .map(|q| {
            let committed = ctx.offsets.query(group, topic, q);
            let range = (
                ctx.store.min_offset(topic, q),
                ctx.store.max_offset(topic, q),
            );
            next_wait(ctx, committed, topic, q, range, now_ms)
        })
        .max()
        .unwrap_or(0)
}

/// How long the group's next message (at its committed offset, or the oldest kept one) has
/// waited; 0 when there is none or its store time cannot be read.
fn next_wait(
    ctx: &BrokerContext,
    committed: Option<i64>,
    topic: &str,
    queue: i32,
    (min, max): (i64, i64),
    now_ms: i64,
) -> i64 {
    let next = committed.unwrap_or(min).max(min);
    if next >= max {
        return 0;
    }
    match ctx.store.store_timestamp(topic, queue, next) {
        Some(stored) if stored > 0 => (now_ms - stored).max(0),
        _ => 0,
    }
}
