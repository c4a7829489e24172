//! `LiveConfig`: the broker's configuration while it runs, and UPDATE_BROKER_CONFIG's changes
//! to it.
//!
//! Invariants:
//! - A reader gets one whole `BrokerConfig` (`get`), never a mix of values from before and after
//!   an update; an update replaces the config whole, and updates run one at a time.
//! - An update applies every key it names or none: an unknown key, a black-listed one
//!   (`configBlackList`, RocketMQ's NO_PERMISSION), a value of the wrong type or out of range
//!   (checked by `BrokerConfig::validate`, as at start) refuses the whole update.
//! - Keys in `APPLIED_AT_ONCE` are read where they are used, on each request or each round of a
//!   background loop, so a new value takes effect at once. Every other key (the store's layout
//!   and flushing, ports, names, paths, the delay levels ...) is used only while the broker
//!   starts: such a change goes to the config file for the next start and the running value,
//!   which is what GET_BROKER_CONFIG shows, stays as it is. Without a config file (a broker
//!   started from flags and defaults) nothing would keep such a change, so it is refused. A
//!   start-only key is compared with what the next start will run with (an earlier update may
//!   have saved another value), so setting it back to the running value rewrites the file.
//! - With a config file, every changed key is written into it before the new config is
//!   published (only those keys; the operator's comments, order and other keys stay), so a
//!   restart runs with what the running broker answered. Flags given at start still override the
//!   file, as they always do. When the file cannot be written, keys applied at once still apply
//!   and the answer says the file was not updated.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::config::BrokerConfig;

/// Keys whose new value the running broker uses at once (see the module doc).
pub const APPLIED_AT_ONCE: &[&str] = &[
    "brokerPermission",
    "autoCreateTopicEnable",
    "autoCreateSubscriptionGroup",
    "namesrvAddr",
    "registerBrokerTimeoutMills",
    "registerNameServerPeriod",
    "maxMessageSize",
    "longPollingEnable",
    "shortPollingTimeMills",
    "maxTransferCountOnMessageInMemory",
    "maxTransferBytesOnMessageInMemory",
    "enablePropertyFilter",
    "storeReplyMessageEnable",
    "useServerSideResetOffset",
    "timerWheelEnable",
    "timerMaxDelaySec",
    "transactionTimeOut",
    "transactionCheckMax",
    "transactionCheckInterval",
    "flushConsumerOffsetInterval",
    "channelExpiredTimeout",
    "regionId",
    "traceOn",
];

/// Why an update was refused (nothing changed).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpdateRefused {
    /// The key is in `configBlackList`.
    #[error("Can not update config in black list.")]
    BlackListed(String),
    /// Not a broker configuration key.
    #[error("unknown broker config key {0:?}; GET_BROKER_CONFIG (`courier mqadmin broker-config`) lists the keys")]
    Unknown(String),
    /// The value does not fit the key.
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: String, reason: String },
    /// Start-only keys, and no config file to keep them in.
    #[error(
        "{} only take(s) effect when the broker starts, and this broker was started without a \
         config file to keep the change in; start it with --config FILE, or set the key there",
        .0.join(", ")
    )]
    NeedsFile(Vec<String>),
}

/// What an accepted update did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// Changed keys the running broker uses from now on.
    pub applied: Vec<String>,
    /// Changed keys written to the config file for the next start.
    pub at_next_start: Vec<String>,
    /// Keys given with the value they already had.
    pub unchanged: Vec<String>,
    /// The file the changes were written to, if any.
    pub saved_to: Option<PathBuf>,
    /// Why the file could not be written, if it could not.
    pub not_saved: Option<String>,
}

impl Updated {
    /// Whether `key` changed and applies now.
    pub fn applied(&self, key: &str) -> bool {
        self.applied.iter().any(|k| k == key)
    }

    /// One line for the operator (the response's remark).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.applied.is_empty() {
            parts.push(format!("applied now: {}", self.applied.join(", ")));
        }
        if !self.at_next_start.is_empty() {
            parts.push(format!(
                "applied at the next start: {}",
                self.at_next_start.join(", ")
            ));
        }
        if !self.unchanged.is_empty() {
            parts.push(format!("unchanged: {}", self.unchanged.join(", ")));
        }
        match (&self.saved_to, &self.not_saved) {
            (Some(path), _) => parts.push(format!("saved to {}", path.display())),
            (None, Some(why)) => parts.push(format!("NOT saved: {why}")),
            (None, None) if !self.applied.is_empty() => {
                parts.push("not saved (the broker was started without a config file)".into())
            }
            _ => {}
        }
        parts.join("; ")
    }
}

