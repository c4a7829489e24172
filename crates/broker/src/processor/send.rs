//! SEND_MESSAGE (10, long header keys), SEND_MESSAGE_V2 (310, keys a..n) and SEND_BATCH_MESSAGE
//! (320): validate, resolve (or auto-create) the topic, store, answer with the offset msgId.
//!
//! Checks, in RocketMQ's order: broker write permission (NO_PERMISSION), topic name
//! (MESSAGE_ILLEGAL), topics clients may not send to (NO_PERMISSION), topic existence with
//! auto-create (TOPIC_NOT_EXIST), topic write permission (NO_PERMISSION), queue id
//! (SYSTEM_ERROR), body size against `maxMessageSize` (MESSAGE_ILLEGAL, remark states the limit).
//! A retry-topic message whose reconsumeTimes exceeds `maxReconsumeTimes` goes to the group's
//! `%DLQ%` topic instead. The response carries msgId (offset id; comma-separated, one per record,
//! for batches), queueId, queueOffset (first record), transactionId (= UNIQ_KEY of the message; of
//! a batch, its request header's own UNIQ_KEY if it has one, as Java's broker does), MSG_REGION and
//! TRACE_ON. Store statuses map as in the fact sheet: stored-but-not-flushed is FLUSH_DISK_TIMEOUT
//! (never SUCCESS), nothing-stored statuses are errors without offsets. A single message with a
//! positive `DELAY` level is stored in SCHEDULE_TOPIC_XXXX and re-stored in its topic when due; a
//! PREPARED (transactional) one becomes a half message (see `transaction`). A single message is
//! stored with the property CLUSTER (the broker's cluster), as Java's broker stores it.

use std::borrow::Cow;
use std::sync::Arc;

use courier_remoting::code::{request, response};
use courier_remoting::header::{SendMessageRequestHeader, SendMessageResponseHeader};
use courier_remoting::message_batch::BatchRecords;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::{
    encode_properties, properties_iter, property_value, put_property, MessageRef, MessageToStore,
    PutResult, PutStatus, FLAG_TRANSACTION_MASK, FLAG_TRANSACTION_PREPARED,
};
use rand::Rng;

use super::error;
use crate::config::BrokerConfig;
use crate::context::{BrokerContext, BrokerStats};
use crate::error::BrokerError;
use crate::recall::RecallHandle;
use crate::schedule::{divert_scheduled, TimerRefused, PROPERTY_REAL_TOPIC, PROPERTY_TIMER_OUT_MS};
use crate::topic_config::{
    is_not_allowed_send_topic, perm, validate_topic_name, TopicConfig, TopicFilterType,
    TopicLookup, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX,
};
use crate::transaction::to_half;

const MULTI_TAGS_FLAG: i32 = 0x2;

