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
        let mut table = Vec::new();
        for (topic, n) in &queues {
            for q in 0..*n {
                let broker_offset = ctx2.store.max_offset(topic, q).max(0);
                let consumer_offset = ctx2.offsets.query(&group, topic, q).unwrap_or(0).max(0);
                let last_timestamp = if consumer_offset > 0 {
                    ctx2.store
                        .store_timestamp(topic, q, consumer_offset - 1)
                        .filter(|t| *t > 0)
                        .unwrap_or(0)
                } else {
                    0
                };
                let mq = MessageQueue {
                    topic: topic.clone(),
                    broker_name: ctx2.config().broker_name.clone(),
                    queue_id: q,
                };
                let progress = OffsetWrapper {
                    broker_offset,
                    consumer_offset,
                    last_timestamp,
                    pull_offset: consumer_offset,
                };
                table.push((mq, progress));
            }
        }
        table
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