/// The running configuration. See the module doc.
pub struct LiveConfig {
    current: ArcSwap<BrokerConfig>,
    file: OnceLock<PathBuf>,
    /// Start-only keys written to the file whose value differs from the running one: what the
    /// next start will run with. Held while an update runs, so updates go one at a time.
    next_start: Mutex<toml::Table>,
    /// DataVersion of the configuration: bumped by every update that changed something.
    counter: AtomicU64,
    changed_ms: AtomicI64,
}

impl LiveConfig {
    /// The configuration the broker starts with.
    pub fn new(config: BrokerConfig) -> LiveConfig {
        LiveConfig {
            current: ArcSwap::from_pointee(config),
            file: OnceLock::new(),
            next_start: Mutex::new(toml::Table::new()),
            counter: AtomicU64::new(0),
            changed_ms: AtomicI64::new(now_ms()),
        }
    }

    /// The configuration now. Cheap (no lock, no reference count in the common case); hold it
    /// for one request or one round, not longer, so that updates are seen.
    pub fn get(&self) -> arc_swap::Guard<Arc<BrokerConfig>> {
        self.current.load()
    }

    /// The configuration now, to keep for a whole request that awaits (a guard from `get` is
    /// for short reads): one `Arc` clone.
    pub fn snapshot(&self) -> Arc<BrokerConfig> {
        self.current.load_full()
    }

    /// Names the file the broker was started from; updates are written into it. Set once.
    pub fn save_changes_to(&self, path: PathBuf) {
        let _ = self.file.set(path);
    }

    /// The config file updates are written to, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.get().map(PathBuf::as_path)
    }

    /// The configuration's DataVersion as (counter, timestamp ms of the last change or start).
    pub fn version(&self) -> (u64, i64) {
        (
            self.counter.load(Ordering::Acquire),
            self.changed_ms.load(Ordering::Acquire),
        )
    }

    /// Applies `changes` (key, value as text); see the module doc for what applies when.
    pub fn update(&self, changes: &[(String, String)]) -> Result<Updated, UpdateRefused> {
        let mut next_start = self.next_start.lock();
        let now = self.current.load_full();
        let black_list = now.config_black_list.clone();
        // What the next start would run with: the running config and the start-only keys saved
        // since. A change is measured against it, so saving a start-only key back to its running
        // value is a change (the file holds the other value), not a no-op.
        let mut table = match toml::Table::try_from(&*now) {
            Ok(t) => t,
            Err(e) => {
                return Err(UpdateRefused::Invalid {
                    key: String::new(),
                    reason: format!("the running config could not be read back: {e}"),
                })
            }
        };
        let running_table = table.clone();
        table.extend(next_start.clone());
        let mut updated = Updated::default();
        // A key given twice counts once, with its last value (as `Properties.load` keeps it).
        let mut last: Vec<(&str, &str)> = Vec::new();
        for (k, v) in changes {
            let k = k.as_str();
            last.retain(|(seen, _)| *seen != k);
            last.push((k, v.as_str()));
        }
        for (key, text) in &last {
            if black_list.split(';').map(str::trim).any(|b| b == *key) {
                return Err(UpdateRefused::BlackListed((*key).to_string()));
            }
            if !is_key(key) {
                return Err(UpdateRefused::Unknown((*key).to_string()));
            }
            let value = typed(table.get(*key), text);
            if table.get(*key) == Some(&value) {
                updated.unchanged.push((*key).to_string());
                continue;
            }
            table.insert((*key).to_string(), value);
            if APPLIED_AT_ONCE.contains(key) {
                updated.applied.push((*key).to_string());
            } else {
                updated.at_next_start.push((*key).to_string());
            }
        }
        let wanted = BrokerConfig::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
            UpdateRefused::Invalid {
                key: last.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "),
                reason: e.to_string(),
            }
        })?;
        wanted.validate().map_err(|e| match e {
            crate::error::BrokerError::ConfigValue { key, reason } => UpdateRefused::Invalid {
                key: key.to_string(),
                reason,
            },
            other => UpdateRefused::Invalid {
                key: String::new(),
                reason: other.to_string(),
            },
        })?;
        if updated.applied.is_empty() && updated.at_next_start.is_empty() {
            return Ok(updated);
        }
        let file = self.file();
        if file.is_none() && !updated.at_next_start.is_empty() {
            return Err(UpdateRefused::NeedsFile(updated.at_next_start));
        }
        // The running config takes only the keys that apply now; start-only ones wait in the file.
        let mut new_running = running_table.clone();
        for k in &updated.applied {
            if let Some(v) = table.get(k) {
                new_running.insert(k.clone(), v.clone());
            }
        }
        let running = BrokerConfig::deserialize(toml::Value::Table(new_running)).map_err(|e| {
            UpdateRefused::Invalid {
                key: updated.applied.join(", "),
                reason: e.to_string(),
            }
        })?;
        if let Some(path) = file {
            let changed: Vec<(&str, &toml::Value)> = updated
                .applied
                .iter()
                .chain(&updated.at_next_start)
                .filter_map(|k| table.get(k).map(|v| (k.as_str(), v)))
                .collect();
            match write_keys(path, &changed) {
                Ok(()) => updated.saved_to = Some(path.to_path_buf()),
                // Keys that only the file would carry cannot be kept: refuse them all.
                Err(why) if !updated.at_next_start.is_empty() => {
                    return Err(UpdateRefused::Invalid {
                        key: updated.at_next_start.join(", "),
                        reason: format!("the config file could not be updated: {why}"),
                    })
                }
                Err(why) => updated.not_saved = Some(why),
            }
        }
        for k in &updated.at_next_start {
            match table.get(k) {
                Some(v) if running_table.get(k) != Some(v) => {
                    next_start.insert(k.clone(), v.clone());
                }
                _ => {
                    next_start.remove(k);
                }
            }
        }
        if !updated.applied.is_empty() {
            self.current.store(Arc::new(running));
            self.counter.fetch_add(1, Ordering::AcqRel);
            self.changed_ms.store(now_ms(), Ordering::Release);
        }
        Ok(updated)
    }
}