/// The cluster of the broker that stored a message (set on single sends, as Java does).
pub(crate) const PROPERTY_CLUSTER: &str = "CLUSTER";

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
    // One configuration for the whole request, though an update may land while it waits.
    let broker = ctx.settings.snapshot();
    let Target {
        mut topic,
        mut config,
        mut queue_id,
    } = match check_target(&ctx, &broker, &conn, &req, &header) {
        Ok(t) => t,
        Err(answer) => return *answer,
    };
    let reconsume_times = header.reconsume_times.unwrap_or(0);
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

    let body = req.body.clone().unwrap_or_default();
    if let Err(answer) = check_body_size(&broker, &req, body.len()) {
        return *answer;
    }
    let mut sys_flag = header.sys_flag;
    if config.topic_filter_type == TopicFilterType::MultiTag {
        sys_flag |= MULTI_TAGS_FLAG;
    }
    let born_host = conn.peer_addr();
    // RocketMQ 5.3: a parked timer message's send answers with the handle that recalls it.
    let mut recall_handle = None;
    let result = if batch {
        let mut records = BatchRecords::new(&body);
        // Batch-level properties (e.g. WAIT) apply to every message, as Java's broker appends
        // them; parsed once per batch, each message's own properties are then scanned once.
        let batch_props = header.properties.as_deref().unwrap_or("");
        let batch_pairs: Vec<(&str, &str)> = properties_iter(batch_props).collect();
        // Each message's properties as stored: its own, borrowed from the request, unless a
        // batch-level key is missing from them. The messages below borrow these, so a batch
        // costs a few vectors, not an allocation or copy per message.
        let mut records_props = Vec::with_capacity(records.expected_len());
        for m in records.by_ref() {
            let m = match m {
                Ok(m) => m,
                Err(e) => return error(&req, response::MESSAGE_ILLEGAL, e.to_string()),
            };
            let props = if has_keys(m.properties, &batch_pairs) {
                Cow::Borrowed(m.properties)
            } else {
                merge_properties(m.properties, &batch_pairs)
            };
            records_props.push((m, props));
        }
        if records_props.is_empty() {
            return error(
                &req,
                response::MESSAGE_ILLEGAL,
                "the batch body holds no message",
            );
        }
        let shared = MessageRef {
            topic: &topic,
            queue_id,
            flag: 0,
            body: &[],
            properties: "",
            sys_flag,
            born_timestamp: header.born_timestamp,
            born_host,
            reconsume_times,
            prepared_transaction_offset: 0,
        };
        let msgs: Vec<MessageRef<'_>> = records_props
            .iter()
            .map(|(m, props)| MessageRef {
                flag: m.flag,
                body: m.body,
                properties: props,
                ..shared
            })
            .collect();
        ctx.store.put_batch_refs(&msgs).await
    } else {
        // Java's broker stamps every message with its cluster; a request-reply responder needs it
        // to address the reply (`<CLUSTER>_REPLY_TOPIC`). Batches skip it: their messages are
        // stored from the request as sent, and a request is always a single message.
        let own = header.properties.as_deref().unwrap_or("");
        let cluster = &broker.broker_cluster_name;
        // Room for the pair from the start: one allocation per send, not a copy and a regrowth.
        let mut properties =
            String::with_capacity(own.len() + PROPERTY_CLUSTER.len() + cluster.len() + 3);
        properties.push_str(own);
        put_property(&mut properties, PROPERTY_CLUSTER, cluster);
        let mut msg = MessageToStore {
            topic,
            queue_id,
            flag: header.flag,
            body,
            properties,
            sys_flag,
            born_timestamp: header.born_timestamp,
            born_host,
            reconsume_times,
            prepared_transaction_offset: 0,
        };
        if msg.sys_flag & FLAG_TRANSACTION_MASK == FLAG_TRANSACTION_PREPARED {
            // A transactional half message waits, invisible, for END_TRANSACTION.
            to_half(&mut msg);
        } else {
            // A timer (RocketMQ 5) or a DELAY level parks the message in SCHEDULE_TOPIC_XXXX
            // until it is due.
            match divert_scheduled(&mut msg, &ctx.schedule, &broker) {
                Ok(parked) => {
                    recall_handle = parked.then(|| recall_handle_of(&broker, &msg)).flatten();
                }
                Err(TimerRefused::NotEnabled) => {
                    return error(
                        &req,
                        response::SYSTEM_ERROR,
                        "accurate timer message is not enabled, timerWheelEnable is false",
                    );
                }
                Err(TimerRefused::Illegal) => {
                    return error(
                        &req,
                        response::MESSAGE_ILLEGAL,
                        format!(
                            "timer message illegal, the delay time should not be bigger than the max delay {}ms; or if set del msg, the delay time should be bigger than the current time",
                            broker.timer_max_delay_sec * 1000
                        ),
                    );
                }
            }
        }
        ctx.store.put(msg).await
    };
    respond(
        &ctx,
        &broker,
        &req,
        &header,
        queue_id,
        result,
        recall_handle,
    )
}

/// A send refused by the checks: the answer to return (boxed: refusals are rare, and the
/// checks' result stays small on the path every send takes).
pub(super) type Refusal = Box<ProcessResult>;

