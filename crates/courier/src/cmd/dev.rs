//! `courier dev`: a name server, a broker (auto-create topics on, registered with that name
//! server) and a keeper in one process, on one tokio runtime, behind one shutdown signal — the
//! quick start for development.
//!
//! Layout under `--data-dir`: `namesrv/` (KV config), `broker/` (the message store and its
//! `config/` tables), `keeper/` (write-ahead log and snapshots).
//!
//! Ordering invariants: all three ports are bound before anything is served; "ready" is printed
//! only once the broker's store is open and the name server routes it, so a client started after
//! the ready line finds the broker. On shutdown the broker stops first (it unregisters from the
//! still-running name server, drains, flushes and writes the clean-shutdown checkpoint), then
//! the keeper and the name server. A component that fails triggers the same orderly shutdown of
//! the others and makes the process exit non-zero.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use courier_broker::BrokerConfig;
use courier_keeper::KeeperConfig;
use courier_namesrv::NamesrvConfig;
use courier_remoting::body::{from_json, ClusterInfo};
use courier_remoting::code::request;
use courier_remoting::{ClientConfig, RemotingClient, RemotingCommand};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::broker::RunningBroker;
use super::{bind, ensure_dir, local_addr};

/// How long `dev` waits for the broker to appear in the name server's cluster info before it
/// reports ready anyway (with a warning).
const REGISTRATION_WAIT: Duration = Duration::from_secs(5);

/// `courier dev ...`
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Root of the name server, broker and keeper data.
    #[arg(long, value_name = "DIR", default_value = "./courier-data")]
    pub data_dir: PathBuf,

    /// Name server port [default: 9876, or --base-port].
    #[arg(long)]
    pub namesrv_port: Option<u16>,

    /// Broker port [default: 10911, or --base-port + 1].
    #[arg(long)]
    pub broker_port: Option<u16>,

    /// Keeper (ZooKeeper protocol) port [default: 2181, or --base-port + 2].
    #[arg(long)]
    pub keeper_port: Option<u16>,

    /// Put the name server on this port, the broker on the next and the keeper on the one after
    /// (explicit port flags still win); handy for running two dev instances side by side.
    #[arg(long)]
    pub base_port: Option<u16>,

    /// Address every server binds (default loopback only).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub address: IpAddr,

    /// Optional broker TOML (RocketMQ keys, e.g. flushDiskType = "SYNC_FLUSH"); dev still sets
    /// the store directory, the port, the name server and autoCreateTopicEnable.
    #[arg(long, value_name = "FILE")]
    pub broker_config: Option<PathBuf>,

    /// Prometheus metrics of the broker and the keeper at http://<address>:PORT/metrics
    /// [default: 9100, or --base-port + 3]. A busy port only logs a warning.
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,

    /// Do not serve /metrics.
    #[arg(long, conflicts_with = "metrics_port")]
    pub no_metrics: bool,
}

pub const AFTER_HELP: &str = "\
Examples:
  courier dev                                      9876 / 10911 / 2181, data in ./courier-data
  cargo run --release -- dev                       the same from a source checkout
  courier dev --base-port 20000 --data-dir /tmp/c2 a second instance on 20000 / 20001 / 20002
  courier dev --broker-config sync.toml            e.g. with flushDiskType = \"SYNC_FLUSH\"

Ctrl-C (SIGINT) or SIGTERM shuts everything down gracefully; a second signal exits at once.";

/// The three ports, after `--base-port` and the explicit flags.
pub fn ports(args: &DevArgs) -> anyhow::Result<(u16, u16, u16)> {
    let offset = |n: u16| -> anyhow::Result<Option<u16>> {
        match args.base_port {
            None => Ok(None),
            Some(b) => b.checked_add(n).map(Some).with_context(|| {
                format!("--base-port {b} leaves no room for three ports; use at most 65533")
            }),
        }
    };
    Ok((
        args.namesrv_port.or(offset(0)?).unwrap_or(9876),
        args.broker_port.or(offset(1)?).unwrap_or(10911),
        args.keeper_port.or(offset(2)?).unwrap_or(2181),
    ))
}

