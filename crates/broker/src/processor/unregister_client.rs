//! UNREGISTER_CLIENT (35): a client leaving its producer and/or consumer group (on shutdown).
//! Leaving a consumer group notifies the remaining members.

use std::sync::Arc;

use courier_remoting::header::UnregisterClientRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles UNREGISTER_CLIENT.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: UnregisterClientRequestHeader = req.decode_header()?;
    if let Some(g) = h.producer_group.as_deref().filter(|g| !g.is_empty()) {
        ctx.producers.unregister(g, &h.client_id);
    }
    if let Some(g) = h.consumer_group.as_deref().filter(|g| !g.is_empty()) {
        ctx.consumers.unregister(g, &h.client_id);
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