fn refuse(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> Refusal {
    Box::new(error(req, code, remark))
}

/// Where a send lands once it passed RocketMQ's checks.
pub(super) struct Target {
    pub topic: String,
    pub config: Arc<TopicConfig>,
    /// The request's queue, or a random writable one when it asked for none (negative).
    pub queue_id: i32,
}

/// The checks every send code (and SEND_REPLY_MESSAGE) makes before storing, in Java's order
/// (`msgCheck`): broker write permission, topic name, topics clients may not send to, the topic's
/// existence (auto-creating it, and retry topics on demand), its write permission, the queue id.
/// `Err` is the answer to send instead.
pub(super) fn check_target(
    ctx: &BrokerContext,
    broker: &BrokerConfig,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
    header: &SendMessageRequestHeader,
) -> Result<Target, Refusal> {
    if !perm::is_writeable(broker.broker_permission) {
        let broker_name = &broker.broker_name;
        return Err(refuse(
            req,
            response::NO_PERMISSION,
            format!("the broker[{broker_name}] sending message is forbidden (brokerPermission has no write bit)"),
        ));
    }
    let topic = header.topic.clone();
    if let Err(reason) = validate_topic_name(&topic) {
        return Err(refuse(req, response::MESSAGE_ILLEGAL, reason));
    }
    if is_not_allowed_send_topic(&topic) {
        return Err(refuse(
            req,
            response::NO_PERMISSION,
            format!("Sending message to topic[{topic}] is forbidden."),
        ));
    }
    let failed = |e: BrokerError| Err(Box::new(Err(e.into())));
    let config = if let Some(group) = topic.strip_prefix(RETRY_GROUP_TOPIC_PREFIX) {
        // Retry topics exist per group; create them on demand like Java's broker does.
        let queues = match ctx.groups.find_or_create(group) {
            Ok(g) => g.map(|g| g.retry_queue_nums.max(1)).unwrap_or(1),
            Err(e) => return failed(e),
        };
        match ctx
            .topics
            .create_if_absent(&topic, queues, perm::READ | perm::WRITE)
        {
            Ok(c) => c,
            Err(e) => return failed(e),
        }
    } else {
        match ctx.topics.lookup_for_send(
            &topic,
            &header.default_topic,
            header.default_topic_queue_nums,
            0,
        ) {
            Ok(TopicLookup::Found { config, .. }) => config,
            Ok(TopicLookup::NotExist(remark)) => {
                return Err(refuse(req, response::TOPIC_NOT_EXIST, remark))
            }
            Err(e) => return failed(e),
        }
    };
    if !perm::is_writeable(config.perm) {
        return Err(refuse(
            req,
            response::NO_PERMISSION,
            format!(
                "the topic[{topic}] sending message is forbidden (topic perm {} has no write bit)",
                config.perm
            ),
        ));
    }
    let mut queue_id = header.queue_id;
    let queue_limit = config.write_queue_nums.max(config.read_queue_nums);
    if queue_id >= queue_limit {
        return Err(refuse(
            req,
            response::SYSTEM_ERROR,
            format!(
                "request queueId[{queue_id}] is illegal, {topic} has {} write queues; producer: {}",
                config.write_queue_nums,
                conn.peer_addr()
            ),
        ));
    }
    if queue_id < 0 {
        queue_id = rand::thread_rng().gen_range(0..config.write_queue_nums.max(1));
    }
    Ok(Target {
        topic,
        config,
        queue_id,
    })
}

/// The body against `maxMessageSize`: MESSAGE_ILLEGAL naming the limit when it is over.
pub(super) fn check_body_size(
    broker: &BrokerConfig,
    req: &RemotingCommand,
    len: usize,
) -> Result<(), Refusal> {
    let max_size = broker.max_message_size;
    if len > max_size {
        return Err(refuse(
            req,
            response::MESSAGE_ILLEGAL,
            format!(
                "the message body size {len} bytes exceeds the limit of {max_size} bytes (broker maxMessageSize); send a smaller message or raise maxMessageSize"
            ),
        ));
    }
    Ok(())
}

/// The recall handle of a timer message parked by this send (`recall.rs`), as Java's
/// `attachRecallHandle`: none for one headed to a retry topic or without a UNIQ_KEY.
fn recall_handle_of(broker: &BrokerConfig, msg: &MessageToStore) -> Option<String> {
    let timer_out: i64 = property_value(&msg.properties, PROPERTY_TIMER_OUT_MS)?
        .parse()
        .ok()?;
    let real_topic = property_value(&msg.properties, PROPERTY_REAL_TOPIC)?;
    if real_topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
        return None;
    }
    let uniq_key = property_value(&msg.properties, "UNIQ_KEY")?;
    Some(RecallHandle::encode(
        real_topic,
        &broker.broker_name,
        timer_out,
        uniq_key,
    ))
}

fn respond(
    ctx: &BrokerContext,
    broker: &BrokerConfig,
    req: &RemotingCommand,
    header: &SendMessageRequestHeader,
    queue_id: i32,
    mut result: PutResult,
    recall_handle: Option<String>,
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
    // One offset id per record, comma-joined for a batch, as the store rendered them.
    let msg_id = std::mem::take(&mut result.msg_id);
    // A batch answers with its own UNIQ_KEY (the request header's properties), not its
    // messages': clients know those, and Java's broker does the same.
    let transaction_id = header
        .properties
        .as_deref()
        .and_then(|p| property_value(p, "UNIQ_KEY"))
        .map(str::to_string);
    let resp_header = SendMessageResponseHeader {
        msg_id,
        queue_id,
        queue_offset: result.queue_offset,
        transaction_id,
        batch_uniq_id: None,
        recall_handle,
        msg_region: Some(broker.region_id.clone()),
        trace_on: Some(broker.trace_on.to_string()),
    };
    let mut resp = RemotingCommand::response_to(req, code, None).with_header_rendered(&resp_header);
    if code == response::FLUSH_DISK_TIMEOUT {
        resp.remark = Some("stored, but not flushed to disk within syncFlushTimeout".to_string());
    }
    Ok(Some(resp))
}

