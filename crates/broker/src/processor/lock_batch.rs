//! LOCK_BATCH_MQ (41): an orderly consumer asks for exclusive use of queues; the response body
//! `{"lockOKMQSet":[...]}` lists the queues it now holds (see `rebalance_lock`).

use std::sync::Arc;
use std::time::Instant;

use courier_remoting::body::{from_json, to_json, LockBatchRequestBody, LockBatchResponseBody};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles LOCK_BATCH_MQ.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let body: LockBatchRequestBody = from_json(req.body_bytes())?;
    let ok = ctx.locks.try_lock_batch(
        &body.consumer_group,
        &body.mq_set,
        &body.client_id,
        Instant::now(),
    );
    let resp = LockBatchResponseBody { lock_ok_mq_set: ok };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&resp)),
    ))
}
