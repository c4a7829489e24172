//! The pre-Raft log of `TxnEntry`s (`TxnLog` and its file implementation). The keeper now logs
//! through `raft::log_store`; this file is only read at startup to migrate a data directory
//! written before Raft (see `server::load_pre_raft_state`).
//!
//! File format (`<data_dir>/keeper.wal`): 8-byte magic `CKWAL\0\0\x01`, then records of
//! `len u32 BE | crc32 u32 BE (of payload) | payload` where payload is one jute-encoded
//! `TxnEntry`. Appends are buffered; `sync` writes the buffer and fdatasyncs once, which is the
//! group commit: every write acknowledged after a `sync` is on disk. On open, the first record
//! that is short or fails its CRC is treated as a torn tail from a crash: the file is truncated
//! there. zxids must strictly increase; anything else is corruption and stops startup.

use crate::crc_frame::{read_record, FRAME_HEADER};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::BufMut;
use courier_keeper_proto::Record;

use crate::error::{io_err, KeeperError};
use crate::txn::TxnEntry;

const MAGIC: &[u8; 8] = b"CKWAL\0\0\x01";
/// Largest record accepted on replay (a txn is bounded by the data limit plus path/ACL).
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// An append-only, durable log of transactions.
pub trait TxnLog: Send {
    /// Queues an entry; not durable until `sync` returns.
    fn append(&mut self, entry: &TxnEntry) -> Result<(), KeeperError>;
    /// Makes every appended entry durable.
    fn sync(&mut self) -> Result<(), KeeperError>;
    /// Drops every synced entry: a durable snapshot now covers all of them.
    fn compact(&mut self) -> Result<(), KeeperError>;
}

/// `TxnLog` on a single file.
pub struct FileTxnLog {
    file: File,
    path: PathBuf,
    pending: Vec<u8>,
    fsync: bool,
}

