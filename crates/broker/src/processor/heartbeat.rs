//! HEART_BEAT (34): register the client's producer and consumer groups on this connection.
//!
//! Per consumer group: the group config is looked up (auto-created when allowed), the group's
//! `%RETRY%group` topic is created at once when the group has retry queues (so redeliveries are
//! routable before the client's next route refresh), and the client and its subscriptions are
//! registered — a new connection in a group triggers NOTIFY_CONSUMER_IDS_CHANGED to the group via
//! the consumer manager's listener. Producer groups are registered for server-initiated requests.

use std::sync::Arc;
use std::time::Instant;

use courier_remoting::body::from_json;
use courier_remoting::body::HeartbeatData;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::client_channel::ClientChannelInfo;
use crate::consumer_manager::ConsumerData;
use crate::context::BrokerContext;
use crate::filter::SubscriptionData;
use crate::topic_config::{perm, RETRY_GROUP_TOPIC_PREFIX};

/// Handles HEART_BEAT.
pub async fn process(
    ctx: Arc<BrokerContext>,
    conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let hb: HeartbeatData = from_json(req.body_bytes())?;
    let now = Instant::now();
    let client = ClientChannelInfo {
        channel: conn.clone(),
        conn_id: conn.id(),
        client_id: hb.client_id.clone(),
        language: req.language.name().to_string(),
        version: req.version,
        remote_addr: conn.peer_addr().to_string(),
        last_update: now,
    };
    for c in &hb.consumer_data_set {
        if let Some(group) = ctx.groups.find_or_create(&c.group_name)? {
            if group.retry_queue_nums > 0 {
                ctx.topics.create_if_absent(
                    &format!("{RETRY_GROUP_TOPIC_PREFIX}{}", c.group_name),
                    group.retry_queue_nums,
                    perm::READ | perm::WRITE,
                )?;
            }
        }
        let data = ConsumerData {
            group_name: c.group_name.clone(),
            consume_type: c.consume_type.clone(),
            message_model: c.message_model.clone(),
            consume_from_where: c.consume_from_where.clone(),
            subscription_data_set: c
                .subscription_data_set
                .iter()
                .map(|s| SubscriptionData {
                    topic: s.topic.clone(),
                    sub_string: s.sub_string.clone(),
                    tags_set: s.tags_set.clone(),
                    code_set: s.code_set.clone(),
                    expression_type: if s.expression_type.is_empty() {
                        "TAG".to_string()
                    } else {
                        s.expression_type.clone()
                    },
                    sub_version: s.sub_version,
                    class_filter_mode: s.class_filter_mode,
                })
                .collect(),
            unit_mode: c.unit_mode,
        };
        ctx.consumers.register(&data, client.clone());
    }
    for p in &hb.producer_data_set {
        ctx.producers.register(&p.group_name, client.clone());
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
