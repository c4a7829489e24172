//! `serve`: the generic remoting server — an accept loop on a `TcpListener`
//! with one connection (see `connection`) per accepted socket, all sharing one
//! `Dispatcher`.
//!
//! Shutdown (cancel the token): stop accepting and close the listener, let each
//! connection finish its in-flight requests and write their responses, then
//! close the sockets; `serve` returns when every connection is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::connection::{start_connection, ConnectionConfig, ConnectionHandle};
use crate::processor::Dispatcher;

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    pub connection: ConnectionConfig,
}

/// Accepts connections until `shutdown` is cancelled, then drains them.
/// `on_connect` sees each new connection (e.g. to track channels).
pub async fn serve_with(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    config: ServerConfig,
    shutdown: CancellationToken,
    on_connect: impl Fn(&ConnectionHandle) + Send + 'static,
) {
    let tracker = TaskTracker::new();
    let local = listener.local_addr().ok();
    info!(addr = ?local, "remoting server listening");
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    match start_connection(stream, dispatcher.clone(), config.connection.clone(), shutdown.clone(), &tracker) {
                        Ok(handle) => {
                            debug!(%peer, id = handle.id(), "accepted connection");
                            on_connect(&handle);
                        }
                        Err(e) => debug!(%peer, error = %e, "connection vanished before it started"),
                    }
                }
                Err(e) => {
                    // Typically out of file descriptors; back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    info!(addr = ?local, "remoting server stopping; draining connections");
    tracker.close();
    tracker.wait().await;
    info!(addr = ?local, "remoting server stopped");
}

/// `serve_with` without a connection hook.
pub async fn serve(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
    serve_with(listener, dispatcher, config, shutdown, |_| {}).await
}
