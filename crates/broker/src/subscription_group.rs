//! Consumer (subscription) group configs, persisted to `<storePathRootDir>/config/subscriptionGroup.json`
//! in RocketMQ's shape `{"dataVersion":{...},"subscriptionGroupTable":{group:{...}}}`.
//!
//! Invariants: `dataVersion` bumps on every change; a group used by a pull or heartbeat is created
//! with RocketMQ's defaults when `autoCreateSubscriptionGroup` is on, otherwise lookups of unknown
//! groups return `None` (the processor answers SUBSCRIPTION_GROUP_NOT_EXIST). The built-in tool
//! groups (`TOOLS_CONSUMER`, ...) always exist.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::persist;
use crate::topic_config::DataVersion;

/// Groups every Java broker has built in.
pub const SYSTEM_GROUPS: &[&str] = &[
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_RMQ_SYS_TRANS",
];

/// RocketMQ's SubscriptionGroupConfig (missing keys take Java's defaults).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// Group name.
    pub group_name: String,
    /// Consumers of this group may pull.
    pub consume_enable: bool,
    /// Start from the min offset when no offset is stored.
    pub consume_from_min_enable: bool,
    /// Broadcasting consumption allowed.
    pub consume_broadcast_enable: bool,
    /// Orderly consumption.
    pub consume_message_orderly: bool,
    /// Queues of the group's `%RETRY%` topic.
    pub retry_queue_nums: i32,
    /// Redeliveries before the DLQ.
    pub retry_max_times: i32,
    /// Broker id consumers read from.
    pub broker_id: i64,
    /// Broker id suggested when consumption is slow.
    pub which_broker_when_consume_slowly: i64,
    /// Send NOTIFY_CONSUMER_IDS_CHANGED on membership changes.
    pub notify_consumer_ids_changed_enable: bool,
    /// Group system flag.
    pub group_sys_flag: i32,
    /// Consume timeout in minutes.
    pub consume_timeout_minute: i32,
    /// 5.x group attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            attributes: BTreeMap::new(),
        }
    }
}

