//! Entry point of the `courier` binary: parse the command line, install logging on stderr, build
//! the tokio runtime and hand over to the subcommand's module. Nothing else lives here, so each
//! subcommand stays one module (`bench`, later `dev`, `namesrv`, `broker`, ...).

mod bench;
mod cli;
mod cmd;
mod signal;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// mimalloc instead of glibc malloc: the broker and the bench client allocate and free small
/// buffers on different runtime threads, where glibc's arena locks and consolidation cost a fifth
/// of the CPU per message (see docs/broker.md, "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.runtime_workers())
        .enable_all()
        .thread_name("courier-worker")
        .build()
        .context("could not start the tokio runtime; check the thread and file-descriptor limits (ulimit -u / -n)")?;
    match cli.command {
        Command::Bench(args) => bench::run(args, &runtime),
        Command::Dev(args) => cmd::dev::run(args, &runtime),
        Command::Namesrv(args) => cmd::namesrv::run(args, &runtime),
        Command::Broker(args) => cmd::broker::run(args, &runtime),
        Command::Keeper(args) => cmd::keeper::run(args, &runtime),
        Command::Mqadmin(args) => cmd::mqadmin::run(args, &runtime),
    }
}

/// Logs go to stderr so stdout stays clean for machine-readable output (the bench's JSON line).
fn init_logging(filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter).with_context(|| {
        format!("invalid log filter `{filter}`; use RUST_LOG syntax such as `info` or `courier_store=debug,warn`")
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| bench::report::LogWriter)
        .with_target(true)
        .try_init()
        .map_err(|e| anyhow::anyhow!("could not install the logger: {e}"))?;
    Ok(())
}
