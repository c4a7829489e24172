//! Error types of the store. `StoreError` is what opening or shutting down a store can fail with;
//! `RecordError` is what decoding one CommitLog record can fail with. Every message says what the
//! operator can do about it.

use std::io;
use std::path::PathBuf;

/// Failure to open, recover, flush or shut down a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("I/O error on {path}: {source} (check that the path exists, is writable and the disk has free space)")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another `MessageStore` in this process) has the store open.
    #[error("another process holds {0}; stop the other broker or point root_dir at a different directory")]
    Locked(PathBuf),
    /// The configuration is not usable.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// Files on disk do not match what the configuration or the format expects.
    #[error("store layout problem: {0}")]
    Layout(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why a byte range is not a valid CommitLog message record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The buffer ends before the record does.
    #[error("record truncated: needs {need} bytes, only {have} available")]
    Truncated {
        /// Bytes the record header claims (or the minimum header size).
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// MAGICCODE is neither V1 nor V2 (nor BLANK).
    #[error("bad magic code {0:#010x}")]
    BadMagic(u32),
    /// TOTALSIZE is impossible (too small or negative) or inconsistent with the field lengths.
    #[error("bad record size {0}")]
    BadSize(i64),
    /// The body CRC stored in the record does not match the body.
    #[error("body CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC stored in the record.
        stored: u32,
        /// CRC of the body bytes.
        computed: u32,
    },
    /// A text field (topic or properties) is not UTF-8.
    #[error("field {0} is not valid UTF-8")]
    BadUtf8(&'static str),
    /// This is the blank end-of-file record, not a message.
    #[error("blank end-of-file record of {0} bytes")]
    Blank(u32),
}
