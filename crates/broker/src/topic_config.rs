//! The topic table: every topic this broker serves, with its queue counts and permission bits,
//! persisted to `<storePathRootDir>/config/topics.json` in RocketMQ's
//! `TopicConfigSerializeWrapper` shape (`{"dataVersion":{...},"topicConfigTable":{name:{...}}}`).
//!
//! Invariants:
//! - `dataVersion.counter` increases by one on every change and `timestamp` is the change time, so
//!   name servers (REGISTER_BROKER / QUERY_DATA_VERSION) can tell a changed table from an old one.
//! - System topics (see `SYSTEM_TOPICS` and `load`) always exist after `load`; a file entry for a
//!   system topic wins over the built-in default (an operator may have changed its perm).
//! - A topic is only auto-created on send when `autoCreateTopicEnable` is on and the template
//!   (`TBW102` or the client's `defaultTopic`) exists with the INHERIT perm bit; the new topic gets
//!   min(client's queue count, template's write queues) queues and the template's perm minus INHERIT.
//! - Every change notifies `changed()` so the registration loop re-registers immediately
//!   (clients like ali-ons do not fall back to the TBW102 route and need the new route quickly).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::persist;

/// Permission bits (RocketMQ's PermName).
pub mod perm {
    /// Priority (unused by Courier, kept for round trips).
    pub const PRIORITY: i32 = 8;
    /// Consumers may pull.
    pub const READ: i32 = 4;
    /// Producers may send.
    pub const WRITE: i32 = 2;
    /// The topic may serve as an auto-create template.
    pub const INHERIT: i32 = 1;

    /// True when the READ bit is set.
    pub fn is_readable(p: i32) -> bool {
        p & READ == READ
    }
    /// True when the WRITE bit is set.
    pub fn is_writeable(p: i32) -> bool {
        p & WRITE == WRITE
    }
    /// True when the INHERIT bit is set.
    pub fn is_inherited(p: i32) -> bool {
        p & INHERIT == INHERIT
    }
}

/// The auto-create template topic.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
/// Self-test topic every Java broker has.
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
/// Offset-moved events topic.
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// Delay-level schedule topic (18 queues, one per level).
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
/// Transaction half messages.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Transaction op (resolution) log.
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Discarded transaction halves.
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// Prefix of per-group retry topics.
pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of per-group dead-letter topics.
pub const DLQ_GROUP_TOPIC_PREFIX: &str = "%DLQ%";

/// Suffix of the topic request-reply messages are sent back to, one per cluster.
pub const REPLY_TOPIC_POSTFIX: &str = "REPLY_TOPIC";

/// The cluster's reply topic, `<cluster>_REPLY_TOPIC`: responders send replies there
/// (SEND_REPLY_MESSAGE), and every broker of the cluster creates it at start, as Java's does.
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_{REPLY_TOPIC_POSTFIX}")
}

/// Where clients with tracing on send their trace records (Java's default trace topic).
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
/// Java's benchmark topic, counted among the system topics by its tools.
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";

/// The topics RocketMQ's tools label as system topics on a broker of `cluster` named `broker`
/// (GET_SYSTEM_TOPIC_LIST_FROM_BROKER; Java's `TopicValidator.getSystemTopicSet()` with the ones
/// its broker adds at start). Not all of them need exist: the list is for labelling.
pub fn system_topic_names(cluster: &str, broker: &str) -> std::collections::BTreeSet<String> {
    [
        AUTO_CREATE_TOPIC_KEY,
        SCHEDULE_TOPIC,
        BENCHMARK_TOPIC,
        TRANS_HALF_TOPIC,
        TRACE_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
        cluster,
        broker,
    ]
    .into_iter()
    .map(str::to_string)
    .chain([reply_topic(cluster)])
    .collect()
}

