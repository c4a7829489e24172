//! QUERY_CONSUME_TIME_SPAN (303): a consumer group's progress on each write queue of a topic,
//! told in store times rather than offsets — the queue's oldest and newest messages, the last
//! one the group consumed, and how long the next one has been waiting (`delayTime`): a lag an
//! alert can be set on whatever the message rate. Java's admin API asks it
//! (`MQAdminExt.queryConsumeTimeSpan`).
//!
//! The figures are `time_span.rs`'s. Where Java and Courier differ: for a queue the group has no
//! offset on, Java's `delayTime` is the current time plus one (it reads the store time at offset
//! -1); Courier measures it from the queue's oldest message, which is where such a group starts.
//! An unknown topic is TOPIC_NOT_EXIST, as in Java.

use std::sync::Arc;

use courier_remoting::body::{to_json, QueryConsumeTimeSpanBody};
use courier_remoting::code::response;
use courier_remoting::header::QueryConsumeTimeSpanRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime, shutting_down};
use crate::context::BrokerContext;
use crate::time_span::queue_time_span;

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
            .map(|q| queue_time_span(&ctx2, &h.group, &h.topic, q, now))
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