impl SubscriptionGroupConfig {
    /// A group with Java's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        SubscriptionGroupConfig {
            group_name: name.into(),
            ..Default::default()
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Wrapper {
    #[serde(default)]
    subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    #[serde(default)]
    data_version: DataVersion,
}

struct Inner {
    table: HashMap<String, Arc<SubscriptionGroupConfig>>,
    data_version: DataVersion,
}

/// The group table. Share as `Arc<SubscriptionGroupManager>`.
pub struct SubscriptionGroupManager {
    file: persist::TableFile,
    /// `autoCreateSubscriptionGroup`; UPDATE_BROKER_CONFIG may turn it on or off.
    auto_create: AtomicBool,
    inner: RwLock<Inner>,
}

impl SubscriptionGroupManager {
    /// Loads `config/subscriptionGroup.json` (or its .bak) and adds the system groups.
    pub fn load(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let path = config.config_dir().join("subscriptionGroup.json");
        let loaded = persist::load(&path, |text| {
            serde_json::from_str::<Wrapper>(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let mut table: HashMap<String, Arc<SubscriptionGroupConfig>> = loaded
            .subscription_group_table
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        for g in SYSTEM_GROUPS {
            table
                .entry(g.to_string())
                .or_insert_with(|| Arc::new(SubscriptionGroupConfig::new(*g)));
        }
        Ok(SubscriptionGroupManager {
            file: persist::TableFile::new(path),
            auto_create: AtomicBool::new(config.auto_create_subscription_group),
            inner: RwLock::new(Inner {
                table,
                data_version: loaded.data_version,
            }),
        })
    }

    /// The group's config if it exists.
    pub fn get(&self, group: &str) -> Option<Arc<SubscriptionGroupConfig>> {
        self.inner.read().table.get(group).cloned()
    }

    /// Turns group auto-creation on or off while the broker runs.
    pub fn set_auto_create(&self, on: bool) {
        self.auto_create.store(on, Ordering::Relaxed);
    }

    /// The group's config, auto-creating it when `autoCreateSubscriptionGroup` is on.
    pub fn find_or_create(
        &self,
        group: &str,
    ) -> Result<Option<Arc<SubscriptionGroupConfig>>, BrokerError> {
        if let Some(g) = self.get(group) {
            return Ok(Some(g));
        }
        if !self.auto_create.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let created = {
            let mut inner = self.inner.write();
            if let Some(g) = inner.table.get(group) {
                return Ok(Some(g.clone()));
            }
            let g = Arc::new(SubscriptionGroupConfig::new(group));
            inner.table.insert(group.to_string(), g.clone());
            inner.data_version.counter += 1;
            inner.data_version.timestamp = crate::topic_config::now_ms();
            g
        };
        tracing::info!(group, "auto-created subscription group");
        self.persist()?;
        Ok(Some(created))
    }

    /// Inserts or replaces a group (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
    pub fn update(&self, config: SubscriptionGroupConfig) -> Result<(), BrokerError> {
        {
            let mut inner = self.inner.write();
            inner
                .table
                .insert(config.group_name.clone(), Arc::new(config));
            inner.data_version.counter += 1;
            inner.data_version.timestamp = crate::topic_config::now_ms();
        }
        self.persist()
    }

    /// Removes a group; returns whether it existed.
    pub fn delete(&self, group: &str) -> Result<bool, BrokerError> {
        let existed = self.inner.write().table.remove(group).is_some();
        if existed {
            self.persist()?;
        }
        Ok(existed)
    }

    /// All group names.
    pub fn names(&self) -> Vec<String> {
        self.inner.read().table.keys().cloned().collect()
    }

    /// The table in the file/wire shape (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(&self.wrapper()).unwrap_or_default()
    }

    fn wrapper(&self) -> Wrapper {
        let inner = self.inner.read();
        Wrapper {
            subscription_group_table: inner
                .table
                .iter()
                .map(|(k, v)| (k.clone(), SubscriptionGroupConfig::clone(v)))
                .collect(),
            data_version: inner.data_version.clone(),
        }
    }

    /// Writes subscriptionGroup.json (atomically, keeping a .bak).
    pub fn persist(&self) -> Result<(), BrokerError> {
        self.file.write_json(|| self.wrapper())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &std::path::Path, auto: bool) -> BrokerConfig {
        BrokerConfig {
            store_path_root_dir: dir.to_path_buf(),
            auto_create_subscription_group: auto,
            ..BrokerConfig::default()
        }
    }

    #[test]
    fn auto_create_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let m = SubscriptionGroupManager::load(&cfg(dir.path(), true)).unwrap();
        assert!(m.get("TOOLS_CONSUMER").is_some());
        let g = m.find_or_create("cg1").unwrap().unwrap();
        assert_eq!(g.retry_max_times, 16);
        assert_eq!(g.retry_queue_nums, 1);
        let again = SubscriptionGroupManager::load(&cfg(dir.path(), false)).unwrap();
        assert!(again.get("cg1").is_some());
        assert!(again.find_or_create("cg2").unwrap().is_none());
    }

    #[test]
    fn partial_java_json_takes_defaults() {
        let c: SubscriptionGroupConfig =
            serde_json::from_str(r#"{"groupName":"g","consumeEnable":false,"unknownKey":1}"#)
                .unwrap();
        assert!(!c.consume_enable);
        assert_eq!(c.retry_max_times, 16);
        assert_eq!(c.which_broker_when_consume_slowly, 1);
    }

    #[test]
    fn update_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let m = SubscriptionGroupManager::load(&cfg(dir.path(), false)).unwrap();
        let mut c = SubscriptionGroupConfig::new("g");
        c.consume_enable = false;
        m.update(c).unwrap();
        assert!(!m.get("g").unwrap().consume_enable);
        assert!(m.delete("g").unwrap());
        assert!(m.get("g").is_none());
        let text =
            std::fs::read_to_string(dir.path().join("config/subscriptionGroup.json")).unwrap();
        assert!(text.contains("subscriptionGroupTable"));
    }
}
