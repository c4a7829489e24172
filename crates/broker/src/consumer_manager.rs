//! Consumer groups as learned from heartbeats: per group, the connected clients and their
//! subscriptions (topic → `SubscriptionData`), plus consume type, message model and
//! consume-from-where.
//!
//! Invariants:
//! - A group exists while it has at least one client connection; removing the last one removes
//!   the group (and its subscriptions).
//! - Clients silent for longer than `channelExpiredTimeout` (120 s) are dropped by
//!   `scan_not_active`; a closed connection is dropped at once by `channel_closed`.
//! - Whenever a group's set of clients changes (join, leave, close, expiry) and the group still has
//!   clients, the group-changed listener is called — outside the table lock — with the group name
//!   and the remaining clients' handles, so the server can send NOTIFY_CONSUMER_IDS_CHANGED.
//!   A heartbeat from an already known connection only refreshes it and notifies nobody.
//! - A heartbeat replaces the group's subscription table: topics it does not list are dropped,
//!   listed ones are updated unless the stored `subVersion` is newer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::client_channel::ClientChannelInfo;
use crate::filter::SubscriptionData;

/// A consumer entry of a HEART_BEAT body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerData {
    /// Consumer group.
    pub group_name: String,
    /// CONSUME_ACTIVELY (pull) / CONSUME_PASSIVELY (push) / CONSUME_POP.
    #[serde(default)]
    pub consume_type: String,
    /// CLUSTERING / BROADCASTING.
    #[serde(default)]
    pub message_model: String,
    /// CONSUME_FROM_LAST_OFFSET / CONSUME_FROM_FIRST_OFFSET / CONSUME_FROM_TIMESTAMP.
    #[serde(default)]
    pub consume_from_where: String,
    /// Subscriptions.
    #[serde(default)]
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Unit mode.
    #[serde(default)]
    pub unit_mode: bool,
}

/// A snapshot of one group, for GET_CONSUMER_CONNECTION_LIST.
#[derive(Clone, Debug)]
pub struct ConsumerGroupSnapshot<C> {
    /// Connected clients.
    pub channels: Vec<ClientChannelInfo<C>>,
    /// topic → subscription.
    pub subscriptions: Vec<SubscriptionData>,
    /// Consume type name.
    pub consume_type: String,
    /// Message model name.
    pub message_model: String,
    /// Consume-from-where name.
    pub consume_from_where: String,
}

struct GroupInfo<C> {
    channels: HashMap<u64, ClientChannelInfo<C>>,
    subscriptions: HashMap<String, SubscriptionData>,
    consume_type: String,
    message_model: String,
    consume_from_where: String,
}

/// Called with (group, clients) after a group's membership changed.
pub type GroupChangedListener<C> = Arc<dyn Fn(&str, Vec<C>) + Send + Sync>;

/// The consumer table. Share as `Arc<ConsumerManager<C>>`.
pub struct ConsumerManager<C> {
    groups: RwLock<HashMap<String, GroupInfo<C>>>,
    listener: Mutex<Option<GroupChangedListener<C>>>,
}

impl<C: Clone> Default for ConsumerManager<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clone> ConsumerManager<C> {
    /// An empty table.
    pub fn new() -> Self {
        ConsumerManager {
            groups: RwLock::new(HashMap::new()),
            listener: Mutex::new(None),
        }
    }

    /// Installs the group-changed hook.
    pub fn set_group_changed_listener(&self, f: GroupChangedListener<C>) {
        *self.listener.lock() = Some(f);
    }

    fn notify(&self, changed: Vec<(String, Vec<C>)>) {
        let listener = self.listener.lock().clone();
        if let Some(l) = listener {
            for (group, channels) in changed {
                if !channels.is_empty() {
                    l(&group, channels);
                }
            }
        }
    }

