//! UPDATE_AND_CREATE_TOPIC (17): create or replace a topic's config (admin tools, ali-ons users).
//! The topic table's change notification makes the broker re-register with the name servers at
//! once, so the new route is visible without waiting for the 30 s period.

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::CreateTopicRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;
use crate::topic_config::{validate_topic_name, TopicConfig, TopicFilterType};

/// Handles UPDATE_AND_CREATE_TOPIC.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: CreateTopicRequestHeader = req.decode_header()?;
    if let Err(reason) = validate_topic_name(&h.topic) {
        return error(&req, response::SYSTEM_ERROR, reason);
    }
    if h.topic == ctx.config().broker_cluster_name {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("The topic[{}] is conflict with system topic.", h.topic),
        );
    }
    if !(1..=1024).contains(&h.read_queue_nums) || !(1..=1024).contains(&h.write_queue_nums) {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "readQueueNums {} / writeQueueNums {} must be between 1 and 1024",
                h.read_queue_nums, h.write_queue_nums
            ),
        );
    }
    let filter_type = match h.topic_filter_type.as_deref() {
        None | Some("") | Some("SINGLE_TAG") => TopicFilterType::SingleTag,
        Some("MULTI_TAG") => TopicFilterType::MultiTag,
        Some(other) => {
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!("topicFilterType {other:?} is not SINGLE_TAG or MULTI_TAG"),
            )
        }
    };
    let mut config = TopicConfig::new(h.topic.clone(), h.write_queue_nums, h.perm);
    config.read_queue_nums = h.read_queue_nums;
    config.topic_filter_type = filter_type;
    config.topic_sys_flag = h.topic_sys_flag.unwrap_or(0);
    config.order = h.order.unwrap_or(false);
    ctx.topics.update(config)?;
    tracing::info!(topic = %h.topic, "topic created/updated by UPDATE_AND_CREATE_TOPIC");
    Ok(Some(RemotingCommand::success_to(&req)))
}
