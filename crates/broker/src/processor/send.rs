//! SEND_MESSAGE (10, long header keys), SEND_MESSAGE_V2 (310, keys a..n) and SEND_BATCH_MESSAGE
//! (320): validate, resolve (or auto-create) the topic, store, answer with the offset msgId.
//!
//! Checks, in RocketMQ's order: broker write permission (NO_PERMISSION), topic name
//! (MESSAGE_ILLEGAL), topics clients may not send to (NO_PERMISSION), topic existence with
//! auto-create (TOPIC_NOT_EXIST), topic write permission (NO_PERMISSION), queue id
//! (SYSTEM_ERROR), body size against `maxMessageSize` (MESSAGE_ILLEGAL, remark states the limit).
//! A retry-topic message whose reconsumeTimes exceeds `maxReconsumeTimes` goes to the group's
//! `%DLQ%` topic instead. The response carries msgId (offset id; comma-separated, one per record,
//! for batches), queueId, queueOffset (first record), transactionId (= UNIQ_KEY), MSG_REGION and
//! TRACE_ON. Store statuses map as in the fact sheet: stored-but-not-flushed is FLUSH_DISK_TIMEOUT
//! (never SUCCESS), nothing-stored statuses are errors without offsets. A single message with a
//! positive `DELAY` level is stored in SCHEDULE_TOPIC_XXXX and re-stored in its topic when due; a
//! PREPARED (transactional) one becomes a half message (see `transaction`).

use std::sync::Arc;

use bytes::Bytes;
use courier_remoting::code::{request, response};
use courier_remoting::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use courier_remoting::message_batch::decode_batch;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::{
    encode_properties, offset_msg_id, properties_iter, property_value, MessageToStore, PutResult,
    PutStatus, FLAG_TRANSACTION_MASK, FLAG_TRANSACTION_PREPARED,
};
use rand::Rng;

use super::error;
use crate::context::{BrokerContext, BrokerStats};
use crate::schedule::divert_if_delayed;
use crate::topic_config::{
    is_not_allowed_send_topic, perm, validate_topic_name, TopicFilterType, TopicLookup,
    DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX,
};
use crate::transaction::to_half;

const MULTI_TAGS_FLAG: i32 = 0x2;

