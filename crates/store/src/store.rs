//! `MessageStore`: ties the CommitLog, ConsumeQueues, IndexFiles, checkpoint, flush, recovery and
//! retention together and exposes the put/get API the broker uses.
//!
//! Put path invariants: one short critical section (the put lock) assigns the physical offset, the
//! queue offset(s) and the store timestamp, writes the record bytes straight into the
//! write-behind buffer (ASYNC_FLUSH with `direct_write`, see `write_behind.rs`) or the mapped
//! segment (`direct_write` off) and then the run's ConsumeQueue entries (one copy); then it
//! publishes the CommitLog end (`max_phys`) and after it the queue's max offset, so
//! a reader that sees a queue offset also sees its record. SYNC_FLUSH puts stage their bytes
//! instead; the group-commit round writes and publishes them (`stage.rs`), and the arrival listener
//! runs only once a put's records are visible. Queue offsets are dense per queue: they come only
//! from the queue's `next_offset` inside the lock. Nothing
//! blocking runs on the caller's task except the rare creation of a ConsumeQueue file (once per
//! `cq_entries_per_file` entries); segment creation happens on the
//! allocator thread and flushing on the flush thread, which `put` awaits through oneshots.
//!
//! Threads: allocator (segments), flush (async interval flush or SYNC group commit), committer
//! (write-behind buffer to the files, direct writes only), prefault (CommitLog pages ahead with
//! mapped writes, ConsumeQueue pages ahead always, the write-behind ring at start), housekeeping
//! (CQ/index flush + checkpoint every second, retention every `clean_resource_interval`), index
//! (builds IndexFile entries behind the put path). Files: `lock` (flock, held while open), `abort`
//! (exists while open, removed by a clean shutdown), `checkpoint`, `corrupt` (quarantined holes,
//! one `start end reason` line each).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::allocator::{Allocator, Take};
use crate::checkpoint::{Checkpoint, CheckpointFile};
use crate::commitlog::CommitLog;
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::StoreError;
use crate::flush::{run_async_flush, GroupCommit, Stopper};
use crate::index::IndexService;
use crate::mapped_file::MappedFile;
use crate::message::{
    decode_record_with, now_ms, peek_head, peek_store_timestamp, property_value, run_msg_ids,
    write_record, MessageRef, MessageToStore, PreparedRecord, RecordHead,
    END_FILE_MIN_BLANK_LENGTH, MAGIC_BLANK, MAX_PROPERTIES_LEN,
};
use crate::prefault::{run_prefault, PrefaultStats, ZeroFence};
use crate::put_latency::{PutLatency, PutLatencySnapshot};
use crate::recovery::{CorruptRecord, CqTable, Recovery, RecoveryReport};
use crate::stage::{Spare, Staged, MAX_STAGED};
use crate::write_behind::{Cover, Slot, WriteBehind};

/// Outcome of a put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutStatus {
    /// Stored (and flushed, under SYNC_FLUSH with WAIT not "false").
    PutOk,
    /// Stored, but not confirmed on disk within `sync_flush_timeout` (or the flush failed).
    FlushDiskTimeout,
    /// A new segment or ConsumeQueue file could not be created (e.g. ENOSPC); nothing was stored.
    CreateMappedFileFailed,
    /// The message is invalid (see `PutResult::reason`); nothing was stored.
    MessageIllegal,
    /// Properties longer than 32767 bytes; nothing was stored.
    PropertiesSizeExceeded,
    /// Disk full or store shut down; nothing was stored.
    ServiceNotAvailable,
    /// The write-behind buffer stayed full for `sync_flush_timeout`: the disk cannot keep up
    /// (or keeps failing); nothing was stored. RocketMQ clients back off and retry.
    OsPageCacheBusy,
    /// Unexpected internal failure; nothing was stored.
    UnknownError,
}

/// Result of `put` / `put_batch`.
#[derive(Clone, Debug)]
pub struct PutResult {
    /// Outcome.
    pub status: PutStatus,
    /// CommitLog offset of the first record (-1 when nothing was stored).
    pub phys_offset: i64,
    /// Bytes written for all records.
    pub wrote_bytes: i32,
    /// Queue offset of the first record (0 for prepared/rollback transaction records).
    pub queue_offset: i64,
    /// Records written.
    pub msg_count: u32,
    /// Store timestamp of the records.
    pub store_timestamp: i64,
    /// Offset message ids of the records, comma-joined, one for a single put (empty when nothing
    /// was stored): what a SEND_MESSAGE or SEND_BATCH_MESSAGE answers with, as RocketMQ's store
    /// builds it for a batch.
    pub msg_id: String,
    /// Why the put failed, for statuses other than PutOk.
    pub reason: Option<String>,
}

impl PutResult {
    fn failed(status: PutStatus, reason: impl Into<String>) -> PutResult {
        PutResult {
            status,
            phys_offset: -1,
            wrote_bytes: 0,
            queue_offset: -1,
            msg_count: 0,
            store_timestamp: 0,
            msg_id: String::new(),
            reason: Some(reason.into()),
        }
    }
}

/// Outcome of `get_messages` (RocketMQ GetMessageStatus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one message returned.
    Found,
    /// Entries were scanned but none matched the tag filter.
    NoMatchedMessage,
    /// The entries scanned point into deleted CommitLog data.
    MessageWasRemoving,
    /// The entries scanned could not be read (lost or quarantined records).
    OffsetFoundNull,
    /// Offset beyond max.
    OffsetOverflowBadly,
    /// Offset == max (nothing new yet).
    OffsetOverflowOne,
    /// Offset below min.
    OffsetTooSmall,
    /// The queue does not exist.
    NoMatchedLogicQueue,
    /// The queue exists but is empty.
    NoMessageInQueue,
}

/// Result of `get_messages`.
#[derive(Clone, Debug)]
pub struct GetResult {
    /// Outcome.
    pub status: GetStatus,
    /// Queue offset to ask for next.
    pub next_begin_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
    /// Queue max offset (next to be written).
    pub max_offset: i64,
    /// Stored record bytes (zero-copy views of the mapped segments).
    pub messages: Vec<Bytes>,
}

/// Called after a message is dispatched: (topic, queue id, queue offset, tags code, encoded
/// properties). The properties let a long-polling reader with a property filter (SQL92) wake only
/// for messages it would take, without reading the record back.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64, i64, &str) + Send + Sync>;

/// Keeps a record in a read by its encoded properties (`name\u{1}value\u{2}…`): the second stage
/// of RocketMQ's message filter, after the ConsumeQueue's tags code (SQL92 selectors).
pub type PropertiesFilter<'a> = &'a dyn Fn(&str) -> bool;

/// Most CQ entries one `get_messages` call examines (RocketMQ `maxFilterMessageCount`).
const MAX_SCAN_ENTRIES: usize = 16_000;
/// The same bound when records are filtered by their properties: each entry scanned then reads
/// its record and runs the filter (about a microsecond), and a read runs on the broker's async
/// worker, so one pull through a long run of non-matching messages must not hold it for tens
/// of milliseconds. The reader continues from `next_begin_offset` (PULL_RETRY_IMMEDIATELY).
pub const MAX_SCAN_ENTRIES_FILTERED: usize = 2_000;

pub(crate) struct PutState {
    /// SYNC_FLUSH: records encoded but not yet written to the segment file (`stage.rs`).
    pub(crate) stage: Staged,
    cur: Option<Arc<MappedFile>>,
    wrote: u64,
    last_record_start: Option<u64>,
    /// The queue of the previous put: consecutive puts to one queue skip the table lookup.
    last_cq: Option<Arc<ConsumeQueue>>,
    /// Encoding buffer for records that straddle two write-behind chunks, reused across puts.
    buf: Vec<u8>,
    /// The run's ConsumeQueue entries, encoded, then written with one copy after the records:
    /// a copy per entry cost 47-80 ns each in 32 x 1 KiB batch sends (TSC-timed; the lines are
    /// rarely cached), one copy per run 20-29 ns an entry.
    cq_run: Vec<u8>,
    /// The newest write-behind slot (direct writes).
    wb_cur: Option<Slot>,
    /// A segment taken from the allocator that the put path could not switch to (sealing the
    /// current one failed): the next attempt uses it. The allocator never hands a start out
    /// twice (`allocator.rs`), so it must not be dropped.
    next_seg: Option<Arc<MappedFile>>,
}

