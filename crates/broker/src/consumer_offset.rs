//! Committed consumer offsets: `topic@group` → queue id → next offset to consume, persisted to
//! `<storePathRootDir>/config/consumerOffset.json` every `flushConsumerOffsetInterval` (5 s) and on
//! shutdown.
//!
//! File shape: `{"offsetTable":{"topic@group":{"0":12,"1":7}}}`. Courier WRITES standard JSON
//! (queue ids as quoted keys), which Java's fastjson also reads; it READS both that and the
//! fastjson form with unquoted numeric keys (`{0:12}`) that Java brokers write, so a store dir
//! from a Java broker carries over.
//!
//! Invariants: lookups and commits do not allocate (topic → group → queue maps looked up by
//! `&str`); `persist` skips the write when nothing changed since the last one; an offset is
//! whatever the client committed last (RocketMQ does not enforce monotonicity: resets go back).
//!
//! Server-side offset resets (RocketMQ 5's INVOKE_BROKER_TO_RESET_OFFSET): `assign_reset` commits
//! the new offset and keeps it pending until the group's next pull of that queue takes it
//! (`take_reset`: the pull answers PULL_OFFSET_MOVED to it). Meanwhile commits from clients
//! (`commit_from_client`), which still hold their old offsets in memory, are ignored. Pending
//! resets live in memory only; a flag keeps the lock off the pull and commit paths when none is.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::json_compat::quote_numeric_keys;
use crate::persist;

