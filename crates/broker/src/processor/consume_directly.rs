//! CONSUME_MESSAGE_DIRECTLY (309): an admin has one consumer of a group consume one stored
//! message now, whatever its offsets say (`mqadmin queryMsgById -g GROUP -d CLIENT`): to check
//! a consumer's listener against a message, or to push one message through again by hand.
//!
//! The request names the message by its offset msgId, so it goes to the broker that stored it.
//! That broker adds `brokerName`, the topic's and the group's sys flags when it knows them, and
//! the stored record as the body, then forwards it to the consumer (`forward_to_consumer`), which
//! answers with a ConsumeMessageDirectlyResult. An id that does not decode, or names no record
//! here, is refused before anything is forwarded.

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::ConsumeMessageDirectlyResultRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::decode_offset_msg_id;

use super::forward_to_consumer::forward;
use super::{error, record_off_the_runtime};
use crate::context::BrokerContext;

/// Handles CONSUME_MESSAGE_DIRECTLY.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: ConsumeMessageDirectlyResultRequestHeader = req.decode_header()?;
    let Some(client_id) = h.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "clientId is required: the consumer of the group that should consume the message",
        );
    };
    let msg_id = h.msg_id.as_deref().unwrap_or("");
    let Some((_, offset)) = decode_offset_msg_id(msg_id) else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("msgId {msg_id:?} is not an offset message id (32 hex digits for IPv4, 40 for IPv6); give the id the broker returned on send"),
        );
    };
    let mut fields = req.ext_fields_view().into_owned();
    fields.insert("brokerName".into(), ctx.config().broker_name.clone());
    if let Some(t) = h.topic.as_deref().and_then(|t| ctx.topics.get(t)) {
        fields.insert("topicSysFlag".into(), t.topic_sys_flag.to_string());
    }
    if let Some(g) = ctx.groups.get(&h.consumer_group) {
        fields.insert("groupSysFlag".into(), g.group_sys_flag.to_string());
    }
    let found = match record_off_the_runtime(&ctx, &req, offset).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Some(record) = found else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("no message at offset {offset} (msgId {msg_id}) on this broker; it may have been deleted by retention, or the id belongs to another broker"),
        );
    };
    forward(
        &ctx,
        &req,
        &h.consumer_group,
        client_id,
        fields,
        Some(record),
    )
    .await
}
