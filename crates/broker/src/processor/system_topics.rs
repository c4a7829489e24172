//! GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305): the topics RocketMQ's tools label as system topics
//! (`topic_config::system_topic_names`), as `{"topicList":[...]}`. Java clients ask it after the
//! name server's GET_SYSTEM_TOPIC_LIST_FROM_NS names a broker; the RocketMQ dashboard's topic,
//! producer, message and trace pages need both answers to load at all.

use std::sync::Arc;

use courier_remoting::body::{to_json, TopicList};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;
use crate::topic_config::system_topic_names;

/// Handles GET_SYSTEM_TOPIC_LIST_FROM_BROKER (no header).
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let config = ctx.config();
    let list = TopicList {
        broker_addr: None,
        topic_list: system_topic_names(&config.broker_cluster_name, &config.broker_name),
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&list)),
    ))
}
