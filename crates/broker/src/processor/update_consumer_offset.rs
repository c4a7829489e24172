//! UPDATE_CONSUMER_OFFSET (15): store the group's committed offset for a queue (Java sends it
//! oneway; the remoting layer then drops the response). While an admin's reset of the queue
//! waits for the group's next pull, the commit is ignored, answered SUCCESS with Java's remark.

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
    if !ctx
        .offsets
        .commit_from_client(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset)
    {
        let mut r = RemotingCommand::success_to(&req);
        r.remark = Some("Offset has been previously reset".into());
        return Ok(Some(r));
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
