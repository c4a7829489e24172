//! GET_TOPIC_STATS_INFO (202): for each queue of a topic its min and max offsets and when its
//! newest message was stored, plus the topic's put rate over the last minute (`rates.rs`) —
//! `mqadmin topicStatus`. The queues are the larger of the read and write queue numbers, as
//! Java counts them; an unknown topic is TOPIC_NOT_EXIST.

use std::sync::Arc;

use courier_remoting::body::{MessageQueue, TopicOffset, TopicStatsTable};
use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles GET_TOPIC_STATS_INFO (header `topic`).
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let topic = req
        .ext_field("topic")
        .ok_or(HeaderError::Missing("topic"))?
        .into_owned();
    let Some(config) = ctx.topics.get(&topic) else {
        return error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("topic[{topic}] not exist"),
        );
    };
    let queues = config.read_queue_nums.max(config.write_queue_nums);
    let topic_put_tps = ctx.rates.topic_puts.per_second(&topic);
    let broker_name = ctx.config().broker_name.clone();
    let store = Arc::clone(&ctx.store);
    // The newest message of an idle queue may be on disk only: read off the runtime.
    let Some(offset_table) = off_the_runtime(move || {
        (0..queues)
            .map(|q| {
                let min_offset = store.min_offset(&topic, q).max(0);
                let max_offset = store.max_offset(&topic, q).max(0);
                // -1 when the newest message cannot be read, as Java's store answers.
                let last_update_timestamp = if max_offset > 0 {
                    store
                        .store_timestamp(&topic, q, max_offset - 1)
                        .unwrap_or(-1)
                } else {
                    0
                };
                let mq = MessageQueue {
                    topic: topic.clone(),
                    broker_name: broker_name.clone(),
                    queue_id: q,
                };
                let offsets = TopicOffset {
                    last_update_timestamp,
                    max_offset,
                    min_offset,
                };
                (mq, offsets)
            })
            .collect()
    })
    .await
    else {
        return shutting_down(&req);
    };
    let table = TopicStatsTable {
        offset_table,
        topic_put_tps,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(table.to_fastjson()),
    ))
}
