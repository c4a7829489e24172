//! `courier namesrv`: the RocketMQ-compatible name server on its own (`courier_namesrv::run`).
//! Brokers register with it; clients ask it for topic routes. Only the KV config is persisted,
//! under `--data-dir`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use courier_namesrv::NamesrvConfig;
use tokio_util::sync::CancellationToken;

use super::{bind, ensure_dir, local_addr};

/// `courier namesrv ...`
#[derive(Debug, Args)]
pub struct NamesrvArgs {
    /// Address to listen on; use 0.0.0.0:9876 to accept other machines.
    #[arg(long, default_value = "127.0.0.1:9876")]
    pub listen: SocketAddr,

    /// Directory for the name server's KV config (kvConfig.json).
    #[arg(long, default_value = "./courier-data/namesrv")]
    pub data_dir: PathBuf,
}

pub const AFTER_HELP: &str = "\
Examples:
  courier namesrv                                  listen on 127.0.0.1:9876
  courier namesrv --listen 127.0.0.1:19876 --data-dir /var/lib/courier/namesrv

Then start brokers with `courier broker --namesrv 127.0.0.1:9876`.
Ctrl-C (SIGINT) or SIGTERM shuts down gracefully; a second signal exits at once.";

/// Runs the name server until SIGINT/SIGTERM.
pub fn run(args: NamesrvArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        crate::signal::install(shutdown.clone()).context("could not install signal handlers")?;
        ensure_dir(&args.data_dir, "--data-dir")?;
        let listener = bind("the name server", args.listen, "--listen").await?;
        let addr = local_addr(&listener)?;
        let config = NamesrvConfig::new(&args.data_dir);
        println!("courier namesrv listening on {addr}");
        courier_namesrv::run(config, listener, shutdown)
            .await
            .context("the name server stopped with an error")?;
        tracing::info!("name server stopped");
        Ok(())
    })
}
