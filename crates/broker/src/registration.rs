//! Registration with the name servers: REGISTER_BROKER to every address in `namesrvAddr` every
//! `registerNameServerPeriod` (clamped to 10-60 s, as Java does) and immediately whenever the
//! topic table changes; UNREGISTER_BROKER to each on shutdown.
//!
//! The body is RegisterBrokerBody JSON (`topicConfigSerializeWrapper` + `filterServerList`),
//! uncompressed, `bodyCrc32` 0 (= not checked). When `brokerPermission` lacks the read or write
//! bit, every topic's perm is masked with it, so routes stop offering what the broker refuses.
//! A name server that is down only logs a warning; the next round retries it.

use std::sync::Arc;
use std::time::Duration;

use courier_remoting::code::request;
use courier_remoting::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::context::BrokerContext;
use crate::topic_config::{perm, TopicConfigSerializeWrapper};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterBrokerBody {
    topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    filter_server_list: Vec<String>,
}

/// The REGISTER_BROKER body for the current topic table.
pub fn register_body(ctx: &BrokerContext) -> Vec<u8> {
    let mut wrapper = ctx.topics.wrapper();
    let broker_perm = ctx.config().broker_permission;
    if !perm::is_writeable(broker_perm) || !perm::is_readable(broker_perm) {
        for t in wrapper.topic_config_table.values_mut() {
            t.perm &= broker_perm;
        }
    }
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: wrapper,
        filter_server_list: Vec::new(),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

fn register_request(ctx: &BrokerContext) -> RemotingCommand {
    let c = &ctx.config();
    let header = RegisterBrokerRequestHeader {
        broker_name: c.broker_name.clone(),
        broker_addr: c.broker_addr().to_string(),
        cluster_name: c.broker_cluster_name.clone(),
        ha_server_addr: c.ha_server_addr(),
        broker_id: c.broker_id,
        heartbeat_timeout_millis: Some(c.channel_expired_timeout as i64),
        enable_acting_master: Some(false),
        compressed: Some(false),
        body_crc32: Some(0),
        zone_name: None,
    };
    RemotingCommand::request_with_header(request::REGISTER_BROKER, &header)
        .with_body(register_body(ctx))
}

/// Registers once with every name server, all in parallel; returns how many accepted.
pub async fn register_all(ctx: &BrokerContext, client: &Arc<RemotingClient>) -> usize {
    let timeout = Duration::from_millis(ctx.config().register_broker_timeout_mills);
    let mut calls = tokio::task::JoinSet::new();
    for addr in ctx.config().namesrv_addrs() {
        let cmd = register_request(ctx);
        let client = client.clone();
        calls.spawn(async move {
            match client.invoke(&addr, cmd, timeout).await {
                Ok(resp) if resp.code == 0 => true,
                Ok(resp) => {
                    tracing::warn!(namesrv = %addr, code = resp.code, remark = ?resp.remark, "name server refused REGISTER_BROKER");
                    false
                }
                Err(e) => {
                    tracing::warn!(namesrv = %addr, error = %e, "REGISTER_BROKER failed; will retry next period");
                    false
                }
            }
        });
    }
    let mut ok = 0;
    while let Some(r) = calls.join_next().await {
        ok += usize::from(r.unwrap_or(false));
    }
    ok
}

/// Sends UNREGISTER_BROKER to every name server (best effort).
pub async fn unregister_all(ctx: &BrokerContext, client: &RemotingClient) {
    let c = &ctx.config();
    let timeout = Duration::from_millis(3000);
    for addr in c.namesrv_addrs() {
        let header = UnregisterBrokerRequestHeader {
            broker_name: c.broker_name.clone(),
            broker_addr: c.broker_addr().to_string(),
            cluster_name: c.broker_cluster_name.clone(),
            broker_id: c.broker_id,
        };
        let cmd = RemotingCommand::request_with_header(request::UNREGISTER_BROKER, &header);
        if let Err(e) = client.invoke(&addr, cmd, timeout).await {
            tracing::warn!(namesrv = %addr, error = %e, "UNREGISTER_BROKER failed");
        }
    }
}

/// The registration loop; returns after unregistering when `shutdown` is cancelled. The name
/// servers and the period are read each round, so UPDATE_BROKER_CONFIG can change them; without
/// any name server the loop only waits for that.
pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let client = Arc::new(RemotingClient::new(ClientConfig::default()));
    loop {
        let (has_namesrv, period_ms) = {
            let c = ctx.config();
            (!c.namesrv_addrs().is_empty(), c.register_name_server_period)
        };
        if has_namesrv {
            register_all(&ctx, &client).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(period_ms.clamp(10_000, 60_000))) => {}
            _ = ctx.topics.changed().notified() => {}
        }
    }
    unregister_all(&ctx, &client).await;
    client.shutdown().await;
}
