//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): create or replace a group config from the JSON body
//! (SubscriptionGroupConfig; missing keys take Java's defaults).

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;
use crate::subscription_group::SubscriptionGroupConfig;

/// Handles UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let config: SubscriptionGroupConfig = match serde_json::from_slice(req.body_bytes()) {
        Ok(c) => c,
        Err(e) => {
            return error(
                &req,
                response::SYSTEM_ERROR,
                format!("the body is not a SubscriptionGroupConfig JSON object: {e}"),
            )
        }
    };
    if config.group_name.is_empty() || config.group_name.len() > 120 {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "groupName must be 1-120 characters",
        );
    }
    ctx.groups.update(config)?;
    Ok(Some(RemotingCommand::success_to(&req)))
}
