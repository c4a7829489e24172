//! `courier keeper`: the ZooKeeper-compatible coordination service (`courier_keeper::run`).
//!
//! `--config` reads a ZooKeeper `zoo.cfg` (Java properties: `key=value`, `#` comments), so an
//! existing file carries over: the keys Courier understands are applied, ensemble-only keys
//! (`server.N`, `initLimit`, ...) are logged and ignored, and flags override the file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use courier_keeper::KeeperConfig;
use tokio_util::sync::CancellationToken;

use super::{bind, ensure_dir, local_addr};

/// `courier keeper ...`
#[derive(Debug, Args)]
pub struct KeeperArgs {
    /// Client port (zoo.cfg `clientPort`; default 2181).
    #[arg(long)]
    pub port: Option<u16>,

    /// Address to bind (zoo.cfg `clientPortAddress`; default 127.0.0.1).
    #[arg(long)]
    pub address: Option<IpAddr>,

    /// Write-ahead log and snapshot directory (zoo.cfg `dataDir`; default ./courier-data/keeper).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A ZooKeeper zoo.cfg to read settings from.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Four-letter words to answer, comma-separated, `*` for all
    /// (zoo.cfg `4lw.commands.whitelist`; default `srvr`, as ZooKeeper).
    #[arg(long = "4lw-whitelist", value_name = "WORDS")]
    pub four_letter_whitelist: Option<String>,

    /// Serve Prometheus metrics at http://<address>:PORT/metrics (default off; allows `mntr`,
    /// which the endpoint reads).
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,
}

pub const AFTER_HELP: &str = "\
Examples:
  courier keeper                                   127.0.0.1:2181, data in ./courier-data/keeper
  courier keeper --port 2182 --data-dir /var/lib/courier/keeper --4lw-whitelist ruok,srvr,mntr
  courier keeper --config /etc/zookeeper/conf/zoo.cfg

Then: zkCli.sh -server 127.0.0.1:2181   or   echo ruok | nc 127.0.0.1 2181 (with ruok allowed)
Ctrl-C (SIGINT) or SIGTERM shuts down gracefully; a second signal exits at once.";

/// The settings after the file and the flags, plus where to bind.
#[derive(Debug)]
pub struct KeeperSettings {
    pub config: KeeperConfig,
    pub bind: SocketAddr,
}

/// Applies zoo.cfg (if any) then the flags over the defaults.
pub fn settings(args: &KeeperArgs) -> anyhow::Result<KeeperSettings> {
    let mut config = KeeperConfig {
        data_dir: PathBuf::from("./courier-data/keeper"),
        ..KeeperConfig::default()
    };
    let mut address = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the keeper config {}", path.display()))?;
        apply_zoo_cfg(&mut config, &mut address, &text)
            .with_context(|| format!("invalid keeper config {}", path.display()))?;
    }
    if let Some(port) = args.port {
        config.client_port = port;
    }
    if let Some(a) = args.address {
        address = a;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(words) = &args.four_letter_whitelist {
        config.four_letter_whitelist = split_words(words);
    }
    Ok(KeeperSettings {
        bind: SocketAddr::new(address, config.client_port),
        config,
    })
}

fn split_words(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> anyhow::Result<T> {
    value.parse().map_err(|_| {
        anyhow::anyhow!("`{key}={value}` is not a valid value; fix or remove the line")
    })
}

/// Applies the keys of a zoo.cfg that a standalone keeper understands.
pub fn apply_zoo_cfg(
    config: &mut KeeperConfig,
    address: &mut IpAddr,
    text: &str,
) -> anyhow::Result<()> {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            bail!("line {}: `{line}` is not `key=value`", n + 1);
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "dataDir" => config.data_dir = PathBuf::from(value),
            "clientPort" => config.client_port = parse(key, value)?,
            "clientPortAddress" => *address = parse(key, value)?,
            "tickTime" => config.tick_time_ms = parse(key, value)?,
            "minSessionTimeout" => config.min_session_timeout_ms = Some(parse(key, value)?),
            "maxSessionTimeout" => config.max_session_timeout_ms = Some(parse(key, value)?),
            "jute.maxbuffer" => config.max_data_bytes = parse(key, value)?,
            "4lw.commands.whitelist" => config.four_letter_whitelist = split_words(value),
            "snapCount" => config.snapshot_every_txns = parse(key, value)?,
            "zookeeper.DigestAuthenticationProvider.superDigest" | "superDigest" => {
                config.super_digest = Some(value.to_string())
            }
            "zookeeper.extendedTypesEnabled" | "extendedTypesEnabled" => {
                config.extended_types_enabled = parse(key, value)?
            }
            "znode.container.checkIntervalMs" => {
                config.container_check_interval_ms = parse(key, value)?
            }
            "forceSync" => {
                config.fsync = match value {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => bail!("`forceSync={value}` must be yes or no"),
                }
            }
            _ => tracing::warn!(
                key,
                "zoo.cfg key not used by a standalone Courier keeper; ignored"
            ),
        }
    }
    Ok(())
}

