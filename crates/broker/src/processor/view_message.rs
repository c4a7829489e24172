//! VIEW_MESSAGE_BY_ID (33): one stored record by CommitLog physical offset (clients decode the
//! offset from the offset msgId). Unknown offset → SYSTEM_ERROR, as Java answers.

use std::sync::Arc;

use bytes::Bytes;
use courier_remoting::code::response;
use courier_remoting::header::ViewMessageRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// Handles VIEW_MESSAGE_BY_ID.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: ViewMessageRequestHeader = req.decode_header()?;
    // Any record, however old: read (and copy, so the writer faults nothing in) off the runtime.
    let store = Arc::clone(&ctx.store);
    let Some(found) = off_the_runtime(move || {
        store
            .message_by_phys_offset(h.offset)
            .map(|r| Bytes::copy_from_slice(&r))
    })
    .await
    else {
        return shutting_down(&req);
    };
    match found {
        Some(record) => Ok(Some(RemotingCommand::success_to(&req).with_body(record))),
        None => error(
            &req,
            response::SYSTEM_ERROR,
            format!(
                "can not find message by the offset, {}; it may have been deleted by retention",
                h.offset
            ),
        ),
    }
}
