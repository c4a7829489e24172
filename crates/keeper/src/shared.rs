//! State shared by the accept loop, connection tasks, the sequencer task and the timers.
//!
//! Lock order (always acquired in this order, never the reverse): `state` → `watches` →
//! `sessions` → `conns`. The sequencer holds `state` for writing from prep until the batch's
//! events are queued, so a read that takes `state` afterwards is answered after those events
//! on every connection (ZooKeeper's "event before data" guarantee).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use courier_keeper_proto::{frame, keeper_state, EventType, Id, ReplyHeader, WatcherEvent};
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

use crate::config::KeeperConfig;
use crate::latency::Latency;
use crate::sequencer::SeqMsg;
use crate::session::SessionTracker;
use crate::state::StateMachine;
use crate::watches::{ConnId, WatchManager};

/// What a connection's writer task is told.
#[derive(Debug)]
pub enum Out {
    /// A complete frame (length prefix included).
    Frame(Bytes),
    /// Flush and close the socket.
    Close,
}

/// Per-connection counters (for `cons` / `stat`).
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Requests received.
    pub received: AtomicU64,
    /// Requests read and not answered yet (`cons` prints it as `queued`).
    pub outstanding: AtomicU64,
    /// Latency of this connection's requests.
    pub latency: Latency,
    /// Frames sent.
    pub sent: AtomicU64,
    /// Bytes queued for the socket and not written yet.
    pub queued_bytes: AtomicU64,
}

/// A connection whose unsent output exceeds this is not reading; it is closed rather than
/// allowed to grow the server's memory without bound.
pub const MAX_QUEUED_BYTES: u64 = 64 << 20;

/// How other tasks reach a connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Outbound queue.
    pub out: UnboundedSender<Out>,
    /// Cancels the connection's reader.
    pub cancel: CancellationToken,
    /// Peer address.
    pub peer: SocketAddr,
    /// Bound session.
    pub session_id: i64,
    /// Counters.
    pub stats: Arc<ConnStats>,
    /// The connection's identities (updated by auth), for notification ACL filtering.
    pub ids: Arc<parking_lot::RwLock<Vec<Id>>>,
}

impl ConnHandle {
    /// Queues a frame (a closed connection just drops it).
    pub fn send(&self, frame: Bytes) {
        let queued = self
            .stats
            .queued_bytes
            .fetch_add(frame.len() as u64, Ordering::Relaxed);
        if queued > MAX_QUEUED_BYTES {
            if !self.cancel.is_cancelled() {
                tracing::warn!(peer = %self.peer, queued, "client is not reading its replies; closing the connection");
                self.cancel.cancel();
            }
            return;
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send(Out::Frame(frame));
    }

    /// Flushes what is queued, then closes.
    pub fn close(&self) {
        let _ = self.out.send(Out::Close);
        self.cancel.cancel();
    }
}

/// Server-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Packets received.
    pub received: AtomicU64,
    /// Packets sent.
    pub sent: AtomicU64,
    /// Failed auth attempts.
    pub auth_failed: AtomicU64,
    /// Connections closed for protocol errors.
    pub bad_connections: AtomicU64,
    /// Requests read and not answered yet, over all connections.
    pub outstanding: AtomicU64,
    /// Latency of every request.
    pub latency: Latency,
}

/// Everything the server's tasks share.
pub struct Shared {
    /// Settings.
    pub config: KeeperConfig,
    /// The state machine. An async lock: readers wait without blocking a runtime thread while
    /// the sequencer holds it across a group commit. Shared with the Raft state machine.
    pub state: Arc<RwLock<StateMachine>>,
    /// Watch registrations.
    pub watches: Mutex<WatchManager>,
    /// Session deadlines and bindings.
    pub sessions: Mutex<SessionTracker>,
    /// Live connections.
    pub conns: Mutex<HashMap<ConnId, ConnHandle>>,
    /// Queue into the sequencer task.
    pub writes: tokio::sync::mpsc::UnboundedSender<SeqMsg>,
    /// Connection id source.
    pub next_conn: AtomicU64,
    /// Counters.
    pub stats: Stats,
    /// Start time, for uptime.
    pub started: Instant,
    /// Server-wide shutdown.
    pub shutdown: CancellationToken,
    /// Set when the write path died; the server then stops.
    pub failed: AtomicBool,
    /// Identity granted by the super digest, if configured.
    pub super_digest: Option<String>,
    /// Copy of the state's last zxid, published after each batch is durable, so pings and
    /// handshakes never wait for the state lock (which the sequencer holds across fsync).
    pub published_zxid: AtomicI64,
}

impl Shared {
    /// The zxid pings and error replies report.
    pub fn last_zxid(&self) -> i64 {
        self.published_zxid.load(Ordering::Acquire)
    }
}

/// A notification frame (xid -1). The header carries the txn zxid, as ZooKeeper 3.9 does.
pub fn notification(zxid: i64, event: EventType, path: &str) -> Bytes {
    frame(
        &ReplyHeader {
            xid: courier_keeper_proto::xid::NOTIFICATION,
            zxid,
            err: 0,
        },
        &WatcherEvent {
            event_type: event.code(),
            state: keeper_state::SYNC_CONNECTED,
            path: path.to_string(),
        },
    )
}

/// The identity list a fresh connection from `peer` holds.
pub fn initial_ids(peer: &SocketAddr) -> Vec<Id> {
    vec![Id {
        scheme: "ip".into(),
        id: peer.ip().to_string(),
    }]
}
