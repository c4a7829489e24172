//! `ClientChannelInfo`: what the broker remembers about one client connection (producer or
//! consumer): the connection handle used to send it requests, its client id, language, version
//! and when it was last heard from.
//!
//! Invariant: a connection is identified by `conn_id` (unique per accepted connection), not by
//! client id — one process may reconnect and the stale connection must not shadow the new one.

use std::time::{Duration, Instant};

/// One client connection as seen by the producer/consumer managers. `C` is the server's
/// connection handle (cloneable, used for NOTIFY_CONSUMER_IDS_CHANGED and similar).
#[derive(Clone, Debug)]
pub struct ClientChannelInfo<C> {
    /// Handle for sending requests to the client.
    pub channel: C,
    /// Unique id of the TCP connection.
    pub conn_id: u64,
    /// RocketMQ client id (`ip@instance`).
    pub client_id: String,
    /// Client language name ("JAVA", "NODE_JS", ...).
    pub language: String,
    /// Client version ordinal.
    pub version: i32,
    /// Peer address as text.
    pub remote_addr: String,
    /// Last heartbeat.
    pub last_update: Instant,
}

impl<C> ClientChannelInfo<C> {
    /// True when the client has been silent for longer than `timeout` at `now`.
    pub fn expired(&self, now: Instant, timeout: Duration) -> bool {
        now.saturating_duration_since(self.last_update) > timeout
    }
}
