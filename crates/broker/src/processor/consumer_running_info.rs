//! GET_CONSUMER_RUNNING_INFO (307): an admin asks one consumer of a group, through a broker it
//! is connected to, for its running info (settings, subscriptions, each assigned queue's cache
//! and offsets, consume rates; a thread dump with `jstackEnable`). The request travels to the
//! consumer unchanged (`forward_to_consumer`).

use std::sync::Arc;

use courier_remoting::header::GetConsumerRunningInfoRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::forward_to_consumer::forward;
use crate::context::BrokerContext;

/// Handles GET_CONSUMER_RUNNING_INFO.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetConsumerRunningInfoRequestHeader = req.decode_header()?;
    let fields = req.ext_fields_view().into_owned();
    forward(
        &ctx,
        &req,
        &h.consumer_group,
        &h.client_id,
        fields,
        req.body.clone(),
    )
    .await
}