/// The metrics port, `None` with `--no-metrics`.
pub fn metrics_port(args: &DevArgs) -> Option<u16> {
    if args.no_metrics {
        return None;
    }
    let from_base = args.base_port.and_then(|b| b.checked_add(3));
    Some(args.metrics_port.or(from_base).unwrap_or(9100))
}

/// Runs the three servers until SIGINT/SIGTERM.
pub fn run(args: DevArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let started = Instant::now();
    let (ns_port, broker_port, keeper_port) = ports(&args)?;
    let mut broker_config = match &args.broker_config {
        Some(path) => BrokerConfig::load(path)
            .with_context(|| format!("invalid broker config {}", path.display()))?,
        None => BrokerConfig::default(),
    };
    let root = args.data_dir.clone();
    let (ns_dir, broker_dir, keeper_dir) = (
        root.join("namesrv"),
        root.join("broker"),
        root.join("keeper"),
    );
    for d in [&ns_dir, &broker_dir, &keeper_dir] {
        ensure_dir(d, "--data-dir")?;
    }
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        crate::signal::install(shutdown.clone()).context("could not install signal handlers")?;
        let at = |port| SocketAddr::new(args.address, port);
        let ns_listener = bind("the name server", at(ns_port), "--namesrv-port").await?;
        let broker_listener = bind("the broker", at(broker_port), "--broker-port").await?;
        let keeper_listener = bind("the keeper", at(keeper_port), "--keeper-port").await?;
        let ns_addr = local_addr(&ns_listener)?;
        let keeper_addr = local_addr(&keeper_listener)?;

        let ns_stop = CancellationToken::new();
        let ns_task = supervise(
            "name server",
            courier_namesrv::run(NamesrvConfig::new(&ns_dir), ns_listener, ns_stop.clone()),
            shutdown.clone(),
        );
        let keeper_stop = CancellationToken::new();
        let keeper_config = KeeperConfig {
            data_dir: keeper_dir.clone(),
            client_port: keeper_addr.port(),
            // A development server answers every four-letter word (ZooKeeper allows only srvr).
            four_letter_whitelist: vec!["*".to_string()],
            ..KeeperConfig::default()
        };
        let keeper_task = supervise(
            "keeper",
            courier_keeper::run(keeper_config, keeper_listener, keeper_stop.clone()),
            shutdown.clone(),
        );

        broker_config.store_path_root_dir = broker_dir.clone();
        broker_config.namesrv_addr = Some(ns_addr.to_string());
        broker_config.auto_create_topic_enable = true;
        // SQL92 selectors work out of the box in development, as tags do.
        broker_config.enable_property_filter = true;
        if args.address.is_unspecified() {
            broker_config.broker_ip1 = Ipv4Addr::LOCALHOST.to_string();
        } else {
            broker_config.broker_ip1 = args.address.to_string();
        }
        let broker_stop = CancellationToken::new();
        let broker = RunningBroker::start(
            broker_config,
            args.broker_config.as_deref(),
            broker_listener,
            broker_stop.clone(),
        )
        .await;
        let result = match broker {
            Ok(broker) => {
                let name = broker.ctx.config().broker_name.clone();
                let metrics_stop = CancellationToken::new();
                let mut metrics = None;
                if let Some(port) = metrics_port(&args) {
                    let sources = super::metrics::Sources {
                        broker: Some(broker.ctx.clone()),
                        keeper: Some(keeper_addr),
                    };
                    match super::metrics::start(at(port), sources, metrics_stop.clone()).await {
                        Ok(m) => metrics = Some(m),
                        Err(e) => tracing::warn!("{e:#}; continuing without /metrics"),
                    }
                }
                if !shutdown.is_cancelled() {
                    let registered = wait_registered(&ns_addr.to_string(), &name).await;
                    let metrics_addr = metrics.as_ref().map(|(a, _)| *a);
                    announce(
                        &root,
                        ns_addr,
                        &broker,
                        keeper_addr,
                        metrics_addr,
                        registered,
                        started,
                    );
                }
                shutdown.cancelled().await;
                metrics_stop.cancel();
                if let Some((_, task)) = metrics {
                    let _ = task.await;
                }
                broker_stop.cancel();
                broker.finish().await
            }
            Err(e) => Err(e),
        };
        // Everything is stopping now, on purpose: the other servers' supervisors must not report
        // their stop as unexpected (a broker that failed to open was reported as "the name
        // server stopped unexpectedly").
        shutdown.cancel();
        keeper_stop.cancel();
        ns_stop.cancel();
        let keeper_result = join("keeper", keeper_task).await;
        let ns_result = join("name server", ns_task).await;
        result.and(keeper_result).and(ns_result)?;
        eprintln!("courier dev stopped cleanly");
        Ok(())
    })
}