/// A put buffer grown past this by a large batch is released instead of kept.
const MAX_KEPT_PUT_BUF: usize = 1 << 20;
/// The same for the ConsumeQueue run buffer (64 KiB: 3,276 entries).
const MAX_KEPT_CQ_RUN: usize = 64 << 10;
/// The index thread's sleep once it has caught up with the log (doubled while idle, to 64 ms).
const INDEX_POLL: Duration = Duration::from_millis(10);

pub(crate) struct IndexState {
    pub svc: IndexService,
    pub next: u64,
    pub last_ts: i64,
    /// Times the index thread found nothing to do and slept (tests look at it).
    pub sleeps: u64,
}

pub(crate) struct Inner {
    pub cfg: StoreConfig,
    pub cl: CommitLog,
    pub(crate) put: Mutex<PutState>,
    /// Serializes `drain_staged` (taken before `put`), see `stage.rs`.
    pub(crate) drain_lock: Mutex<Spare>,
    pub cqs: RwLock<CqTable>,
    cq_root: PathBuf,
    alloc: Allocator,
    group: GroupCommit,
    pub index: Option<Mutex<IndexState>>,
    /// When the newest IndexFile was last synced, and the checkpoint's index fields that sync
    /// made true (`write_checkpoint`); None until the first checkpoint.
    index_synced: Mutex<Option<IndexSynced>>,
    ckfile: Mutex<CheckpointFile>,
    listener: RwLock<Option<ArrivalListener>>,
    has_listener: AtomicBool,
    pub quarantine: RwLock<BTreeMap<u64, (u64, String)>>,
    pub has_quarantine: AtomicBool,
    pub disk_full: AtomicBool,
    shut: AtomicBool,
    pub stopper: Stopper,
    pub prefault_stats: Mutex<PrefaultStats>,
    put_latency: PutLatency,
    /// Queues whose next pages the prefault thread should fault in (ConsumeQueue::wants_prefault).
    pub cq_prefault: Mutex<Vec<Arc<ConsumeQueue>>>,
    /// The prefault thread, once started: the put path wakes it (`unpark`, after releasing the
    /// put lock) when it asks for a queue, so with direct writes the thread need not poll while
    /// the log moves.
    pub prefault_thread: OnceLock<Thread>,
    /// Keeps the prefault thread's zeros off records being written (SYNC_FLUSH segments).
    pub zero_fence: ZeroFence,
    lock_file: File,
    pub root: PathBuf,
    /// Tests: this many coming `drain_staged` calls fail before writing.
    #[cfg(test)]
    pub test_fail_drains: std::sync::atomic::AtomicU32,
    /// Tests: whether the index lock was free when the last checkpoint synced the index.
    #[cfg(test)]
    pub test_index_lock_free_at_sync: Mutex<Option<bool>>,
}

/// An index sync as a checkpoint records it: every record below `phys` was indexed and synced.
#[derive(Clone, Copy)]
struct IndexSynced {
    at: Instant,
    phys: u64,
    ts: i64,
}

pub(crate) enum Outcome {
    Done {
        phys: u64,
        queue_offset: i64,
        ts: i64,
        end: u64,
        cq: Option<Arc<ConsumeQueue>>,
        /// The records are staged (`stage.rs`): not visible until drained.
        staged: bool,
        /// A queue was handed to the prefault thread: wake it once the put lock is released.
        prefault: bool,
    },
    NeedSegment(u64),
    /// Staged bytes must be written before the put path moves to the next segment.
    NeedDrain,
    /// The write-behind buffer has room once the committer passes this log offset.
    NeedRoom(u64),
    Fail(PutStatus, String),
}

/// The message store. `Send + Sync`; share it as `Arc<MessageStore>`.
pub struct MessageStore {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    report: RecoveryReport,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |e| StoreError::io(path, e)
}

fn lock_store(root: &Path) -> Result<File, StoreError> {
    let path = root.join("lock");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err(&path))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(StoreError::Locked(path));
        }
        return Err(StoreError::io(path, e));
    }
    Ok(f)
}

fn open_queues(root: &Path, entries: u32) -> Result<CqTable, StoreError> {
    let mut table = CqTable::new();
    for t in std::fs::read_dir(root).map_err(io_err(root))? {
        let t = t.map_err(io_err(root))?;
        if !t.path().is_dir() {
            continue;
        }
        let topic = t.file_name().to_string_lossy().into_owned();
        for q in std::fs::read_dir(t.path()).map_err(|e| StoreError::io(t.path(), e))? {
            let q = q.map_err(|e| StoreError::io(t.path(), e))?;
            let Ok(qid) = q.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cq = ConsumeQueue::open(root, &topic, qid, entries)
                .map_err(|e| StoreError::io(q.path(), e))?;
            table
                .entry(topic.clone())
                .or_default()
                .insert(qid, Arc::new(cq));
        }
    }
    Ok(table)
}

fn load_quarantine(path: &Path) -> BTreeMap<u64, (u64, String)> {
    let mut m = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        for line in text.lines() {
            let mut it = line.splitn(3, ' ');
            if let (Some(Ok(a)), Some(Ok(b))) =
                (it.next().map(str::parse), it.next().map(str::parse))
            {
                m.insert(a, (b, it.next().unwrap_or("").to_string()));
            }
        }
    }
    m
}

pub(crate) fn save_quarantine(
    path: &Path,
    m: &BTreeMap<u64, (u64, String)>,
) -> std::io::Result<()> {
    let mut s = String::new();
    for (a, (b, r)) in m {
        s.push_str(&format!("{a} {b} {}\n", r.replace('\n', " ")));
    }
    courier_durable_file::replace(path, s.as_bytes(), None)
}

/// The checkpoint's `clean_cq_entries` of these queues: the sum of their max offsets.
fn cq_entry_count<'a>(queues: impl Iterator<Item = &'a ConsumeQueue>) -> i64 {
    queues.fold(0i64, |n, q| n.wrapping_add(q.max_offset()))
}

pub(crate) fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= i16::MAX as usize
        && t != "."
        && t != ".."
        && !t.bytes().any(|b| b == b'/' || b == 0)
}

