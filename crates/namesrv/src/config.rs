//! Name server settings.

use std::path::PathBuf;
use std::time::Duration;

use courier_remoting::ConnectionConfig;

/// Settings of one name server.
#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    /// Directory holding `kvConfig.json`.
    pub data_dir: PathBuf,
    /// A broker not re-registered for this long is dropped (Java: 120 s).
    pub broker_expiry: Duration,
    /// How often expired brokers are looked for (Java: 5 s).
    pub scan_interval: Duration,
    /// Include `orderTopicConf` from the ORDER_TOPIC_CONFIG KV namespace in
    /// routes (Java's `orderMessageEnable`, default false).
    pub order_message_enable: bool,
    pub connection: ConnectionConfig,
}

impl NamesrvConfig {
    /// Defaults matching Java's name server, storing data under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NamesrvConfig {
            data_dir: data_dir.into(),
            broker_expiry: Duration::from_secs(120),
            scan_interval: Duration::from_secs(5),
            order_message_enable: false,
            connection: ConnectionConfig::default(),
        }
    }

    /// Where the KV config is persisted.
    pub fn kv_config_path(&self) -> PathBuf {
        self.data_dir.join("kvConfig.json")
    }
}
