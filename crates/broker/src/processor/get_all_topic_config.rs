//! GET_ALL_TOPIC_CONFIG (21): the whole topic table as a TopicConfigSerializeWrapper JSON body.

use std::sync::Arc;

use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

/// Handles GET_ALL_TOPIC_CONFIG.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let body = serde_json::to_vec(&ctx.topics.wrapper())
        .map_err(|e| courier_remoting::ProcessError::Other(e.to_string()))?;
    Ok(Some(RemotingCommand::success_to(&req).with_body(body)))
}
