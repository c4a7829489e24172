//! UPDATE_CONSUMER_OFFSET (15): store the group's committed offset for a queue (Java sends it
//! oneway; the remoting layer then drops the response).

use std::sync::Arc;

use courier_remoting::header::UpdateConsumerOffsetRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles UPDATE_CONSUMER_OFFSET.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: UpdateConsumerOffsetRequestHeader = req.decode_header()?;
    ctx.offsets
        .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    Ok(Some(RemotingCommand::success_to(&req)))
}
