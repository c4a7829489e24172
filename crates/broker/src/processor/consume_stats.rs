//! GET_CONSUME_STATS (208): a consumer group's progress per queue — the queue's max offset, the
//! group's committed offset and the store time of the last message it consumed — plus its
//! consume rate over the last minute (`rates.rs`): `mqadmin consumerProgress`, and the lag every
//! RocketMQ dashboard shows (max offset minus committed offset).
//!
//! Which topics, as Java's broker picks them: the `topicList` header (`;`-separated) if given;
//! else `topic`, or every topic the group has committed offsets for; then, unless a list was
//! given, topics the group's online consumers do not subscribe to are left out (when any are
//! online). Unknown topics are skipped. Courier keeps no separate pull offset, so `pullOffset` is
//! the committed offset (Java answers the larger of the two).

use std::collections::BTreeSet;
use std::sync::Arc;

use courier_remoting::body::{ConsumeStats, MessageQueue, OffsetWrapper};
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};

use super::{off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles GET_CONSUME_STATS (headers `consumerGroup`, optional `topic` and `topicList`).
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let group = req
        .ext_field("consumerGroup")
        .ok_or(HeaderError::Missing("consumerGroup"))?
        .into_owned();
    let listed: BTreeSet<String> = req
        .ext_field("topicList")
        .map(|l| {
            l.split(';')
                .filter(|t| !t.trim().is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let topics = if !listed.is_empty() {
        listed
    } else {
        let mut topics: BTreeSet<String> = match req.ext_field("topic") {
            Some(t) if !t.trim().is_empty() => [t.into_owned()].into(),
            _ => ctx.offsets.topics_of_group(&group).into_iter().collect(),
        };
        if let Some(online) = ctx.consumers.snapshot(&group) {
            if !online.subscriptions.is_empty() {
                topics.retain(|t| online.subscriptions.iter().any(|s| &s.topic == t));
            }
        }
        topics
    };
    let queues: Vec<(String, i32)> = topics
        .into_iter()
        .filter_map(|t| {
            let c = ctx.topics.get(&t)?;
            Some((t, c.read_queue_nums))
        })
        .collect();
    let consume_tps = queues
        .iter()
        .map(|(t, _)| {
            ctx.rates
                .group_consumes
                .per_second(&(group.clone(), t.clone()))
        })
        .sum();
    let ctx2 = Arc::clone(&ctx);
    // Timestamps of consumed messages may be on disk only: read off the runtime.
    let Some(offset_table) = off_the_runtime(move || {
        queues
            .iter()
            .flat_map(|(topic, n)| progress(&ctx2, &group, topic, *n))
            .collect()
    })
    .await
    else {
        return shutting_down(&req);
    };
    let stats = ConsumeStats {
        consume_tps,
        offset_table,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(stats.to_fastjson()),
    ))
}

/// The group's progress on queues `0..queues` of `topic`: max offset, committed offset (0 if
/// none) and the store time of the last consumed message (0 if none or unreadable). Reads the
/// store, maybe from disk: call it off the async workers.
pub(super) fn progress(
    ctx: &BrokerContext,
    group: &str,
    topic: &str,
    queues: i32,
) -> Vec<(MessageQueue, OffsetWrapper)> {
    let broker_name = ctx.config().broker_name.clone();
    (0..queues)
        .map(|q| {
            let broker_offset = ctx.store.max_offset(topic, q).max(0);
            let consumer_offset = ctx.offsets.query(group, topic, q).unwrap_or(0).max(0);
            let last_timestamp = if consumer_offset > 0 {
                ctx.store
                    .store_timestamp(topic, q, consumer_offset - 1)
                    .filter(|t| *t > 0)
                    .unwrap_or(0)
            } else {
                0
            };
            let mq = MessageQueue {
                topic: topic.to_string(),
                broker_name: broker_name.clone(),
                queue_id: q,
            };
            let progress = OffsetWrapper {
                broker_offset,
                consumer_offset,
                last_timestamp,
                pull_offset: consumer_offset,
            };
            (mq, progress)
        })
        .collect()
}
