//! `BrokerConfig`: the broker's settings, read from a TOML file that uses RocketMQ's own key names
//! (`brokerName`, `listenPort`, `namesrvAddr`, ...), so an operator can carry a `broker.conf` over by
//! changing `key=value` into `key = value` (strings quoted).
//!
//! Invariants: every key has a default (an empty file is a valid config); an unknown key is an
//! error that names it (`deny_unknown_fields`), because a typo silently falling back to a default
//! is the worst failure mode for a config file. Durations keep RocketMQ's units (ms, or hours for
//! `fileReservedTime`) so values copied from Java configs mean the same thing.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// How the CommitLog is flushed before a send is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum FlushDiskType {
    /// Acknowledge after the page-cache write; a flush thread syncs in the background.
    #[default]
    #[serde(rename = "ASYNC_FLUSH")]
    AsyncFlush,
    /// Acknowledge after the record is on disk (group commit).
    #[serde(rename = "SYNC_FLUSH")]
    SyncFlush,
}

/// The broker's configuration. Field docs give the RocketMQ key and its default.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct BrokerConfig {
    /// `brokerName`: the broker group's name in routes (default "broker-a").
    pub broker_name: String,
    /// `brokerClusterName`: cluster this broker registers under (default "DefaultCluster").
    pub broker_cluster_name: String,
    /// `brokerId`: 0 = master, >= 1 = slave (default 0).
    pub broker_id: i64,
    /// `brokerIP1`: the address advertised to name servers and in message ids (default 127.0.0.1).
    #[serde(rename = "brokerIP1")]
    pub broker_ip1: String,
    /// `listenPort`: the remoting port (default 10911).
    pub listen_port: u16,
    /// `haListenPort`: advertised HA port (default listenPort + 1; Courier has no HA server yet).
    pub ha_listen_port: Option<u16>,
    /// `namesrvAddr`: name servers, ";"-separated `host:port` list (default none: no registration).
    pub namesrv_addr: Option<String>,
    /// `storePathRootDir`: root of the store and of `config/` (default "./store").
    pub store_path_root_dir: PathBuf,
    /// `autoCreateTopicEnable`: create unknown topics on send from the `TBW102` template (default true).
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup`: create unknown consumer groups on first use (default true).
    pub auto_create_subscription_group: bool,
    /// `defaultTopicQueueNums`: queues of the `TBW102` template and of auto-created topics (default 4).
    pub default_topic_queue_nums: i32,
    /// `brokerPermission`: broker-wide perm bits, R=4 W=2 (default 6).
    pub broker_permission: i32,
    /// `flushDiskType`: "ASYNC_FLUSH" (default) or "SYNC_FLUSH".
    pub flush_disk_type: FlushDiskType,
    /// `mappedFileSizeCommitLog`: CommitLog segment size in bytes (default 1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `directWrite` (Courier): under ASYNC_FLUSH, write the CommitLog with O_DIRECT through a
    /// write-behind buffer instead of copying into the mapped segments (default true). Faster,
    /// but a broker killed with kill -9 loses the acknowledged ASYNC_FLUSH puts not yet written:
    /// the last `commitIntervalCommitLog` while the disk keeps up, and at most `writeBufferSize`
    /// less two of its chunks (8 MiB with segments of 4 MiB or more) when producers outrun it.
    pub direct_write: bool,
    /// `writeBufferSize` (Courier): bytes of that write-behind buffer (default 64 MiB, at least
    /// four 4 MiB chunks). Resident memory; less two chunks, how far puts may run ahead of the
    /// disk, so also the most a kill -9 can lose.
    pub write_buffer_size: u64,
    /// `commitIntervalCommitLog`: with `directWrite`, the longest the buffer's committer waits
    /// for 2 MiB to gather before writing what it has, ms (default 20; RocketMQ's is 200). Fewer
    /// writes cost less CPU; a kill -9 loses up to this much of the newest ASYNC_FLUSH puts.
    pub commit_interval_commit_log: u64,
    /// `mappedFileSizeConsumeQueue`: ConsumeQueue file size in bytes, a multiple of 20 (default 6,000,000).
    pub mapped_file_size_consume_queue: u64,
    /// `flushIntervalCommitLog`: async flush period in ms (default 500).
    pub flush_interval_commit_log: u64,
    /// `flushCommitLogLeastPages`: dirty pages before an async flush (default 4).
    pub flush_commit_log_least_pages: u32,
    /// `flushCommitLogThoroughInterval`: flush everything at least this often, ms (default 10000).
    pub flush_commit_log_thorough_interval: u64,
    /// `syncFlushTimeout`: SYNC_FLUSH wait before FLUSH_DISK_TIMEOUT, ms (default 5000).
    pub sync_flush_timeout: u64,
    /// `fileReservedTime`: CommitLog retention in hours (default 72).
    pub file_reserved_time: u64,
    /// `deleteWhen`: ";"-separated hours of day at which expired files are deleted (default "04").
    pub delete_when: String,
    /// `diskMaxUsedSpaceRatio`: delete oldest files above this disk usage percent (default 75).
    pub disk_max_used_space_ratio: u8,
    /// `diskSpaceWarningLevelRatio`: refuse writes above this disk usage percent (default 90).
    pub disk_space_warning_level_ratio: u8,
    /// `maxMessageSize`: largest accepted message body in bytes (default 4 MiB).
    pub max_message_size: usize,
    /// `checkCRCOnRecover`: verify body CRCs during recovery (default true).
    #[serde(rename = "checkCRCOnRecover")]
    pub check_crc_on_recover: bool,
    /// `messageIndexEnable`: index KEYS and UNIQ_KEY for QUERY_MESSAGE (default true).
    pub message_index_enable: bool,
    /// `flushIntervalIndexFile` (Courier): the newest IndexFile is synced at most this often,
    /// ms (default 10,000; 100-600,000), and at shutdown. After a crash, what it left unsynced is
    /// re-indexed in the background. RocketMQ syncs an IndexFile only when it is full.
    pub flush_interval_index_file: u64,
    /// `maxHashSlotNum`: IndexFile hash slots (default 5,000,000).
    pub max_hash_slot_num: u32,
    /// `maxIndexNum`: IndexFile entries (default 20,000,000).
    pub max_index_num: u32,
    /// `longPollingEnable`: hold empty pulls for the client's suspend time (default true).
    pub long_polling_enable: bool,
    /// `timerWheelEnable`: accept RocketMQ 5 timer messages (`TIMER_DELIVER_MS`,
    /// `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`; default true). Off, they are refused with SYSTEM_ERROR.
    pub timer_wheel_enable: bool,
    /// `timerMaxDelaySec`: the furthest ahead a timer may be set, s (default 259,200: 3 days).
    pub timer_max_delay_sec: u64,
    /// `enablePropertyFilter`: serve SQL92 property selectors (default false, as in RocketMQ;
    /// `courier dev` turns it on). Without it, SQL92 subscriptions are refused with Java's remark.
    pub enable_property_filter: bool,
    /// `storeReplyMessageEnable`: besides pushing a SEND_REPLY_MESSAGE to its requester, store it
    /// in `<cluster>_REPLY_TOPIC` (default true, as in RocketMQ), where it can be looked up later.
    pub store_reply_message_enable: bool,
    /// `useServerSideResetOffset`: an offset reset (INVOKE_BROKER_TO_RESET_OFFSET) is carried out
    /// by the broker, as RocketMQ 5 does (default true). Off, the broker works out the offsets
    /// and sends them to the group's online clients (RESET_CONSUMER_CLIENT_OFFSET), which commit
    /// them, as RocketMQ 4 did; for clients that only follow that way.
    pub use_server_side_reset_offset: bool,
    /// `shortPollingTimeMills`: hold time when long polling is disabled, ms (default 1000).
    pub short_polling_time_mills: u64,
    /// `maxHeldPullRequests` (Courier): cap on parked pulls; beyond it empty pulls answer at once (default 100000).
    pub max_held_pull_requests: usize,
    /// `maxTransferCountOnMessageInMemory`: messages per pull response (default 32).
    pub max_transfer_count_on_message_in_memory: u32,
    /// `maxTransferBytesOnMessageInMemory`: bytes per pull response (default 256 KiB).
    pub max_transfer_bytes_on_message_in_memory: u32,
    /// `registerBrokerTimeoutMills`: REGISTER_BROKER request timeout, ms (default 24000).
    pub register_broker_timeout_mills: u64,
    /// `registerNameServerPeriod`: re-registration period, ms, clamped to 10-60 s (default 30000).
    pub register_name_server_period: u64,
    /// `flushConsumerOffsetInterval`: consumerOffset.json persist period, ms (default 5000).
    pub flush_consumer_offset_interval: u64,
    /// `channelExpiredTimeout`: forget clients silent for this long, ms (default 120000).
    pub channel_expired_timeout: u64,
    /// `messageDelayLevel`: delay of each level 1..N, space-separated with s/m/h/d units
    /// (default "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h").
    pub message_delay_level: String,
    /// `transactionTimeOut`: a half message younger than this is not checked back, ms (default 6000).
    pub transaction_time_out: u64,
    /// `transactionCheckMax`: check-backs before a half message is discarded (default 15).
    pub transaction_check_max: i32,
    /// `transactionCheckInterval`: period of the check-back scan, ms (default 30000).
    pub transaction_check_interval: u64,
    /// `regionId`: sent back as MSG_REGION on sends (default "DefaultRegion").
    pub region_id: String,
    /// `traceOn`: sent back as TRACE_ON on sends (default true).
    pub trace_on: bool,
    /// `configBlackList`: ";"-separated keys UPDATE_BROKER_CONFIG may not change (default
    /// "configBlackList;brokerConfigPath", as in RocketMQ); only the config file sets them.
    pub config_black_list: String,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            broker_name: "broker-a".to_string(),
            broker_cluster_name: "DefaultCluster".to_string(),
            broker_id: 0,
            broker_ip1: "127.0.0.1".to_string(),
            listen_port: 10911,
            ha_listen_port: None,
            namesrv_addr: None,
            store_path_root_dir: PathBuf::from("store"),
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 4,
            broker_permission: 6,
            flush_disk_type: FlushDiskType::AsyncFlush,
            mapped_file_size_commit_log: 1024 * 1024 * 1024,
            direct_write: true,
            write_buffer_size: 64 << 20,
            commit_interval_commit_log: 20,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_interval_commit_log: 500,
            flush_commit_log_least_pages: 4,
            flush_commit_log_thorough_interval: 10_000,
            sync_flush_timeout: 5_000,
            file_reserved_time: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            disk_space_warning_level_ratio: 90,
            max_message_size: 4 * 1024 * 1024,
            check_crc_on_recover: true,
            message_index_enable: true,
            flush_interval_index_file: 10_000,
            max_hash_slot_num: 5_000_000,
            max_index_num: 20_000_000,
            long_polling_enable: true,
            enable_property_filter: false,
            store_reply_message_enable: true,
            use_server_side_reset_offset: true,
            timer_wheel_enable: true,
            timer_max_delay_sec: 3 * 24 * 3600,
            short_polling_time_mills: 1_000,
            max_held_pull_requests: 100_000,
            max_transfer_count_on_message_in_memory: 32,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            register_broker_timeout_mills: 24_000,
            register_name_server_period: 30_000,
            flush_consumer_offset_interval: 5_000,
            channel_expired_timeout: 120_000,
            message_delay_level: "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
                .to_string(),
            transaction_time_out: 6_000,
            transaction_check_max: 15,
            transaction_check_interval: 30_000,
            region_id: "DefaultRegion".to_string(),
            trace_on: true,
            config_black_list: "configBlackList;brokerConfigPath".to_string(),
        }
    }
}

impl BrokerConfig {
    /// The keys whose value is an `Option`: a config without them leaves them out when it is
    /// written (GET_BROKER_CONFIG, the TOML form), so they are named here.
    pub const OPTIONAL_KEYS: &'static [&'static str] = &["haListenPort", "namesrvAddr"];

    /// Parses a TOML document and validates the values.
    pub fn from_toml_str(text: &str) -> Result<BrokerConfig, BrokerError> {
        let config: BrokerConfig =
            toml::from_str(text).map_err(|e| BrokerError::ConfigParse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML config file.
    pub fn load(path: &Path) -> Result<BrokerConfig, BrokerError> {
        let text = std::fs::read_to_string(path).map_err(|source| BrokerError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks ranges that serde cannot express.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |key: &'static str, reason: &str| {
            Err(BrokerError::ConfigValue {
                key,
                reason: reason.to_string(),
            })
        };
        if self.broker_name.is_empty() {
            return bad("brokerName", "must not be empty");
        }
        if !(1..=1024).contains(&self.default_topic_queue_nums) {
            return bad("defaultTopicQueueNums", "must be between 1 and 1024");
        }
        if !(0..=7).contains(&self.broker_permission) {
            return bad(
                "brokerPermission",
                "must be a combination of R=4, W=2, INHERIT=1 (0-7)",
            );
        }
        if self.mapped_file_size_consume_queue < 20 || self.mapped_file_size_consume_queue % 20 != 0
        {
            return bad(
                "mappedFileSizeConsumeQueue",
                "must be a positive multiple of 20 (the entry size)",
            );
        }
        let max_commit = courier_store::MAX_COMMIT_INTERVAL.as_millis() as u64;
        if !(1..=max_commit).contains(&self.commit_interval_commit_log) {
            return bad(
                "commitIntervalCommitLog",
                &format!("must be between 1 and {max_commit} ms"),
            );
        }
        if !(100..=600_000).contains(&self.flush_interval_index_file) {
            return bad(
                "flushIntervalIndexFile",
                "must be between 100 and 600000 ms",
            );
        }
        if self.mapped_file_size_commit_log < 4096 {
            return bad("mappedFileSizeCommitLog", "must be at least 4096 bytes");
        }
        if self.max_message_size == 0 {
            return bad("maxMessageSize", "must be positive");
        }
        if self.broker_ip1.parse::<IpAddr>().is_err() {
            return bad("brokerIP1", "must be an IPv4 or IPv6 address");
        }
        if let Err(reason) = crate::schedule::parse_delay_levels(&self.message_delay_level) {
            return Err(BrokerError::ConfigValue {
                key: "messageDelayLevel",
                reason,
            });
        }
        for hour in self.delete_when_hours_checked()? {
            if hour > 23 {
                return bad("deleteWhen", "hours must be 0-23");
            }
        }
        Ok(())
    }

    fn delete_when_hours_checked(&self) -> Result<Vec<u8>, BrokerError> {
        self.delete_when
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<u8>().map_err(|_| BrokerError::ConfigValue {
                    key: "deleteWhen",
                    reason: format!("{s:?} is not an hour of day"),
                })
            })
            .collect()
    }

    /// The name server addresses from `namesrvAddr`, in order, empty entries dropped.
    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addr
            .as_deref()
            .unwrap_or("")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The advertised broker address (`brokerIP1:listenPort`) used in routes and message ids.
    pub fn broker_addr(&self) -> SocketAddr {
        let ip = self
            .broker_ip1
            .parse::<IpAddr>()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        SocketAddr::new(ip, self.listen_port)
    }

    /// The advertised HA address (`brokerIP1:haListenPort`).
    pub fn ha_server_addr(&self) -> String {
        let port = self
            .ha_listen_port
            .unwrap_or(self.listen_port.saturating_add(1));
        SocketAddr::new(self.broker_addr().ip(), port).to_string()
    }

    /// The directory holding topics.json, subscriptionGroup.json and consumerOffset.json.
    pub fn config_dir(&self) -> PathBuf {
        self.store_path_root_dir.join("config")
    }

    /// The store settings derived from this config.
    pub fn store_config(&self) -> courier_store::StoreConfig {
        let mut store = courier_store::StoreConfig::new(self.store_path_root_dir.clone());
        store.commitlog_file_size = self.mapped_file_size_commit_log;
        store.cq_entries_per_file =
            u32::try_from(self.mapped_file_size_consume_queue / 20).unwrap_or(u32::MAX);
        store.index_slots = self.max_hash_slot_num;
        store.index_entries = self.max_index_num;
        store.flush_disk_type = match self.flush_disk_type {
            FlushDiskType::AsyncFlush => courier_store::FlushDiskType::AsyncFlush,
            FlushDiskType::SyncFlush => courier_store::FlushDiskType::SyncFlush,
        };
        store.flush_interval = Duration::from_millis(self.flush_interval_commit_log);
        store.flush_least_pages = self.flush_commit_log_least_pages;
        store.flush_thorough_interval =
            Duration::from_millis(self.flush_commit_log_thorough_interval);
        store.sync_flush_timeout = Duration::from_millis(self.sync_flush_timeout);
        store.max_message_size = self.max_message_size;
        store.file_reserved_time =
            Duration::from_secs(self.file_reserved_time.saturating_mul(3600));
        store.delete_when = self.delete_when_hours_checked().unwrap_or_default();
        store.disk_max_used_space_ratio = self.disk_max_used_space_ratio;
        store.disk_space_warning_level_ratio = self.disk_space_warning_level_ratio;
        store.check_crc_on_recover = self.check_crc_on_recover;
        store.message_index_enable = self.message_index_enable;
        store.index_flush_interval = Duration::from_millis(self.flush_interval_index_file);
        store.direct_write = self.direct_write;
        store.write_buffer_bytes = self.write_buffer_size;
        store.commit_interval = Duration::from_millis(self.commit_interval_commit_log);
        store.store_host = self.broker_addr();
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_rocketmq_defaults() {
        let c = BrokerConfig::from_toml_str("").unwrap();
        assert_eq!(c.listen_port, 10911);
        assert_eq!(c.default_topic_queue_nums, 4);
        assert_eq!(c.broker_permission, 6);
        assert_eq!(c.register_name_server_period, 30_000);
        assert_eq!(c.flush_consumer_offset_interval, 5_000);
        assert_eq!(c.max_message_size, 4 * 1024 * 1024);
        assert_eq!(c.flush_disk_type, FlushDiskType::AsyncFlush);
        assert!(c.namesrv_addrs().is_empty());
    }

    #[test]
    fn rocketmq_key_names_are_accepted() {
        let c = BrokerConfig::from_toml_str(
            r#"
            brokerName = "b1"
            brokerClusterName = "C"
            brokerId = 0
            brokerIP1 = "127.0.0.1"
            listenPort = 20911
            namesrvAddr = "127.0.0.1:9876; 127.0.0.1:9877;"
            storePathRootDir = "/tmp/x"
            autoCreateTopicEnable = false
            flushDiskType = "SYNC_FLUSH"
            checkCRCOnRecover = false
            fileReservedTime = 48
            deleteWhen = "04;05"
            "#,
        )
        .unwrap();
        assert_eq!(c.broker_name, "b1");
        assert_eq!(c.listen_port, 20911);
        assert_eq!(
            c.namesrv_addrs(),
            vec!["127.0.0.1:9876".to_string(), "127.0.0.1:9877".to_string()]
        );
        assert!(!c.auto_create_topic_enable);
        assert_eq!(c.flush_disk_type, FlushDiskType::SyncFlush);
        assert!(!c.check_crc_on_recover);
        assert_eq!(c.broker_addr().to_string(), "127.0.0.1:20911");
        assert_eq!(c.ha_server_addr(), "127.0.0.1:20912");
        let s = c.store_config();
        assert_eq!(s.delete_when, vec![4, 5]);
        assert_eq!(s.file_reserved_time, Duration::from_secs(48 * 3600));
        assert_eq!(s.flush_disk_type, courier_store::FlushDiskType::SyncFlush);
        assert_eq!(s.store_host.to_string(), "127.0.0.1:20911");
        // Hours that do not fit in seconds keep files for as long as a Duration can say.
        let huge = BrokerConfig {
            file_reserved_time: u64::MAX,
            ..c
        };
        assert_eq!(
            huge.store_config().file_reserved_time,
            Duration::from_secs(u64::MAX)
        );
    }

    #[test]
    fn direct_write_keys_reach_the_store() {
        let s = BrokerConfig::default().store_config();
        assert!(s.direct_write && s.uses_write_behind());
        assert_eq!(s.write_buffer_bytes, 64 << 20);
        let c =
            BrokerConfig::from_toml_str("directWrite = false\nwriteBufferSize = 33554432").unwrap();
        let s = c.store_config();
        assert!(!s.direct_write && !s.uses_write_behind());
        assert_eq!(s.write_buffer_bytes, 32 << 20);
        assert_eq!(
            BrokerConfig::default().store_config().commit_interval,
            Duration::from_millis(20)
        );
        let c = BrokerConfig::from_toml_str("commitIntervalCommitLog = 200").unwrap();
        assert_eq!(c.store_config().commit_interval, Duration::from_millis(200));
        for bad in [
            "commitIntervalCommitLog = 0",
            "commitIntervalCommitLog = 1001",
        ] {
            let text = BrokerConfig::from_toml_str(bad).unwrap_err().to_string();
            assert!(text.contains("commitIntervalCommitLog"), "{text}");
        }
    }

    #[test]
    fn the_index_flush_interval_reaches_the_store() {
        assert_eq!(
            BrokerConfig::default().store_config().index_flush_interval,
            Duration::from_secs(10)
        );
        let c = BrokerConfig::from_toml_str("flushIntervalIndexFile = 60000").unwrap();
        assert_eq!(
            c.store_config().index_flush_interval,
            Duration::from_secs(60)
        );
        for bad in [
            "flushIntervalIndexFile = 99",
            "flushIntervalIndexFile = 600001",
        ] {
            let text = BrokerConfig::from_toml_str(bad).unwrap_err().to_string();
            assert!(text.contains("flushIntervalIndexFile"), "{text}");
        }
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = BrokerConfig::from_toml_str("brokerNmae = \"x\"").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("brokerNmae"), "{text}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        assert!(BrokerConfig::from_toml_str("brokerPermission = 9").is_err());
        assert!(BrokerConfig::from_toml_str("defaultTopicQueueNums = 0").is_err());
        assert!(BrokerConfig::from_toml_str("mappedFileSizeConsumeQueue = 30").is_err());
        assert!(BrokerConfig::from_toml_str("deleteWhen = \"25\"").is_err());
        assert!(BrokerConfig::from_toml_str("brokerIP1 = \"not-an-ip\"").is_err());
        assert!(BrokerConfig::from_toml_str("flushDiskType = \"SOMETIMES\"").is_err());
        assert!(BrokerConfig::from_toml_str("messageDelayLevel = \"1s 5x\"").is_err());
    }
}