/// True when `own` holds every key of `batch` (the usual case: clients put WAIT on every
/// message, so nothing has to be merged in), with the leniency of `properties_iter`: a pair
/// counts only with a non-empty key and value. The keys hold neither separator, as
/// `properties_iter` yields them, so `key 0x01` at the start of a pair (the string's start or
/// after a 0x02) is that pair's whole key. Each key is looked for by its first byte (memchr):
/// about a third of the time of a scan that splits every pair (27 against 85 ns for a 52-byte
/// properties string with the key last, 18 against 206 with it first, a scratch loop).
fn has_keys(own: &str, batch: &[(&str, &str)]) -> bool {
    let bytes = own.as_bytes();
    batch.iter().all(|(k, _)| {
        let k = k.as_bytes();
        debug_assert!(!k.contains(&1) && !k.contains(&2), "a key with a separator");
        let Some(&first) = k.first() else {
            return false;
        };
        memchr::memchr_iter(first, bytes).any(|p| {
            (p == 0 || bytes[p - 1] == 2)
                && bytes[p..].starts_with(k)
                && bytes.get(p + k.len()) == Some(&1)
                && bytes.get(p + k.len() + 1).is_some_and(|&b| b != 2)
        })
    })
}

/// `own` plus the pairs of `batch` whose keys `own` lacks.
fn merge_properties<'a>(own: &'a str, batch: &[(&str, &str)]) -> Cow<'a, str> {
    let extra: Vec<(&str, &str)> = batch
        .iter()
        .copied()
        .filter(|(k, _)| property_value(own, k).is_none())
        .collect();
    if extra.is_empty() {
        return Cow::Borrowed(own);
    }
    let mut merged: Vec<(&str, &str)> = properties_iter(own).collect();
    merged.extend(extra);
    Cow::Owned(encode_properties(&merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_keys_agrees_with_property_value_on_every_short_string() {
        // Every string of up to six of these pieces: keys, values, separators, empty fields.
        const PIECES: [&str; 5] = ["WAIT", "x", "y", "\u{1}", "\u{2}"];
        let batches: [&[(&str, &str)]; 3] =
            [&[("WAIT", "true")], &[("WAIT", "true"), ("x", "y")], &[]];
        let mut strings = vec![String::new()];
        for _ in 0..6 {
            let longer: Vec<String> = strings
                .iter()
                .flat_map(|s| PIECES.iter().map(move |p| format!("{s}{p}")))
                .collect();
            for own in &longer {
                for batch in batches {
                    let want = batch.iter().all(|(k, _)| property_value(own, k).is_some());
                    assert_eq!(has_keys(own, batch), want, "{own:?} {batch:?}");
                }
            }
            strings = longer;
        }
        assert!(has_keys("WAIT\u{1}false", &[("WAIT", "true")]));
        assert!(!has_keys("WAIT\u{1}\u{2}", &[("WAIT", "true")]));
    }

    #[test]
    fn has_keys_skips_long_text_and_finds_keys_after_it() {
        let long = "v".repeat(37);
        let own = format!("A{long}\u{1}{long}\u{2}WAIT\u{1}true\u{2}K\u{1}{long}");
        assert!(has_keys(&own, &[("WAIT", "x"), ("K", "y")]));
        assert!(has_keys(&own, &[(&format!("A{long}"), "z")]));
        assert!(!has_keys(&own, &[("WAIT", "x"), ("B", "y")]));
    }

    #[test]
    fn missing_batch_keys_are_merged_in() {
        let batch = [("WAIT", "true"), ("TAGS", "b")];
        let own = "TAGS\u{1}own\u{2}";
        assert!(!has_keys(own, &batch));
        let merged = merge_properties(own, &batch);
        assert_eq!(property_value(&merged, "TAGS"), Some("own"));
        assert_eq!(property_value(&merged, "WAIT"), Some("true"));
        // Nothing missing: the message's own text, not a copy.
        let complete = "WAIT\u{1}false\u{2}TAGS\u{1}own\u{2}";
        assert!(matches!(merge_properties(complete, &batch), Cow::Borrowed(p) if p == complete));
    }
}
