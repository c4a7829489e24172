//! The name server settings an operator may change while it runs (UPDATE_NAMESRV_CONFIG:
//! `mqadmin updateNamesrvConfig`) and what GET_NAMESRV_CONFIG reports, under Java's key names:
//!
//! - `orderMessageEnable`: routes carry `orderTopicConf` from the ORDER_TOPIC_CONFIG KV namespace;
//! - `enableAllTopicList`: GET_ALL_TOPIC_LIST_FROM_NAMESERVER is answered (else SYSTEM_ERROR
//!   "disable", as Java's: the list can be large and some sites switch it off);
//! - `enableTopicList`: GET_TOPICS_BY_CLUSTER is answered (same);
//! - `scanNotActiveBrokerInterval`: milliseconds between looks for expired brokers (the next
//!   look uses the new value).
//!
//! Read-only keys are reported too (`kvConfigPath`, `configBlackList`). Keys in
//! `configBlackList` are refused with NO_PERMISSION, as Java refuses them; an unknown key or a
//! value that does not parse is refused with the keys that can change, and then nothing changes
//! (Java ignores unknown keys silently). Changes last until the name server stops: `courier
//! namesrv` takes its settings from flags, and there is no file to write them back to.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::config::NamesrvConfig;

/// Keys an update may never touch (Java's default `configBlackList`).
pub const CONFIG_BLACK_LIST: &str = "configBlackList;configStorePath;kvConfigPath";

/// The keys UPDATE_NAMESRV_CONFIG changes.
pub const UPDATABLE: [&str; 4] = [
    "enableAllTopicList",
    "enableTopicList",
    "orderMessageEnable",
    "scanNotActiveBrokerInterval",
];

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A key of the black list (NO_PERMISSION).
    BlackListed,
    /// An unknown key or a bad value (INVALID_PARAMETER), with the reason.
    Invalid(String),
}

/// The live settings.
#[derive(Debug)]
pub struct Settings {
    kv_config_path: String,
    order_message_enable: AtomicBool,
    enable_all_topic_list: AtomicBool,
    enable_topic_list: AtomicBool,
    scan_interval_ms: AtomicU64,
}

impl Settings {
    /// The settings a name server starts with.
    pub fn new(config: &NamesrvConfig) -> Self {
        Settings {
            kv_config_path: config.kv_config_path().display().to_string(),
            order_message_enable: AtomicBool::new(config.order_message_enable),
            enable_all_topic_list: AtomicBool::new(true),
            enable_topic_list: AtomicBool::new(true),
            scan_interval_ms: AtomicU64::new(
                u64::try_from(config.scan_interval.as_millis()).unwrap_or(u64::MAX),
            ),
        }
    }

    pub fn order_message_enable(&self) -> bool {
        self.order_message_enable.load(Ordering::Relaxed)
    }

    pub fn enable_all_topic_list(&self) -> bool {
        self.enable_all_topic_list.load(Ordering::Relaxed)
    }

    pub fn enable_topic_list(&self) -> bool {
        self.enable_topic_list.load(Ordering::Relaxed)
    }

    /// Between looks for expired brokers (at least 100 ms).
    pub fn scan_interval(&self) -> Duration {
        Duration::from_millis(self.scan_interval_ms.load(Ordering::Relaxed).max(100))
    }

