//! UNLOCK_BATCH_MQ (42): an orderly consumer releases queues it holds (usually oneway).

use std::sync::Arc;

use courier_remoting::body::{from_json, UnlockBatchRequestBody};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles UNLOCK_BATCH_MQ.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let body: UnlockBatchRequestBody = from_json(req.body_bytes())?;
    ctx.locks
        .unlock_batch(&body.consumer_group, &body.mq_set, &body.client_id);
    Ok(Some(RemotingCommand::success_to(&req)))
}
