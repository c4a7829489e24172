//! Store configuration. Defaults are RocketMQ's broker defaults (`MessageStoreConfig`), so a store
//! opened with `StoreConfig::new(dir)` sizes its files exactly like a RocketMQ broker would.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Upper bound of `StoreConfig::commit_interval`: past it a process crash could lose seconds of
/// acknowledged puts (still at most `StoreConfig::write_behind_max_uncommitted` bytes), which no
/// setting should ask for.
pub const MAX_COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// How a put is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushDiskType {
    /// A background thread flushes periodically; a put returns once the record is in the page cache.
    AsyncFlush,
    /// A put returns once the record is on disk (group commit: one flush for all waiting puts).
    SyncFlush,
}

/// Everything `MessageStore::open` needs to know.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Root directory holding `commitlog/`, `consumequeue/`, `index/`, `checkpoint`, `abort`, `lock`.
    pub root_dir: PathBuf,
    /// Size of every CommitLog segment file in bytes (RocketMQ: 1 GiB).
    pub commitlog_file_size: u64,
    /// 20-byte entries per ConsumeQueue file (RocketMQ: 300,000).
    pub cq_entries_per_file: u32,
    /// Hash slots per IndexFile (RocketMQ: 5,000,000).
    pub index_slots: u32,
    /// Entries per IndexFile (RocketMQ: 20,000,000).
    pub index_entries: u32,
    /// Durability mode of puts.
    pub flush_disk_type: FlushDiskType,
    /// Period of the async flush thread (RocketMQ: 500 ms).
    pub flush_interval: Duration,
    /// Async flush only flushes when at least this many 4 KiB pages are dirty (RocketMQ: 4).
    pub flush_least_pages: u32,
    /// Async flush flushes everything at least this often (RocketMQ: 10 s).
    pub flush_thorough_interval: Duration,
    /// SYNC_FLUSH: a put not flushed within this resolves as `FlushDiskTimeout` (RocketMQ: 5 s).
    pub sync_flush_timeout: Duration,
    /// Largest accepted body in bytes (RocketMQ: 4 MiB).
    pub max_message_size: usize,
    /// CommitLog segments whose mtime is older than this are deleted by retention (RocketMQ: 72 h).
    pub file_reserved_time: Duration,
    /// Local hours of day (0-23) at which expired segments are deleted (RocketMQ: "04").
    pub delete_when: Vec<u8>,
    /// Above this disk usage (percent) segments are deleted regardless of `delete_when`/age (RocketMQ: 75).
    pub disk_max_used_space_ratio: u8,
    /// Above this disk usage (percent) puts are refused with `ServiceNotAvailable` (RocketMQ: 90).
    pub disk_space_warning_level_ratio: u8,
    /// Verify the body CRC of every record scanned during crash recovery (RocketMQ: true).
    pub check_crc_on_recover: bool,
    /// Maintain IndexFiles for `query_by_key` (RocketMQ: true).
    pub message_index_enable: bool,
    /// The newest IndexFile is synced (and the checkpoint's index offset advanced) at most this
    /// often, and at shutdown. Its hash slots are rewritten at random, so under load every sync
    /// write-protects thousands of pages that are written again at once, each costing a TLB
    /// shootdown and a write fault. After a crash the index thread re-indexes, in the
    /// background, what this interval left unsynced (lookups catch up first, and duplicates are
    /// filtered). RocketMQ syncs an IndexFile only when it is full.
    pub index_flush_interval: Duration,
    /// Address written as STOREHOST in every record and encoded in offset message ids.
    pub store_host: SocketAddr,
    /// Period of the background retention check (RocketMQ `cleanResourceInterval`: 10 s).
    pub clean_resource_interval: Duration,
    /// Bytes of the CommitLog ahead of the write position that a background thread keeps faulted
    /// in (`MADV_POPULATE_WRITE`; under SYNC_FLUSH zeros are written there), and that the allocator
    /// prepares at the start of each new segment, so first-touch page work stays off the put path.
    /// The same thread also faults in the pages ahead of busy ConsumeQueues and, with
    /// `direct_write`, makes the write-behind ring at start (then the CommitLog window itself is
    /// not used: no page-cache pages are written). 0 turns all of it off.
    /// Default 16 MiB (Courier; RocketMQ's `warmMapedFileEnable` warms whole segments instead).
    pub prefault_window: u64,
    /// ASYNC_FLUSH: puts copy records into a small ring of reused memory chunks and one
    /// committer thread writes them to the segment files with `O_DIRECT`, instead of copying into
    /// the mapped segment (which makes the kernel allocate, zero-fill and later write back a fresh
    /// page-cache page per 4 KiB). Reads of recent records come from the chunks. The price: a
    /// broker process killed with kill -9 loses acknowledged ASYNC_FLUSH puts the committer had not
    /// written yet (it writes at least every `commit_interval` and every 2 MiB, and never lets
    /// puts run further ahead than `write_behind_max_uncommitted`: the ring less two chunks;
    /// docs/store.md §6), where a copy into the mapping survives a process crash
    /// (not a machine crash). Where the
    /// filesystem refuses `O_DIRECT` the committer writes through the page cache instead. Ignored
    /// under SYNC_FLUSH and for segment sizes that are not a multiple of 4 KiB.
    /// Default false here, as RocketMQ's `transientStorePoolEnable` (the same idea with a buffered
    /// write); the broker turns it on by default (`directWrite`).
    pub direct_write: bool,
    /// Bytes of the write-behind ring (`direct_write`), in 4 MiB chunks, at least 4 chunks.
    /// Resident memory; less two chunks, also how far the put path may run ahead of the disk
    /// (`write_behind_max_uncommitted`). Default 64 MiB.
    pub write_buffer_bytes: u64,
    /// With `direct_write`: how long the committer waits for 2 MiB to gather before writing
    /// what is pending (RocketMQ's `commitIntervalCommitLog`, 200 ms there). Each write is an
    /// I/O request, so a longer interval costs less CPU at moderate rates; it is also how much
    /// of the newest acknowledged ASYNC_FLUSH puts a process crash can lose. Default 20 ms.
    pub commit_interval: Duration,
}

