//! GET_MAX_OFFSET (30): the queue's max logical offset (the next offset to be written).

use std::sync::Arc;

use courier_remoting::header::{GetMaxOffsetRequestHeader, OffsetResponseHeader};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles GET_MAX_OFFSET.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetMaxOffsetRequestHeader = req.decode_header()?;
    let offset = ctx.store.max_offset(&h.topic, h.queue_id);
    Ok(Some(
        RemotingCommand::success_to(&req).with_header_rendered(&OffsetResponseHeader { offset }),
    ))
}
