//! The name server's KV config (PUT/GET/DELETE_KV_CONFIG,
//! GET_KVLIST_BY_NAMESPACE): namespace → key → value, persisted as Java's
//! `kvConfig.json` (`{"configTable":{ns:{k:v}}}`).
//!
//! Every change is written to disk before it is acknowledged, through a
//! temporary file renamed over the old one so a crash leaves either the old or
//! the new file, never a torn one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::NamesrvError;

type Table = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct KvFile {
    config_table: Table,
}

/// KV config with its file.
#[derive(Debug)]
pub struct KvConfig {
    path: PathBuf,
    table: Mutex<Table>,
}

impl KvConfig {
    /// Loads `path` (a missing file is an empty config).
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, NamesrvError> {
        let path = path.into();
        let table = match std::fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Table::new(),
            Ok(bytes) => {
                let file: KvFile =
                    serde_json::from_slice(&bytes).map_err(|e| NamesrvError::KvConfigParse {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                file.config_table
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Table::new(),
            Err(source) => return Err(NamesrvError::KvConfigIo { path, source }),
        };
        Ok(KvConfig {
            path,
            table: Mutex::new(table),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets a value and persists.
    pub fn put(&self, namespace: &str, key: &str, value: &str) -> Result<(), NamesrvError> {
        let mut t = self.table.lock();
        t.entry(namespace.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        self.persist(&t)
    }

    /// Removes a value (if present) and persists.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<(), NamesrvError> {
        let mut t = self.table.lock();
        let removed = match t.get_mut(namespace) {
            Some(ns) => {
                let r = ns.remove(key).is_some();
                if ns.is_empty() {
                    t.remove(namespace);
                }
                r
            }
            None => false,
        };
        if removed {
            self.persist(&t)
        } else {
            Ok(())
        }
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<String> {
        self.table
            .lock()
            .get(namespace)
            .and_then(|ns| ns.get(key))
            .cloned()
    }

    /// Every key of a namespace.
    pub fn namespace(&self, namespace: &str) -> Option<BTreeMap<String, String>> {
        self.table.lock().get(namespace).cloned()
    }

    fn persist(&self, table: &Table) -> Result<(), NamesrvError> {
        let io = |source| NamesrvError::KvConfigIo {
            path: self.path.clone(),
            source,
        };
        let file = KvFile {
            config_table: table.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
        // Synced before it replaces the old file: one that does not parse stops the name server
        // at start.
        courier_durable_file::replace(&self.path, &bytes, None).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvConfig.json");
        let kv = KvConfig::load(&path).unwrap();
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4").unwrap();
        kv.put("ns", "k", "v").unwrap();
        kv.delete("ns", "k").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("configTable"), "{text}");
        let again = KvConfig::load(&path).unwrap();
        assert_eq!(
            again.get("ORDER_TOPIC_CONFIG", "T").as_deref(),
            Some("broker-a:4")
        );
        assert!(again.namespace("ns").is_none());
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kvConfig.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = KvConfig::load(&path).unwrap_err();
        assert!(err.to_string().contains("kvConfig.json"), "{err}");
    }
}
