//! What a push consumer does when an admin reaches it through a broker: answer with its running
//! info (GET_CONSUMER_RUNNING_INFO, 307), consume one message handed to it
//! (CONSUME_MESSAGE_DIRECTLY, 309), move its queues where an offset reset put them
//! (RESET_CONSUMER_CLIENT_OFFSET, 220, oneway: how RocketMQ 4 brokers, and Courier's with
//! `useServerSideResetOffset = false`, carry out `mqadmin resetOffsetByTime`), and tell the
//! offsets it holds for a topic (GET_CONSUMER_STATUS_FROM_CLIENT, 221). Java's client does all
//! four; `mqadmin consumerStatus` and the dashboards' consumer views read the first,
//! `mqadmin queryMsgById -g … -d …` sends the second, `mqadmin getConsumerStatus` the fourth.
//!
//! The handlers are registered before the consumer exists (its client instance takes the
//! dispatcher), so they reach it through a slot filled once it is built, and answer
//! SYSTEM_ERROR until then or after it is gone (a reset then has nothing to move). A direct
//! consumption is one listener call on the message: it moves no offset, sends nothing back and
//! does not count in the statistics, as in Java. A thread dump (`jstackEnable`) is a JVM's; none is attached.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use courier_remoting::body::{
    self, prop, CmResult, ConsumeMessageDirectlyResult, ConsumerRunningInfo, GetConsumerStatusBody,
    ProcessQueueInfo, ResetOffsetBody,
};
use courier_remoting::code::{request, response};
use courier_remoting::command::CURRENT_VERSION_NAME;
use courier_remoting::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader,
};
use courier_remoting::processor::Dispatcher;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{handed_over_as_original, ConsumeFromWhere, Inner, MessageModel};
use crate::listener::{call_caught, ConsumeResult};
use crate::message_ext::decode_message;
use crate::message_queue::MessageQueue;
use crate::route::RETRY_GROUP_TOPIC_PREFIX;
use crate::subscription::Subscription;

/// Where the handlers find the consumer once it is built.
pub(super) type ConsumerSlot = Arc<OnceLock<Weak<Inner>>>;

const MIB: usize = 1024 * 1024;

/// Registers the four handlers on `dispatcher`; they serve the consumer put in `slot`.
pub(super) fn register(dispatcher: &mut Dispatcher, slot: &ConsumerSlot) {
    let s = slot.clone();
    dispatcher.register(
        request::GET_CONSUMER_RUNNING_INFO,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let consumer = s.get().and_then(Weak::upgrade);
            async move { running_info(consumer, req) }
        }),
    );
    let s = slot.clone();
    dispatcher.register(
        request::RESET_CONSUMER_CLIENT_OFFSET,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let consumer = s.get().and_then(Weak::upgrade);
            async move {
                reset_offsets(consumer, &req);
                Ok(None)
            }
        }),
    );
    let s = slot.clone();
    dispatcher.register(
        request::GET_CONSUMER_STATUS_FROM_CLIENT,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let consumer = s.get().and_then(Weak::upgrade);
            async move { offsets_held(consumer, req) }
        }),
    );
    let s = slot.clone();
    dispatcher.register(
        request::CONSUME_MESSAGE_DIRECTLY,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let consumer = s.get().and_then(Weak::upgrade);
            async move { consume_directly(consumer, req).await }
        }),
    );
}

/// The consumer, if it is the one of `group`.
fn of_group(consumer: Option<Arc<Inner>>, group: &str) -> Option<Arc<Inner>> {
    consumer.filter(|c| c.config.group == group)
}

/// Java's answer for a group this client has no consumer of.
fn not_here(req: &RemotingCommand, group: &str) -> ProcessResult {
    Ok(Some(RemotingCommand::error_to(
        req,
        response::SYSTEM_ERROR,
        format!("The Consumer Group <{group}> not exist in this consumer"),
    )))
}

