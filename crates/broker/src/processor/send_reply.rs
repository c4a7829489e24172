//! SEND_REPLY_MESSAGE (324, long header keys) and SEND_REPLY_MESSAGE_V2 (325, keys a..n): the
//! responder's half of RocketMQ's request-reply.
//!
//! A requester sends an ordinary message carrying CORRELATION_ID, REPLY_TO_CLIENT (its client id)
//! and TTL; the broker stores it with CLUSTER (`send.rs`). A consumer answers with a message to
//! `<CLUSTER>_REPLY_TOPIC` carrying the same three properties, sent with these codes to any broker
//! of the cluster. That broker pushes the reply to the requester's connection at once with
//! PUSH_REPLY_MESSAGE_TO_CLIENT (326), found by client id among the producers that sent it
//! heartbeats, and waits up to 10 s for the requester's answer, as Java's broker does.
//!
//! The send answers SUCCESS once the requester took the reply, otherwise SYSTEM_ERROR with the
//! reason (no REPLY_TO_CLIENT, the requester is not connected here, it refused or did not
//! answer). With `storeReplyMessageEnable` (the default) the reply is also stored in its topic,
//! whatever the push did, and the answer carries the stored offsets; otherwise msgId is "0" and
//! queueOffset 0. The send path's checks (permissions, topic, queue id, body size) come first.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_remoting::code::{request, response};
use courier_remoting::header::{
    ReplyMessageRequestHeader, SendMessageRequestHeader, SendMessageResponseHeader,
};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::{property_value, put_property, MessageToStore, PutStatus};

use super::send::{check_body_size, check_target, Target};
use crate::context::{BrokerContext, BrokerStats};

/// The requester's client id (a request message's property, copied into its reply).
pub const PROPERTY_REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
/// When the broker pushed the reply (Unix ms), added to what the requester receives.
pub const PROPERTY_PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// How long the requester has to take a pushed reply (Java's `Broker2Client.callClient`).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Handles both reply codes.
pub async fn process(
    ctx: Arc<BrokerContext>,
    conn: ConnectionHandle,
    mut req: RemotingCommand,
) -> ProcessResult {
    let header = SendMessageRequestHeader::take_from_command(&mut req)?;
    // One configuration for the whole request, as on the send path.
    let broker = ctx.settings.snapshot();
    let Target {
        topic, queue_id, ..
    } = match check_target(&ctx, &broker, &conn, &req, &header) {
        Ok(t) => t,
        Err(answer) => return *answer,
    };
    let body = req.body.clone().unwrap_or_default();
    if let Err(answer) = check_body_size(&broker, &req, body.len()) {
        return *answer;
    }
    let properties = header.properties.clone().unwrap_or_default();
    let pushed = push(&ctx, &conn, &header, &topic, queue_id, &body, &properties).await;

    let mut resp_header = SendMessageResponseHeader {
        msg_id: "0".into(),
        queue_id,
        queue_offset: 0,
        msg_region: Some(broker.region_id.clone()),
        trace_on: Some(broker.trace_on.to_string()),
        ..Default::default()
    };
    if broker.store_reply_message_enable {
        let msg = MessageToStore {
            topic,
            queue_id,
            flag: header.flag,
            body,
            properties,
            sys_flag: header.sys_flag,
            born_timestamp: header.born_timestamp,
            born_host: conn.peer_addr(),
            reconsume_times: header.reconsume_times.unwrap_or(0),
            prepared_transaction_offset: 0,
        };
        let mut put = ctx.store.put(msg).await;
        match put.status {
            PutStatus::PutOk | PutStatus::FlushDiskTimeout => {
                BrokerStats::add(&ctx.stats.put_messages, 1);
                resp_header.msg_id = std::mem::take(&mut put.msg_id);
                resp_header.queue_offset = put.queue_offset;
            }
            status => tracing::warn!(
                ?status,
                reason = put.reason.as_deref().unwrap_or(""),
                "a reply message could not be stored"
            ),
        }
    }
    let (code, remark) = match pushed {
        Ok(()) => (response::SUCCESS, None),
        Err(reason) => (response::SYSTEM_ERROR, Some(reason)),
    };
    Ok(Some(
        RemotingCommand::response_to(&req, code, remark).with_header_rendered(&resp_header),
    ))
}

/// Pushes the reply to its requester's connection; `Err` is the remark the send answers with.
async fn push(
    ctx: &BrokerContext,
    conn: &ConnectionHandle,
    header: &SendMessageRequestHeader,
    topic: &str,
    queue_id: i32,
    body: &bytes::Bytes,
    properties: &str,
) -> Result<(), String> {
    let Some(requester) = property_value(properties, PROPERTY_REPLY_TO_CLIENT) else {
        tracing::warn!("a reply message without {PROPERTY_REPLY_TO_CLIENT}; nobody to push it to");
        return Err(format!(
            "reply message properties[{PROPERTY_REPLY_TO_CLIENT}] is null"
        ));
    };
    let Some(channel) = ctx.producers.channel_of_client(requester) else {
        let reason = format!("push reply message fail, channel of <{requester}> not found.");
        tracing::warn!("{reason}");
        return Err(reason);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut pushed_props = properties.to_string();
    put_property(
        &mut pushed_props,
        PROPERTY_PUSH_REPLY_TIME,
        &now.to_string(),
    );
    let push_header = ReplyMessageRequestHeader {
        producer_group: header.producer_group.clone(),
        topic: topic.to_string(),
        default_topic: header.default_topic.clone(),
        default_topic_queue_nums: header.default_topic_queue_nums,
        queue_id,
        sys_flag: header.sys_flag,
        born_timestamp: header.born_timestamp,
        flag: header.flag,
        properties: Some(pushed_props),
        reconsume_times: header.reconsume_times,
        unit_mode: header.unit_mode,
        born_host: conn.peer_addr().to_string(),
        store_host: ctx.config().broker_addr().to_string(),
        store_timestamp: now,
    };
    let cmd =
        RemotingCommand::request_with_header(request::PUSH_REPLY_MESSAGE_TO_CLIENT, &push_header)
            .with_body(body.clone());
    let failed = format!("push reply message to {requester} fail.");
    match channel.invoke(cmd, PUSH_TIMEOUT).await {
        Ok(r) if r.code == response::SUCCESS => Ok(()),
        Ok(r) => {
            tracing::warn!(
                requester,
                code = r.code,
                remark = r.remark.as_deref().unwrap_or(""),
                "the requester refused a pushed reply"
            );
            Err(failed)
        }
        Err(e) => {
            tracing::warn!(requester, error = %e, "a reply could not be pushed");
            Err(failed)
        }
    }
}