    /// Every key and its value, as GET_NAMESRV_CONFIG reports them.
    pub fn all(&self) -> BTreeMap<String, String> {
        [
            ("configBlackList", CONFIG_BLACK_LIST.to_string()),
            (
                "enableAllTopicList",
                self.enable_all_topic_list().to_string(),
            ),
            ("enableTopicList", self.enable_topic_list().to_string()),
            ("kvConfigPath", self.kv_config_path.clone()),
            (
                "orderMessageEnable",
                self.order_message_enable().to_string(),
            ),
            (
                "scanNotActiveBrokerInterval",
                self.scan_interval_ms.load(Ordering::Relaxed).to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Applies `changes` all or nothing; returns the keys whose value changed.
    pub fn update(&self, changes: &BTreeMap<String, String>) -> Result<Vec<String>, Refusal> {
        if changes
            .keys()
            .any(|k| CONFIG_BLACK_LIST.split(';').any(|b| b == k))
        {
            return Err(Refusal::BlackListed);
        }
        let flag = |k: &str, v: &str| -> Result<bool, Refusal> {
            v.trim()
                .parse::<bool>()
                .map_err(|_| Refusal::Invalid(format!("{k} takes true or false, not {v:?}")))
        };
        // Check everything before changing anything.
        let mut parsed = Vec::new();
        for (k, v) in changes {
            let value = match k.as_str() {
                "scanNotActiveBrokerInterval" => match v.trim().parse::<u64>() {
                    Ok(ms) if ms >= 100 => Value::Millis(ms),
                    _ => {
                        return Err(Refusal::Invalid(format!(
                            "scanNotActiveBrokerInterval takes milliseconds, 100 or more, not {v:?}"
                        )))
                    }
                },
                "enableAllTopicList" | "enableTopicList" | "orderMessageEnable" => {
                    Value::Flag(flag(k, v)?)
                }
                _ => {
                    return Err(Refusal::Invalid(format!(
                        "unknown key {k}; the name server can change {}",
                        UPDATABLE.join(", ")
                    )))
                }
            };
            parsed.push((k.as_str(), value));
        }
        let mut changed = Vec::new();
        for (k, value) in parsed {
            let before = match (k, value) {
                ("scanNotActiveBrokerInterval", Value::Millis(ms)) => {
                    self.scan_interval_ms.swap(ms, Ordering::Relaxed) != ms
                }
                ("enableAllTopicList", Value::Flag(b)) => {
                    self.enable_all_topic_list.swap(b, Ordering::Relaxed) != b
                }
                ("enableTopicList", Value::Flag(b)) => {
                    self.enable_topic_list.swap(b, Ordering::Relaxed) != b
                }
                ("orderMessageEnable", Value::Flag(b)) => {
                    self.order_message_enable.swap(b, Ordering::Relaxed) != b
                }
                _ => false,
            };
            if before {
                changed.push(k.to_string());
            }
        }
        Ok(changed)
    }
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Flag(bool),
    Millis(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::new(&NamesrvConfig::new("/tmp/ns"))
    }

    fn one(k: &str, v: &str) -> BTreeMap<String, String> {
        [(k.to_string(), v.to_string())].into()
    }

    #[test]
    fn updates_apply_all_or_nothing() {
        let s = settings();
        assert_eq!(
            s.update(&one("enableAllTopicList", "false")),
            Ok(vec!["enableAllTopicList".into()])
        );
        assert!(!s.enable_all_topic_list());
        assert_eq!(s.update(&one("enableAllTopicList", "false")), Ok(vec![]));
        let mut both = one("orderMessageEnable", "true");
        both.insert("scanNotActiveBrokerInterval".into(), "nope".into());
        assert!(matches!(s.update(&both), Err(Refusal::Invalid(m)) if m.contains("milliseconds")));
        assert!(
            !s.order_message_enable(),
            "nothing changes when one value is bad"
        );
        assert_eq!(
            s.update(&one("scanNotActiveBrokerInterval", "2000")),
            Ok(vec!["scanNotActiveBrokerInterval".into()])
        );
        assert_eq!(s.scan_interval(), Duration::from_secs(2));
        assert_eq!(s.all()["scanNotActiveBrokerInterval"], "2000");
    }

    #[test]
    fn black_listed_and_unknown_keys_are_refused() {
        let s = settings();
        assert_eq!(
            s.update(&one("kvConfigPath", "/x")),
            Err(Refusal::BlackListed)
        );
        assert!(
            matches!(s.update(&one("listenPort", "1")), Err(Refusal::Invalid(m)) if m.contains("orderMessageEnable"))
        );
        assert!(matches!(
            s.update(&one("enableTopicList", "yes")),
            Err(Refusal::Invalid(_))
        ));
        assert!(s.all()["kvConfigPath"].ends_with("kvConfig.json"));
    }
}
