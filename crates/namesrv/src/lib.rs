//! `courier-namesrv`: a RocketMQ-compatible name server as a library.
//!
//! Brokers register (every 30 s) with their topic configs; clients ask for
//! topic routes. State lives in memory (`route_table`) except the KV config,
//! which is persisted under the data directory (`kv_config`). A broker is
//! forgotten when its connection closes, when it unregisters, or when it has
//! not re-registered within `broker_expiry` (checked every `scan_interval`, which
//! `settings.rs` lets an operator change while it runs).
//! `run` serves until its shutdown token is cancelled.

pub mod config;
pub mod error;
pub mod kv_config;
pub mod processor;
pub mod route_table;
pub mod settings;

use std::sync::Arc;
use std::time::Instant;

use courier_remoting::{serve_with, ServerConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::NamesrvConfig;
pub use error::NamesrvError;
pub use kv_config::KvConfig;
pub use route_table::RouteTable;

/// KV namespace holding "brokerName:queueNum;..." per ordered topic.
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// The name server's state, shared by its processors.
#[derive(Debug)]
pub struct NameServer {
    pub config: NamesrvConfig,
    /// What UPDATE_NAMESRV_CONFIG may change while it runs.
    pub settings: settings::Settings,
    pub routes: RouteTable,
    pub kv: KvConfig,
}

impl NameServer {
    /// Loads the KV config from the data directory and starts with no brokers.
    pub fn new(config: NamesrvConfig) -> Result<Self, NamesrvError> {
        let kv = KvConfig::load(config.kv_config_path())?;
        Ok(NameServer {
            routes: RouteTable::new(config.broker_expiry),
            settings: settings::Settings::new(&config),
            kv,
            config,
        })
    }
}

/// Serves the name server protocol on `listener` until `shutdown` is
/// cancelled; in-flight requests finish before it returns.
pub async fn run(
    config: NamesrvConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), NamesrvError> {
    let ns = Arc::new(NameServer::new(config)?);
    let dispatcher = Arc::new(processor::dispatcher(ns.clone()));
    let scanner = tokio::spawn(scan_loop(ns.clone(), shutdown.clone()));
    let server_config = ServerConfig {
        connection: ns.config.connection.clone(),
    };
    let watcher_ns = ns.clone();
    serve_with(
        listener,
        dispatcher,
        server_config,
        shutdown.clone(),
        move |conn| {
            let conn = conn.clone();
            let ns = watcher_ns.clone();
            tokio::spawn(async move {
                conn.closed().await;
                ns.routes.on_connection_closed(conn.id());
            });
        },
    )
    .await;
    shutdown.cancel();
    let _ = scanner.await;
    Ok(())
}

async fn scan_loop(ns: Arc<NameServer>, shutdown: CancellationToken) {
    loop {
        ns.routes.scan_not_active(Instant::now());
        // Read each round: `scanNotActiveBrokerInterval` may change while the name server runs.
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(ns.settings.scan_interval()) => {}
        }
    }
}
