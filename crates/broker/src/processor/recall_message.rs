//! RECALL_MESSAGE (370, RocketMQ 5.3): withdraws a timer message before its time. Header
//! `producerGroup`, `topic`, `recallHandle` (the handle its send answered with, `recall.rs`).
//! Checks as Java's `RecallMessageProcessor`: a writable broker, a known topic, a handle that
//! decodes (else ILLEGAL_OPERATION "recall handle is invalid"), names this topic and this broker,
//! and a time still ahead and within `timerMaxDelaySec` (else ILLEGAL_OPERATION). The recall is
//! recorded on disk before SUCCESS (header `msgId`: the recalled UNIQ_KEY); the schedule then
//! drops the message when its time comes. Recalling a message that was never a timer, or twice,
//! also answers SUCCESS, as Java's does (it cannot tell either).

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;
use crate::recall::RecallHandle;
use crate::topic_config::{now_ms, perm};

/// Handles RECALL_MESSAGE.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let topic = req
        .ext_field("topic")
        .ok_or(HeaderError::Missing("topic"))?
        .into_owned();
    let handle = req
        .ext_field("recallHandle")
        .ok_or(HeaderError::Missing("recallHandle"))?
        .into_owned();
    if !perm::is_writeable(ctx.config().broker_permission) {
        return error(
            &req,
            response::SERVICE_NOT_AVAILABLE,
            "recall failed, broker service not available",
        );
    }
    if ctx.topics.get(&topic).is_none() {
        return error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("recall failed, the topic[{topic}] not exist"),
        );
    }
    let Some(h) = RecallHandle::decode(&handle) else {
        return error(
            &req,
            response::ILLEGAL_OPERATION,
            "recall handle is invalid",
        );
    };
    if h.topic != topic {
        return error(
            &req,
            response::ILLEGAL_OPERATION,
            "recall failed, topic not match",
        );
    }
    if h.broker_name != ctx.config().broker_name {
        return error(
            &req,
            response::ILLEGAL_OPERATION,
            "recall failed, broker service not available",
        );
    }
    let now = now_ms();
    let left = h.deliver_ms - now;
    let max_ms =
        i64::try_from(ctx.config().timer_max_delay_sec.saturating_mul(1000)).unwrap_or(i64::MAX);
    if left <= 0 || left >= max_ms {
        return error(
            &req,
            response::ILLEGAL_OPERATION,
            "recall failed, timestamp invalid",
        );
    }
    // The settled time is the handle's minus one (`recall.rs`); an fsync, kept off the worker.
    let schedule = Arc::clone(&ctx.schedule);
    let (t, id) = (h.topic.clone(), h.msg_id.clone());
    let recorded = crate::blocking::off_the_runtime(move || {
        schedule.recalls.recall(&t, &id, h.deliver_ms - 1, now)
    })
    .await;
    match recorded {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!("recall failed, execute error: {e}"),
            )
        }
        None => {
            return error(
                &req,
                response::SERVICE_NOT_AVAILABLE,
                "recall failed, broker service not available",
            )
        }
    }
    let mut resp = RemotingCommand::success_to(&req);
    resp.ext_fields_mut().insert("msgId".to_string(), h.msg_id);
    Ok(Some(resp))
}