fn running_info(consumer: Option<Arc<Inner>>, req: RemotingCommand) -> ProcessResult {
    let h: GetConsumerRunningInfoRequestHeader = req.decode_header()?;
    let Some(c) = of_group(consumer, &h.consumer_group) else {
        return not_here(&req, &h.consumer_group);
    };
    let body = c.running_info().to_fastjson();
    Ok(Some(RemotingCommand::success_to(&req).with_body(body)))
}

/// The offsets this consumer holds in memory for the asked topic; an empty table for a group it
/// is not (as Java answers).
fn offsets_held(consumer: Option<Arc<Inner>>, req: RemotingCommand) -> ProcessResult {
    let h: GetConsumerStatusRequestHeader = req.decode_header()?;
    let message_queue_table = of_group(consumer, &h.group)
        .map(|c| c.offsets.of_topic(&h.topic))
        .unwrap_or_default()
        .into_iter()
        .map(|(q, offset)| (q.to_wire(), offset))
        .collect();
    let answer = GetConsumerStatusBody {
        message_queue_table,
        consumer_table: Vec::new(),
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(answer.to_fastjson()),
    ))
}

/// Hands each queue of the reset this consumer pulls to its pull task (`Inner::apply_reset`); a
/// reset of another group, or of queues it does not pull, is not its business.
fn reset_offsets(consumer: Option<Arc<Inner>>, req: &RemotingCommand) {
    let group = req.ext_field("group").unwrap_or_default();
    let Some(c) = of_group(consumer, &group) else {
        return;
    };
    let body = match ResetOffsetBody::from_json(req.body_bytes()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "an offset reset from a broker does not decode; ignored");
            return;
        }
    };
    let queues = c.queues.lock();
    for (q, offset) in body.offset_table {
        let mq = MessageQueue::from_wire(q);
        if let Some(pq) = queues.get(&mq) {
            pq.reset.store(offset, Ordering::Release);
            pq.reset_signal.notify_one();
        }
    }
}

async fn consume_directly(consumer: Option<Arc<Inner>>, req: RemotingCommand) -> ProcessResult {
    let h: ConsumeMessageDirectlyResultRequestHeader = req.decode_header()?;
    let Some(c) = of_group(consumer, &h.consumer_group) else {
        return not_here(&req, &h.consumer_group);
    };
    let record = req.body.as_deref().unwrap_or_default();
    let mut msg = match decode_message(record) {
        Ok((m, _)) => m,
        Err(e) => {
            return Ok(Some(RemotingCommand::error_to(
                &req,
                response::SYSTEM_ERROR,
                format!("the message to consume does not decode: {e}"),
            )))
        }
    };
    // A retry copy is handed over as the message it copies, as a pulled one is.
    let retry_topic = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", c.config.group);
    if msg.topic == retry_topic {
        handed_over_as_original(&mut msg);
    }
    tracing::info!(topic = %msg.topic, offset_msg_id = %msg.offset_msg_id, broker = h.broker_name.as_deref().unwrap_or(""), "consuming a message an admin handed over");
    let started = Instant::now();
    let outcome = call_caught(c.listener.as_ref(), vec![msg]).await;
    let result = ConsumeMessageDirectlyResult {
        order: c.config.orderly,
        auto_commit: true,
        consume_result: Some(match outcome {
            Some(ConsumeResult::Success) => CmResult::CrSuccess,
            Some(ConsumeResult::Later) => CmResult::CrLater,
            None => CmResult::CrThrowException,
        }),
        remark: outcome
            .is_none()
            .then(|| "the listener panicked".to_string()),
        spent_time_mills: started.elapsed().as_millis() as i64,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(body::to_json(&result)),
    ))
}