/// Whether `key` names a setting of `BrokerConfig` (an `Option` one included, which the
/// serialized defaults leave out).
fn is_key(key: &str) -> bool {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        // Every key, `Option` ones too: set them all to a value and read the names back.
        let mut all = toml::Table::try_from(BrokerConfig::default()).unwrap_or_default();
        for k in BrokerConfig::OPTIONAL_KEYS {
            all.insert((*k).to_string(), toml::Value::Integer(0));
        }
        all.keys().cloned().collect()
    })
    .iter()
    .any(|k| k == key)
}

/// `text` as a TOML value of the kind the key holds now; for an unset optional key, a number if
/// it reads as one, else the text.
fn typed(now: Option<&toml::Value>, text: &str) -> toml::Value {
    let t = text.trim();
    match now {
        Some(toml::Value::Boolean(_)) => match t.to_ascii_lowercase().as_str() {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => toml::Value::String(t.to_string()),
        },
        Some(toml::Value::Integer(_)) | None => match t.parse::<i64>() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(t.to_string()),
        },
        Some(toml::Value::Float(_)) => match t.parse::<f64>() {
            Ok(f) => toml::Value::Float(f),
            Err(_) => toml::Value::String(t.to_string()),
        },
        _ => toml::Value::String(text.to_string()),
    }
}

