//! UPDATE_BROKER_CONFIG (25): `mqadmin updateBrokerConfig`. The body is Java properties text,
//! one `key=value` per setting to change (RocketMQ's key names); `LiveConfig::update` decides
//! what applies now and what at the next start (see `live_config.rs`).
//!
//! Answers as Java's broker does where it can: SUCCESS, or NO_PERMISSION "Can not update config
//! in black list." for a key in `configBlackList`. Where Java would quietly ignore a key (one it
//! does not know, a value its setter rejects), Courier refuses the whole update with
//! INVALID_PARAMETER naming the key, so an operator never believes a change was made that was
//! not. A successful answer's remark says which keys applied now, which wait for a restart, and
//! where they were saved (Java's is empty; its clients ignore it).
//!
//! After the update, the effects that need more than the new value: turning topic or group
//! auto-creation on or off, and an immediate re-registration with the name servers when the
//! broker's permission or its name server list changed (Java re-registers after a
//! `brokerPermission` change), so routes stop offering writes to a read-only broker at once.

use std::sync::Arc;

use courier_remoting::body::read_properties;
use courier_remoting::code::response;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::{error, off_the_runtime};
use crate::context::BrokerContext;
use crate::live_config::UpdateRefused;

pub async fn process(
    ctx: Arc<BrokerContext>,
    conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let changes = read_properties(&String::from_utf8_lossy(req.body_bytes()));
    if changes.is_empty() {
        return Ok(Some(RemotingCommand::success_to(&req)));
    }
    tracing::info!(caller = %conn.peer_addr(), ?changes, "UPDATE_BROKER_CONFIG");
    // The update may write the config file (an fsync): off the async worker.
    let c = Arc::clone(&ctx);
    let Some(outcome) = off_the_runtime(move || c.settings.update(&changes)).await else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            "the broker is shutting down; nothing was changed",
        );
    };
    let updated = match outcome {
        Ok(u) => u,
        Err(refused @ UpdateRefused::BlackListed(_)) => {
            return error(&req, response::NO_PERMISSION, refused.to_string());
        }
        Err(refused) => {
            tracing::warn!(reason = %refused, "UPDATE_BROKER_CONFIG refused");
            return error(&req, response::INVALID_PARAMETER, refused.to_string());
        }
    };
    let config = ctx.config();
    if updated.applied("autoCreateTopicEnable") {
        ctx.topics.set_auto_create(
            config.auto_create_topic_enable,
            config.default_topic_queue_nums,
        )?;
    }
    if updated.applied("autoCreateSubscriptionGroup") {
        ctx.groups
            .set_auto_create(config.auto_create_subscription_group);
    }
    if updated.applied("brokerPermission") || updated.applied("namesrvAddr") {
        ctx.topics.broker_changed()?;
    }
    let summary = updated.summary();
    tracing::info!(%summary, "broker config updated");
    if let Some(why) = &updated.not_saved {
        tracing::warn!(reason = %why, "the updated config was not saved; a restart loses it");
    }
    let resp = RemotingCommand::success_to(&req);
    Ok(Some(if summary.is_empty() {
        resp
    } else {
        resp.with_remark(summary)
    }))
}