impl Inner {
    /// This consumer as `mqadmin consumerStatus` shows it.
    pub(super) fn running_info(&self) -> ConsumerRunningInfo {
        let mut subscription_set: Vec<_> = self.subs.iter().map(Subscription::to_data).collect();
        // Java keeps them in a TreeSet ordered by "topic@expression".
        subscription_set.sort_by(|a, b| (&a.topic, &a.sub_string).cmp(&(&b.topic, &b.sub_string)));
        let status_table = self
            .subs
            .iter()
            .map(|s| (s.topic.clone(), self.stats.status(&s.topic)))
            .collect();
        let queues: Vec<_> = self
            .queues
            .lock()
            .iter()
            .map(|(q, pq)| (q.clone(), pq.clone()))
            .collect();
        let mut mq_table: Vec<_> = queues
            .into_iter()
            .map(|(q, pq)| {
                let s = pq.state.lock();
                let cached_bytes: usize = s.in_flight.values().sum();
                let info = ProcessQueueInfo {
                    cached_msg_count: s.in_flight.len() as i32,
                    cached_msg_min_offset: s.in_flight.keys().next().copied().unwrap_or(0),
                    cached_msg_max_offset: s.in_flight.keys().next_back().copied().unwrap_or(0),
                    cached_msg_size_in_mib: (cached_bytes / MIB) as i32,
                    commit_offset: self.offsets.cached(&q).unwrap_or(-1),
                    droped: pq.dropped.load(Ordering::SeqCst),
                    last_consume_timestamp: s.last_consume_ms,
                    last_lock_timestamp: pq.lock.last_granted_ms(),
                    last_pull_timestamp: s.last_pull_ms,
                    locked: pq.lock.is_held(),
                    ..Default::default()
                };
                (q.to_wire(), info)
            })
            .collect();
        mq_table.sort_by(|a, b| a.0.cmp(&b.0));
        ConsumerRunningInfo {
            jstack: None,
            mq_table,
            properties: self.settings(),
            status_table,
            subscription_set,
            user_consumer_info: BTreeMap::new(),
        }
    }

    /// The consumer's settings under Java's `DefaultMQPushConsumer` names, and the `prop` keys.
    fn settings(&self) -> BTreeMap<String, String> {
        let c = &self.config;
        let o = &c.options;
        let ms = |d: std::time::Duration| d.as_millis().to_string();
        let mut p = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            p.insert(k.to_string(), v);
        };
        put("consumerGroup", c.group.clone());
        put("messageModel", c.model.wire_name().to_string());
        put("consumeFromWhere", c.consume_from.wire_name().to_string());
        if let ConsumeFromWhere::Timestamp(t) = c.consume_from {
            put("consumeTimestamp", t.to_string());
        }
        put("pullBatchSize", c.pull_batch_size.to_string());
        put(
            "consumeMessageBatchMaxSize",
            c.consume_batch_max.to_string(),
        );
        put(
            "pullThresholdForQueue",
            c.pull_threshold_per_queue.to_string(),
        );
        put("maxReconsumeTimes", c.max_reconsume_times.to_string());
        put("consumeThreadMin", c.consume_concurrency.to_string());
        put("consumeThreadMax", c.consume_concurrency.to_string());
        put("brokerSuspendMaxTimeMillis", ms(c.long_poll_suspend));
        put("persistConsumerOffsetInterval", ms(c.persist_interval));
        put("pollNameServerInterval", ms(o.poll_name_server_interval));
        put("heartbeatBrokerInterval", ms(o.heartbeat_interval));
        put("namesrvAddr", o.namesrv_addrs.join(";"));
        put("instanceName", o.instance_name.clone());
        put("clientIP", o.client_ip.to_string());
        put("unitMode", "false".to_string());
        if c.model == MessageModel::Broadcasting {
            put("offsetStore", c.offset_dir.display().to_string());
        }
        put(prop::CONSUME_ORDERLY, c.orderly.to_string());
        put(
            prop::THREADPOOL_CORE_SIZE,
            c.consume_concurrency.to_string(),
        );
        put(prop::CONSUMER_START_TIMESTAMP, self.started_ms.to_string());
        let namesrv: String = o.namesrv_addrs.iter().map(|a| format!("{a};")).collect();
        put(prop::NAMESERVER_ADDR, namesrv);
        put(prop::CONSUME_TYPE, "CONSUME_PASSIVELY".to_string());
        put(prop::CLIENT_VERSION, CURRENT_VERSION_NAME.to_string());
        p
    }
}
