//! Which groups consume a topic, and which topics a group consumes — what dashboards list on a
//! topic's and a group's page. QUERY_TOPIC_CONSUME_BY_WHO (300, header `topic`): the groups with
//! consumers online subscribed to it, plus those with committed offsets on it (`GroupList`).
//! QUERY_TOPICS_BY_CONSUMER (343, header `group`): the topics the group has committed offsets
//! for, with this broker's address (`TopicList`). Unknown names answer empty lists, as Java does.

use std::sync::Arc;

use courier_remoting::body::{to_json, GroupList, TopicList};
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles QUERY_TOPIC_CONSUME_BY_WHO.
pub async fn groups_of_topic(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let topic = req
        .ext_field("topic")
        .ok_or(HeaderError::Missing("topic"))?;
    let mut body = GroupList::default();
    body.group_list
        .extend(ctx.consumers.groups_subscribing(&topic));
    body.group_list.extend(ctx.offsets.groups_of_topic(&topic));
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}

/// Handles QUERY_TOPICS_BY_CONSUMER.
pub async fn topics_of_group(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let group = req
        .ext_field("group")
        .ok_or(HeaderError::Missing("group"))?;
    let body = TopicList {
        broker_addr: Some(format!(
            "{}:{}",
            ctx.config().broker_ip1,
            ctx.config().listen_port
        )),
        topic_list: ctx.offsets.topics_of_group(&group).into_iter().collect(),
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}
