//! GET_MIN_OFFSET (31): the queue's smallest logical offset still readable.

use std::sync::Arc;

use courier_remoting::header::{GetMinOffsetRequestHeader, OffsetResponseHeader};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles GET_MIN_OFFSET.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetMinOffsetRequestHeader = req.decode_header()?;
    let offset = ctx.store.min_offset(&h.topic, h.queue_id);
    Ok(Some(
        RemotingCommand::success_to(&req).with_header_rendered(&OffsetResponseHeader { offset }),
    ))
}