/// Handles the three send codes.
pub async fn process(
    ctx: Arc<BrokerContext>,
    conn: ConnectionHandle,
    mut req: RemotingCommand,
) -> ProcessResult {
    // Nothing below reads the request's extFields again; taking them moves the properties
    // string into the header instead of copying it.
    let header = SendMessageRequestHeader::take_from_command(&mut req)?;
    let batch = req.code == request::SEND_BATCH_MESSAGE;
    let broker_name = &ctx.config.broker_name;
    if !perm::is_writeable(ctx.config.broker_permission) {
        return error(
            &req,
            response::NO_PERMISSION,
            format!("the broker[{broker_name}] sending message is forbidden (brokerPermission has no write bit)"),
        );
    }
    let mut topic = header.topic.clone();
    if let Err(reason) = validate_topic_name(&topic) {
        return error(&req, response::MESSAGE_ILLEGAL, reason);
    }
    if is_not_allowed_send_topic(&topic) {
        return error(
            &req,
            response::NO_PERMISSION,
            format!("Sending message to topic[{topic}] is forbidden."),
        );
    }
    let reconsume_times = header.reconsume_times.unwrap_or(0);
    let mut config = if let Some(group) = topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        // Retry topics exist per group; create them on demand like Java's broker does.
        let queues = ctx
            .groups
            .find_or_create(group)?
            .map(|g| g.retry_queue_nums.max(1))
            .unwrap_or(1);
        ctx.topics
            .create_if_absent(&topic, queues, perm::READ | perm::WRITE)?
    } else {
        match ctx.topics.lookup_for_send(
            &topic,
            &header.default_topic,
            header.default_topic_queue_nums,
            0,
        )? {
            TopicLookup::Found { config, .. } => config,
            TopicLookup::NotExist(remark) => return error(&req, response::TOPIC_NOT_EXIST, remark),
        }
    };
    if !perm::is_writeable(config.perm) {
        return error(
            &req,
            response::NO_PERMISSION,
            format!(
                "the topic[{topic}] sending message is forbidden (topic perm {} has no write bit)",
                config.perm
            ),
        );
    }
    let mut queue_id = header.queue_id;
    let queue_limit = config.write_queue_nums.max(config.read_queue_nums);
    if queue_id >= queue_limit {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "request queueId[{queue_id}] is illegal, {topic} has {} write queues; producer: {}",
                config.write_queue_nums,
                conn.peer_addr()
            ),
        );
    }
    if queue_id < 0 {
        queue_id = rand::thread_rng().gen_range(0..config.write_queue_nums.max(1));
    }
    // Retry messages past their redelivery budget go to the dead-letter queue.
    if let Some(group) = topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        let max = header.max_reconsume_times.unwrap_or_else(|| {
            ctx.groups
                .get(group)
                .map(|g| g.retry_max_times)
                .unwrap_or(16)
        });
        if reconsume_times > max {
            let dlq = format!("{DLQ_GROUP_TOPIC_PREFIX}{group}");
            config = ctx
                .topics
                .create_if_absent(&dlq, 1, perm::READ | perm::WRITE)?;
            topic = dlq;
            queue_id = 0;
        }
    }

    let max_size = ctx.config.max_message_size;
    let body = req.body.clone().unwrap_or_default();
    if body.len() > max_size {
        return error(
            &req,
            response::MESSAGE_ILLEGAL,
            format!(
                "the message body size {} bytes exceeds the limit of {max_size} bytes (broker maxMessageSize); send a smaller message or raise maxMessageSize",
                body.len()
            ),
        );
    }
    let mut sys_flag = header.sys_flag;
    if config.topic_filter_type == TopicFilterType::MultiTag {
        sys_flag |= MULTI_TAGS_FLAG;
    }
    let born_host = conn.peer_addr();
    let template = |body: Bytes, flag: i32, properties: String| MessageToStore {
        topic: topic.clone(),
        queue_id,
        flag,
        body,
        properties,
        sys_flag,
        born_timestamp: header.born_timestamp,
        born_host,
        reconsume_times,
        prepared_transaction_offset: 0,
    };

    let (result, msgs_for_ids) = if batch {
        let messages = match decode_batch(&body) {
            Ok(m) => m,
            Err(e) => return error(&req, response::MESSAGE_ILLEGAL, e.to_string()),
        };
        if messages.is_empty() {
            return error(
                &req,
                response::MESSAGE_ILLEGAL,
                "the batch body holds no message",
            );
        }
        // Batch-level properties (e.g. WAIT) apply to every message, as Java's broker appends them.
        let batch_props = header.properties.as_deref().unwrap_or("");
        let host = ctx.config.store_config_host();
        let mut sizes = Vec::with_capacity(messages.len());
        // The response's transactionId: the UNIQ_KEYs comma-joined, built in one buffer.
        let mut uniq = String::new();
        let mut to_store = Vec::with_capacity(messages.len());
        for m in messages {
            let props = merge_properties(m.properties, batch_props);
            if let Some(key) = property_value(&props, "UNIQ_KEY") {
                if !uniq.is_empty() {
                    uniq.push(',');
                }
                uniq.push_str(key);
            }
            let msg = template(m.body, m.flag, props);
            sizes.push(msg.stored_len(&host));
            to_store.push(msg);
        }
        let r = ctx.store.put_batch(to_store).await;
        (r, Some((sizes, uniq)))
    } else {
        let properties = header.properties.clone().unwrap_or_default();
        let mut msg = template(body, header.flag, properties);
        if msg.sys_flag & FLAG_TRANSACTION_MASK == FLAG_TRANSACTION_PREPARED {
            // A transactional half message waits, invisible, for END_TRANSACTION.
            to_half(&mut msg);
        } else {
            // A DELAY level parks the message in SCHEDULE_TOPIC_XXXX until it is due.
            divert_if_delayed(&mut msg, ctx.schedule.max_level());
        }
        let r = ctx.store.put(msg).await;
        (r, None)
    };
    respond(&ctx, &req, &header, queue_id, result, msgs_for_ids)
}

