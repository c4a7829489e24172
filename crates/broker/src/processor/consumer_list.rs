//! GET_CONSUMER_LIST_BY_GROUP (38): the client ids of a consumer group (sorted), body
//! `{"consumerIdList":[...]}`; SYSTEM_ERROR "no consumer for this group" when it has none.

use std::sync::Arc;

use courier_remoting::body::to_json;
use courier_remoting::body::GetConsumerListByGroupResponseBody;
use courier_remoting::code::response;
use courier_remoting::header::GetConsumerListByGroupRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;

/// Handles GET_CONSUMER_LIST_BY_GROUP.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetConsumerListByGroupRequestHeader = req.decode_header()?;
    let ids = ctx.consumers.client_ids(&h.consumer_group);
    if ids.is_empty() {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("no consumer for this group, {}", h.consumer_group),
        );
    }
    let body = GetConsumerListByGroupResponseBody {
        consumer_id_list: ids,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&body)),
    ))
}