impl MessageStore {
    /// Opens (creating if needed) the store under `config.root_dir`: takes the lock, recovers the
    /// CommitLog and ConsumeQueues, and starts the background threads. Blocking.
    pub fn open(config: StoreConfig) -> Result<MessageStore, StoreError> {
        config.validate().map_err(StoreError::Config)?;
        let root = config.root_dir.clone();
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        let lock_file = lock_store(&root)?;
        let cq_root = root.join("consumequeue");
        std::fs::create_dir_all(&cq_root).map_err(io_err(&cq_root))?;
        let abort = root.join("abort");
        let crashed = abort.exists();
        File::create(&abort)
            .and_then(|f| f.sync_all())
            .map_err(io_err(&abort))?;
        let ck_path = root.join("checkpoint");
        let (ckfile, ck) = CheckpointFile::open(&ck_path).map_err(io_err(&ck_path))?;

        let cl_dir = root.join("commitlog");
        let unmapped_writes = config.flush_disk_type == FlushDiskType::SyncFlush;
        let write_behind = config.uses_write_behind();
        // Direct writes make no page-cache pages: nothing to pre-fault.
        let prefault_window = if write_behind {
            0
        } else {
            config.prefault_window
        };
        let loaded = CommitLog::load(&cl_dir, config.commitlog_file_size, unmapped_writes)?;
        let mut segments = loaded.segments;
        let mut cqs = open_queues(&cq_root, config.cq_entries_per_file)?;
        let q_path = root.join("corrupt");
        let mut quarantine = load_quarantine(&q_path);

        let mut rec = Recovery {
            segments: &mut segments,
            cqs: &mut cqs,
            cq_root: &cq_root,
            cq_entries_per_file: config.cq_entries_per_file,
            check_crc: config.check_crc_on_recover,
            max_record_len: config.max_message_size as u64 + 64 * 1024 + 512,
            report: RecoveryReport {
                repaired_segments: loaded.repaired.len() as u32,
                ..Default::default()
            },
        };
        // A short ConsumeQueue file lost entries whose records are still in the log. Trusting a
        // clean checkpoint would leave that queue's max offset behind its records, and new
        // messages would reuse their offsets (and a later crash recovery would drop them as out
        // of order): rebuild from the first segment instead.
        let short_queues = rec
            .cqs
            .values()
            .flat_map(|m| m.values())
            .filter(|q| q.repaired())
            .count();
        rec.report.repaired_cq_files = short_queues as u32;
        // A queue's newest file(s) deleted (or a whole queue directory) leave the queue ending
        // early with nothing wrong in the files that are left; only the count of entries the
        // queues held at the last clean shutdown shows it. Checked after a crash too: that clean
        // shutdown is then the last thing known about the queues that a scan from the
        // checkpoint may not revisit.
        let entries = cq_entry_count(
            rec.cqs
                .values()
                .flat_map(|m| m.values())
                .map(|q| q.as_ref()),
        );
        let missing = ck.is_some_and(|c| c.clean_cq_entries >= 0 && c.clean_cq_entries != entries);
        if missing {
            tracing::warn!(
                expected = ck.map(|c| c.clean_cq_entries),
                found = entries,
                "consume queues do not hold the entries they held at the last clean shutdown; rebuilding them from the commitlog"
            );
            rec.report.missing_cq_entries = true;
        }
        let first_segment = rec.segments.first().map(|s| s.start());
        let rebuild_from = loaded
            .repaired
            .first()
            .map(|r| r.0)
            .or(first_segment.filter(|_| short_queues > 0 || missing));
        let t0 = Instant::now();
        let recovered = rec.run(crashed, ck, rebuild_from)?;
        let mut report = rec.report;
        for h in &recovered.holes {
            quarantine.insert(h.offset as u64, (h.resume_offset as u64, h.reason.clone()));
        }
        report.corrupt = recovered.holes.clone();
        let log_end = recovered.log_end;
        quarantine.retain(|start, _| *start < log_end);
        if !recovered.holes.is_empty() || q_path.exists() {
            save_quarantine(&q_path, &quarantine).map_err(io_err(&q_path))?;
        }

        // The segment that receives the next record.
        let fs = config.commitlog_file_size;
        let mut cur = segments
            .iter()
            .find(|s| s.start() <= log_end && log_end < s.end())
            .cloned();
        if cur.is_none() && segments.last().is_none_or(|s| s.end() == log_end) {
            if log_end % fs != 0 {
                return Err(StoreError::Layout(format!(
                    "commitlog end {log_end} is not a segment boundary"
                )));
            }
            let p = cl_dir.join(crate::mapped_file::offset_file_name(log_end));
            let mut seg = MappedFile::create(&p, log_end, fs).map_err(io_err(&p))?;
            if let Err(e) = seg.sync_dir() {
                tracing::debug!("cannot fsync the directory of {}: {e}", p.display());
            }
            if unmapped_writes {
                seg = seg.with_unmapped_writes();
            }
            let seg = Arc::new(seg);
            segments.push(Arc::clone(&seg));
            cur = Some(seg);
        }
        // Crash recovery may have read data only present in the page cache: make it durable now.
        if let Some(start) = recovered.scan_start {
            for s in segments.iter().filter(|s| s.end() > start) {
                let from = start.max(s.start()) - s.start();
                s.flush_range(from, s.len() - from)
                    .map_err(io_err(s.path()))?;
            }
        }
        let min_phys = segments.first().map(|s| s.start()).unwrap_or(log_end) as i64;
        for q in cqs.values().flat_map(|m| m.values()) {
            q.advance_min(min_phys);
            q.flush().map_err(io_err(q.dir()))?;
        }

        let index = if config.message_index_enable {
            let dir = root.join("index");
            let svc = IndexService::open(&dir, config.index_slots, config.index_entries)
                .map_err(io_err(&dir))?;
            let resume = match ck {
                Some(ck) => ck.index_phy_offset.max(0) as u64,
                None => svc
                    .last_indexed_phys()
                    .map(|p| p.max(0) as u64)
                    .unwrap_or(0),
            };
            let next = resume.clamp(min_phys as u64, log_end);
            Some(Mutex::new(IndexState {
                svc,
                next,
                last_ts: 0,
                sleeps: 0,
            }))
        } else {
            None
        };

        let wb = write_behind.then(|| {
            WriteBehind::new(
                fs,
                config.write_buffer_bytes,
                log_end,
                config.commit_interval,
            )
        });
        let cl = CommitLog::new(cl_dir.clone(), fs, segments, log_end, wb);
        cl.last_store_ts
            .store(recovered.last_store_ts, Ordering::Release);
        cl.flushed_store_ts
            .store(recovered.last_store_ts, Ordering::Release);
        let inner = Arc::new(Inner {
            put: Mutex::new(PutState {
                stage: Staged::default(),
                cur: cur.clone(),
                wrote: log_end,
                last_record_start: recovered.tail_start,
                last_cq: None,
                buf: Vec::new(),
                cq_run: Vec::new(),
                wb_cur: None,
                next_seg: None,
            }),
            drain_lock: Mutex::new(Spare::default()),
            cqs: RwLock::new(cqs),
            cq_root,
            alloc: Allocator::new(cl_dir, fs, unmapped_writes, prefault_window),
            group: GroupCommit::new(),
            index,
            index_synced: Mutex::new(None),
            ckfile: Mutex::new(ckfile),
            listener: RwLock::new(None),
            has_listener: AtomicBool::new(false),
            has_quarantine: AtomicBool::new(!quarantine.is_empty()),
            quarantine: RwLock::new(quarantine),
            disk_full: AtomicBool::new(false),
            shut: AtomicBool::new(false),
            stopper: Stopper::new(),
            prefault_stats: Mutex::new(PrefaultStats::default()),
            put_latency: PutLatency::new(Instant::now()),
            cq_prefault: Mutex::new(Vec::new()),
            prefault_thread: OnceLock::new(),
            zero_fence: ZeroFence::new(log_end),
            lock_file,
            root,
            #[cfg(test)]
            test_fail_drains: std::sync::atomic::AtomicU32::new(0),
            #[cfg(test)]
            test_index_lock_free_at_sync: Mutex::new(None),
            cl,
            cfg: config,
        });
        // From here on a crash must not trust the old clean-shutdown fields.
        inner.write_checkpoint(None).map_err(io_err(&ck_path))?;
        inner.check_disk();
        if let Some(c) = &cur {
            inner.alloc.prefetch(c.end());
        }
        report.elapsed = t0.elapsed();
        let store = MessageStore {
            inner: Arc::clone(&inner),
            threads: Mutex::new(Vec::new()),
            report,
        };
        store
            .start_threads()
            .map_err(|e| StoreError::io(&inner.root, e))?;
        Ok(store)
    }

    fn start_threads(&self) -> std::io::Result<()> {
        let mut th = self.threads.lock();
        let i = Arc::clone(&self.inner);
        th.push(
            std::thread::Builder::new()
                .name("store-alloc".into())
                .spawn(move || i.alloc.run())?,
        );
        let i = Arc::clone(&self.inner);
        th.push(match self.inner.cfg.flush_disk_type {
            FlushDiskType::AsyncFlush => std::thread::Builder::new()
                .name("store-flush".into())
                .spawn(move || run_async_flush(&i))?,
            FlushDiskType::SyncFlush => std::thread::Builder::new()
                .name("store-gcommit".into())
                .spawn(move || i.group.run(&i))?,
        });
        let i = Arc::clone(&self.inner);
        th.push(
            std::thread::Builder::new()
                .name("store-house".into())
                .spawn(move || i.housekeeping())?,
        );
        if self.inner.cl.wb.is_some() {
            let i = Arc::clone(&self.inner);
            th.push(
                std::thread::Builder::new()
                    .name("store-commit".into())
                    .spawn(move || {
                        if let Some(wb) = &i.cl.wb {
                            wb.run(|| i.cl.max_phys());
                        }
                    })?,
            );
        }
        if self.inner.cfg.prefault_window > 0 {
            let i = Arc::clone(&self.inner);
            th.push(
                std::thread::Builder::new()
                    .name("store-prefault".into())
                    .spawn(move || run_prefault(&i))?,
            );
        }
        if self.inner.index.is_some() {
            let i = Arc::clone(&self.inner);
            th.push(
                std::thread::Builder::new()
                    .name("store-index".into())
                    .spawn(move || i.index_loop())?,
            );
        }
        Ok(())
    }

    /// What the write-behind committer has done (None without direct writes).
    pub fn write_behind_stats(&self) -> Option<crate::write_behind::WriteBehindStats> {
        self.inner.cl.wb.as_ref().map(|w| w.stats())
    }

