//! Errors the keeper reports to its embedder (startup, log I/O, corruption).

use std::path::{Path, PathBuf};

/// A keeper failure.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    /// A file operation failed.
    #[error("{context} ({path}): {source}; check that the data directory exists, is writable and the disk is not full")]
    Io {
        /// What we were doing.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log holds a record that decodes but does not apply (not a torn tail).
    #[error("write-ahead log {path} is inconsistent at zxid {zxid:#x}: {reason}; restore the data directory from a backup or move it aside to start empty")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Where.
        zxid: i64,
        /// Why.
        reason: String,
    },
    /// The sequencer stopped (after a log write failure); the server is shutting down.
    #[error("the keeper's write path stopped after a log failure; see the earlier error and restart the server")]
    WritePathStopped,
    /// Another keeper holds the data directory.
    #[error("data directory is in use by another keeper (lock {path} is held); stop it or use another --data-dir")]
    DataDirInUse {
        /// The lock file.
        path: PathBuf,
    },
    /// The Raft layer (openraft) could not start or stopped.
    #[error("keeper Raft layer: {0}; see the earlier log lines, check the data directory and restart the server")]
    Raft(String),
    /// A socket operation on the listener failed.
    #[error("listener error: {0}")]
    Listener(std::io::Error),
}

/// Maps an I/O error to `KeeperError::Io` naming what was being done and to which file.
pub(crate) fn io_err(
    context: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> KeeperError {
    let path = path.to_path_buf();
    move |source| KeeperError::Io {
        context,
        path,
        source,
    }
}