type QueueOffsets = HashMap<i32, i64>;

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Wrapper {
    #[serde(default)]
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

/// The offset table. Share as `Arc<ConsumerOffsetManager>`.
pub struct ConsumerOffsetManager {
    file: persist::TableFile,
    /// topic → group → queue → offset.
    table: RwLock<HashMap<String, HashMap<String, QueueOffsets>>>,
    dirty: AtomicBool,
    /// topic → group → queue → offset a reset moved it to, until the group's next pull of it
    /// (looked up by `&str`, like `table`: the pull and commit paths do not allocate).
    resets: Mutex<HashMap<String, HashMap<String, QueueOffsets>>>,
    /// True while `resets` may hold anything: the common case skips its lock.
    has_resets: AtomicBool,
}

impl ConsumerOffsetManager {
    /// Loads `config/consumerOffset.json` (or its .bak), accepting fastjson's unquoted keys.
    pub fn load(config: &BrokerConfig) -> Result<Self, BrokerError> {
        let path = config.config_dir().join("consumerOffset.json");
        let loaded = persist::load(&path, |text| {
            serde_json::from_str::<Wrapper>(&quote_numeric_keys(text)).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let mut table: HashMap<String, HashMap<String, QueueOffsets>> = HashMap::new();
        for (key, queues) in loaded.offset_table {
            let Some((topic, group)) = key.split_once('@') else {
                tracing::warn!(key, "skipping consumerOffset.json key without '@'");
                continue;
            };
            table
                .entry(topic.to_string())
                .or_default()
                .insert(group.to_string(), queues.into_iter().collect());
        }
        Ok(ConsumerOffsetManager {
            file: persist::TableFile::new(path),
            table: RwLock::new(table),
            dirty: AtomicBool::new(false),
            resets: Mutex::new(HashMap::new()),
            has_resets: AtomicBool::new(false),
        })
    }

    /// Stores `offset` as the group's committed offset for the queue.
    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        {
            let mut table = self.table.write();
            let groups = match table.get_mut(topic) {
                Some(g) => g,
                None => table.entry(topic.to_string()).or_default(),
            };
            let queues = match groups.get_mut(group) {
                Some(q) => q,
                None => groups.entry(group.to_string()).or_default(),
            };
            queues.insert(queue_id, offset);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// A client's commit (UPDATE_CONSUMER_OFFSET, or a pull's commit offset): stored unless a
    /// reset of that queue is pending, which the client does not know of yet. Returns whether
    /// it was stored.
    pub fn commit_from_client(&self, group: &str, topic: &str, queue_id: i32, offset: i64) -> bool {
        if self.reset_pending(group, topic, queue_id) {
            return false;
        }
        self.commit(group, topic, queue_id, offset);
        true
    }

    /// Moves the group's offset for the queue to `offset` now and keeps it pending for the
    /// group's next pull of the queue (module docs).
    pub fn assign_reset(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        {
            let mut resets = self.resets.lock();
            resets
                .entry(topic.to_string())
                .or_default()
                .entry(group.to_string())
                .or_default()
                .insert(queue_id, offset);
            self.has_resets.store(true, Ordering::Release);
        }
        self.commit(group, topic, queue_id, offset);
    }

    /// True while a reset of the queue waits for the group's next pull.
    pub fn reset_pending(&self, group: &str, topic: &str, queue_id: i32) -> bool {
        if !self.has_resets.load(Ordering::Acquire) {
            return false;
        }
        self.resets
            .lock()
            .get(topic)
            .and_then(|groups| groups.get(group))
            .is_some_and(|q| q.contains_key(&queue_id))
    }

    /// The offset a pending reset moved the queue to, removing it (the group's pull takes it).
    pub fn take_reset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        if !self.has_resets.load(Ordering::Acquire) {
            return None;
        }
        let mut resets = self.resets.lock();
        let groups = resets.get_mut(topic)?;
        let queues = groups.get_mut(group)?;
        let offset = queues.remove(&queue_id)?;
        if queues.is_empty() {
            groups.remove(group);
            if groups.is_empty() {
                resets.remove(topic);
                if resets.is_empty() {
                    self.has_resets.store(false, Ordering::Release);
                }
            }
        }
        Some(offset)
    }

    /// The group's committed offset for the queue, if any.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table
            .read()
            .get(topic)?
            .get(group)?
            .get(&queue_id)
            .copied()
    }

    /// All (queue id, offset) pairs of a group on a topic, sorted by queue id.
    pub fn query_all(&self, group: &str, topic: &str) -> Vec<(i32, i64)> {
        let mut v: Vec<(i32, i64)> = self
            .table
            .read()
            .get(topic)
            .and_then(|g| g.get(group))
            .map(|q| q.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// The sum of each (group, topic)'s committed offsets: how far it has consumed in all.
    pub fn totals(&self) -> Vec<((String, String), u64)> {
        let table = self.table.read();
        let mut out = Vec::new();
        for (topic, groups) in table.iter() {
            for (group, queues) in groups {
                let total = queues.values().map(|o| (*o).max(0) as u64).sum();
                out.push(((group.clone(), topic.clone()), total));
            }
        }
        out
    }

    /// Groups that have committed offsets for `topic`.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.table
            .read()
            .get(topic)
            .map(|groups| groups.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Topics the group has committed offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.table
            .read()
            .iter()
            .filter(|(_, groups)| groups.contains_key(group))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Gives `dest` the offsets `src` has committed for `topic` (replacing what `dest` had there);
    /// returns how many queues were copied (0: `src` has none, and `dest` is left alone).
    pub fn clone_offsets(&self, src: &str, dest: &str, topic: &str) -> usize {
        let mut table = self.table.write();
        let Some(groups) = table.get_mut(topic) else {
            return 0;
        };
        let Some(offsets) = groups.get(src).cloned() else {
            return 0;
        };
        let copied = offsets.len();
        groups.insert(dest.to_string(), offsets);
        self.dirty.store(true, Ordering::Release);
        copied
    }

    /// Drops every offset of a topic (topic deletion).
    pub fn remove_topic(&self, topic: &str) {
        if self.table.write().remove(topic).is_some() {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// The file contents Courier writes.
    pub fn encode(&self) -> String {
        let table = self.table.read();
        let mut wrapper = Wrapper::default();
        for (topic, groups) in table.iter() {
            for (group, queues) in groups {
                wrapper.offset_table.insert(
                    format!("{topic}@{group}"),
                    queues.iter().map(|(k, v)| (*k, *v)).collect(),
                );
            }
        }
        serde_json::to_string_pretty(&wrapper).unwrap_or_else(|_| "{}".to_string())
    }

    /// Writes consumerOffset.json if anything changed since the last write.
    pub fn persist(&self) -> Result<bool, BrokerError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        if let Err(e) = self.file.write(|| self.encode().into_bytes()) {
            self.dirty.store(true, Ordering::Release);
            return Err(e);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_reset_holds_off_client_commits_until_a_pull_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            store_path_root_dir: dir.path().to_path_buf(),
            ..BrokerConfig::default()
        };
        let m = ConsumerOffsetManager::load(&config).unwrap();
        assert!(m.commit_from_client("g", "t", 0, 50));
        m.assign_reset("g", "t", 0, 3);
        assert_eq!(m.query("g", "t", 0), Some(3));
        assert!(m.reset_pending("g", "t", 0));
        assert!(!m.reset_pending("g", "t", 1));
        assert!(!m.reset_pending("other", "t", 0));
        // The client still thinks it is at 50: ignored.
        assert!(!m.commit_from_client("g", "t", 0, 51));
        assert_eq!(m.query("g", "t", 0), Some(3));
        assert!(
            m.commit_from_client("g", "t", 1, 9),
            "other queues are not held"
        );
        assert_eq!(m.take_reset("g", "t", 0), Some(3));
        assert_eq!(m.take_reset("g", "t", 0), None);
        assert!(!m.has_resets.load(Ordering::Acquire));
        assert!(m.commit_from_client("g", "t", 0, 4));
        assert_eq!(m.query("g", "t", 0), Some(4));
    }

    fn cfg(dir: &std::path::Path) -> BrokerConfig {
        BrokerConfig {
            store_path_root_dir: dir.to_path_buf(),
            ..BrokerConfig::default()
        }
    }

    #[test]
    fn commit_query_persist_reload() {
        let dir = tempfile::tempdir().unwrap();
        let m = ConsumerOffsetManager::load(&cfg(dir.path())).unwrap();
        assert_eq!(m.query("g", "t", 0), None);
        assert!(!m.persist().unwrap(), "nothing to write yet");
        m.commit("g", "t", 0, 12);
        m.commit("g", "t", 1, 7);
        m.commit("g", "t", 0, 13);
        m.commit("g2", "t", 0, 1);
        assert_eq!(m.query("g", "t", 0), Some(13));
        assert_eq!(m.query_all("g", "t"), vec![(0, 13), (1, 7)]);
        assert!(m.persist().unwrap());
        assert!(!m.persist().unwrap(), "clean after write");
        let text = std::fs::read_to_string(dir.path().join("config/consumerOffset.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["offsetTable"]["t@g"]["0"], 13);
        let again = ConsumerOffsetManager::load(&cfg(dir.path())).unwrap();
        assert_eq!(again.query("g", "t", 1), Some(7));
        assert_eq!(again.query("g2", "t", 0), Some(1));
    }

    #[test]
    fn reads_fastjson_unquoted_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/consumerOffset.json"),
            r#"{"offsetTable":{"TopicTest@cg":{0:12,1:456},"%RETRY%cg@cg":{0:0}}}"#,
        )
        .unwrap();
        let m = ConsumerOffsetManager::load(&cfg(dir.path())).unwrap();
        assert_eq!(m.query("cg", "TopicTest", 1), Some(456));
        assert_eq!(m.query("cg", "%RETRY%cg", 0), Some(0));
        assert_eq!(m.topics_of_group("cg").len(), 2);
    }
}
