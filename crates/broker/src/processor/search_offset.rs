//! SEARCH_OFFSET_BY_TIMESTAMP (29): the queue offset of the first message stored at or after the
//! timestamp (the store's `offset_by_time`).

use std::sync::Arc;

use courier_remoting::header::{OffsetResponseHeader, SearchOffsetRequestHeader};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles SEARCH_OFFSET_BY_TIMESTAMP.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: SearchOffsetRequestHeader = req.decode_header()?;
    // A binary search that reads records anywhere in the queue's history: off the runtime.
    let store = Arc::clone(&ctx.store);
    let Some(offset) =
        off_the_runtime(move || store.offset_by_time(&h.topic, h.queue_id, h.timestamp)).await
    else {
        return shutting_down(&req);
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_header_rendered(&OffsetResponseHeader { offset }),
    ))
}