impl FileTxnLog {
    /// Opens (or creates) the log in `dir` and returns it with every intact entry, in order.
    pub fn open(dir: &Path, fsync: bool) -> Result<(FileTxnLog, Vec<TxnEntry>), KeeperError> {
        std::fs::create_dir_all(dir).map_err(io_err("creating the data directory", dir))?;
        let path = dir.join("keeper.wal");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("opening the write-ahead log", &path))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)
            .map_err(io_err("reading the write-ahead log", &path))?;
        let mut entries = Vec::new();
        let good_len = if raw.len() < MAGIC.len() {
            file.set_len(0)
                .map_err(io_err("truncating the write-ahead log", &path))?;
            file.seek(SeekFrom::Start(0))
                .map_err(io_err("seeking the write-ahead log", &path))?;
            file.write_all(MAGIC)
                .map_err(io_err("writing the write-ahead log", &path))?;
            MAGIC.len()
        } else {
            if &raw[..MAGIC.len()] != MAGIC {
                return Err(KeeperError::Corrupt {
                    path,
                    zxid: 0,
                    reason: "not a keeper write-ahead log (bad magic)".into(),
                });
            }
            let mut pos = MAGIC.len();
            let mut last_zxid = i64::MIN;
            while let Some(payload) = read_record(&raw, pos, MAX_RECORD) {
                let entry = TxnEntry::from_slice(payload, MAX_RECORD).map_err(|e| {
                    KeeperError::Corrupt {
                        path: path.clone(),
                        zxid: last_zxid,
                        reason: format!("record after zxid {last_zxid:#x} does not decode: {e}"),
                    }
                })?;
                if entry.zxid <= last_zxid {
                    return Err(KeeperError::Corrupt {
                        path,
                        zxid: entry.zxid,
                        reason: format!("zxid goes backwards after {last_zxid:#x}"),
                    });
                }
                last_zxid = entry.zxid;
                entries.push(entry);
                pos += FRAME_HEADER + payload.len();
            }
            if pos < raw.len() {
                tracing::warn!(
                    path = %path.display(),
                    dropped = raw.len() - pos,
                    "write-ahead log has a torn tail (crash during a write); truncating it"
                );
                file.set_len(pos as u64)
                    .map_err(io_err("truncating the write-ahead log", &path))?;
            }
            pos
        };
        file.seek(SeekFrom::Start(good_len as u64))
            .map_err(io_err("seeking the write-ahead log", &path))?;
        file.sync_all()
            .map_err(io_err("syncing the write-ahead log", &path))?;
        Ok((
            FileTxnLog {
                file,
                path,
                pending: Vec::with_capacity(64 * 1024),
                fsync,
            },
            entries,
        ))
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TxnLog for FileTxnLog {
    fn append(&mut self, entry: &TxnEntry) -> Result<(), KeeperError> {
        let payload = entry.to_bytes();
        self.pending.put_u32(payload.len() as u32);
        self.pending.put_u32(crc32fast::hash(&payload));
        self.pending.extend_from_slice(&payload);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), KeeperError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        self.file
            .write_all(&self.pending)
            .map_err(|source| KeeperError::Io {
                context: "appending to the write-ahead log",
                path: path.clone(),
                source,
            })?;
        self.pending.clear();
        if self.fsync {
            self.file.sync_data().map_err(|source| KeeperError::Io {
                context: "fdatasync of the write-ahead log",
                path,
                source,
            })?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), KeeperError> {
        self.sync()?;
        self.file.set_len(MAGIC.len() as u64).map_err(io_err(
            "truncating the write-ahead log after a snapshot",
            &self.path,
        ))?;
        self.file
            .seek(SeekFrom::Start(MAGIC.len() as u64))
            .map_err(io_err("seeking the write-ahead log", &self.path))?;
        self.file
            .sync_all()
            .map_err(io_err("syncing the write-ahead log", &self.path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::Txn;

    fn entry(zxid: i64) -> TxnEntry {
        TxnEntry {
            zxid,
            time_ms: 5,
            session_id: 1,
            txn: Txn::Delete {
                path: format!("/n{zxid}"),
            },
        }
    }

    #[test]
    fn appends_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, entries) = FileTxnLog::open(dir.path(), true).unwrap();
            assert!(entries.is_empty());
            log.append(&entry(1)).unwrap();
            log.append(&entry(2)).unwrap();
            log.sync().unwrap();
            log.append(&entry(3)).unwrap();
            // Never synced: must not appear.
        }
        let (mut log, entries) = FileTxnLog::open(dir.path(), true).unwrap();
        assert_eq!(entries, vec![entry(1), entry(2)]);
        log.append(&entry(3)).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, entries) = FileTxnLog::open(dir.path(), true).unwrap();
        assert_eq!(entries.len(), 3);
    }

    #[test]
    fn compact_empties_the_log() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = FileTxnLog::open(dir.path(), false).unwrap();
            log.append(&entry(1)).unwrap();
            log.sync().unwrap();
            log.compact().unwrap();
            log.append(&entry(2)).unwrap();
            log.sync().unwrap();
        }
        let (_, entries) = FileTxnLog::open(dir.path(), false).unwrap();
        assert_eq!(entries, vec![entry(2)]);
    }

    #[test]
    fn torn_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = FileTxnLog::open(dir.path(), false).unwrap();
            for z in 1..=3 {
                log.append(&entry(z)).unwrap();
            }
            log.sync().unwrap();
        }
        let p = dir.path().join("keeper.wal");
        let len = std::fs::metadata(&p).unwrap().len();
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 3).unwrap();
        drop(f);
        let (mut log, entries) = FileTxnLog::open(dir.path(), false).unwrap();
        assert_eq!(entries, vec![entry(1), entry(2)]);
        log.append(&entry(3)).unwrap();
        log.sync().unwrap();
        drop(log);
        let (_, entries) = FileTxnLog::open(dir.path(), false).unwrap();
        assert_eq!(entries, vec![entry(1), entry(2), entry(3)]);
    }

    #[test]
    fn flipped_byte_stops_replay_at_that_record() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut log, _) = FileTxnLog::open(dir.path(), false).unwrap();
            log.append(&entry(1)).unwrap();
            log.append(&entry(2)).unwrap();
            log.sync().unwrap();
        }
        let p = dir.path().join("keeper.wal");
        let mut raw = std::fs::read(&p).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        std::fs::write(&p, raw).unwrap();
        let (_, entries) = FileTxnLog::open(dir.path(), false).unwrap();
        assert_eq!(entries, vec![entry(1)]);
    }

    #[test]
    fn foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keeper.wal"), b"hello world, not a log").unwrap();
        assert!(matches!(
            FileTxnLog::open(dir.path(), false),
            Err(KeeperError::Corrupt { .. })
        ));
    }
}
