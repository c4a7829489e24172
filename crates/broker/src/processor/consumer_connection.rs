//! GET_CONSUMER_CONNECTION_LIST (203): a consumer group's connections and subscriptions (admin
//! tools). CONSUMER_NOT_ONLINE when the group has no client.

use std::sync::Arc;

use courier_remoting::body::to_json;
use courier_remoting::body::{Connection, ConsumerConnection, SubscriptionData};
use courier_remoting::code::response;
use courier_remoting::header::GetConsumerListByGroupRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;

/// Handles GET_CONSUMER_CONNECTION_LIST.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    // Same single `consumerGroup` key as GET_CONSUMER_LIST_BY_GROUP.
    let h: GetConsumerListByGroupRequestHeader = req.decode_header()?;
    let Some(snap) = ctx.consumers.snapshot(&h.consumer_group) else {
        return error(
            &req,
            response::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        );
    };
    let mut body = ConsumerConnection {
        connection_set: snap
            .channels
            .iter()
            .map(|c| Connection {
                client_addr: c.remote_addr.clone(),
                client_id: c.client_id.clone(),
                language: c.language.clone(),
                version: c.version,
            })
            .collect(),
        consume_from_where: Some(snap.consume_from_where),
        consume_type: Some(snap.consume_type),
        message_model: Some(snap.message_model),
        ..Default::default()
    };
    for s in snap.subscriptions {
        body.subscription_table.insert(
            s.topic.clone(),
            SubscriptionData {
                class_filter_mode: s.class_filter_mode,
                code_set: s.code_set,
                expression_type: s.expression_type,
                sub_string: s.sub_string,
                sub_version: s.sub_version,
                tags_set: s.tags_set,
                topic: s.topic,
            },
        );
    }
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}