    /// Registers or refreshes a consumer client from a heartbeat. Returns true when the group's
    /// membership changed (a new connection joined).
    pub fn register(&self, data: &ConsumerData, client: ClientChannelInfo<C>) -> bool {
        let (joined, channels) = {
            let mut groups = self.groups.write();
            let info = groups
                .entry(data.group_name.clone())
                .or_insert_with(|| GroupInfo {
                    channels: HashMap::new(),
                    subscriptions: HashMap::new(),
                    consume_type: String::new(),
                    message_model: String::new(),
                    consume_from_where: String::new(),
                });
            info.consume_type.clone_from(&data.consume_type);
            info.message_model.clone_from(&data.message_model);
            info.consume_from_where.clone_from(&data.consume_from_where);
            let joined = match info.channels.get_mut(&client.conn_id) {
                Some(existing) => {
                    existing.last_update = client.last_update;
                    existing.client_id.clone_from(&client.client_id);
                    false
                }
                None => {
                    info.channels.insert(client.conn_id, client);
                    true
                }
            };
            // A heartbeat carries the client's whole subscription set for the group: topics it
            // no longer lists are dropped (RocketMQ replaces the table the same way).
            info.subscriptions
                .retain(|topic, _| data.subscription_data_set.iter().any(|s| &s.topic == topic));
            for sub in &data.subscription_data_set {
                match info.subscriptions.get(&sub.topic) {
                    Some(old) if old.sub_version > sub.sub_version => {}
                    _ => {
                        info.subscriptions.insert(sub.topic.clone(), sub.clone());
                    }
                }
            }
            let channels = if joined {
                info.channels.values().map(|c| c.channel.clone()).collect()
            } else {
                Vec::new()
            };
            (joined, channels)
        };
        if joined {
            self.notify(vec![(data.group_name.clone(), channels)]);
        }
        joined
    }

    /// Removes a client (UNREGISTER_CLIENT) by client id from one group.
    pub fn unregister(&self, group: &str, client_id: &str) -> bool {
        let changed = {
            let mut groups = self.groups.write();
            let Some(info) = groups.get_mut(group) else {
                return false;
            };
            let before = info.channels.len();
            info.channels.retain(|_, c| c.client_id != client_id);
            if info.channels.len() == before {
                return false;
            }
            let remaining: Vec<C> = info.channels.values().map(|c| c.channel.clone()).collect();
            if remaining.is_empty() {
                groups.remove(group);
            }
            vec![(group.to_string(), remaining)]
        };
        self.notify(changed);
        true
    }

    /// Removes a closed connection from every group.
    pub fn channel_closed(&self, conn_id: u64) {
        let changed = self.remove_where(|c| c.conn_id == conn_id);
        self.notify(changed);
    }

    /// Drops clients silent for longer than `timeout`; returns how many were dropped.
    pub fn scan_not_active(&self, now: Instant, timeout: Duration) -> usize {
        let mut count = 0;
        let changed = self.remove_where(|c| {
            let expired = c.expired(now, timeout);
            if expired {
                tracing::info!(client = %c.client_id, "consumer client expired after {timeout:?} without heartbeat");
                count += 1;
            }
            expired
        });
        self.notify(changed);
        count
    }

    fn remove_where(
        &self,
        mut pred: impl FnMut(&ClientChannelInfo<C>) -> bool,
    ) -> Vec<(String, Vec<C>)> {
        let mut changed = Vec::new();
        let mut groups = self.groups.write();
        groups.retain(|group, info| {
            let before = info.channels.len();
            info.channels.retain(|_, c| !pred(c));
            if info.channels.len() != before {
                changed.push((
                    group.clone(),
                    info.channels.values().map(|c| c.channel.clone()).collect(),
                ));
            }
            !info.channels.is_empty()
        });
        changed
    }

