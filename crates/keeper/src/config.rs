//! Server settings, named after their zoo.cfg / system-property counterparts where one exists.

use std::path::PathBuf;

/// Everything `run` needs besides the listener.
#[derive(Debug, Clone)]
pub struct KeeperConfig {
    /// Directory for the write-ahead log (created if missing).
    pub data_dir: PathBuf,
    /// The basic time unit, ms (`tickTime`).
    pub tick_time_ms: u32,
    /// Smallest session timeout granted, ms (`minSessionTimeout`; default 2 × tick).
    pub min_session_timeout_ms: Option<u32>,
    /// Largest session timeout granted, ms (`maxSessionTimeout`; default 20 × tick).
    pub max_session_timeout_ms: Option<u32>,
    /// Largest znode payload and (plus a small allowance for headers) request frame
    /// (`jute.maxbuffer`, default 0xfffff).
    pub max_data_bytes: usize,
    /// Four-letter words answered (`4lw.commands.whitelist`); `*` allows all. ZooKeeper's
    /// default is `srvr` only.
    pub four_letter_whitelist: Vec<String>,
    /// `super:<base64 sha1>` digest that grants the `super` identity
    /// (`zookeeper.DigestAuthenticationProvider.superDigest`).
    pub super_digest: Option<String>,
    /// Server id, mixed into session ids (`myid`; 1 in standalone).
    pub server_id: u8,
    /// Accept TTL nodes (`zookeeper.extendedTypesEnabled`). On by default here; ZooKeeper's
    /// default is off.
    pub extended_types_enabled: bool,
    /// How often containers and TTL nodes are checked, ms (`znode.container.checkIntervalMs`).
    pub container_check_interval_ms: u64,
    /// fdatasync the log before acknowledging writes (turn off only for throwaway tests).
    pub fsync: bool,
    /// Reported by `conf` and `srvr`; informational.
    pub client_port: u16,
    /// Take a snapshot (and empty the log) after this many txns (`snapCount`).
    pub snapshot_every_txns: u64,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig {
            data_dir: PathBuf::from("keeper-data"),
            tick_time_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            max_data_bytes: courier_keeper_proto::DEFAULT_MAX_BUFFER,
            four_letter_whitelist: vec!["srvr".to_string()],
            super_digest: None,
            server_id: 1,
            extended_types_enabled: true,
            container_check_interval_ms: 60_000,
            fsync: true,
            client_port: 2181,
            snapshot_every_txns: 100_000,
        }
    }
}

impl KeeperConfig {
    /// Effective minimum session timeout.
    pub fn min_session_timeout(&self) -> u32 {
        self.min_session_timeout_ms
            .unwrap_or(self.tick_time_ms.saturating_mul(2))
    }

    /// Effective maximum session timeout.
    pub fn max_session_timeout(&self) -> u32 {
        self.max_session_timeout_ms
            .unwrap_or(self.tick_time_ms.saturating_mul(20))
            .max(self.min_session_timeout())
    }

    /// Clamps a requested timeout into the allowed range.
    pub fn negotiate_timeout(&self, requested: i32) -> i32 {
        let lo = self.min_session_timeout() as i64;
        let hi = self.max_session_timeout() as i64;
        (requested as i64).clamp(lo, hi) as i32
    }

    /// Largest request frame accepted: the data limit plus room for path, ACL and headers.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_data_bytes.saturating_add(64 * 1024)
    }

    /// Is a four-letter word allowed?
    pub fn four_letter_allowed(&self, word: &str) -> bool {
        self.four_letter_whitelist
            .iter()
            .any(|w| w == "*" || w.eq_ignore_ascii_case(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_negotiation_clamps_to_tick_multiples() {
        let c = KeeperConfig::default();
        assert_eq!(c.negotiate_timeout(1000), 4000);
        assert_eq!(c.negotiate_timeout(10_000), 10_000);
        assert_eq!(c.negotiate_timeout(100_000), 40_000);
        assert_eq!(c.negotiate_timeout(-5), 4000);
    }

    #[test]
    fn whitelist() {
        let mut c = KeeperConfig::default();
        assert!(c.four_letter_allowed("srvr"));
        assert!(!c.four_letter_allowed("ruok"));
        c.four_letter_whitelist = vec!["*".into()];
        assert!(c.four_letter_allowed("ruok"));
    }
}