impl StoreConfig {
    /// A configuration with RocketMQ's defaults, storing under `root_dir`.
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            root_dir: root_dir.into(),
            commitlog_file_size: 1 << 30,
            cq_entries_per_file: 300_000,
            index_slots: 5_000_000,
            index_entries: 20_000_000,
            flush_disk_type: FlushDiskType::AsyncFlush,
            flush_interval: Duration::from_millis(500),
            flush_least_pages: 4,
            flush_thorough_interval: Duration::from_secs(10),
            sync_flush_timeout: Duration::from_secs(5),
            max_message_size: 4 * 1024 * 1024,
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when: vec![4],
            disk_max_used_space_ratio: 75,
            disk_space_warning_level_ratio: 90,
            check_crc_on_recover: true,
            message_index_enable: true,
            index_flush_interval: Duration::from_secs(10),
            store_host: SocketAddr::from((Ipv4Addr::LOCALHOST, 10911)),
            clean_resource_interval: Duration::from_secs(10),
            prefault_window: 16 << 20,
            direct_write: false,
            write_buffer_bytes: 64 << 20,
            commit_interval: Duration::from_millis(20),
        }
    }

    /// With the write-behind buffer, the most acknowledged bytes a process crash can lose: how
    /// far puts may run ahead of its committer, `write_buffer_bytes` less two chunks (8 MiB of
    /// the smallest ring, 56 MiB of the default one).
    pub fn write_behind_max_uncommitted(&self) -> u64 {
        crate::write_behind::max_uncommitted(self.commitlog_file_size, self.write_buffer_bytes)
    }

    /// True when puts go through the write-behind buffer (`direct_write` and its conditions).
    pub fn uses_write_behind(&self) -> bool {
        self.direct_write
            && self.flush_disk_type == FlushDiskType::AsyncFlush
            && crate::write_behind::WriteBehind::supports(self.commitlog_file_size)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.commitlog_file_size < 4096 || self.commitlog_file_size > i32::MAX as u64 + 1 {
            return Err(format!(
                "commitlog_file_size {} must be between 4096 and 2^31 bytes",
                self.commitlog_file_size
            ));
        }
        if self.cq_entries_per_file == 0 {
            return Err("cq_entries_per_file must be at least 1".into());
        }
        if self.index_slots == 0 || self.index_entries < 2 {
            return Err("index_slots must be >= 1 and index_entries >= 2".into());
        }
        if self.flush_interval.is_zero() {
            return Err("flush_interval must be > 0".into());
        }
        if self.index_flush_interval.is_zero() {
            return Err("index_flush_interval must be > 0".into());
        }
        if self.commit_interval.is_zero() || self.commit_interval > MAX_COMMIT_INTERVAL {
            return Err(format!(
                "commit_interval must be between 1 ms and {} ms",
                MAX_COMMIT_INTERVAL.as_millis()
            ));
        }
        if self.delete_when.iter().any(|h| *h > 23) {
            return Err("delete_when holds hours of day, each 0..=23".into());
        }
        Ok(())
    }
}