/// Checks the data directory and logs where things are.
pub fn prepare(config: &KeeperConfig, flag: &str) -> anyhow::Result<()> {
    ensure_dir(&config.data_dir, flag)?;
    if !config.fsync {
        tracing::warn!("forceSync=no: acknowledged writes can be lost in a crash");
    }
    Ok(())
}

/// Runs the keeper until SIGINT/SIGTERM.
pub fn run(args: KeeperArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let KeeperSettings {
        mut config,
        bind: addr,
    } = settings(&args)?;
    prepare(&config, "--data-dir")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        crate::signal::install(shutdown.clone()).context("could not install signal handlers")?;
        let listener = bind("the keeper", addr, "--port").await?;
        let addr = local_addr(&listener)?;
        config.client_port = addr.port();
        if args.metrics_port.is_some() && !config.four_letter_allowed("mntr") {
            tracing::info!("allowing mntr: the /metrics endpoint reads it");
            config.four_letter_whitelist.push("mntr".to_string());
        }
        let dir = config.data_dir.clone();
        let server = tokio::spawn(courier_keeper::run(config, listener, shutdown.clone()));
        println!(
            "courier keeper listening on {addr}, data in {}",
            dir.display()
        );
        let metrics = match args.metrics_port {
            Some(port) => {
                let sources = super::metrics::Sources {
                    broker: None,
                    keeper: Some(addr),
                };
                let at = SocketAddr::new(addr.ip(), port);
                let (at, task) = match super::metrics::start(at, sources, shutdown.clone()).await {
                    Ok(started) => started,
                    Err(e) => {
                        // Stop the keeper cleanly before reporting (its log must be closed).
                        shutdown.cancel();
                        let _ = server.await;
                        return Err(e);
                    }
                };
                println!("courier keeper metrics on http://{at}/metrics");
                Some(task)
            }
            None => None,
        };
        server
            .await
            .context("the keeper task panicked")?
            .context("the keeper stopped with an error")?;
        if let Some(task) = metrics {
            let _ = task.await;
        }
        tracing::info!("keeper stopped");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoo_cfg_keys_apply_and_unknown_ones_are_ignored() {
        let mut c = KeeperConfig::default();
        let mut a = IpAddr::V4(Ipv4Addr::LOCALHOST);
        apply_zoo_cfg(
            &mut c,
            &mut a,
            "# comment\ntickTime=1000\ndataDir=/tmp/zk\nclientPort=2182\ninitLimit=5\n\
             server.1=a:2888:3888\n4lw.commands.whitelist=ruok, srvr\nforceSync=no\n",
        )
        .unwrap();
        assert_eq!(c.tick_time_ms, 1000);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/zk"));
        assert_eq!(c.client_port, 2182);
        assert_eq!(c.four_letter_whitelist, vec!["ruok", "srvr"]);
        assert!(!c.fsync);
        assert!(apply_zoo_cfg(&mut c, &mut a, "tickTime=fast").is_err());
        assert!(apply_zoo_cfg(&mut c, &mut a, "just words").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(&cfg, "clientPort=3000\ndataDir=/from/file\n").unwrap();
        let args = KeeperArgs {
            port: Some(4000),
            address: None,
            data_dir: None,
            config: Some(cfg),
            four_letter_whitelist: Some("*".into()),
            metrics_port: None,
        };
        let s = settings(&args).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:4000");
        assert_eq!(s.config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(s.config.four_letter_whitelist, vec!["*"]);
    }
}