/// Topics clients may not send to directly (RocketMQ's `isNotAllowedSendTopic`).
pub fn is_not_allowed_send_topic(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | TRANS_HALF_TOPIC
            | TRANS_OP_HALF_TOPIC
            | TRANS_CHECK_MAX_TIME_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

/// Checks a topic name as RocketMQ does: 1-127 bytes of `[A-Za-z0-9%_|-]` (retry and DLQ topics
/// may be up to 255 since they embed a group name). The error text is sent back as a remark.
pub fn validate_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("The specified topic is blank.".to_string());
    }
    let max = if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX)
        || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
    {
        255
    } else {
        127
    };
    if topic.len() > max {
        return Err(format!(
            "The specified topic is longer than topic max length {max}."
        ));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '_' | '|' | '-')))
    {
        return Err(format!(
            "The specified topic[{topic}] contains illegal character {c:?}, allowing only ^[%|a-zA-Z0-9_-]+$"
        ));
    }
    Ok(())
}

/// SINGLE_TAG or MULTI_TAG (RocketMQ's TopicFilterType).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TopicFilterType {
    /// One tag per message (the default).
    #[default]
    #[serde(rename = "SINGLE_TAG")]
    SingleTag,
    /// Multiple tags (sets MULTI_TAGS_FLAG on stored messages).
    #[serde(rename = "MULTI_TAG")]
    MultiTag,
}

/// One topic's configuration, serialized with Java's field names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfig {
    /// Topic name.
    pub topic_name: String,
    /// Queues consumers read.
    pub read_queue_nums: i32,
    /// Queues producers write.
    pub write_queue_nums: i32,
    /// Permission bits (see `perm`).
    pub perm: i32,
    /// Tag filter type.
    #[serde(default)]
    pub topic_filter_type: TopicFilterType,
    /// Topic system flag bits.
    #[serde(default)]
    pub topic_sys_flag: i32,
    /// Ordered topic.
    #[serde(default)]
    pub order: bool,
    /// 5.x topic attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl TopicConfig {
    /// A topic with `queues` read and write queues and permission `perm`.
    pub fn new(name: impl Into<String>, queues: i32, perm: i32) -> TopicConfig {
        TopicConfig {
            topic_name: name.into(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
            attributes: BTreeMap::new(),
        }
    }
}

/// RocketMQ's DataVersion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct DataVersion {
    /// Change counter.
    pub counter: i64,
    /// State version (always 0 in Courier).
    #[serde(default)]
    pub state_version: i64,
    /// Time of the last change, ms since the epoch.
    pub timestamp: i64,
}

impl DataVersion {
    fn bump(&mut self) {
        self.counter += 1;
        self.timestamp = now_ms();
    }
}

/// The `TopicConfigSerializeWrapper` JSON (topics.json, GET_ALL_TOPIC_CONFIG, REGISTER_BROKER).
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    /// name → config, sorted so the file diffs well.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// The table's version.
    pub data_version: DataVersion,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a send could not get a topic config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicLookup {
    /// The topic exists (or was just auto-created; `created` says which).
    Found {
        /// The topic's config.
        config: Arc<TopicConfig>,
        /// True when this call created it.
        created: bool,
    },
    /// Unknown and not auto-creatable; the string is the remark for TOPIC_NOT_EXIST.
    NotExist(String),
}

struct Inner {
    table: HashMap<String, Arc<TopicConfig>>,
    data_version: DataVersion,
}

/// The broker's topic table. Share as `Arc<TopicConfigManager>`.
pub struct TopicConfigManager {
    file: persist::TableFile,
    /// `autoCreateTopicEnable`; UPDATE_BROKER_CONFIG may turn it on or off.
    auto_create: AtomicBool,
    inner: RwLock<Inner>,
    changed: Notify,
}

