//! Producer groups as learned from heartbeats: group → connected clients.
//!
//! Invariants: a group exists while it has a client; closed connections are removed at once and
//! silent ones after `channelExpiredTimeout` by `scan_not_active`. `any_channel` hands out a live
//! client of a group (for server-initiated requests such as CHECK_TRANSACTION_STATE);
//! `channel_of_client` finds a requester by client id (PUSH_REPLY_MESSAGE_TO_CLIENT).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::client_channel::ClientChannelInfo;

/// The producer table. Share as `Arc<ProducerManager<C>>`.
pub struct ProducerManager<C> {
    groups: RwLock<HashMap<String, HashMap<u64, ClientChannelInfo<C>>>>,
}

impl<C: Clone> Default for ProducerManager<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clone> ProducerManager<C> {
    /// An empty table.
    pub fn new() -> Self {
        ProducerManager {
            groups: RwLock::new(HashMap::new()),
        }
    }

    /// Registers or refreshes a producer client.
    pub fn register(&self, group: &str, client: ClientChannelInfo<C>) {
        let mut groups = self.groups.write();
        let clients = match groups.get_mut(group) {
            Some(c) => c,
            None => groups.entry(group.to_string()).or_default(),
        };
        match clients.get_mut(&client.conn_id) {
            Some(existing) => existing.last_update = client.last_update,
            None => {
                clients.insert(client.conn_id, client);
            }
        }
    }

    /// Removes a client by client id (UNREGISTER_CLIENT).
    pub fn unregister(&self, group: &str, client_id: &str) -> bool {
        let mut groups = self.groups.write();
        let Some(clients) = groups.get_mut(group) else {
            return false;
        };
        let before = clients.len();
        clients.retain(|_, c| c.client_id != client_id);
        let removed = clients.len() != before;
        if clients.is_empty() {
            groups.remove(group);
        }
        removed
    }

    /// Removes a closed connection from every group.
    pub fn channel_closed(&self, conn_id: u64) {
        self.groups.write().retain(|_, clients| {
            clients.remove(&conn_id);
            !clients.is_empty()
        });
    }

    /// Drops clients silent for longer than `timeout`; returns how many.
    pub fn scan_not_active(&self, now: Instant, timeout: Duration) -> usize {
        let mut n = 0;
        self.groups.write().retain(|_, clients| {
            clients.retain(|_, c| {
                let keep = !c.expired(now, timeout);
                n += usize::from(!keep);
                keep
            });
            !clients.is_empty()
        });
        n
    }

    /// Some live client of the group.
    pub fn any_channel(&self, group: &str) -> Option<C> {
        self.groups
            .read()
            .get(group)?
            .values()
            .max_by_key(|c| c.last_update)
            .map(|c| c.channel.clone())
    }

    /// The connection a client registered as a producer, most recently heard from when it has
    /// several (a reconnect, or one client in several groups). A scan of every producer: replies
    /// are rare next to the heartbeats that would keep a second index current.
    pub fn channel_of_client(&self, client_id: &str) -> Option<C> {
        self.groups
            .read()
            .values()
            .flat_map(|clients| clients.values())
            .filter(|c| c.client_id == client_id)
            .max_by_key(|c| c.last_update)
            .map(|c| c.channel.clone())
    }

    /// The clients of a group.
    pub fn clients(&self, group: &str) -> Vec<ClientChannelInfo<C>> {
        self.groups
            .read()
            .get(group)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of producer groups.
    pub fn group_count(&self) -> usize {
        self.groups.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(conn: u64, id: &str, at: Instant) -> ClientChannelInfo<u64> {
        ClientChannelInfo {
            channel: conn,
            conn_id: conn,
            client_id: id.into(),
            language: "JAVA".into(),
            version: 401,
            remote_addr: String::new(),
            last_update: at,
        }
    }

    #[test]
    fn register_close_expire() {
        let m = ProducerManager::<u64>::new();
        let t0 = Instant::now();
        m.register("pg", client(1, "a", t0));
        m.register("pg", client(2, "b", t0 + Duration::from_secs(60)));
        assert_eq!(m.clients("pg").len(), 2);
        assert_eq!(m.any_channel("pg"), Some(2));
        m.channel_closed(2);
        assert_eq!(m.any_channel("pg"), Some(1));
        assert_eq!(
            m.scan_not_active(t0 + Duration::from_secs(121), Duration::from_secs(120)),
            1
        );
        assert_eq!(m.any_channel("pg"), None);
        assert_eq!(m.group_count(), 0);
        m.register("pg", client(3, "c", t0));
        m.register("other", client(4, "c", t0 + Duration::from_secs(1)));
        assert_eq!(
            m.channel_of_client("c"),
            Some(4),
            "the freshest registration"
        );
        assert_eq!(m.channel_of_client("nobody"), None);
        assert!(m.unregister("pg", "c"));
        m.channel_closed(4);
        assert_eq!(m.channel_of_client("c"), None);
        assert!(!m.unregister("pg", "c"));
    }
}
