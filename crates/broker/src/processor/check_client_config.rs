//! CHECK_CLIENT_CONFIG (46): a consumer asks, before starting, whether the broker supports its
//! subscription's filter type. Body: `{"group":"g","subscriptionData":{...}}`. TAG filters are
//! supported; SQL92 (or anything else) answers SYSTEM_ERROR with the reason, as a Java broker with
//! `enablePropertyFilter=false` does.

use std::sync::Arc;

use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use serde::Deserialize;

use super::error;
use crate::context::BrokerContext;
use crate::filter::{SubscriptionData, TagFilter};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckClientRequestBody {
    #[serde(default)]
    subscription_data: Option<SubscriptionData>,
}

/// Handles CHECK_CLIENT_CONFIG.
pub async fn process(
    _ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let body: CheckClientRequestBody = courier_remoting::body::from_json(req.body_bytes())?;
    if let Some(sub) = body.subscription_data {
        if let Err(e) = TagFilter::for_subscription(&sub.topic, &sub) {
            return error(&req, response::SYSTEM_ERROR, e);
        }
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