fn respond(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    header: &SendMessageRequestHeader,
    queue_id: i32,
    mut result: PutResult,
    batch: Option<(Vec<usize>, String)>,
) -> ProcessResult {
    let code = match result.status {
        PutStatus::PutOk => response::SUCCESS,
        PutStatus::FlushDiskTimeout => response::FLUSH_DISK_TIMEOUT,
        PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => {
            let reason = result
                .reason
                .unwrap_or_else(|| "the message is illegal".to_string());
            return error(req, response::MESSAGE_ILLEGAL, reason);
        }
        PutStatus::ServiceNotAvailable => {
            return error(
                req,
                response::SERVICE_NOT_AVAILABLE,
                format!(
                    "service not available now: {}; free disk space or retry on another broker",
                    result
                        .reason
                        .as_deref()
                        .unwrap_or("the disk is full or the broker is shutting down")
                ),
            )
        }
        PutStatus::OsPageCacheBusy => {
            return error(
                req,
                response::SYSTEM_BUSY,
                "[PC_SYNCHRONIZED]broker busy, start flow control for a while",
            )
        }
        PutStatus::CreateMappedFileFailed => {
            return error(
                req,
                response::SYSTEM_ERROR,
                format!(
                    "create mapped file failed, server is busy or broken: {}",
                    result.reason.as_deref().unwrap_or("unknown cause")
                ),
            )
        }
        PutStatus::UnknownError => {
            return error(
                req,
                response::SYSTEM_ERROR,
                format!(
                    "UNKNOWN_ERROR: {}",
                    result.reason.as_deref().unwrap_or("unknown cause")
                ),
            )
        }
    };
    BrokerStats::add(&ctx.stats.put_messages, u64::from(result.msg_count.max(1)));
    let (msg_id, transaction_id) = match batch {
        Some((sizes, uniq)) => {
            let host = ctx.config.store_config_host();
            let mut ids = String::with_capacity(sizes.len() * 33);
            let mut offset = result.phys_offset;
            for size in sizes {
                if !ids.is_empty() {
                    ids.push(',');
                }
                ids.push_str(&offset_msg_id(host, offset));
                offset += size as i64;
            }
            (ids, (!uniq.is_empty()).then_some(uniq))
        }
        None => (
            std::mem::take(&mut result.msg_id),
            header
                .properties
                .as_deref()
                .and_then(|p| property_value(p, "UNIQ_KEY"))
                .map(str::to_string),
        ),
    };
    let resp_header = SendMessageResponseHeader {
        msg_id,
        queue_id,
        queue_offset: result.queue_offset,
        transaction_id,
        batch_uniq_id: None,
        recall_handle: None,
        msg_region: Some(ctx.config.region_id.clone()),
        trace_on: Some(ctx.config.trace_on.to_string()),
    };
    let mut resp = RemotingCommand::response_to(req, code, None).with_header_json(&resp_header);
    if code == response::FLUSH_DISK_TIMEOUT {
        resp.remark = Some("stored, but not flushed to disk within syncFlushTimeout".to_string());
    }
    Ok(Some(resp))
}

/// `own` plus the pairs of `batch` whose keys `own` lacks; `own` itself (no copy) when it has
/// them all, the usual case (clients put WAIT on every message).
fn merge_properties(own: String, batch: &str) -> String {
    let extra: Vec<(&str, &str)> = properties_iter(batch)
        .filter(|(k, _)| property_value(&own, k).is_none())
        .collect();
    if extra.is_empty() {
        return own;
    }
    let mut merged: Vec<(&str, &str)> = properties_iter(&own).collect();
    merged.extend(extra);
    encode_properties(&merged)
}
