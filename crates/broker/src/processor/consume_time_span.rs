//! QUERY_CONSUME_TIME_SPAN (303): a consumer group's progress on each write queue of a topic,
//! told in store times rather than offsets — the queue's oldest and newest messages, the last
//! one the group consumed, and how long the next one has been waiting (`delayTime`): a lag an
//! alert can be set on whatever the message rate. Java's admin API asks it
//! (`MQAdminExt.queryConsumeTimeSpan`).
//!
//! Where Java and Courier differ: for a queue the group has no offset on, Java's `delayTime` is
//! the current time plus one (it reads the store time at offset -1); Courier measures it from
//! the queue's oldest message, which is where such a group starts. An unknown topic is
//! TOPIC_NOT_EXIST, as in Java.

use std::sync::Arc;

use courier_remoting::body::{to_json, MessageQueue, QueryConsumeTimeSpanBody, QueueTimeSpan};
use courier_remoting::code::response;
use courier_remoting::header::QueryConsumeTimeSpanRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles QUERY_CONSUME_TIME_SPAN.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: QueryConsumeTimeSpanRequestHeader = req.decode_header()?;
    let Some(config) = ctx.topics.get(&h.topic) else {
        return error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{}] not exist", h.topic),
        );
    };
    let queues = config.write_queue_nums;
    let now = crate::topic_config::now_ms();
    let ctx2 = Arc::clone(&ctx);
    // The store times may be on disk only: read them off the runtime.
    let Some(spans) = off_the_runtime(move || {
        (0..queues)
            .map(|q| time_span(&ctx2, &h.group, &h.topic, q, now))
            .collect()
    })
    .await
    else {
        return shutting_down(&req);
    };
    let body = QueryConsumeTimeSpanBody {
        consume_time_span_set: spans,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}

/// One queue's times; reads the store, maybe from disk.
fn time_span(ctx: &BrokerContext, group: &str, topic: &str, queue: i32, now: i64) -> QueueTimeSpan {
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
    // The group's next message: at its committed offset, or the oldest kept one.
    let next = committed.unwrap_or(min).max(min);
    let delay_time = if next < max {
        let stored = at(next);
        if stored > 0 {
            (now - stored).max(0)
        } else {
            0
        }
    } else {
        0
    };
    QueueTimeSpan {
        consume_time_stamp: consume_time,
        delay_time,
        max_time_stamp: max_time,
        message_queue: MessageQueue {
            topic: topic.to_string(),
            broker_name: ctx.config().broker_name.clone(),
            queue_id: queue,
        },
        min_time_stamp: min_time,
    }
}