/// Runs a server; if it stops on its own (an error, or a bug), everything shuts down.
fn supervise<F, E>(
    what: &'static str,
    server: F,
    shutdown: CancellationToken,
) -> JoinHandle<anyhow::Result<()>>
where
    F: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let result = server.await;
        if !shutdown.is_cancelled() {
            match &result {
                Err(e) => {
                    tracing::error!(error = %e, "the {what} failed; shutting everything down")
                }
                Ok(()) => {
                    tracing::error!("the {what} stopped unexpectedly; shutting everything down")
                }
            }
            shutdown.cancel();
        }
        result.with_context(|| format!("the {what} stopped with an error"))
    })
}

async fn join(what: &str, task: JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    task.await
        .map_err(|e| anyhow::anyhow!("the {what} task panicked or was cancelled: {e}"))?
}

/// Polls the in-process name server until it lists the broker (registration runs in the
/// broker's background task as soon as it serves).
async fn wait_registered(namesrv: &str, broker_name: &str) -> bool {
    let client = RemotingClient::new(ClientConfig::default());
    let deadline = Instant::now() + REGISTRATION_WAIT;
    let mut found = false;
    while Instant::now() < deadline {
        let cmd = RemotingCommand::new_request(request::GET_BROKER_CLUSTER_INFO);
        if let Ok(resp) = client.invoke(namesrv, cmd, Duration::from_secs(1)).await {
            if resp.code == 0 {
                if let Ok(info) = from_json::<ClusterInfo>(resp.body_bytes()) {
                    if info.broker_addr_table.contains_key(broker_name) {
                        found = true;
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    client.shutdown().await;
    if !found {
        tracing::warn!(
            "the broker has not registered with the name server after {REGISTRATION_WAIT:?}; \
             clients may not find it until the next registration round"
        );
    }
    found
}

fn announce(
    root: &std::path::Path,
    ns: SocketAddr,
    broker: &RunningBroker,
    keeper: SocketAddr,
    metrics: Option<SocketAddr>,
    registered: bool,
    started: Instant,
) {
    let c = &broker.ctx.config();
    let reg = if registered {
        "registered"
    } else {
        "NOT yet registered"
    };
    println!(
        "courier dev ready in {} ms, data in {}",
        started.elapsed().as_millis(),
        root.display()
    );
    println!("  name server  listening on {ns}");
    println!(
        "  broker       listening on {} ({} in {}, {reg} with the name server, auto-create topics on)",
        broker.addr, c.broker_name, c.broker_cluster_name
    );
    println!("  keeper       listening on {keeper} (ZooKeeper protocol)");
    if let Some(m) = metrics {
        println!("  metrics      http://{m}/metrics (Prometheus)");
    }
    println!("Try it:");
    println!("  RocketMQ clients:  NAMESRV_ADDR={ns}   (e.g. producer.setNamesrvAddr(\"{ns}\"))");
    println!(
        "  courier-client:    Producer::builder().namesrv(\"{ns}\").group(\"my-group\").build()"
    );
    println!(
        "  ZooKeeper clients: zkCli.sh -server {keeper}   or   echo ruok | nc {} {}",
        keeper.ip(),
        keeper.port()
    );
    println!("Ctrl-C stops everything cleanly.");
}
