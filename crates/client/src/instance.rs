//! `ClientInstance`: what one producer or consumer object shares between its
//! tasks — the remoting connections, the client id, the route cache and the
//! background tasks (route refresh, heartbeats). Each producer/consumer owns
//! one instance, so its client id (and thus its group membership) is its own.
//!
//! Invariants: the route cache holds, per topic, the last route a name server
//! returned; `broker_addrs` maps every broker name seen in any cached route to
//! its addresses (id 0 = master). Background tasks stop when `shutdown` is
//! cancelled and are awaited by `close`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use courier_remoting::body::TopicRouteData;
use courier_remoting::client::ClientConfig as RemotingConfig;
use courier_remoting::code::response;
use courier_remoting::processor::Dispatcher;
use courier_remoting::{RemotingClient, RemotingCommand};
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{ClientError, Result};
use crate::options::ClientOptions;

/// Shared state of one client object.
pub struct ClientInstance {
    pub(crate) options: ClientOptions,
    pub(crate) client_id: String,
    pub(crate) remoting: RemotingClient,
    pub(crate) routes: RwLock<HashMap<String, Arc<TopicRouteData>>>,
    pub(crate) broker_addrs: RwLock<HashMap<String, BTreeMap<i64, String>>>,
    namesrv_index: AtomicUsize,
    pub(crate) shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl ClientInstance {
    /// A new instance; server-initiated requests go to `dispatcher`.
    pub(crate) fn new(options: ClientOptions, dispatcher: Dispatcher) -> Result<Arc<Self>> {
        options.validate()?;
        let remoting = RemotingClient::with_dispatcher(
            RemotingConfig {
                connect_timeout: options.request_timeout,
                ..RemotingConfig::default()
            },
            dispatcher,
        );
        Ok(Arc::new(ClientInstance {
            client_id: options.client_id(),
            namesrv_index: AtomicUsize::new(rand::random::<u16>() as usize),
            options,
            remoting,
            routes: RwLock::new(HashMap::new()),
            broker_addrs: RwLock::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// This client's id (`ip@instanceName`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Runs `f` every `period` (first run after one period) until shutdown.
    pub(crate) fn spawn_periodic<F, Fut>(self: &Arc<Self>, period: Duration, f: F)
    where
        F: Fn(Arc<ClientInstance>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let me = self.clone();
        let stop = self.shutdown.clone();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(period) => {}
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = f(me.clone()) => {}
                }
            }
        });
    }

    /// Spawns a task that lives until shutdown (it must watch `shutdown` itself).
    pub(crate) fn spawn<Fut>(&self, fut: Fut)
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(fut);
    }

    /// Stops background tasks, waits for them and closes every connection.
    pub(crate) async fn close(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.remoting.shutdown().await;
    }

    /// Sends a request and turns transport failures into `ClientError`.
    pub(crate) async fn invoke(
        &self,
        addr: &str,
        mut cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        cmd.serialize_type = self.options.serialize_type;
        Ok(self.remoting.invoke(addr, cmd, timeout).await?)
    }

    /// Sends a oneway request (no answer, no error from the peer).
    pub(crate) async fn invoke_oneway(&self, addr: &str, mut cmd: RemotingCommand) -> Result<()> {
        cmd.serialize_type = self.options.serialize_type;
        Ok(self.remoting.invoke_oneway(addr, cmd).await?)
    }

    /// Like `invoke`, but a non-SUCCESS answer is an error.
    pub(crate) async fn invoke_ok(
        &self,
        addr: &str,
        cmd: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand> {
        let resp = self.invoke(addr, cmd, timeout).await?;
        if resp.code == response::SUCCESS {
            Ok(resp)
        } else {
            Err(broker_error(addr, &resp))
        }
    }

    /// Calls the name servers in turn (starting from a rotating one) until one answers.
    pub(crate) async fn invoke_namesrv(&self, cmd: RemotingCommand) -> Result<RemotingCommand> {
        let addrs = &self.options.namesrv_addrs;
        let start = self.namesrv_index.fetch_add(1, Ordering::Relaxed);
        let mut last = None;
        for i in 0..addrs.len() {
            let addr = &addrs[(start + i) % addrs.len()];
            match self
                .invoke(addr, cmd.clone(), self.options.request_timeout)
                .await
            {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    tracing::debug!(namesrv = %addr, error = %e, "name server call failed; trying the next");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Config("no name server address".into())))
    }
}

/// The error for a non-SUCCESS answer from `addr`.
pub(crate) fn broker_error(addr: &str, resp: &RemotingCommand) -> ClientError {
    ClientError::Broker {
        addr: addr.to_string(),
        code: resp.code,
        remark: resp
            .remark
            .clone()
            .unwrap_or_else(|| "(no remark)".to_string()),
    }
}
