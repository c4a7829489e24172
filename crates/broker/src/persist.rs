//! Crash-safe JSON table files under `<storePathRootDir>/config/` (topics.json,
//! subscriptionGroup.json, consumerOffset.json).
//!
//! Write protocol (the file is never observed half-written): write `<file>.tmp`, fsync it, rename
//! the current `<file>` to `<file>.bak`, rename `<file>.tmp` to `<file>`, fsync the directory.
//! Load protocol: read `<file>`; if it is missing or does not parse, fall back to `<file>.bak`
//! (a crash between the two renames leaves only the .bak). Neither present = empty table.
//!
//! Writers of one file take turns (`TableFile`): they would otherwise share `<file>.tmp` (one
//! renaming it away while another writes it), and a table snapshotted before a newer one could be
//! written after it. The snapshot is taken once the turn is held.

use std::fs;
use std::path::{Path, PathBuf};

use courier_durable_file::with_suffix;

use crate::error::BrokerError;

/// Atomically replaces `path` with `contents`, keeping the previous version as `path.bak`
/// (`courier_durable_file::replace`).
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), BrokerError> {
    courier_durable_file::replace(path, contents, Some(&with_suffix(path, ".bak"))).map_err(
        |source| BrokerError::PersistWrite {
            path: path.to_path_buf(),
            source,
        },
    )
}

/// One table file and the turn its writers take (module comment).
#[derive(Debug)]
pub struct TableFile {
    path: PathBuf,
    turn: parking_lot::Mutex<()>,
}

impl TableFile {
    pub fn new(path: PathBuf) -> TableFile {
        TableFile {
            path,
            turn: parking_lot::Mutex::new(()),
        }
    }

    /// Replaces the file with the pretty JSON of `snapshot()`, called once this writer's turn
    /// has come.
    pub fn write_json<T: serde::Serialize>(
        &self,
        snapshot: impl FnOnce() -> T,
    ) -> Result<(), BrokerError> {
        let _turn = self.turn.lock();
        write_json(&self.path, &snapshot())
    }

    /// Replaces the file with `contents()`, called once this writer's turn has come.
    pub fn write(&self, contents: impl FnOnce() -> Vec<u8>) -> Result<(), BrokerError> {
        let _turn = self.turn.lock();
        write_atomically(&self.path, &contents())
    }
}

/// Serializes `value` as pretty JSON (the shape RocketMQ's tables have on disk) and replaces
/// `path` with it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), BrokerError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| BrokerError::PersistWrite {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_atomically(path, &json)
}

/// Loads and parses `path`, falling back to `path.bak`. `Ok(None)` when neither file exists.
pub fn load<T>(
    path: &Path,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, BrokerError> {
    let mut first_error = None;
    for candidate in [path.to_path_buf(), with_suffix(path, ".bak")] {
        match fs::read_to_string(&candidate) {
            Ok(text) => match parse(&text) {
                Ok(v) => {
                    if first_error.is_some() {
                        tracing::warn!(file = %path.display(), "loaded the .bak copy: the main file was unreadable");
                    }
                    return Ok(Some(v));
                }
                Err(e) => {
                    first_error.get_or_insert(format!("{}: {e}", candidate.display()));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                first_error.get_or_insert(format!("{}: {e}", candidate.display()));
            }
        }
    }
    match first_error {
        None => Ok(None),
        Some(reason) => Err(BrokerError::PersistLoad {
            path: path.to_path_buf(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        if s.starts_with('{') {
            Ok(s.to_string())
        } else {
            Err("not json".into())
        }
    }

    #[test]
    fn write_keeps_backup_and_load_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config").join("t.json");
        assert_eq!(load(&p, parse).unwrap(), None);
        write_atomically(&p, b"{1}").unwrap();
        write_atomically(&p, b"{2}").unwrap();
        assert_eq!(load(&p, parse).unwrap().as_deref(), Some("{2}"));
        assert_eq!(fs::read_to_string(with_suffix(&p, ".bak")).unwrap(), "{1}");
        // A torn main file falls back to the backup.
        fs::write(&p, b"garbage").unwrap();
        assert_eq!(load(&p, parse).unwrap().as_deref(), Some("{1}"));
        // Main file missing (crash between renames) also falls back.
        fs::remove_file(&p).unwrap();
        assert_eq!(load(&p, parse).unwrap().as_deref(), Some("{1}"));
        // Both unreadable: an error naming the file.
        fs::write(with_suffix(&p, ".bak"), b"bad").unwrap();
        let e = load(&p, parse).unwrap_err().to_string();
        assert!(e.contains("t.json"), "{e}");
    }
}
