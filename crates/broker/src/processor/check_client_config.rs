//! CHECK_CLIENT_CONFIG (46): a consumer asks, before starting, whether the broker supports its
//! subscription's filter type. Body: `{"group":"g","subscriptionData":{...}}`. TAG filters are
//! always supported. SQL92 is with `enablePropertyFilter` (otherwise SYSTEM_ERROR with Java's
//! remark), and then the expression must compile (otherwise SUBSCRIPTION_PARSE_FAILED with the
//! parser's message), as a Java broker answers.

use std::sync::Arc;

use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};
use serde::Deserialize;

use super::error;
use crate::context::BrokerContext;
use crate::filter::{PullFilter, SubscriptionData};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckClientRequestBody {
    #[serde(default)]
    subscription_data: Option<SubscriptionData>,
}

/// Handles CHECK_CLIENT_CONFIG.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let body: CheckClientRequestBody = courier_remoting::body::from_json(req.body_bytes())?;
    if let Some(sub) = body.subscription_data {
        let enabled = ctx.config().enable_property_filter;
        // Checked as for the subscribed topic itself, never as for a retry topic.
        let topic = sub
            .topic
            .trim_start_matches(crate::topic_config::RETRY_GROUP_TOPIC_PREFIX);
        if let Err(refused) = PullFilter::for_subscription(topic, &sub, enabled, &ctx.selectors) {
            return error(&req, refused.code, refused.remark);
        }
    }
    Ok(Some(RemotingCommand::success_to(&req)))
}
