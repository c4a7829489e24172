//! The server subcommands (`namesrv`, `broker`, `keeper`, `dev`): each module owns its flags and
//! wires one library's `run` to a listener and the process's shutdown signal (`mqadmin`, a client
//! tool, lives here too). This module holds
//! what they share: binding a listener with an error that says what to do, and the data-dir
//! check.
//!
//! Invariant: every server binds its listener before it prints its "listening on" line, and the
//! printed address is the bound one (so `--listen 127.0.0.1:0` prints the port the OS chose).

pub mod broker;
pub mod dev;
pub mod keeper;
pub mod metrics;
pub mod mqadmin;
pub mod namesrv;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use tokio::net::TcpListener;

/// Binds `addr`, explaining the usual failures.
pub async fn bind(what: &str, addr: SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!(
            "{what} could not listen on {addr}; is another process using the port? \
             Pick another one with {flag}"
        )
    })
}

/// Creates `dir` (and parents) so the libraries can assume it exists.
pub fn ensure_dir(dir: &Path, flag: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "could not create the data directory {}; choose a writable one with {flag}",
            dir.display()
        )
    })
}

/// The address a listener really got (the OS picks the port for `:0`).
pub fn local_addr(listener: &TcpListener) -> anyhow::Result<SocketAddr> {
    listener
        .local_addr()
        .context("could not read the bound address of a listener")
}
