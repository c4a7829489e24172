//! The broker's error type: everything that can stop the broker from starting or running.
//!
//! Request-level failures are not errors here: they become RocketMQ response codes with a remark.
//! A `BrokerError` is what `run` or a state manager's `load`/`persist` returns, and its text always
//! names the file or address involved and what the operator can do about it.

use std::path::PathBuf;

/// Errors that stop the broker or one of its persisted tables.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker config file could not be read.
    #[error("cannot read broker config {path}: {source}; check the path given to --config")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The broker config file is not valid TOML for `BrokerConfig` (the message names the bad key).
    #[error("invalid broker config: {0}; fix the key named above (keys use RocketMQ's names, e.g. brokerName, listenPort)")]
    ConfigParse(String),
    /// A config value is out of range.
    #[error("invalid broker config value for {key}: {reason}")]
    ConfigValue { key: &'static str, reason: String },
    /// A persisted JSON table could not be written.
    #[error(
        "cannot write {path}: {source}; check free space and permissions of the store directory"
    )]
    PersistWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A persisted JSON table (and its .bak) could not be read or parsed.
    #[error(
        "cannot load {path}: {reason}; restore it from {path}.bak or delete it to start empty"
    )]
    PersistLoad { path: PathBuf, reason: String },
    /// The message store failed to open or shut down.
    #[error("message store: {0}")]
    Store(String),
    /// Binding or serving the listen socket failed.
    #[error("broker network error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<BrokerError> for courier_remoting::ProcessError {
    fn from(e: BrokerError) -> Self {
        courier_remoting::ProcessError::Other(e.to_string())
    }
}
