//! INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223): `mqadmin getConsumerStatus`. An admin asks a
//! broker which offsets each consumer of a group holds for a topic; the broker asks each client of
//! the group connected to it (only `clientAddr`, a client id, when given) with
//! GET_CONSUMER_STATUS_FROM_CLIENT (221) and answers their tables by client id
//! (`GetConsumerStatusBody::consumer_table`).
//!
//! As Java's `Broker2Client.getConsumeStatus`: no client of the group connected here → SYSTEM_ERROR
//! "No Any Consumer online in the consumer group: [g]"; a client older than V3_0_7_SNAPSHOT →
//! SYSTEM_ERROR "the client does not support this feature. version=…"; a client that refuses,
//! fails or does not answer within `CALL_TIMEOUT` is left out of the table (and logged), not an
//! error. Java asks the clients one after another; Courier asks them all at once, so slow clients
//! cost the admin one timeout, not one each.

use std::sync::Arc;
use std::time::Duration;

use courier_remoting::body::GetConsumerStatusBody;
use courier_remoting::code::{request, response};
use courier_remoting::header::GetConsumerStatusRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;

/// How long each client has to answer (Java's `invokeSync(…, 5000)`).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// `MQVersion` ordinal of V3_0_7_SNAPSHOT, the first client version that answers 221.
const FIRST_ANSWERING_VERSION: i32 = 28;

/// Handles INVOKE_BROKER_TO_GET_CONSUMER_STATUS.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetConsumerStatusRequestHeader = req.decode_header()?;
    let only = h.client_addr.as_deref().filter(|c| !c.trim().is_empty());
    let channels = ctx.consumers.channels(&h.group);
    if channels.is_empty() {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "No Any Consumer online in the consumer group: [{}]",
                h.group
            ),
        );
    }
    if let Some(old) = channels
        .iter()
        .find(|c| c.version < FIRST_ANSWERING_VERSION)
    {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "the client does not support this feature. version={} (client {})",
                old.version, old.client_id
            ),
        );
    }
    let asked: Vec<_> = channels
        .into_iter()
        .filter(|c| only.is_none_or(|id| id == c.client_id))
        .collect();
    let header = GetConsumerStatusRequestHeader {
        topic: h.topic.clone(),
        group: h.group.clone(),
        client_addr: None,
    };
    let calls = asked.iter().map(|c| {
        let call =
            RemotingCommand::request_with_header(request::GET_CONSUMER_STATUS_FROM_CLIENT, &header);
        async move { (c, c.channel.invoke(call, CALL_TIMEOUT).await) }
    });
    let mut consumer_table = Vec::new();
    for (client, answer) in futures_util::future::join_all(calls).await {
        let table = match answer {
            Ok(r) if r.code == response::SUCCESS => {
                GetConsumerStatusBody::from_json(r.body_bytes()).map(|b| b.message_queue_table)
            }
            Ok(r) => {
                tracing::warn!(client = %client.client_id, code = r.code, remark = ?r.remark,
                    "GET_CONSUMER_STATUS_FROM_CLIENT refused");
                continue;
            }
            Err(e) => {
                tracing::warn!(client = %client.client_id, error = %e,
                    "GET_CONSUMER_STATUS_FROM_CLIENT failed");
                continue;
            }
        };
        match table {
            Ok(table) => consumer_table.push((client.client_id.clone(), table)),
            Err(e) => tracing::warn!(client = %client.client_id, error = %e,
                "GET_CONSUMER_STATUS_FROM_CLIENT answered an unreadable body"),
        }
    }
    consumer_table.sort_by(|a, b| a.0.cmp(&b.0));
    let body = GetConsumerStatusBody {
        message_queue_table: Vec::new(),
        consumer_table,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(body.to_fastjson()),
    ))
}
