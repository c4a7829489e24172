//! CONSUMER_SEND_MSG_BACK (36): a consumer failed to consume a message; store a copy for
//! redelivery in `%RETRY%group` after a delay, or in `%DLQ%group` once its retries are used up.
//!
//! Rules (RocketMQ's): the original is looked up by physical offset (missing → SYSTEM_ERROR);
//! `RETRY_TOPIC` keeps the original topic (set once); `ORIGIN_MESSAGE_ID` keeps the first id (the
//! request's `originMsgId`, else the message's UNIQ_KEY, else its offset id); the copy has
//! reconsumeTimes + 1 and `WAIT`=false. If the original's reconsumeTimes ≥ maxReconsumeTimes (the
//! request's, else the group's retryMaxTimes) or `delayLevel` < 0, the copy goes to `%DLQ%group`
//! queue 0 with no delay; otherwise to a random retry queue with delay level
//! `delayLevel`, or 3 + reconsumeTimes when `delayLevel` is 0 (10 s, 30 s, 1 m, ...).

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::ConsumerSendMsgBackRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::{
    decode_record, encode_properties, offset_msg_id, properties_iter, MessageToStore, PutStatus,
};
use rand::Rng;

use super::{error, record_off_the_runtime};
use crate::context::BrokerContext;
use crate::schedule::{divert_if_delayed, PROPERTY_DELAY};
use crate::topic_config::{perm, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};

/// Handles CONSUMER_SEND_MSG_BACK.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: ConsumerSendMsgBackRequestHeader = req.decode_header()?;
    let Some(group) = ctx.groups.find_or_create(&h.group)? else {
        return error(
            &req,
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!("subscription group [{}] does not exist", h.group),
        );
    };
    if !perm::is_writeable(ctx.config().broker_permission) {
        return error(
            &req,
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                ctx.config().broker_name
            ),
        );
    }
    if group.retry_queue_nums <= 0 {
        return Ok(Some(RemotingCommand::success_to(&req)));
    }
    // The consumer pulled it moments ago, so it is nearly always in memory; if not (its pages
    // were reclaimed since, or the consumer sends back what it never pulled from this broker),
    // read it off the async worker.
    const HEAD: u64 = 4096;
    let found = match u64::try_from(h.offset) {
        Ok(phys) if ctx.store.log_reads_from_disk(phys, HEAD) => {
            match record_off_the_runtime(&ctx, &req, h.offset).await {
                Ok(found) => found,
                Err(answer) => return answer,
            }
        }
        _ => ctx.store.message_by_phys_offset(h.offset),
    };
    let Some(record) = found else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("look message by offset failed, {}", h.offset),
        );
    };
    let Ok(m) = decode_record(&record) else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("the record at offset {} cannot be decoded", h.offset),
        );
    };
    let max_reconsume = h.max_reconsume_times.unwrap_or(group.retry_max_times);
    let to_dlq = m.reconsume_times() >= max_reconsume || h.delay_level < 0;
    let (topic, queue_id, delay_level) = if to_dlq {
        let topic = format!("{DLQ_GROUP_TOPIC_PREFIX}{}", h.group);
        ctx.topics
            .create_if_absent(&topic, 1, perm::READ | perm::WRITE)?;
        (topic, 0, 0)
    } else {
        let topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", h.group);
        ctx.topics
            .create_if_absent(&topic, group.retry_queue_nums, perm::READ | perm::WRITE)?;
        let queue = rand::thread_rng().gen_range(0..group.retry_queue_nums);
        let level = if h.delay_level == 0 {
            m.reconsume_times().saturating_add(3)
        } else {
            h.delay_level
        };
        (topic, queue, level)
    };

    let offset_id = offset_msg_id(m.store_host(), m.phys_offset());
    let origin_id = m
        .property("ORIGIN_MESSAGE_ID")
        .map(str::to_string)
        .or_else(|| h.origin_msg_id.clone().filter(|s| !s.is_empty()))
        .or_else(|| m.property("UNIQ_KEY").map(str::to_string))
        .unwrap_or(offset_id);
    let retry_topic = m.property("RETRY_TOPIC").unwrap_or(m.topic()).to_string();
    let delay = delay_level.to_string();
    let mut props: Vec<(&str, &str)> = properties_iter(m.properties())
        .filter(|(k, _)| {
            !matches!(
                *k,
                "RETRY_TOPIC" | "ORIGIN_MESSAGE_ID" | "WAIT" | PROPERTY_DELAY
            )
        })
        .collect();
    props.push(("RETRY_TOPIC", &retry_topic));
    props.push(("ORIGIN_MESSAGE_ID", &origin_id));
    props.push(("WAIT", "false"));
    if delay_level > 0 {
        props.push((PROPERTY_DELAY, &delay));
    }
    let mut msg = MessageToStore {
        topic,
        queue_id,
        flag: m.flag(),
        body: bytes::Bytes::copy_from_slice(m.body()),
        properties: encode_properties(&props),
        sys_flag: m.sys_flag(),
        born_timestamp: m.born_timestamp(),
        born_host: m.born_host(),
        reconsume_times: m.reconsume_times().saturating_add(1),
        prepared_transaction_offset: 0,
    };
    divert_if_delayed(&mut msg, ctx.schedule.max_level());
    let put = ctx.store.put(msg).await;
    match put.status {
        PutStatus::PutOk | PutStatus::FlushDiskTimeout => {
            Ok(Some(RemotingCommand::success_to(&req)))
        }
        other => error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "storing the retry message failed: {other:?} {}",
                put.reason.unwrap_or_default()
            ),
        ),
    }
}