    /// What the prefault thread has done so far.
    #[cfg(test)]
    pub(crate) fn prefault_stats(&self) -> PrefaultStats {
        *self.inner.prefault_stats.lock()
    }

    /// The shared state, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn test_inner(&self) -> &Inner {
        &self.inner
    }

    /// Stops the background threads (group commit, prefault, ...) so a test drives the put path
    /// and the drains by hand.
    #[cfg(test)]
    pub(crate) fn test_stop_threads(&self) {
        self.stop_threads();
    }

    /// What recovery found when this store was opened.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Appends one message.
    pub async fn put(&self, msg: MessageToStore) -> PutResult {
        self.append(&[msg.as_ref()]).await
    }

    /// Appends messages of one topic and queue as one contiguous run with consecutive queue offsets.
    pub async fn put_batch(&self, msgs: Vec<MessageToStore>) -> PutResult {
        let refs: Vec<MessageRef<'_>> = msgs.iter().map(MessageToStore::as_ref).collect();
        self.append(&refs).await
    }

    /// [`put_batch`](Self::put_batch) of borrowed messages: the broker's SEND_BATCH_MESSAGE
    /// path, which reads every message where the request holds it.
    pub async fn put_batch_refs(&self, msgs: &[MessageRef<'_>]) -> PutResult {
        self.append(msgs).await
    }

    /// How long puts have taken (`put_latency.rs`).
    pub fn put_latency(&self) -> PutLatencySnapshot {
        self.inner.put_latency.snapshot(Instant::now())
    }

    async fn append(&self, msgs: &[MessageRef<'_>]) -> PutResult {
        let started = Instant::now();
        let result = self.append_untimed(msgs).await;
        let now = Instant::now();
        self.inner
            .put_latency
            .record(now.saturating_duration_since(started), now);
        result
    }

    async fn append_untimed(&self, msgs: &[MessageRef<'_>]) -> PutResult {
        let inner = &*self.inner;
        if let Err(r) = inner.validate(msgs) {
            return r;
        }
        let host = inner.cfg.store_host;
        let single;
        let many: Vec<PreparedRecord<'_>>;
        let recs: &[PreparedRecord<'_>] = if msgs.len() == 1 {
            single = [PreparedRecord::new(msgs[0], &host)];
            &single
        } else {
            many = msgs
                .iter()
                .map(|m| PreparedRecord::new(*m, &host))
                .collect();
            &many
        };
        let total: usize = recs.iter().map(|r| r.len).sum();
        if total as u64 + END_FILE_MIN_BLANK_LENGTH as u64 > inner.cfg.commitlog_file_size {
            return PutResult::failed(
                PutStatus::MessageIllegal,
                format!(
                    "{total} bytes of records do not fit in a {} byte commitlog segment",
                    inner.cfg.commitlog_file_size
                ),
            );
        }
        // When a put that had to wait for write-behind room gives up (set at its first wait:
        // most puts never wait, and need no clock read for it).
        let mut room_deadline = None;
        let (phys, queue_offset, ts, end, cq, staged) = loop {
            let outcome = inner.try_append(recs, total);
            // Whatever the outcome (a segment switch publishes too), the committer learns of new
            // bytes here, after the put lock is released, as RocketMQ wakes its flush service
            // after `putMessageLock.unlock()`: the woken committer often lands on this CPU and
            // preempts the waker, which must not happen while other appenders wait for the lock.
            if let Some(wb) = &inner.cl.wb {
                wb.published(inner.cl.max_phys());
            }
            match outcome {
                Outcome::Done {
                    phys,
                    queue_offset,
                    ts,
                    end,
                    cq,
                    staged,
                    prefault,
                } => {
                    // Outside the put lock, like the committer's wake-up above.
                    if prefault {
                        if let Some(t) = inner.prefault_thread.get() {
                            t.unpark();
                        }
                    }
                    break (phys, queue_offset, ts, end, cq, staged);
                }
                Outcome::NeedDrain => {
                    if let Err(e) = inner.drain_staged() {
                        return PutResult::failed(
                            PutStatus::UnknownError,
                            format!(
                                "cannot write to the commitlog in {}: {e}; check the disk",
                                inner.cl.dir.display()
                            ),
                        );
                    }
                }
                Outcome::NeedSegment(start) => {
                    let _ = inner.alloc.wait_ready(start).await;
                    if inner.stopper.is_stopped() {
                        return PutResult::failed(
                            PutStatus::ServiceNotAvailable,
                            "store is shutting down",
                        );
                    }
                }
                Outcome::NeedRoom(at) => {
                    // Waited for outside the put lock and without blocking the thread.
                    let Some(wb) = &inner.cl.wb else {
                        return PutResult::failed(
                            PutStatus::UnknownError,
                            "no write-behind buffer",
                        );
                    };
                    let deadline = *room_deadline.get_or_insert_with(|| {
                        tokio::time::Instant::now() + inner.cfg.sync_flush_timeout
                    });
                    if !wb.wait_committed(at, deadline).await {
                        if wb.stopped() {
                            return PutResult::failed(
                                PutStatus::ServiceNotAvailable,
                                "store is shutting down",
                            );
                        }
                        return PutResult::failed(
                            PutStatus::OsPageCacheBusy,
                            wb.full_reason(inner.cfg.sync_flush_timeout),
                        );
                    }
                }
                Outcome::Fail(status, reason) => return PutResult::failed(status, reason),
            }
        };
        let wait = inner.cfg.flush_disk_type == FlushDiskType::SyncFlush
            && property_value(msgs[0].properties, "WAIT") != Some("false");
        // Staged records become visible when a group-commit round (or the drain below) writes
        // them; the arrival listener is told only then, so a woken reader finds them.
        let status = if wait {
            let rx = inner.group.enqueue(end);
            match tokio::time::timeout(inner.cfg.sync_flush_timeout, rx).await {
                Ok(Ok(true)) => PutStatus::PutOk,
                _ => PutStatus::FlushDiskTimeout,
            }
        } else if staged {
            match inner.drain_staged() {
                Ok(()) => PutStatus::PutOk,
                Err(e) => {
                    tracing::error!("commitlog write failed: {e}; will retry");
                    PutStatus::FlushDiskTimeout
                }
            }
        } else {
            PutStatus::PutOk
        };
        if inner.has_listener.load(Ordering::Acquire) {
            if let (Some(l), Some(cq)) = (inner.listener.read().clone(), cq) {
                for (q, r) in (queue_offset..).zip(recs.iter().filter(|r| r.dispatch)) {
                    l(&cq.topic, cq.queue_id, q, r.tags_code, r.msg.properties);
                }
            }
        }
        PutResult {
            status,
            phys_offset: phys as i64,
            wrote_bytes: total as i32,
            queue_offset,
            msg_count: msgs.len() as u32,
            store_timestamp: ts,
            msg_id: run_msg_ids(host, phys as i64, recs.iter().map(|r| r.len)),
            reason: (status != PutStatus::PutOk)
                .then(|| "stored, but not confirmed on disk in time".to_string()),
        }
    }

    /// Whether `get_messages` from `offset` would read log bytes that are not in memory: the
    /// first record lies below the write-behind buffer (or the log is written through its
    /// mapping) and a page of its first `max_bytes` (at most 256 KiB looked at) is not in the page
    /// cache. With `O_DIRECT` writes everything older than the buffer was never cached, so a
    /// consumer lagging more than `write_buffer_bytes` reads from the disk. The broker runs
    /// such reads off its async workers, as RocketMQ gives pulls a thread pool of their own, so a
    /// slow disk holds up that consumer only. A hint: a wrong answer costs a thread hop or a wait.
    pub fn reads_from_disk(&self, topic: &str, queue_id: i32, offset: i64, max_bytes: u32) -> bool {
        const PROBE: u64 = 256 << 10;
        let inner = &*self.inner;
        let Some(cq) = inner.cq(topic, queue_id) else {
            return false;
        };
        if offset < cq.min_offset() || offset >= cq.max_offset() {
            return false;
        }
        let Some(e) = cq.raw_entry(offset) else {
            return false;
        };
        if e.is_lost() || e.phys < 0 {
            return false;
        }
        // At least the first record, at most PROBE (a record can be larger than PROBE).
        let len = u64::from(max_bytes)
            .max(u64::from(e.size.max(1) as u32))
            .min(PROBE);
        self.log_reads_from_disk(e.phys as u64, len)
    }

    /// Whether reading `[phys, phys+len)` of the log would wait for the disk: it lies below the
    /// write-behind buffer (or the log is written through its mapping) and `mincore` finds a page
    /// of it missing from the page cache. See `reads_from_disk`.
    pub fn log_reads_from_disk(&self, phys: u64, len: u64) -> bool {
        let cl = &self.inner.cl;
        if phys >= cl.file_floor() {
            return false;
        }
        let Some(seg) = cl.segment_for(phys) else {
            return false;
        };
        !seg.resident(phys - seg.start(), len)
    }

    /// Reads up to `max_count` messages (and about `max_bytes`) from a queue starting at `offset`,
    /// keeping only entries whose tags code is in `tag_codes` when given and non-empty.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: u32,
        max_bytes: u32,
        tag_codes: Option<&[i64]>,
    ) -> GetResult {
        self.get_messages_filtered(
            topic, queue_id, offset, max_count, max_bytes, tag_codes, None,
        )
    }

    /// [`get_messages`](Self::get_messages) that also keeps only records whose properties pass
    /// `properties` (when given). A record it rejects counts as filtered, like a tags-code
    /// mismatch: an empty result then says `NoMatchedMessage` with `next_begin_offset` past it.
    #[allow(clippy::too_many_arguments)]
    pub fn get_messages_filtered(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: u32,
        max_bytes: u32,
        tag_codes: Option<&[i64]>,
        properties: Option<PropertiesFilter<'_>>,
    ) -> GetResult {
        let inner = &*self.inner;
        let Some(cq) = inner.cq(topic, queue_id) else {
            return GetResult {
                status: GetStatus::NoMatchedLogicQueue,
                next_begin_offset: 0,
                min_offset: 0,
                max_offset: 0,
                messages: Vec::new(),
            };
        };
        let (min, max) = (cq.min_offset(), cq.max_offset());
        let mut res = GetResult {
            status: GetStatus::Found,
            next_begin_offset: offset,
            min_offset: min,
            max_offset: max,
            messages: Vec::new(),
        };
        if max == 0 {
            res.status = GetStatus::NoMessageInQueue;
            res.next_begin_offset = 0;
            return res;
        }
        if offset < min {
            res.status = GetStatus::OffsetTooSmall;
            res.next_begin_offset = min;
            return res;
        }
        if offset == max {
            res.status = GetStatus::OffsetOverflowOne;
            return res;
        }
        if offset > max {
            res.status = GetStatus::OffsetOverflowBadly;
            res.next_begin_offset = if min == 0 { min } else { max };
            return res;
        }
        let filter = tag_codes.filter(|c| !c.is_empty());
        let want = max_count.max(1) as usize;
        let min_phys = inner.cl.min_phys() as i64;
        let (mut filtered, mut removed, mut bytes) = (false, false, 0u64);
        let mut o = offset;
        let mut scanned = 0;
        let mut window = None;
        let mut cq_file = None;
        let max_scan = if properties.is_some() {
            MAX_SCAN_ENTRIES_FILTERED
        } else {
            MAX_SCAN_ENTRIES
        };
        while o < max && res.messages.len() < want && scanned < max_scan {
            let Some(e) = cq.raw_entry_cached(&mut cq_file, o) else {
                break;
            };
            scanned += 1;
            if e.is_lost() || e.size <= 0 || inner.is_quarantined(e.phys as u64) {
                o += 1;
                continue;
            }
            if e.phys < min_phys {
                removed = true;
                o += 1;
                continue;
            }
            if let Some(codes) = filter {
                if !codes.contains(&e.tags_code) {
                    filtered = true;
                    o += 1;
                    continue;
                }
            }
            if !res.messages.is_empty() && bytes + e.size as u64 > max_bytes as u64 {
                break;
            }
            match inner
                .cl
                .read_record_windowed(&mut window, e.phys as u64, e.size as u32)
            {
                // A record whose QUEUEOFFSET disagrees with its CQ position is not this entry's.
                Some(b) if crate::message::be_i64(&b, crate::message::POS_QUEUE_OFFSET) == o => {
                    // A record whose properties cannot be read matches no property filter, as a
                    // Java broker's failed evaluation does not.
                    let keep = properties.is_none_or(|keep| {
                        crate::message::index_view(&b).is_some_and(|v| keep(v.properties))
                    });
                    if keep {
                        bytes += b.len() as u64;
                        res.messages.push(b);
                    } else {
                        filtered = true;
                    }
                }
                Some(_) => {}
                None if e.phys < inner.cl.min_phys() as i64 => removed = true,
                None => {}
            }
            o += 1;
        }
        res.next_begin_offset = o;
        if res.messages.is_empty() {
            res.status = if removed {
                GetStatus::MessageWasRemoving
            } else if filtered {
                GetStatus::NoMatchedMessage
            } else {
                GetStatus::OffsetFoundNull
            };
        }
        res
    }

    /// First valid logical offset of a queue (0 if the queue does not exist).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .cq(topic, queue_id)
            .map(|q| q.min_offset())
            .unwrap_or(0)
    }

    /// Next logical offset to be written in a queue (0 if the queue does not exist).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.inner
            .cq(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    }

    /// First queue offset whose message was stored at or after `timestamp_ms` (max offset if none,
    /// 0 for an unknown queue).
    pub fn offset_by_time(&self, topic: &str, queue_id: i32, timestamp_ms: i64) -> i64 {
        let inner = &*self.inner;
        let Some(cq) = inner.cq(topic, queue_id) else {
            return 0;
        };
        let (mut lo, mut hi) = (cq.min_offset(), cq.max_offset());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ts = inner.store_timestamp(&cq, mid).unwrap_or(i64::MIN);
            if ts < timestamp_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// When the message at queue offset `offset` was stored (RocketMQ's
    /// `getMessageStoreTimeStamp`), if that offset holds a readable message. May read the disk.
    pub fn store_timestamp(&self, topic: &str, queue_id: i32, offset: i64) -> Option<i64> {
        let cq = self.inner.cq(topic, queue_id)?;
        self.inner.store_timestamp(&cq, offset)
    }

    /// The record stored at `phys_offset` (zero-copy), if it exists and is intact.
    pub fn message_by_phys_offset(&self, phys_offset: i64) -> Option<Bytes> {
        if phys_offset < 0 || self.inner.is_quarantined(phys_offset as u64) {
            return None;
        }
        self.inner.cl.read_record(phys_offset as u64, None)
    }

    /// Messages of `topic` whose KEYS contain `key` or whose UNIQ_KEY is `key`, stored within
    /// `[begin_ms, end_ms]`, newest first, at most `max`.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> Vec<Bytes> {
        let inner = &*self.inner;
        let Some(ix) = &inner.index else {
            return Vec::new();
        };
        let full = format!("{topic}#{key}");
        let offsets = {
            let mut st = ix.lock();
            inner.index_catch_up(&mut st, usize::MAX);
            st.svc.lookup(
                &full,
                max.saturating_mul(4).saturating_add(16),
                begin_ms,
                end_ms,
            )
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for p in offsets {
            if out.len() >= max {
                break;
            }
            if !seen.insert(p) {
                continue;
            }
            let Some(b) = self.message_by_phys_offset(p) else {
                continue;
            };
            let Ok(m) = decode_record_with(&b, false) else {
                continue;
            };
            let ts = m.store_timestamp();
            let matches = m.topic() == topic
                && (m.property("UNIQ_KEY") == Some(key)
                    || m.property("KEYS")
                        .is_some_and(|ks| ks.split(' ').any(|k| k == key)));
            if matches && ts >= begin_ms && ts <= end_ms {
                out.push(b);
            }
        }
        out
    }

    /// End of the CommitLog (offset the next record will get, unless it rolls to a new segment).
    pub fn max_phys_offset(&self) -> i64 {
        self.inner.cl.max_phys() as i64
    }

    /// Start of the oldest retained CommitLog segment.
    pub fn min_phys_offset(&self) -> i64 {
        self.inner.cl.min_phys() as i64
    }

    /// Everything below this CommitLog offset is on disk.
    pub fn flushed_phys_offset(&self) -> i64 {
        self.inner.cl.flushed() as i64
    }

    /// Registers the callback invoked after each message is dispatched (long-poll wake-ups).
    pub fn set_arrival_listener(&self, f: ArrivalListener) {
        *self.inner.listener.write() = Some(f);
        self.inner.has_listener.store(true, Ordering::Release);
    }

    /// Runs retention as if the time were `now`; returns the number of segments deleted.
    pub fn delete_expired_files(&self, now: SystemTime) -> usize {
        self.inner.delete_expired_files(now)
    }

    /// Flushes everything, writes a clean checkpoint and removes `abort`. Idempotent. Later puts
    /// get ServiceNotAvailable.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let last_record = {
            let st = inner.put.lock();
            if inner.shut.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            st.last_record_start
        };
        self.stop_threads();
        let root = inner.root.clone();
        inner
            .drain_staged()
            .map_err(|e| StoreError::io(&inner.cl.dir, e))?;
        let end = inner.cl.max_phys();
        if let Some(wb) = &inner.cl.wb {
            // The committer wrote everything when it stopped; if that failed, try once more
            // and never call the store cleanly closed with bytes missing from the files.
            wb.commit(end)
                .map_err(|e| StoreError::io(&inner.cl.dir, e))?;
        }
        inner
            .cl
            .flush_to(end)
            .map_err(|e| StoreError::io(&inner.cl.dir, e))?;
        if let Some(ix) = &inner.index {
            let mut st = ix.lock();
            inner.index_catch_up(&mut st, usize::MAX);
        }
        inner
            .write_checkpoint(Some((end, last_record)))
            .map_err(|e| StoreError::io(&root, e))?;
        let abort = root.join("abort");
        std::fs::remove_file(&abort).map_err(io_err(&abort))?;
        if let Ok(d) = File::open(&root) {
            let _ = d.sync_all();
        }
        // SAFETY: unlocking a descriptor we own; the store is unusable for writes from here on.
        unsafe { libc::flock(inner.lock_file.as_raw_fd(), libc::LOCK_UN) };
        Ok(())
    }

    fn stop_threads(&self) {
        let inner = &*self.inner;
        inner.stopper.stop();
        if let Some(t) = inner.prefault_thread.get() {
            t.unpark();
        }
        inner.alloc.stop();
        inner.group.stop();
        if let Some(wb) = &inner.cl.wb {
            wb.stop();
        }
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for MessageStore {
    /// Without `shutdown` this is a simulated crash: threads stop, `abort` stays, nothing is
    /// checkpointed as clean.
    fn drop(&mut self) {
        self.stop_threads();
    }
}

impl Inner {
    fn cq(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.cqs
            .read()
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .cloned()
    }

    /// STORETIMESTAMP of the record at queue offset `offset` of `cq`; `None` for an offset
    /// outside the queue, a lost entry or an unreadable record.
    fn store_timestamp(&self, cq: &ConsumeQueue, offset: i64) -> Option<i64> {
        if offset < cq.min_offset() || offset >= cq.max_offset() {
            return None;
        }
        cq.raw_entry(offset)
            .filter(|e| !e.is_lost())
            .and_then(|e| self.cl.read_record(e.phys as u64, Some(e.size as u32)))
            .and_then(|b| peek_store_timestamp(&b))
    }

    fn is_quarantined(&self, phys: u64) -> bool {
        if !self.has_quarantine.load(Ordering::Acquire) {
            return false;
        }
        let q = self.quarantine.read();
        q.range(..=phys)
            .next_back()
            .is_some_and(|(_, (end, _))| phys < *end)
    }

    fn validate(&self, msgs: &[MessageRef<'_>]) -> Result<(), PutResult> {
        let illegal = |r: String| Err(PutResult::failed(PutStatus::MessageIllegal, r));
        let Some(first) = msgs.first() else {
            return illegal("empty batch".into());
        };
        for m in msgs {
            // A batch's messages usually share one topic string: no compare then.
            let same_topic = std::ptr::eq(m.topic, first.topic) || m.topic == first.topic;
            if !same_topic || m.queue_id != first.queue_id {
                return illegal("a batch must hold messages of one topic and queue".into());
            }
            if m.body.len() > self.cfg.max_message_size {
                return illegal(format!(
                    "body of {} bytes exceeds max_message_size {}",
                    m.body.len(),
                    self.cfg.max_message_size
                ));
            }
            if m.properties.len() > MAX_PROPERTIES_LEN {
                return Err(PutResult::failed(
                    PutStatus::PropertiesSizeExceeded,
                    format!("properties of {} bytes exceed 32767", m.properties.len()),
                ));
            }
        }
        if !valid_topic(first.topic) {
            return illegal(format!(
                "invalid topic {:?}: must be 1..32767 bytes without '/' or NUL",
                first.topic
            ));
        }
        if first.queue_id < 0 {
            return illegal(format!("invalid queue id {}", first.queue_id));
        }
        Ok(())
    }

    fn cq_for_write(&self, topic: &str, qid: i32) -> Result<Arc<ConsumeQueue>, String> {
        if let Some(q) = self.cq(topic, qid) {
            return Ok(q);
        }
        let q = ConsumeQueue::open(&self.cq_root, topic, qid, self.cfg.cq_entries_per_file)
            .map_err(|e| format!("cannot create consume queue {topic}/{qid}: {e}"))?;
        let q = Arc::new(q);
        self.cqs
            .write()
            .entry(topic.to_string())
            .or_default()
            .insert(qid, Arc::clone(&q));
        Ok(q)
    }

    pub(crate) fn try_append(&self, recs: &[PreparedRecord<'_>], total: usize) -> Outcome {
        let mut guard = self.put.lock();
        let st = &mut *guard;
        if self.shut.load(Ordering::Acquire) {
            return Outcome::Fail(PutStatus::ServiceNotAvailable, "store is shut down".into());
        }
        if self.disk_full.load(Ordering::Acquire) {
            return Outcome::Fail(
                PutStatus::ServiceNotAvailable,
                format!(
                    "disk usage above {}%: free space or delete old data",
                    self.cfg.disk_space_warning_level_ratio
                ),
            );
        }
        let m0 = &recs[0].msg;
        let n_dispatch = recs.iter().filter(|r| r.dispatch).count() as u64;
        let cq = if n_dispatch == 0 {
            None
        } else {
            match &st.last_cq {
                Some(q) if q.queue_id == m0.queue_id && q.topic == m0.topic => Some(Arc::clone(q)),
                _ => match self.cq_for_write(m0.topic, m0.queue_id) {
                    Ok(q) => {
                        st.last_cq = Some(Arc::clone(&q));
                        Some(q)
                    }
                    Err(e) => return Outcome::Fail(PutStatus::CreateMappedFileFailed, e),
                },
            }
        };
        let wb = self.cl.wb.as_ref();
        let need = total as u64 + END_FILE_MIN_BLANK_LENGTH as u64;
        let seg = match &st.cur {
            Some(s) if st.wrote + need <= s.end() => Arc::clone(s),
            _ => {
                if self.cl.max_phys() != st.wrote {
                    // Staged or in-flight bytes of the current segment go to the file first.
                    return Outcome::NeedDrain;
                }
                let next = st.cur.as_ref().map(|s| s.end()).unwrap_or(st.wrote);
                let took = match st.next_seg.take() {
                    Some(seg) if seg.start() == next => Take::Ready(seg),
                    _ => self.alloc.take(next),
                };
                match took {
                    Take::Ready(seg) => {
                        if let Some(old) = st.cur.clone() {
                            if let Err(e) = self.seal_segment(st, &old, wb) {
                                // Not switching yet: keep the segment for the next attempt.
                                st.next_seg = Some(seg);
                                return e;
                            }
                        }
                        self.cl.segments.write().push(Arc::clone(&seg));
                        st.cur = Some(Arc::clone(&seg));
                        st.wrote = next;
                        self.cl.publish(next);
                        seg
                    }
                    Take::NotReady => return Outcome::NeedSegment(next),
                    Take::Failed(e) => return Outcome::Fail(PutStatus::CreateMappedFileFailed, e),
                }
            }
        };
        let mut qoff = cq.as_ref().map(|q| q.next_offset()).unwrap_or(0);
        if let Some(q) = &cq {
            if let Err(e) = q.ensure_capacity(qoff, n_dispatch) {
                return Outcome::Fail(
                    PutStatus::CreateMappedFileFailed,
                    format!(
                        "cannot create consume queue file in {}: {e}",
                        q.dir().display()
                    ),
                );
            }
        }
        let ts = now_ms();
        let host = self.cfg.store_host;
        let first_phys = st.wrote;
        let first_q = if recs[0].dispatch { qoff } else { 0 };
        // SYNC_FLUSH segments (unmapped writes): encode into the staging buffer; the group-commit
        // round writes it with one pwrite (stage.rs). ASYNC_FLUSH: encode straight into the
        // write-behind buffer (direct writes) or the mapping.
        let staged = seg.unmapped_writes();
        if staged && st.stage.buf.len() > MAX_STAGED {
            return Outcome::Fail(
                PutStatus::ServiceNotAvailable,
                format!(
                    "{} MiB of records are waiting to be written to {} because writes keep failing (see the log); retry once the disk works again",
                    st.stage.buf.len() >> 20,
                    seg.path().display()
                ),
            );
        }
        // Only ASYNC_FLUSH stores have a write-behind buffer; SYNC_FLUSH ones stage instead.
        if let Some(wb) = wb {
            let end = first_phys + total as u64;
            match wb.cover(&mut st.wb_cur, &seg, first_phys, end) {
                Ok(()) => {}
                Err(Cover::WaitFor(at)) => return Outcome::NeedRoom(at),
                // RocketMQ answers a broker that cannot keep up with "page cache busy": the
                // client backs off and retries.
                Err(Cover::Fail(e)) => return Outcome::Fail(PutStatus::OsPageCacheBusy, e),
            }
        }
        let mut buf = if staged {
            st.stage.begin(first_phys, &seg);
            std::mem::take(&mut st.stage.buf)
        } else {
            std::mem::take(&mut st.buf)
        };
        let base = if staged { buf.len() } else { 0 };
        if staged {
            buf.resize(base + total, 0);
        }
        let (mut wrote, mut last_start) = (st.wrote, st.last_record_start);
        let first_qoff = qoff;
        let mut cq_run = std::mem::take(&mut st.cq_run);
        cq_run.clear();
        for r in recs {
            let phys = wrote;
            let q = if r.dispatch { qoff } else { 0 };
            let written = if staged {
                let at = base + (phys - first_phys) as usize;
                buf.get_mut(at..at + r.len)
                    .map(|dst| write_record(dst, r, q, phys as i64, ts, &host))
                    .is_some()
            } else if let Some(wb) = wb {
                match st.wb_cur.as_ref().filter(|s| s.holds(phys, r.len)) {
                    Some(slot) => {
                        // SAFETY: [phys, phys+len) lies at or past the published end and we hold
                        // the put lock (write_behind.rs invariants).
                        write_record(
                            unsafe { slot.dst(phys, r.len) },
                            r,
                            q,
                            phys as i64,
                            ts,
                            &host,
                        );
                        true
                    }
                    None => {
                        // Straddles two chunks: encode aside, copy into both.
                        buf.clear();
                        buf.resize(r.len, 0);
                        write_record(&mut buf, r, q, phys as i64, ts, &host);
                        wb.copy_in(phys, &buf)
                    }
                }
            } else {
                // SAFETY: [phys, phys+len) lies beyond the published end of the current segment
                // and we hold the put lock, so nobody else writes or reads it until `publish`.
                unsafe { seg.get_mut(phys - seg.start(), r.len) }
                    .map(|dst| write_record(dst, r, q, phys as i64, ts, &host))
                    .is_some()
            };
            if !written {
                if staged {
                    buf.truncate(base);
                    st.stage.buf = buf;
                } else {
                    st.buf = buf;
                }
                return Outcome::Fail(
                    PutStatus::UnknownError,
                    "record does not fit the segment".into(),
                );
            }
            if r.dispatch {
                cq_run.extend_from_slice(
                    &CqEntry {
                        phys: phys as i64,
                        size: r.len as i32,
                        tags_code: r.tags_code,
                    }
                    .encode(),
                );
                qoff += 1;
            }
            last_start = Some(phys);
            wrote += r.len as u64;
        }
        if let Some(q) = &cq {
            // `ensure_capacity` made the files; nothing can be missing here.
            q.writer().write_run(first_qoff, &cq_run);
        }
        if cq_run.capacity() <= MAX_KEPT_CQ_RUN {
            st.cq_run = cq_run;
        }
        if staged {
            // Announced now, while the bytes are assigned: the zeroer must keep off them whenever
            // the drain writes them.
            self.zero_fence.before_write(wrote);
            st.stage.buf = buf;
            st.stage.ts = ts;
            if let Some(q) = &cq {
                q.set_next(qoff);
                st.stage.publish_later(q, qoff);
            }
        } else {
            if buf.capacity() > MAX_KEPT_PUT_BUF {
                buf = Vec::new();
            }
            st.buf = buf;
            self.cl.last_store_ts.store(ts, Ordering::Release);
            self.cl.publish(wrote);
            if let Some(q) = &cq {
                q.set_next(qoff);
                q.publish(qoff);
            }
        }
        let prefault = match &cq {
            Some(q) if self.cfg.prefault_window > 0 && q.wants_prefault(qoff) => {
                self.cq_prefault.lock().push(Arc::clone(q));
                true
            }
            _ => false,
        };
        st.wrote = wrote;
        st.last_record_start = last_start;
        Outcome::Done {
            phys: first_phys,
            queue_offset: first_q,
            ts,
            end: wrote,
            cq,
            staged,
            prefault,
        }
    }

    /// Ends segment `old` before the put path moves to the next one: an 8-byte BLANK record
    /// over the rest when it fits, and the end of its data told to the write-behind buffer.
    fn seal_segment(
        &self,
        st: &mut PutState,
        old: &Arc<MappedFile>,
        wb: Option<&WriteBehind>,
    ) -> Result<(), Outcome> {
        let rem = old.end() - st.wrote;
        let mut data_end = st.wrote;
        if rem >= END_FILE_MIN_BLANK_LENGTH as u64 {
            let mut blank = [0u8; 8];
            blank[..4].copy_from_slice(&(rem as i32).to_be_bytes());
            blank[4..].copy_from_slice(&MAGIC_BLANK.to_be_bytes());
            data_end += blank.len() as u64;
            let res = match wb {
                Some(wb) => match wb.cover(&mut st.wb_cur, old, st.wrote, data_end) {
                    Ok(()) => wb
                        .copy_in(st.wrote, &blank)
                        .then_some(())
                        .ok_or_else(|| "no write-behind room".to_string()),
                    Err(Cover::WaitFor(at)) => return Err(Outcome::NeedRoom(at)),
                    Err(Cover::Fail(e)) => Err(e),
                },
                None => {
                    if old.unmapped_writes() {
                        self.zero_fence.before_write(data_end);
                    }
                    old.try_write(st.wrote - old.start(), &blank)
                        .map_err(|e| e.to_string())
                }
            };
            if let Err(e) = res {
                return Err(Outcome::Fail(
                    PutStatus::UnknownError,
                    format!(
                        "cannot write the end-of-segment marker to {}: {e}",
                        old.path().display()
                    ),
                ));
            }
        }
        if let Some(wb) = wb {
            wb.seal(old.end(), data_end);
        }
        Ok(())
    }

    /// Writes the checkpoint; `clean` = Some((end, tail record start)) at clean shutdown.
    pub(crate) fn write_checkpoint(
        &self,
        clean: Option<(u64, Option<u64>)>,
    ) -> std::io::Result<()> {
        // Snapshot the CommitLog end before flushing the queues: every CQ entry of records below it
        // was written before it was published.
        let logics_ts = self.cl.last_store_ts.load(Ordering::Acquire);
        let logics_phys = self.cl.max_phys();
        let cqs: Vec<_> = self
            .cqs
            .read()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        ConsumeQueue::flush_all(&cqs)?;
        // Puts are refused by now at a clean shutdown, so every queue's max is final.
        let clean_cq_entries = match clean {
            Some(_) => cq_entry_count(cqs.iter().map(|q| q.as_ref())),
            None => -1,
        };
        // Read once: the floor below must be taken at the offset the checkpoint records. Every
        // entry of a record below `floor_at` was written before `logics_phys` was published and
        // so was flushed above, and the record itself is flushed.
        let flushed = self.cl.flushed();
        let floor_at = (flushed as i64).min(logics_phys as i64);
        let cq_entries_floor = cqs.iter().fold(0i64, |n, q| {
            n.wrapping_add(q.entries_below(floor_at, q.max_offset()))
        });
        let (index_phys, index_ts) = match &self.index {
            Some(ix) => {
                // Between syncs (`index_flush_interval`) the checkpoint repeats the last one's
                // fields, which stay true: they only ever claim less than has been synced.
                // Read, then let go: the lock is not held across the sync's I/O.
                let last = *self.index_synced.lock();
                match last {
                    Some(s)
                        if clean.is_none() && s.at.elapsed() < self.cfg.index_flush_interval =>
                    {
                        (s.phys, s.ts)
                    }
                    _ => {
                        // Every entry of a record below `next` is in the newest file or in an
                        // older one synced when it filled, so syncing the newest file after the
                        // lock is released still covers what the checkpoint claims. Under the
                        // lock, the write-back (about 10 ms a second under load) stalled the
                        // index thread and every key lookup.
                        let (next, ts, newest) = {
                            let st = ix.lock();
                            (st.next, st.last_ts, st.svc.newest_file()?)
                        };
                        #[cfg(test)]
                        {
                            *self.test_index_lock_free_at_sync.lock() =
                                Some(ix.try_lock().is_some());
                        }
                        if let Some(f) = newest {
                            f.sync_data()?;
                        }
                        // Kept unless an overlapping checkpoint recorded a later sync.
                        let mut synced = self.index_synced.lock();
                        if synced.is_none_or(|s| s.phys <= next) {
                            *synced = Some(IndexSynced {
                                at: Instant::now(),
                                phys: next,
                                ts,
                            });
                        }
                        (next, ts)
                    }
                }
            }
            None => (logics_phys, logics_ts),
        };
        let ck = Checkpoint {
            physic_msg_timestamp: self.cl.flushed_store_ts.load(Ordering::Acquire),
            logics_msg_timestamp: logics_ts,
            index_msg_timestamp: index_ts,
            flushed_offset: flushed as i64,
            logics_phy_offset: logics_phys as i64,
            index_phy_offset: index_phys as i64,
            clean_end_offset: clean.map(|c| c.0 as i64).unwrap_or(-1),
            clean_tail_offset: clean.and_then(|c| c.1).map(|t| t as i64).unwrap_or(-1),
            clean_cq_entries,
            cq_entries_floor,
        };
        self.ckfile.lock().write(&ck)
    }

    fn housekeeping(self: &Arc<Self>) {
        let mut last_clean = Instant::now();
        loop {
            if self.stopper.sleep(Duration::from_secs(1)) {
                return;
            }
            if let Err(e) = self.write_checkpoint(None) {
                tracing::error!("checkpoint/consume queue flush failed: {e}; will retry");
            }
            if last_clean.elapsed() >= self.cfg.clean_resource_interval {
                last_clean = Instant::now();
                self.delete_expired_files(SystemTime::now());
            }
        }
    }

    fn index_loop(self: &Arc<Self>) {
        let Some(ix) = &self.index else { return };
        // Lookups never see a stale index (`query_by_key` catches up before it searches), so the
        // thread may lag: once caught up it sleeps `INDEX_POLL` and backs off from there while
        // idle. Sleeping 1 ms cost a timer wake-up per millisecond at moderate rates, about 40 µs
        // of this VM's CPU each (an e2e run at 20,000 msgs/s: 6,700 wake-ups, 294 ms).
        let mut idle = INDEX_POLL;
        loop {
            let n = {
                let mut st = ix.lock();
                let n = self.index_catch_up(&mut st, 4096);
                st.sleeps += u64::from(n == 0);
                n
            };
            if n > 0 {
                idle = INDEX_POLL;
            } else {
                if self.stopper.sleep(idle) {
                    return;
                }
                idle = (idle * 2).min(Duration::from_millis(64));
            }
            if self.stopper.is_stopped() {
                return;
            }
        }
    }

    /// Makes the last index sync look `by` older, so a test reaches `index_flush_interval`
    /// without waiting for it.
    #[cfg(test)]
    pub(crate) fn test_age_index_sync(&self, by: Duration) {
        if let Some(s) = self.index_synced.lock().as_mut() {
            s.at = s.at.checked_sub(by).expect("an Instant that far back");
        }
    }

    /// Bytes of published log the index thread has not looked at yet.
    #[cfg(test)]
    pub(crate) fn index_lag(&self) -> u64 {
        self.index
            .as_ref()
            .map_or(0, |ix| self.cl.max_phys().saturating_sub(ix.lock().next))
    }

    /// Indexes published records after `st.next` (at most `limit`); returns how many were read.
    fn index_catch_up(&self, st: &mut IndexState, limit: usize) -> usize {
        let end = self.cl.max_phys();
        let min = self.cl.min_phys();
        if st.next < min {
            st.next = min;
        }
        let mut n = 0;
        let mut keys = crate::index::KeysAhead::default();
        // The store time of the newest record taken, for `last_ts` once its keys are written.
        let mut newest_ts = None;
        // Kept across records: one segment lookup (a lock and an Arc clone) per segment.
        let mut cur: Option<Arc<MappedFile>> = None;
        // The bytes being scanned: a segment's mapping or a write-behind chunk (`scan_at`).
        let mut window = None;
        while st.next < end && n < limit {
            if !cur
                .as_ref()
                .is_some_and(|s| s.start() <= st.next && st.next < s.end())
            {
                cur = self.cl.segment_for(st.next);
            }
            let Some(seg) = cur.as_ref() else {
                break;
            };
            let avail = (end.min(seg.end()) - st.next) as usize;
            let Some(buf) = self.cl.scan_at(&mut window, st.next, avail) else {
                break;
            };
            n += 1;
            match peek_head(buf) {
                RecordHead::Blank(_) => st.next = seg.end(),
                RecordHead::Message(sz) if !self.is_quarantined(st.next) => {
                    // Records of a batch are usually the same size: start loading the header and
                    // tail lines of the record AHEAD places on, so the misses overlap.
                    const AHEAD: usize = 4;
                    let (sz_b, at) = (sz as usize, AHEAD * sz as usize);
                    crate::message::prefetch_range(buf, at, at + 96);
                    crate::message::prefetch_range(buf, (at + sz_b).saturating_sub(128), at + sz_b);
                    // Records `decode_record_with` rejects are skipped, as lookups would reject them.
                    if let Some(v) = crate::message::index_view(buf) {
                        if v.dispatched {
                            let (phys, ts) = (st.next as i64, v.store_timestamp);
                            let pushed =
                                keys.push_record(&mut st.svc, v.topic, v.properties, phys, ts);
                            if let Err(e) = pushed {
                                return Self::index_paused(st, e, n);
                            }
                            newest_ts = Some(ts);
                        }
                    }
                    st.next += sz as u64;
                }
                _ => {
                    let hole_end = self
                        .quarantine
                        .read()
                        .range(..=st.next)
                        .next_back()
                        .map(|(_, (e, _))| *e);
                    st.next = match hole_end {
                        Some(e) if e > st.next => e,
                        _ => seg.end(),
                    };
                }
            }
        }
        if let Err(e) = keys.finish(&mut st.svc) {
            return Self::index_paused(st, e, n);
        }
        if let Some(ts) = newest_ts {
            st.last_ts = ts;
        }
        n
    }

    /// A key could not be written: indexing starts again at its record on the next round.
    fn index_paused(st: &mut IndexState, e: crate::index::KeysError, n: usize) -> usize {
        tracing::warn!("cannot create index file: {}; indexing paused", e.error);
        st.next = e.resume_at as u64;
        n
    }
}

/// Test and tool helper: quarantined holes currently known to the store.
impl MessageStore {
    /// Scrubs the whole CommitLog (CRC of every record) and quarantines damaged ranges; returns
    /// what this pass found. Blocking and I/O heavy — see `verify.rs`.
    pub fn verify(&self) -> Vec<CorruptRecord> {
        self.inner.verify()
    }

    /// Holes (damaged CommitLog ranges) reads skip, from this and earlier recoveries.
    pub fn quarantined(&self) -> Vec<CorruptRecord> {
        self.inner
            .quarantine
            .read()
            .iter()
            .map(|(a, (b, r))| CorruptRecord {
                offset: *a as i64,
                resume_offset: *b as i64,
                reason: r.clone(),
            })
            .collect()
    }
}
