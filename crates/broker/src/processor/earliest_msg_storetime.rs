//! GET_EARLIEST_MSG_STORETIME (32): store timestamp of the queue's oldest readable message, -1
//! when the queue is empty (as Java answers).

use std::sync::Arc;

use courier_remoting::header::{
    GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use courier_store::decode_record;

use super::{off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles GET_EARLIEST_MSG_STORETIME.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: GetEarliestMsgStoretimeRequestHeader = req.decode_header()?;
    // The oldest record is the one least likely to be in memory: read it off the runtime.
    let store = Arc::clone(&ctx.store);
    let Some(timestamp) = off_the_runtime(move || {
        let min = store.min_offset(&h.topic, h.queue_id);
        let r = store.get_messages(&h.topic, h.queue_id, min, 1, u32::MAX, None);
        r.messages
            .first()
            .and_then(|b| decode_record(b).ok().map(|m| m.store_timestamp()))
            .unwrap_or(-1)
    })
    .await
    else {
        return shutting_down(&req);
    };
    Ok(Some(RemotingCommand::success_to(&req).with_header(
        &GetEarliestMsgStoretimeResponseHeader { timestamp },
    )))
}
