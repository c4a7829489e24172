//! VIEW_MESSAGE_BY_ID (33): one stored record by CommitLog physical offset (clients decode the
//! offset from the offset msgId). Unknown offset → SYSTEM_ERROR, as Java answers.

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::ViewMessageRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, record_off_the_runtime};
use crate::context::BrokerContext;

/// Handles VIEW_MESSAGE_BY_ID.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: ViewMessageRequestHeader = req.decode_header()?;
    // Any record, however old: read (and copied, so the writer faults nothing in) off the runtime.
    let found = match record_off_the_runtime(&ctx, &req, h.offset).await {
        Ok(found) => found,
        Err(answer) => return answer,
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
