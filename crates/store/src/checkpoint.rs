//! The 4 KiB `checkpoint` file. RocketMQ fields (big-endian) at 0 physicMsgTimestamp, 8
//! logicsMsgTimestamp, 16 indexMsgTimestamp, 24 masterFlushedOffset (CommitLog flushed offset),
//! 32 confirmPhyOffset (we write the flushed offset too: everything below it is durable).
//!
//! Courier's own fields follow at byte 40 (RocketMQ ignores them):
//! 40 magic u32 `0x43524B50` ("CRKP"), 44 version u32 (2), 48 logicsPhyOffset i64 (every CQ entry
//! of records below it is flushed), 56 indexPhyOffset i64 (records below it are indexed and flushed),
//! 64 cleanEndOffset i64 (CommitLog end written at clean shutdown, else -1), 72 cleanTailOffset i64
//! (start of the last record at clean shutdown, -1 if none), 80 crc32 of bytes 0..80; since
//! version 2, 84 cleanCqEntries i64 (the sum of every ConsumeQueue's max offset at clean shutdown,
//! else -1) and 92 crc32 of bytes 84..92; since version 3, 96 cqEntriesFloor i64 (summed over the
//! queues: the queue offset of each queue's first entry whose record starts at or after
//! min(masterFlushedOffset, logicsPhyOffset), or its max offset if none does; -1 if unknown) and
//! 104 crc32 of bytes 96..104.
//!
//! Invariant: written whole with pwrite + fdatasync; a checkpoint with a bad magic or CRC is
//! treated as absent (recovery then scans from the first segment). cleanCqEntries and
//! cqEntriesFloor have CRCs of their own so that an older file (zeros there) still reads, as a
//! checkpoint without them.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::message::{be_i64, be_u32};

const MAGIC: u32 = 0x4352_4B50;
const VERSION: u32 = 3;
/// Size of the file (one OS page, like RocketMQ).
pub const CHECKPOINT_SIZE: usize = 4096;

/// The checkpoint's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Store timestamp of the last flushed CommitLog record.
    pub physic_msg_timestamp: i64,
    /// Store timestamp of the last record whose CQ entry is flushed.
    pub logics_msg_timestamp: i64,
    /// Store timestamp of the last indexed-and-flushed record.
    pub index_msg_timestamp: i64,
    /// CommitLog flushed offset.
    pub flushed_offset: i64,
    /// Records below this have their ConsumeQueue entries flushed.
    pub logics_phy_offset: i64,
    /// Records below this are indexed and the index is flushed.
    pub index_phy_offset: i64,
    /// CommitLog end at clean shutdown (-1 while running).
    pub clean_end_offset: i64,
    /// Start of the last record at clean shutdown (-1 if none or while running).
    pub clean_tail_offset: i64,
    /// Sum of every ConsumeQueue's max offset at clean shutdown (-1 while running, or written
    /// by a version without it). The queues' extents at the next open must add up to it: a
    /// ConsumeQueue file deleted or cut since then leaves no other trace at a clean open.
    pub clean_cq_entries: i64,
    /// What the queues held below this checkpoint's recovery start, min(`flushed_offset`,
    /// `logics_phy_offset`): for each queue, the offset of its first entry of a record at or past
    /// that start (its max offset if there is none), summed; -1 when unknown (an older version).
    /// Those entries are flushed, and their records are never rescanned after a crash, so
    /// recovery checks the sum: a queue whose last files were deleted and that received nothing
    /// since the checkpoint leaves no other trace.
    pub cq_entries_floor: i64,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            physic_msg_timestamp: 0,
            logics_msg_timestamp: 0,
            index_msg_timestamp: 0,
            flushed_offset: 0,
            logics_phy_offset: 0,
            index_phy_offset: 0,
            clean_end_offset: -1,
            clean_tail_offset: -1,
            clean_cq_entries: -1,
            cq_entries_floor: -1,
        }
    }
}

impl Checkpoint {
    /// RocketMQ's recovery lower bound: min(physic, logics) - 3 s.
    pub fn min_timestamp(&self) -> i64 {
        self.physic_msg_timestamp
            .min(self.logics_msg_timestamp)
            .saturating_sub(3000)
    }