    /// Client ids of a group, sorted.
    pub fn client_ids(&self, group: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .groups
            .read()
            .get(group)
            .map(|g| g.channels.values().map(|c| c.client_id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The connection of one client of a group, the one heard from last when it has several
    /// (a reconnect whose old connection has not been noticed closed yet).
    pub fn find_channel(&self, group: &str, client_id: &str) -> Option<ClientChannelInfo<C>> {
        self.groups
            .read()
            .get(group)?
            .channels
            .values()
            .filter(|c| c.client_id == client_id)
            .max_by_key(|c| c.last_update)
            .cloned()
    }

    /// The group's registered subscription to `topic`.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        self.groups
            .read()
            .get(group)?
            .subscriptions
            .get(topic)
            .cloned()
    }

    /// True when the group has at least one client.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.read().contains_key(group)
    }

    /// The group's connected clients (empty when it has none), without the rest of a snapshot.
    pub fn channels(&self, group: &str) -> Vec<ClientChannelInfo<C>> {
        self.groups
            .read()
            .get(group)
            .map(|g| g.channels.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A snapshot of a group (None when it has no clients).
    pub fn snapshot(&self, group: &str) -> Option<ConsumerGroupSnapshot<C>> {
        let groups = self.groups.read();
        let g = groups.get(group)?;
        Some(ConsumerGroupSnapshot {
            channels: g.channels.values().cloned().collect(),
            subscriptions: g.subscriptions.values().cloned().collect(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            consume_from_where: g.consume_from_where.clone(),
        })
    }

    /// Groups with clients online that subscribe to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        self.groups
            .read()
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Names of all groups with clients.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.read().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(conn: u64, id: &str, at: Instant) -> ClientChannelInfo<u64> {
        ClientChannelInfo {
            channel: conn,
            conn_id: conn,
            client_id: id.to_string(),
            language: "JAVA".into(),
            version: 401,
            remote_addr: "127.0.0.1:1".into(),
            last_update: at,
        }
    }

    fn data(group: &str, tags: &str, version: i64) -> ConsumerData {
        ConsumerData {
            group_name: group.into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            message_model: "CLUSTERING".into(),
            consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
            subscription_data_set: vec![SubscriptionData::build("T", tags, version).unwrap()],
            unit_mode: false,
        }
    }

    #[test]
    fn join_notifies_refresh_does_not() {
        let m = ConsumerManager::<u64>::new();
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        m.set_group_changed_listener(Arc::new(move |g, mut ch| {
            ch.sort();
            ev.lock().push((g.to_string(), ch));
        }));
        let t0 = Instant::now();
        assert!(m.register(&data("g", "*", 1), client(1, "c1", t0)));
        assert!(!m.register(&data("g", "*", 1), client(1, "c1", t0)));
        assert!(m.register(&data("g", "*", 1), client(2, "c2", t0)));
        assert_eq!(m.client_ids("g"), vec!["c1", "c2"]);
        assert_eq!(
            *events.lock(),
            vec![("g".to_string(), vec![1]), ("g".to_string(), vec![1, 2])]
        );
        events.lock().clear();
        m.channel_closed(1);
        assert_eq!(*events.lock(), vec![("g".to_string(), vec![2])]);
        assert!(m.unregister("g", "c2"));
        assert!(!m.has_group("g"), "last client gone removes the group");
    }

    #[test]
    fn silent_clients_expire() {
        let m = ConsumerManager::<u64>::new();
        let t0 = Instant::now();
        m.register(&data("g", "*", 1), client(1, "c1", t0));
        m.register(
            &data("g", "*", 1),
            client(2, "c2", t0 + Duration::from_secs(100)),
        );
        let dropped = m.scan_not_active(t0 + Duration::from_secs(121), Duration::from_secs(120));
        assert_eq!(dropped, 1);
        assert_eq!(m.client_ids("g"), vec!["c2"]);
    }

    #[test]
    fn newer_subscription_version_wins() {
        let m = ConsumerManager::<u64>::new();
        let t0 = Instant::now();
        m.register(&data("g", "TagA", 5), client(1, "c1", t0));
        m.register(&data("g", "TagB", 3), client(1, "c1", t0));
        assert_eq!(m.subscription("g", "T").unwrap().sub_string, "TagA");
        m.register(&data("g", "TagB", 9), client(1, "c1", t0));
        assert_eq!(m.subscription("g", "T").unwrap().sub_string, "TagB");
        let mut other = data("g", "*", 10);
        other.subscription_data_set[0].topic = "U".into();
        m.register(&other, client(1, "c1", t0));
        assert!(
            m.subscription("g", "T").is_none(),
            "unsubscribed topic dropped"
        );
        assert!(m.subscription("g", "U").is_some());
        let snap = m.snapshot("g").unwrap();
        assert_eq!(snap.message_model, "CLUSTERING");
        assert_eq!(snap.channels.len(), 1);
    }
}
