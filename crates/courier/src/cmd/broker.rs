//! `courier broker`: one RocketMQ-compatible broker (`courier_broker`), configured by a TOML file
//! with RocketMQ's key names (docs/broker.md) and a few flags that override it.
//!
//! Invariant: `listenPort` in the running config is the port really bound, so the address the
//! broker registers with the name servers (`brokerIP1:listenPort`) is one clients can reach even
//! when `--listen` asked for port 0.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use courier_broker::context::BrokerContext;
use courier_broker::{BrokerConfig, BrokerError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{bind, local_addr};

/// `courier broker ...`
#[derive(Debug, Args)]
pub struct BrokerArgs {
    /// TOML config with RocketMQ key names (brokerName, listenPort, namesrvAddr,
    /// storePathRootDir, flushDiskType, ...). Without it every key has its RocketMQ default.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on (overrides listenPort; default 127.0.0.1:<listenPort>). Clients are
    /// sent to brokerIP1:<port>, so set brokerIP1 too when listening on 0.0.0.0.
    #[arg(long)]
    pub listen: Option<SocketAddr>,

    /// Name servers to register with, ";"-separated (overrides namesrvAddr).
    #[arg(long, value_name = "ADDR")]
    pub namesrv: Option<String>,

    /// Store root directory (overrides storePathRootDir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Serve Prometheus metrics at http://<listen ip>:PORT/metrics (default off).
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,
}

pub const AFTER_HELP: &str = "\
Examples:
  courier broker --namesrv 127.0.0.1:9876 --data-dir ./courier-data/broker-a
  courier broker --config broker-a.toml --listen 127.0.0.1:10911

A config file uses RocketMQ's broker.conf keys in TOML syntax, e.g.
  brokerName = \"broker-a\"
  brokerClusterName = \"DefaultCluster\"
  listenPort = 10911
  namesrvAddr = \"127.0.0.1:9876\"
  storePathRootDir = \"/var/lib/courier/broker-a\"
  flushDiskType = \"SYNC_FLUSH\"
Flags override the file. `courier mqadmin update-broker-config` changes a running broker's
settings and writes them into this file, keeping its comments. Ctrl-C (SIGINT) or SIGTERM shuts
down gracefully (drains requests, flushes, writes the clean-shutdown checkpoint); a second signal
exits at once.";

/// Reads the config file (or the defaults) and applies the flags.
pub fn load_config(args: &BrokerArgs) -> anyhow::Result<BrokerConfig> {
    let mut config = match &args.config {
        Some(path) => BrokerConfig::load(path)
            .with_context(|| format!("invalid broker config {}", path.display()))?,
        None => BrokerConfig::default(),
    };
    if let Some(ns) = &args.namesrv {
        config.namesrv_addr = Some(ns.clone());
    }
    if let Some(dir) = &args.data_dir {
        config.store_path_root_dir = dir.clone();
    }
    if let Some(listen) = args.listen {
        config.listen_port = listen.port();
    }
    Ok(config)
}

/// Where the broker binds: `--listen`, else loopback on `listenPort`.
pub fn bind_addr(args: &BrokerArgs, config: &BrokerConfig) -> SocketAddr {
    args.listen.unwrap_or(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        config.listen_port,
    ))
}

/// A broker whose store is open and which is serving in the background.
pub struct RunningBroker {
    pub ctx: Arc<BrokerContext>,
    pub addr: SocketAddr,
    serving: JoinHandle<()>,
}

impl RunningBroker {
    /// Opens the store (recovery included) and starts serving `listener` until `shutdown`.
    /// `config_file` is where the config came from: UPDATE_BROKER_CONFIG writes changes into it.
    pub async fn start(
        mut config: BrokerConfig,
        config_file: Option<&std::path::Path>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<RunningBroker> {
        let addr = local_addr(&listener)?;
        config.listen_port = addr.port();
        let root = config.store_path_root_dir.clone();
        let ctx = courier_broker::server::open(config)
            .await
            .map_err(|e| explain(e, &root))?;
        if let Some(path) = config_file {
            ctx.settings
                .save_changes_to(std::path::absolute(path).unwrap_or(path.to_path_buf()));
        }
        let serving = tokio::spawn(courier_broker::server::serve(
            ctx.clone(),
            listener,
            shutdown,
        ));
        Ok(RunningBroker { ctx, addr, serving })
    }

    /// Waits until serving stopped (the shutdown token was cancelled), then persists the tables
    /// and shuts the store down cleanly.
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Err(e) = self.serving.await {
            tracing::error!(error = %e, "the broker's serve task failed; closing the store anyway");
        }
        courier_broker::server::close(&self.ctx).await.context(
            "the broker could not shut down cleanly; the next start will recover the store",
        )
    }
}

fn explain(e: BrokerError, root: &std::path::Path) -> anyhow::Error {
    anyhow::anyhow!(
        "could not open the broker's store in {}: {e}; check the directory's permissions and free \
         space, or point --data-dir / storePathRootDir elsewhere",
        root.display()
    )
}

/// Runs one broker until SIGINT/SIGTERM.
pub fn run(args: BrokerArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        crate::signal::install(shutdown.clone()).context("could not install signal handlers")?;
        let addr = bind_addr(&args, &config);
        let listener = bind("the broker", addr, "--listen").await?;
        let names = config.namesrv_addrs();
        let broker =
            RunningBroker::start(config, args.config.as_deref(), listener, shutdown.clone())
                .await?;
        let metrics = match args.metrics_port {
            Some(port) => {
                let sources = super::metrics::Sources {
                    broker: Some(broker.ctx.clone()),
                    keeper: None,
                };
                let at = SocketAddr::new(addr.ip(), port);
                match super::metrics::start(at, sources, shutdown.clone()).await {
                    Ok(started) => Some(started),
                    Err(e) => {
                        // Close the store cleanly before reporting.
                        shutdown.cancel();
                        broker.finish().await?;
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        let c = &broker.ctx.config();
        let registers = if names.is_empty() {
            "no name server (set --namesrv or namesrvAddr)".to_string()
        } else {
            format!("registering with {}", names.join(", "))
        };
        println!(
            "courier broker {} (cluster {}) listening on {}, store {}; {registers}",
            c.broker_name,
            c.broker_cluster_name,
            broker.addr,
            c.store_path_root_dir.display()
        );
        if let Some((at, _)) = &metrics {
            println!("courier broker metrics on http://{at}/metrics");
        }
        broker.finish().await?;
        if let Some((_, task)) = metrics {
            let _ = task.await;
        }
        tracing::info!("broker stopped cleanly");
        Ok(())
    })
}