/// Sets `keys` in the TOML file at `path`, leaving the rest of it as it is, and replaces the
/// file atomically.
fn write_keys(path: &Path, keys: &[(&str, &toml::Value)]) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("{} is no longer valid TOML: {e}", path.display()))?;
    for (key, value) in keys {
        let item = match value {
            toml::Value::Boolean(b) => toml_edit::value(*b),
            toml::Value::Integer(n) => toml_edit::value(*n),
            toml::Value::Float(f) => toml_edit::value(*f),
            toml::Value::String(s) => toml_edit::value(s.as_str()),
            other => toml_edit::value(other.to_string()),
        };
        match doc.get_mut(key) {
            // Keep the operator's comments around a key they had written.
            Some(existing) if existing.is_value() => {
                let decor = existing.as_value().map(|v| v.decor().clone());
                *existing = item;
                if let (Some(decor), Some(v)) = (decor, existing.as_value_mut()) {
                    *v.decor_mut() = decor;
                }
            }
            _ => doc[*key] = item,
        }
    }
    courier_durable_file::replace(path, doc.to_string().as_bytes(), None)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.to_string(), v.to_string())]
    }

    #[test]
    fn every_key_applied_at_once_is_a_key() {
        for k in APPLIED_AT_ONCE {
            assert!(is_key(k), "{k} is not a broker config key");
        }
        assert!(is_key("haListenPort") && is_key("namesrvAddr"));
        assert!(!is_key("noSuchKey"));
    }

    #[test]
    fn a_key_applied_at_once_changes_the_running_config() {
        let live = LiveConfig::new(BrokerConfig::default());
        let before = live.version();
        let u = live.update(&change("brokerPermission", "4")).unwrap();
        assert_eq!(u.applied, vec!["brokerPermission"]);
        assert_eq!(live.get().broker_permission, 4);
        assert!(live.version().0 > before.0);
        let u = live.update(&change("brokerPermission", "4")).unwrap();
        assert_eq!(u.unchanged, vec!["brokerPermission"]);
    }

    #[test]
    fn refusals_change_nothing() {
        let live = LiveConfig::new(BrokerConfig::default());
        let both = |k: &str, v: &str| {
            vec![
                ("maxMessageSize".to_string(), "1024".to_string()),
                (k.to_string(), v.to_string()),
            ]
        };
        assert!(matches!(
            live.update(&both("noSuchKey", "1")),
            Err(UpdateRefused::Unknown(_))
        ));
        assert!(matches!(
            live.update(&both("configBlackList", "")),
            Err(UpdateRefused::BlackListed(_))
        ));
        let e = live.update(&both("brokerPermission", "9")).unwrap_err();
        assert!(e.to_string().contains("brokerPermission"), "{e}");
        let e = live.update(&both("longPollingEnable", "yes")).unwrap_err();
        assert!(matches!(e, UpdateRefused::Invalid { .. }), "{e}");
        let e = live
            .update(&both("flushDiskType", "SYNC_FLUSH"))
            .unwrap_err();
        assert!(matches!(e, UpdateRefused::NeedsFile(_)), "{e}");
        assert_eq!(live.get().max_message_size, 4 * 1024 * 1024);
        assert_eq!(live.version().0, 0);
    }

    #[test]
    fn the_file_gets_the_changed_keys_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.toml");
        let original =
            "# my broker\nbrokerName = \"b1\" # the name\n\n# permissions\nbrokerPermission = 6\n";
        std::fs::write(&path, original).unwrap();
        let live = LiveConfig::new(BrokerConfig::from_toml_str(original).unwrap());
        live.save_changes_to(path.clone());
        let u = live
            .update(&[
                ("brokerPermission".into(), "4".into()),
                ("flushDiskType".into(), "SYNC_FLUSH".into()),
                ("namesrvAddr".into(), "127.0.0.1:9876".into()),
            ])
            .unwrap();
        assert_eq!(u.applied, vec!["brokerPermission", "namesrvAddr"]);
        assert_eq!(u.at_next_start, vec!["flushDiskType"]);
        assert_eq!(u.saved_to.as_deref(), Some(path.as_path()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# my broker\nbrokerName = \"b1\" # the name\n"),
            "{text}"
        );
        assert!(
            text.contains("# permissions\nbrokerPermission = 4\n"),
            "{text}"
        );
        let next = BrokerConfig::from_toml_str(&text).unwrap();
        assert_eq!(next.broker_permission, 4);
        assert_eq!(
            next.flush_disk_type,
            crate::config::FlushDiskType::SyncFlush
        );
        assert_eq!(next.namesrv_addr.as_deref(), Some("127.0.0.1:9876"));
        // The running broker keeps its flush type until it restarts.
        assert_eq!(
            live.get().flush_disk_type,
            crate::config::FlushDiskType::AsyncFlush
        );
        assert_eq!(live.get().broker_permission, 4);
        // Changing it back to what runs is a change too: the file said SYNC_FLUSH.
        let u = live
            .update(&[("flushDiskType".into(), "ASYNC_FLUSH".into())])
            .unwrap();
        assert_eq!(u.at_next_start, vec!["flushDiskType"]);
        let text = std::fs::read_to_string(&path).unwrap();
        let next = BrokerConfig::from_toml_str(&text).unwrap();
        assert_eq!(
            next.flush_disk_type,
            crate::config::FlushDiskType::AsyncFlush
        );
        let u = live
            .update(&[("flushDiskType".into(), "ASYNC_FLUSH".into())])
            .unwrap();
        assert_eq!(u.unchanged, vec!["flushDiskType"]);
    }
}