impl TopicConfigManager {
    /// Loads `config/topics.json` (or its .bak) and adds the system topics.
    pub fn load(config: &BrokerConfig) -> Result<TopicConfigManager, BrokerError> {
        let path = config.config_dir().join("topics.json");
        let loaded = persist::load(&path, |text| {
            serde_json::from_str::<TopicConfigSerializeWrapper>(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let mut table: HashMap<String, Arc<TopicConfig>> = loaded
            .topic_config_table
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        let rw = perm::READ | perm::WRITE;
        let mut system = vec![
            TopicConfig::new(SELF_TEST_TOPIC, 1, rw),
            TopicConfig::new(config.broker_cluster_name.clone(), 1, rw | perm::INHERIT),
            TopicConfig::new(config.broker_name.clone(), 1, rw | perm::INHERIT),
            TopicConfig::new(OFFSET_MOVED_EVENT, 1, rw),
            TopicConfig::new(SCHEDULE_TOPIC, 18, rw),
            TopicConfig::new(TRANS_HALF_TOPIC, 1, rw),
            TopicConfig::new(TRANS_OP_HALF_TOPIC, 1, rw),
            TopicConfig::new(reply_topic(&config.broker_cluster_name), 1, rw),
        ];
        if config.auto_create_topic_enable {
            system.push(TopicConfig::new(
                AUTO_CREATE_TOPIC_KEY,
                config.default_topic_queue_nums,
                rw | perm::INHERIT,
            ));
        }
        for t in system {
            table
                .entry(t.topic_name.clone())
                .or_insert_with(|| Arc::new(t));
        }
        let mut data_version = loaded.data_version;
        if data_version.timestamp == 0 {
            data_version.timestamp = now_ms();
        }
        Ok(TopicConfigManager {
            file: persist::TableFile::new(path),
            auto_create: AtomicBool::new(config.auto_create_topic_enable),
            inner: RwLock::new(Inner {
                table,
                data_version,
            }),
            changed: Notify::new(),
        })
    }

    /// Notified after every change (the registration loop waits on it).
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    /// The topic's config, if it exists.
    pub fn get(&self, topic: &str) -> Option<Arc<TopicConfig>> {
        self.inner.read().table.get(topic).cloned()
    }

    /// Every topic with its queue count (the larger of its read and write queue numbers).
    pub fn queue_counts(&self) -> Vec<(String, i32)> {
        let inner = self.inner.read();
        inner
            .table
            .iter()
            .map(|(name, c)| (name.clone(), c.read_queue_nums.max(c.write_queue_nums)))
            .collect()
    }

    /// The current data version.
    pub fn data_version(&self) -> DataVersion {
        self.inner.read().data_version.clone()
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.inner.read().table.len()
    }

    /// True when there are no topics (never after `load`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the whole table in the wire/file shape.
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        let inner = self.inner.read();
        TopicConfigSerializeWrapper {
            topic_config_table: inner
                .table
                .iter()
                .map(|(k, v)| (k.clone(), TopicConfig::clone(v)))
                .collect(),
            data_version: inner.data_version.clone(),
        }
    }

    /// Resolves a send's topic, auto-creating it from `default_topic` when allowed.
    pub fn lookup_for_send(
        &self,
        topic: &str,
        default_topic: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
    ) -> Result<TopicLookup, BrokerError> {
        if let Some(c) = self.get(topic) {
            return Ok(TopicLookup::Found {
                config: c,
                created: false,
            });
        }
        let not_exist = || {
            TopicLookup::NotExist(format!(
                "topic[{topic}] not exist, apply first please! (autoCreateTopicEnable is off or the template {default_topic} cannot be inherited)"
            ))
        };
        if !self.auto_create.load(Ordering::Relaxed) {
            return Ok(not_exist());
        }
        let created = {
            let mut inner = self.inner.write();
            if let Some(c) = inner.table.get(topic) {
                return Ok(TopicLookup::Found {
                    config: c.clone(),
                    created: false,
                });
            }
            let template = match inner.table.get(default_topic) {
                Some(t) if perm::is_inherited(t.perm) => t.clone(),
                _ => return Ok(not_exist()),
            };
            let queues = client_queue_nums.min(template.write_queue_nums).max(1);
            let mut config = TopicConfig::new(topic, queues, template.perm & !perm::INHERIT);
            config.topic_sys_flag = topic_sys_flag;
            config.topic_filter_type = template.topic_filter_type;
            let config = Arc::new(config);
            inner.table.insert(topic.to_string(), config.clone());
            inner.data_version.bump();
            config
        };
        tracing::info!(topic, "auto-created topic from template {default_topic}");
        self.after_change()?;
        Ok(TopicLookup::Found {
            config: created,
            created: true,
        })
    }

    /// Creates the topic (e.g. a `%RETRY%group` topic) if it does not exist yet.
    pub fn create_if_absent(
        &self,
        topic: &str,
        queues: i32,
        perm_bits: i32,
    ) -> Result<Arc<TopicConfig>, BrokerError> {
        if let Some(c) = self.get(topic) {
            return Ok(c);
        }
        let config = {
            let mut inner = self.inner.write();
            if let Some(c) = inner.table.get(topic) {
                return Ok(c.clone());
            }
            let c = Arc::new(TopicConfig::new(topic, queues, perm_bits));
            inner.table.insert(topic.to_string(), c.clone());
            inner.data_version.bump();
            c
        };
        self.after_change()?;
        Ok(config)
    }

    /// Inserts or replaces a topic (UPDATE_AND_CREATE_TOPIC).
    pub fn update(&self, config: TopicConfig) -> Result<(), BrokerError> {
        {
            let mut inner = self.inner.write();
            inner
                .table
                .insert(config.topic_name.clone(), Arc::new(config));
            inner.data_version.bump();
        }
        self.after_change()
    }

    /// Removes a topic; returns whether it existed.
    pub fn delete(&self, topic: &str) -> Result<bool, BrokerError> {
        let existed = {
            let mut inner = self.inner.write();
            let existed = inner.table.remove(topic).is_some();
            if existed {
                inner.data_version.bump();
            }
            existed
        };
        if existed {
            self.after_change()?;
        }
        Ok(existed)
    }

    /// Turns topic auto-creation on or off while the broker runs. Turning it on creates the
    /// `TBW102` template (with `queues` queues) if the broker started without it, as producers
    /// look its route up to send to a topic that does not exist yet.
    pub fn set_auto_create(&self, on: bool, queues: i32) -> Result<(), BrokerError> {
        self.auto_create.store(on, Ordering::Relaxed);
        if on {
            let rw_inherit = perm::READ | perm::WRITE | perm::INHERIT;
            self.create_if_absent(AUTO_CREATE_TOPIC_KEY, queues, rw_inherit)?;
        }
        Ok(())
    }

    /// Something the name servers see besides the topics changed (the broker's permission, its
    /// name server list): a new data version, and the registration loop registers at once, as
    /// Java's broker does after such an UPDATE_BROKER_CONFIG.
    pub fn broker_changed(&self) -> Result<(), BrokerError> {
        self.inner.write().data_version.bump();
        self.after_change()
    }

    fn after_change(&self) -> Result<(), BrokerError> {
        // notify_one stores a permit when the registration loop is busy, so no change is missed.
        self.changed.notify_one();
        self.persist()
    }

    /// Writes topics.json (atomically, keeping a .bak).
    pub fn persist(&self) -> Result<(), BrokerError> {
        self.file.write_json(|| self.wrapper())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path, auto: bool) -> BrokerConfig {
        BrokerConfig {
            store_path_root_dir: dir.to_path_buf(),
            auto_create_topic_enable: auto,
            ..BrokerConfig::default()
        }
    }

    /// Topics created from several threads at once all reach topics.json: writes of the file
    /// take turns, and each writes the table as it is when its turn comes, so no write fails on
    /// another's temporary file and no older table replaces a newer one.
    #[test]
    fn concurrent_changes_all_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), true);
        let m = std::sync::Arc::new(TopicConfigManager::load(&cfg).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let m = std::sync::Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..40 {
                        m.create_if_absent(&format!("C{t}-{i}"), 4, 6)
                            .expect("every change is persisted");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let again = TopicConfigManager::load(&cfg).unwrap();
        for t in 0..8 {
            for i in 0..40 {
                assert!(again.get(&format!("C{t}-{i}")).is_some(), "C{t}-{i} lost");
            }
        }
    }

    #[test]
    fn system_topics_exist_after_load() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path(), true)).unwrap();
        for t in [
            AUTO_CREATE_TOPIC_KEY,
            SELF_TEST_TOPIC,
            "DefaultCluster",
            "broker-a",
            SCHEDULE_TOPIC,
            OFFSET_MOVED_EVENT,
            "DefaultCluster_REPLY_TOPIC",
        ] {
            assert!(m.get(t).is_some(), "{t} missing");
        }
        assert_eq!(m.get(SCHEDULE_TOPIC).unwrap().read_queue_nums, 18);
        assert_eq!(m.get(AUTO_CREATE_TOPIC_KEY).unwrap().perm, 7);
        let off = TopicConfigManager::load(&config(dir.path(), false)).unwrap();
        assert!(off.get(AUTO_CREATE_TOPIC_KEY).is_none());
    }

    #[test]
    fn auto_create_inherits_from_template_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path(), true)).unwrap();
        let v0 = m.data_version().counter;
        match m
            .lookup_for_send("T1", AUTO_CREATE_TOPIC_KEY, 16, 0)
            .unwrap()
        {
            TopicLookup::Found { config, created } => {
                assert!(created);
                assert_eq!(config.write_queue_nums, 4, "capped by template queues");
                assert_eq!(config.perm, 6, "INHERIT dropped");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.data_version().counter, v0 + 1);
        match m
            .lookup_for_send("T1", AUTO_CREATE_TOPIC_KEY, 16, 0)
            .unwrap()
        {
            TopicLookup::Found { created, .. } => assert!(!created),
            other => panic!("{other:?}"),
        }
        let reloaded = TopicConfigManager::load(&config(dir.path(), true)).unwrap();
        assert_eq!(reloaded.get("T1").unwrap().write_queue_nums, 4);
        assert_eq!(reloaded.data_version().counter, v0 + 1);
        let text = std::fs::read_to_string(dir.path().join("config/topics.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["topicConfigTable"]["T1"]["topicFilterType"], "SINGLE_TAG");
        assert_eq!(v["topicConfigTable"]["T1"]["readQueueNums"], 4);
        assert!(v["dataVersion"]["counter"].is_i64());
    }

    #[test]
    fn no_auto_create_when_disabled_or_template_not_inheritable() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path(), false)).unwrap();
        assert!(matches!(
            m.lookup_for_send("T1", AUTO_CREATE_TOPIC_KEY, 4, 0)
                .unwrap(),
            TopicLookup::NotExist(_)
        ));
        let dir2 = tempfile::tempdir().unwrap();
        let m2 = TopicConfigManager::load(&config(dir2.path(), true)).unwrap();
        m2.update(TopicConfig::new("Plain", 2, 6)).unwrap();
        assert!(matches!(
            m2.lookup_for_send("T2", "Plain", 4, 0).unwrap(),
            TopicLookup::NotExist(_)
        ));
    }

    #[test]
    fn topic_name_rules() {
        assert!(validate_topic_name("Topic_A-1|x%").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"a".repeat(127)).is_ok());
        assert!(validate_topic_name(&"a".repeat(128)).is_err());
        assert!(validate_topic_name(&format!("%RETRY%{}", "g".repeat(200))).is_ok());
        assert!(is_not_allowed_send_topic(SCHEDULE_TOPIC));
        assert!(!is_not_allowed_send_topic("TopicTest"));
    }

    #[test]
    fn delete_and_update_bump_version() {
        let dir = tempfile::tempdir().unwrap();
        let m = TopicConfigManager::load(&config(dir.path(), true)).unwrap();
        let v = m.data_version().counter;
        m.update(TopicConfig::new("X", 8, 6)).unwrap();
        assert!(m.delete("X").unwrap());
        assert!(!m.delete("X").unwrap());
        assert_eq!(m.data_version().counter, v + 2);
    }
}
