//! Small admin codes used by RocketMQ's admin tools, one handler each:
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207),
//! DELETE_TOPIC_IN_BROKER (215), GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45),
//! GET_TOPIC_CONFIG (351), GET_PRODUCER_CONNECTION_LIST (204) and GET_BROKER_CONFIG (26). Bodies
//! use the same JSON shapes as the config files (the broker's configuration: Java's `key=value`
//! lines).

use std::sync::Arc;

use courier_remoting::body::{to_json, Connection};
use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, HeaderError, ProcessResult, RemotingCommand};
use serde::Serialize;

use super::error;
use crate::context::BrokerContext;

fn required<'a>(
    req: &'a RemotingCommand,
    key: &'static str,
) -> Result<std::borrow::Cow<'a, str>, HeaderError> {
    req.ext_field(key).ok_or(HeaderError::Missing(key))
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG: `{"subscriptionGroupTable":{...},"dataVersion":{...}}`.
pub async fn all_subscription_groups(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(ctx.groups.encode()),
    ))
}

/// DELETE_SUBSCRIPTIONGROUP: header `groupName`.
pub async fn delete_subscription_group(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let group = &*required(&req, "groupName")?;
    ctx.groups.delete(group)?;
    Ok(Some(RemotingCommand::success_to(&req)))
}

/// DELETE_TOPIC_IN_BROKER: header `topic`; drops the topic config and its consumer offsets
/// (stored messages age out with retention).
pub async fn delete_topic(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let topic = &*required(&req, "topic")?;
    if crate::topic_config::is_not_allowed_send_topic(topic)
        || topic == crate::topic_config::AUTO_CREATE_TOPIC_KEY
    {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("The topic[{topic}] is a system topic and cannot be deleted"),
        );
    }
    ctx.topics.delete(topic)?;
    ctx.offsets.remove_topic(topic);
    Ok(Some(RemotingCommand::success_to(&req)))
}

/// GET_ALL_CONSUMER_OFFSET: the consumerOffset.json document.
pub async fn all_consumer_offsets(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(ctx.offsets.encode().into_bytes()),
    ))
}

/// GET_ALL_DELAY_OFFSET: the delayOffset.json document, each delay level's next
/// SCHEDULE_TOPIC_XXXX offset to deliver (levels never delivered from are absent, as in Java).
pub async fn all_delay_offsets(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(ctx.schedule.encode()),
    ))
}

/// GET_BROKER_CONFIG: the configuration the broker runs with, as Java's broker answers it: one
/// `key=value` line per setting (RocketMQ's key names, as in the config file; lists and tables
/// as their JSON text), sorted, and the header `version` (the configuration's DataVersion: its
/// counter counts the UPDATE_BROKER_CONFIGs that changed something, its timestamp is the last
/// one's, or the start's).
pub async fn broker_config(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let mut text = String::new();
    if let serde_json::Value::Object(all) =
        serde_json::to_value(&**ctx.config()).unwrap_or_default()
    {
        for (k, v) in all {
            match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => text.push_str(&format!("{k}={s}\n")),
                other => text.push_str(&format!("{k}={other}\n")),
            }
        }
    }
    let (counter, changed_ms) = ctx.settings.version();
    let version = format!(r#"{{"counter":{counter},"stateVersion":0,"timestamp":{changed_ms}}}"#);
    let mut r = RemotingCommand::success_to(&req).with_body(text.into_bytes());
    r.ext_fields_mut().insert("version".into(), version);
    Ok(Some(r))
}

/// GET_TOPIC_CONFIG: header `topic`; body = the topic's config JSON, TOPIC_NOT_EXIST if unknown.
pub async fn topic_config(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let topic = &*required(&req, "topic")?;
    match ctx.topics.get(topic) {
        Some(c) => Ok(Some(
            RemotingCommand::success_to(&req).with_body(to_json(&*c)),
        )),
        None => error(
            &req,
            response::TOPIC_NOT_EXIST,
            format!("No topic in this broker. topic: {topic}"),
        ),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProducerConnection {
    connection_set: Vec<Connection>,
}

/// GET_PRODUCER_CONNECTION_LIST: header `producerGroup`; body `{"connectionSet":[...]}`.
pub async fn producer_connections(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let group = &*required(&req, "producerGroup")?;
    let clients = ctx.producers.clients(group);
    if clients.is_empty() {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("the producer group[{group}] not exist"),
        );
    }
    let body = ProducerConnection {
        connection_set: clients
            .into_iter()
            .map(|c| Connection {
                client_addr: c.remote_addr,
                client_id: c.client_id,
                language: c.language,
                version: c.version,
            })
            .collect(),
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}
