//! QUERY_CONSUMER_OFFSET (14): the group's committed offset for a queue.
//!
//! No committed offset: QUERY_NOT_FOUND when `setZeroIfNotFound` is false; otherwise offset 0
//! while the queue still starts at 0 (nothing deleted yet), else QUERY_NOT_FOUND so the client
//! applies its consume-from-where policy.

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::header::{OffsetResponseHeader, QueryConsumerOffsetRequestHeader};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;

/// Handles QUERY_CONSUMER_OFFSET.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: QueryConsumerOffsetRequestHeader = req.decode_header()?;
    let offset = match ctx.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
        Some(o) => o,
        None => {
            let zero_allowed = h.set_zero_if_not_found.unwrap_or(true)
                && ctx.store.min_offset(&h.topic, h.queue_id) <= 0;
            if !zero_allowed {
                return error(
                    &req,
                    response::QUERY_NOT_FOUND,
                    "Not found, the consumer group has no committed offset for this queue",
                );
            }
            0
        }
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_header_rendered(&OffsetResponseHeader { offset }),
    ))
}