    fn encode(&self) -> [u8; CHECKPOINT_SIZE] {
        let mut b = [0u8; CHECKPOINT_SIZE];
        let fields = [
            (0, self.physic_msg_timestamp),
            (8, self.logics_msg_timestamp),
            (16, self.index_msg_timestamp),
            (24, self.flushed_offset),
            (32, self.flushed_offset),
            (48, self.logics_phy_offset),
            (56, self.index_phy_offset),
            (64, self.clean_end_offset),
            (72, self.clean_tail_offset),
            (84, self.clean_cq_entries),
            (96, self.cq_entries_floor),
        ];
        for (at, v) in fields {
            b[at..at + 8].copy_from_slice(&v.to_be_bytes());
        }
        b[40..44].copy_from_slice(&MAGIC.to_be_bytes());
        b[44..48].copy_from_slice(&VERSION.to_be_bytes());
        let crc = crc32fast::hash(&b[..80]);
        b[80..84].copy_from_slice(&crc.to_be_bytes());
        for at in [84, 96] {
            let crc = crc32fast::hash(&b[at..at + 8]);
            b[at + 8..at + 12].copy_from_slice(&crc.to_be_bytes());
        }
        b
    }

    fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < 84 || be_u32(b, 40) != MAGIC || be_u32(b, 80) != crc32fast::hash(&b[..80]) {
            return None;
        }
        Some(Checkpoint {
            physic_msg_timestamp: be_i64(b, 0),
            logics_msg_timestamp: be_i64(b, 8),
            index_msg_timestamp: be_i64(b, 16),
            flushed_offset: be_i64(b, 24),
            logics_phy_offset: be_i64(b, 48),
            index_phy_offset: be_i64(b, 56),
            clean_end_offset: be_i64(b, 64),
            clean_tail_offset: be_i64(b, 72),
            clean_cq_entries: checked_field(b, 84),
            cq_entries_floor: checked_field(b, 96),
        })
    }
}

/// An i64 at `at` followed by its own CRC32; -1 when absent or the CRC does not match.
fn checked_field(b: &[u8], at: usize) -> i64 {
    match b.get(at..at + 12) {
        Some(f) if be_u32(f, 8) == crc32fast::hash(&f[..8]) => be_i64(f, 0),
        _ => -1,
    }
}

/// The open checkpoint file.
pub(crate) struct CheckpointFile {
    file: File,
}

impl CheckpointFile {
    /// Opens (creating if needed) and reads the checkpoint; None when absent or invalid.
    pub fn open(path: &Path) -> io::Result<(CheckpointFile, Option<Checkpoint>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut buf = vec![0u8; CHECKPOINT_SIZE];
        let len = file.metadata()?.len() as usize;
        let n = len.min(CHECKPOINT_SIZE);
        file.read_exact_at(&mut buf[..n], 0)?;
        let ck = Checkpoint::decode(&buf[..n]);
        Ok((CheckpointFile { file }, ck))
    }

    /// Writes and syncs the checkpoint.
    pub fn write(&self, ck: &Checkpoint) -> io::Result<()> {
        self.file.write_all_at(&ck.encode(), 0)?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("checkpoint");
        let (f, ck) = CheckpointFile::open(&p).unwrap();
        assert_eq!(ck, None);
        let want = Checkpoint {
            physic_msg_timestamp: 5,
            logics_msg_timestamp: 6,
            index_msg_timestamp: 7,
            flushed_offset: 1000,
            logics_phy_offset: 900,
            index_phy_offset: 800,
            clean_end_offset: 1000,
            clean_tail_offset: 950,
            clean_cq_entries: 77,
            cq_entries_floor: 70,
        };
        f.write(&want).unwrap();
        let raw = std::fs::read(&p).unwrap();
        assert_eq!(raw.len(), CHECKPOINT_SIZE);
        assert_eq!(be_i64(&raw, 24), 1000);
        assert_eq!(be_i64(&raw, 32), 1000);
        assert_eq!(CheckpointFile::open(&p).unwrap().1, Some(want));
        assert_eq!(want.min_timestamp(), 5 - 3000);
        let mut bad = raw.clone();
        bad[3] ^= 1;
        std::fs::write(&p, &bad).unwrap();
        assert_eq!(CheckpointFile::open(&p).unwrap().1, None);
        // A damaged queue count only drops that count; an older file (zeros there) reads too.
        let without_count = Checkpoint {
            clean_cq_entries: -1,
            ..want
        };
        let without_floor = Checkpoint {
            cq_entries_floor: -1,
            ..want
        };
        for fill in [0x5au8, 0] {
            for (at, unknown) in [(84, without_count), (96, without_floor)] {
                let mut old = raw.clone();
                old[at..at + 12].fill(fill);
                std::fs::write(&p, &old).unwrap();
                assert_eq!(CheckpointFile::open(&p).unwrap().1, Some(unknown));
            }
        }
    }
}
