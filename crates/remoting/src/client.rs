//! `RemotingClient`: outgoing connections keyed by address, made on first use
//! (3 s connect timeout by default) and remade on the next use after one drops.
//! Requests are matched to responses by opaque on each connection; requests the
//! server sends on them go to the client's own `Dispatcher` (e.g.
//! NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE). Dropping the client
//! closes its connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::command::RemotingCommand;
use crate::connection::{start_connection, ConnectionConfig, ConnectionHandle, RemotingError};
use crate::processor::Dispatcher;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub connection: ConnectionConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(3),
            connection: ConnectionConfig::default(),
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<ConnectionHandle>>>;

/// A client of one or more remoting servers.
pub struct RemotingClient {
    config: ClientConfig,
    dispatcher: Arc<Dispatcher>,
    /// One slot per address; a slot's async lock is held while connecting, so
    /// a slow connect delays only users of that address.
    connections: parking_lot::Mutex<HashMap<String, Slot>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Default for RemotingClient {
    fn default() -> Self {
        Self::new(ClientConfig::default())
    }
}

impl RemotingClient {
    /// A client that answers server-initiated requests with REQUEST_CODE_NOT_SUPPORTED.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_dispatcher(config, Dispatcher::new())
    }

    /// A client whose server-initiated requests go to `dispatcher`.
    pub fn with_dispatcher(config: ClientConfig, dispatcher: Dispatcher) -> Self {
        RemotingClient {
            config,
            dispatcher: Arc::new(dispatcher),
            connections: parking_lot::Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The live connection to `addr` ("host:port"), connecting if there is none.
    pub async fn connection(&self, addr: &str) -> Result<ConnectionHandle, RemotingError> {
        let slot = {
            let mut connections = self.connections.lock();
            match connections.get(addr) {
                Some(slot) => {
                    // Every request asks: when the connection is up and nobody is (re)connecting,
                    // take it without a key copy or an async lock.
                    if let Ok(live) = slot.try_lock() {
                        if let Some(c) = live.as_ref().filter(|c| !c.is_closed()) {
                            return Ok(c.clone());
                        }
                    }
                    slot.clone()
                }
                None => connections.entry(addr.to_string()).or_default().clone(),
            }
        };
        let mut slot = slot.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let timeout = self.config.connect_timeout;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => {
                return Err(RemotingError::Connect {
                    addr: addr.to_string(),
                    source,
                })
            }
            Err(_) => {
                return Err(RemotingError::ConnectTimeout {
                    addr: addr.to_string(),
                    millis: timeout.as_millis(),
                })
            }
        };
        let handle = start_connection(
            stream,
            self.dispatcher.clone(),
            self.config.connection.clone(),
            self.shutdown.clone(),
            &self.tracker,
        )
        .map_err(|source| RemotingError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        *slot = Some(handle.clone());
        Ok(handle)
    }

    /// Sends a request to `addr` and waits up to `timeout` for its response.
    pub async fn invoke(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        self.connection(addr).await?.invoke(cmd, timeout).await
    }

    /// Sends a oneway request to `addr`.
    pub async fn invoke_oneway(
        &self,
        addr: &str,
        cmd: RemotingCommand,
    ) -> Result<(), RemotingError> {
        self.connection(addr).await?.invoke_oneway(cmd).await
    }

    /// Closes the connection to `addr`, if any.
    pub async fn close_connection(&self, addr: &str) {
        let slot = self.connections.lock().remove(addr);
        if let Some(slot) = slot {
            if let Some(c) = slot.lock().await.take() {
                c.close();
            }
        }
    }

    /// Closes every connection and waits until they are closed.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.connections.lock().clear();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for RemotingClient {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
