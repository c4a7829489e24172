//! The Raft log: openraft's `RaftLogStorage` + `RaftLogReader` on one segment file, plus the
//! vote (delegated to `vote.rs`).
//!
//! File `<data_dir>/raft.log`: 8-byte magic `CKRLOG01`; a 25-byte purge header (flag u8, then
//! term u64, node u64, index u64 BE of the last purged log id; flag 0 = nothing purged); then
//! records of `len u32 BE | crc32 u32 BE (of payload) | payload`, the framing of the pre-Raft
//! WAL. Payload = term u64 | node u64 | index u64 | kind u8 | body, kind 0 = blank, 1 = a
//! `TxnBatch` (its own encoding), 2 = a membership (JSON). Indexes are contiguous and follow
//! the purge header.
//!
//! Preallocation (`log_prealloc.rs`): with fsync on, the file is kept zeroed some MiB past
//! the last record by a thread of its own, so appends overwrite allocated blocks; the logical
//! end is therefore found by scanning records (an all-zero header ends them), not from the file
//! length. Records are written at the logical end with positioned writes.
//!
//! Durability: `append` writes the entries openraft hands over (page cache only) and returns;
//! a flusher thread fdatasyncs back to back while anything is unsynced, then publishes the
//! durable log index ([`Durability`]) and fires the callbacks of every append written before
//! that fdatasync started (group commit). In standalone mode ([`LogStore::ack_on_write`]) the
//! callback fires on write instead — openraft 0.9 waits for it before appending the next entry,
//! which would cost one fdatasync per entry in a row — and the state machine waits for the
//! durable index before applying, so nothing is visible or acknowledged before it is durable.
//!
//! On open, records are read up to the first short or CRC-failing one or an all-zero header;
//! anything but zeros after that point is a torn tail from a crash and is cut off. A record
//! that passes its CRC but does not decode, or an index gap, is corruption and stops startup.
//! The file is then fdatasynced once, so everything the log serves is durable.
//!
//! `purge` rewrites the file without the purged records (tmp + fsync + rename + directory
//! fsync), so it stays about as long as the entries since the last snapshot. Entries are kept in memory only until the state machine has applied
//! them (openraft reads them back to apply them; `track_applied` shares the applied index):
//! older ones are read back from the file at their recorded offset if ever asked for, so the
//! log never holds a second copy of the data the tree holds.

use crate::crc_frame::{read_record, FRAME_HEADER};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Weak;

use bytes::BufMut;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, CommittedLeaderId, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader,
    StorageError, StorageIOError, Vote,
};
use parking_lot::Mutex;

use super::log_prealloc::{self, Prealloc};
use super::vote::VoteFile;
use super::{TxnBatch, TypeConfig};
use crate::error::{io_err, KeeperError};

const MAGIC: &[u8; 8] = b"CKRLOG01";
const HEADER: usize = 8 + 25;
const FILE: &str = "raft.log";
/// Largest record accepted on replay.
const MAX_RECORD: usize = 1 << 30;

const KIND_BLANK: u8 = 0;
const KIND_BATCH: u8 = 1;
const KIND_MEMBERSHIP: u8 = 2;

type RaftEntry = Entry<TypeConfig>;

fn write_failed(e: &dyn std::fmt::Display) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::write_logs(AnyError::error(e.to_string())),
    }
}

/// Appends one framed record for `entry` to `out`.
fn encode_entry(entry: &RaftEntry, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.put_u64(entry.log_id.leader_id.term);
    out.put_u64(entry.log_id.leader_id.node_id);
    out.put_u64(entry.log_id.index);
    match &entry.payload {
        EntryPayload::Blank => out.put_u8(KIND_BLANK),
        EntryPayload::Normal(b) => {
            out.put_u8(KIND_BATCH);
            b.encode_into(out);
        }
        EntryPayload::Membership(m) => {
            out.put_u8(KIND_MEMBERSHIP);
            let json = serde_json::to_vec(m).map_err(|e| format!("encoding a membership: {e}"))?;
            out.extend_from_slice(&json);
        }
    }
    let payload_len = out.len() - start - 8;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn decode_entry(payload: &[u8]) -> Result<RaftEntry, String> {
    if payload.len() < 25 {
        return Err("record shorter than its log id".into());
    }
    let log_id = LogId::new(
        CommittedLeaderId::new(be_u64(&payload[0..]), be_u64(&payload[8..])),
        be_u64(&payload[16..]),
    );
    let body = &payload[25..];
    let payload = match payload[24] {
        KIND_BLANK => EntryPayload::Blank,
        KIND_BATCH => EntryPayload::Normal(TxnBatch::decode(body)?),
        KIND_MEMBERSHIP => EntryPayload::Membership(
            serde_json::from_slice(body).map_err(|e| format!("membership does not decode: {e}"))?,
        ),
        k => return Err(format!("unknown entry kind {k}")),
    };
    Ok(Entry { log_id, payload })
}

fn encode_header(purged: Option<LogId<u64>>) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    match purged {
        None => h.extend_from_slice(&[0u8; 25]),
        Some(id) => {
            h.put_u8(1);
            h.put_u64(id.leader_id.term);
            h.put_u64(id.leader_id.node_id);
            h.put_u64(id.index);
        }
    }
    h
}

/// How far the log is known to be on disk, published by the flusher.
#[derive(Debug, Clone, Default)]
pub struct Durable {
    /// Every entry up to this log index is durable.
    pub index: u64,
    /// Set once an fdatasync failed: nothing later can be trusted to be durable.
    pub failed: Option<Arc<str>>,
}

/// Waits for entries of a [`LogStore`] to be durable (the state machine applies nothing
/// before it is).
#[derive(Clone)]
pub struct Durability(tokio::sync::watch::Receiver<Durable>);

impl Durability {
    /// Returns once every entry up to `index` is durable; an error once an fdatasync failed
    /// or the store is gone.
    pub async fn wait(&self, index: u64) -> Result<(), String> {
        let mut rx = self.0.clone();
        let d = rx
            .wait_for(|d| d.failed.is_some() || d.index >= index)
            .await
            .map_err(|_| "the Raft log was closed before the entry was durable".to_string())?;
        match &d.failed {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }
}

/// Work for the flusher: appends written since the last fdatasync, and the callbacks of
/// those whose completion waits for it.
#[derive(Default)]
struct FlushState {
    waiting: Vec<LogFlushed<TypeConfig>>,
    dirty: bool,
}

struct FlushQueue {
    state: Mutex<FlushState>,
    wake: parking_lot::Condvar,
    durable: tokio::sync::watch::Sender<Durable>,
}

impl FlushQueue {
    /// Something was written (called under the store lock, after the write): the flusher
    /// syncs it and then fires `callback`, if any.
    fn kick(&self, callback: Option<LogFlushed<TypeConfig>>) {
        let mut f = self.state.lock();
        f.dirty = true;
        f.waiting.extend(callback);
        self.wake.notify_one();
    }

    /// Everything up to `index` is durable (only ever moves forward).
    fn publish(&self, index: u64) {
        self.durable.send_if_modified(|d| {
            let moved = index > d.index;
            d.index = d.index.max(index);
            moved
        });
    }
}

/// The flusher thread: fdatasyncs whenever something was written since the last one, then
/// publishes the durable index and fires the waiting callbacks. Back to back under load:
/// whatever is written during one fdatasync is covered by the next (group commit). Exits once
/// the store is gone.
fn flusher(inner: std::sync::Weak<Mutex<Inner>>, queue: Arc<FlushQueue>) {
    loop {
        let batch = {
            let mut w = queue.state.lock();
            while !w.dirty {
                if inner.strong_count() == 0 {
                    return;
                }
                queue
                    .wake
                    .wait_for(&mut w, std::time::Duration::from_millis(200));
            }
            w.dirty = false;
            std::mem::take(&mut w.waiting)
        };
        // Appends mark the queue dirty (and push their callback) while holding the store
        // lock, after their write; taking the file under that lock pairs everything taken
        // with the file that holds its bytes (a purge swaps files under the same lock and
        // syncs the new one itself).
        let Some(store) = inner.upgrade() else {
            return;
        };
        let (file, path, written, truncations) = {
            let g = store.lock();
            (g.file.clone(), g.path.clone(), g.written, g.truncations)
        };
        drop(store);
        let res = file
            .sync_data()
            .map_err(|e| std::io::Error::other(format!("fdatasync of {}: {e}", path.display())));
        match &res {
            Ok(()) => {
                // A truncate since `written` was read may have removed entries up to it;
                // the next round publishes what replaced them.
                if let Some(store) = inner.upgrade() {
                    let g = store.lock();
                    if g.truncations == truncations {
                        queue.publish(written);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "Raft log fdatasync failed");
                let msg: Arc<str> = e.to_string().into();
                queue.durable.send_modify(|d| d.failed = Some(msg));
            }
        }
        for cb in batch {
            cb.log_io_completed(match &res {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            });
        }
    }
}

/// The zeroing thread: extends the preallocated tail whenever asked. Holds the store only
/// while writing one piece, and exits once the store is gone.
fn preallocator(inner: Weak<Mutex<Inner>>, signal: Arc<Prealloc>) {
    while signal.wait(|| inner.strong_count() > 0) {
        let res = log_prealloc::extend(&mut |zeros| match inner.upgrade() {
            Some(store) => store.lock().zero_piece(zeros),
            None => Ok(None),
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not preallocate the Raft log (is the disk full?); appends extend it instead");
            // Appends keep asking while the tail is short; do not retry at their pace.
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
    }
}

struct Inner {
    file: Arc<File>,
    path: PathBuf,
    fsync: bool,
    purged: Option<LogId<u64>>,
    /// Entries not yet known to be applied.
    entries: BTreeMap<u64, RaftEntry>,
    /// File offset where each unpurged entry's record starts.
    offsets: BTreeMap<u64, u64>,
    /// Log id of the last entry (None when the log holds none).
    last: Option<LogId<u64>>,
    /// Highest log index the state machine applied, when tracked.
    applied: Option<Arc<AtomicU64>>,
    /// Log index of the last record written (0: none).
    written: u64,
    /// Truncations so far (the flusher publishes nothing it read before one).
    truncations: u64,
    flush: Arc<FlushQueue>,
    /// Logical end: where the next record goes (only zeros follow it).
    end: u64,
    /// File length (`>= end`; the bytes between are preallocated zeros).
    alloc_end: u64,
    /// Preallocation settings and the zeroing thread's wake-up (None: not preallocated).
    prealloc: Option<Arc<Prealloc>>,
    /// Set by [`LogStore::close`]: no write of any kind reaches the file after it.
    closed: bool,
    vote: VoteFile,
}

/// Openraft's log storage (and, cloned, its log reader) for one data directory.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    flush: Arc<FlushQueue>,
    /// See [`LogStore::ack_on_write`].
    ack_on_write: Arc<std::sync::atomic::AtomicBool>,
}

impl LogStore {
    /// Opens (or creates) `<dir>/raft.log`, cutting a torn tail. With `fsync` the file is
    /// preallocated ahead of its last record (see the module doc).
    pub fn open(dir: &Path, fsync: bool) -> Result<LogStore, KeeperError> {
        let prealloc = fsync.then_some((log_prealloc::AHEAD, log_prealloc::LOW_WATER));
        Self::open_with(dir, fsync, prealloc)
    }

    /// [`LogStore::open`] with explicit preallocation: `(ahead, low_water)` bytes, or none.
    /// The zeroing thread runs only with `fsync`.
    fn open_with(
        dir: &Path,
        fsync: bool,
        prealloc: Option<(u64, u64)>,
    ) -> Result<LogStore, KeeperError> {
        std::fs::create_dir_all(dir).map_err(io_err("creating the data directory", dir))?;
        let path = dir.join(FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err("opening the Raft log", &path))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)
            .map_err(io_err("reading the Raft log", &path))?;
        let corrupt = |reason: String| KeeperError::Corrupt {
            path: path.clone(),
            zxid: 0,
            reason,
        };
        let mut entries = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        let mut purged = None;
        let (end, alloc_end) = if raw.len() < HEADER {
            if !raw.is_empty() && !MAGIC.starts_with(&raw[..raw.len().min(8)]) {
                return Err(corrupt("not a keeper Raft log (bad magic)".into()));
            }
            // New, or a crash while the header was first written: nothing was ever appended.
            file.set_len(0)
                .and_then(|_| file.seek(SeekFrom::Start(0)).map(|_| ()))
                .and_then(|_| file.write_all(&encode_header(None)))
                .and_then(|_| file.sync_all())
                .map_err(io_err("initializing the Raft log", &path))?;
            (HEADER, HEADER)
        } else {
            if &raw[..8] != MAGIC {
                return Err(corrupt("not a keeper Raft log (bad magic)".into()));
            }
            if raw[8] == 1 {
                purged = Some(LogId::new(
                    CommittedLeaderId::new(be_u64(&raw[9..]), be_u64(&raw[17..])),
                    be_u64(&raw[25..]),
                ));
            }
            let mut next = purged.map(|p: LogId<u64>| p.index + 1);
            let mut pos = HEADER;
            while !log_prealloc::zero_header(&raw[pos..], FRAME_HEADER) {
                let Some(payload) = read_record(&raw, pos, MAX_RECORD) else {
                    break;
                };
                let entry = decode_entry(payload)
                    .map_err(|e| corrupt(format!("record at byte {pos}: {e}")))?;
                let index = entry.log_id.index;
                if next.is_some_and(|n| n != index) {
                    return Err(corrupt(format!(
                        "log index {index} at byte {pos} does not follow {:?}",
                        next.map(|n| n - 1)
                    )));
                }
                next = Some(index + 1);
                offsets.insert(index, pos as u64);
                entries.insert(index, entry);
                pos += FRAME_HEADER + payload.len();
            }
            if log_prealloc::clean_tail(&raw[pos..]) {
                // Nothing, or preallocated zeros: they stay.
                (pos, raw.len())
            } else {
                tracing::warn!(
                    path = %path.display(),
                    dropped = raw.len() - pos,
                    "Raft log has a torn tail (crash during a write); truncating it"
                );
                file.set_len(pos as u64)
                    .and_then(|_| file.sync_all())
                    .map_err(io_err("truncating the Raft log", &path))?;
                (pos, pos)
            }
        };
        drop(raw);
        if fsync {
            // Records a killed process wrote may still be only in the page cache; what the
            // log serves from now on (and calls durable) must be on disk.
            file.sync_data()
                .map_err(io_err("syncing the Raft log", &path))?;
        }
        let prealloc = prealloc.map(|(ahead, low)| Arc::new(Prealloc::new(ahead, low)));
        let last = entries.values().next_back().map(|e: &RaftEntry| e.log_id);
        // Everything found in the file is durable: it was synced just above.
        let written = last
            .map(|l| l.index)
            .or(purged.map(|p| p.index))
            .unwrap_or(0);
        let (durable, _) = tokio::sync::watch::channel(Durable {
            index: written,
            failed: None,
        });
        let flush = Arc::new(FlushQueue {
            state: Mutex::new(FlushState::default()),
            wake: parking_lot::Condvar::new(),
            durable,
        });
        let inner = Arc::new(Mutex::new(Inner {
            file: Arc::new(file),
            path,
            fsync,
            purged,
            entries,
            offsets,
            last,
            written,
            truncations: 0,
            flush: flush.clone(),
            applied: None,
            end: end as u64,
            alloc_end: alloc_end as u64,
            prealloc: prealloc.clone(),
            closed: false,
            vote: VoteFile::new(dir),
        }));

        if fsync {
            let (weak, queue) = (Arc::downgrade(&inner), flush.clone());
            std::thread::Builder::new()
                .name("keeper-log-flush".into())
                .spawn(move || flusher(weak, queue))
                .map_err(io_err("starting the Raft log flusher", dir))?;
        }
        // Without fsync nothing is synced, so nothing gains from zeros ahead (tests zero by hand).
        if let Some(p) = prealloc.filter(|_| fsync) {
            let weak = Arc::downgrade(&inner);
            let signal = p.clone();
            std::thread::Builder::new()
                .name("keeper-log-zero".into())
                .spawn(move || preallocator(weak, signal))
                .map_err(io_err("starting the Raft log preallocator", dir))?;
            p.request();
        }
        Ok(LogStore {
            inner,
            flush,
            ack_on_write: Arc::default(),
        })
    }

    /// Standalone mode only: tell openraft an append is flushed as soon as it is written, and
    /// let the flusher fdatasync on its own. Openraft 0.9 waits for each append's callback
    /// before it appends the next entry, so with honest callbacks every Raft entry costs one
    /// fdatasync, one after another; this way every entry written during an fdatasync shares
    /// the next one. It is safe only because nothing reads the log's durability but this
    /// member's own state machine, which waits for [`LogStore::durability`] before applying
    /// an entry: nothing is visible or acknowledged before it is durable, and a crash loses
    /// only entries nobody saw. An ensemble must not use it (a follower's acknowledgement
    /// counts towards a quorum).
    pub fn ack_on_write(&self, on: bool) {
        self.ack_on_write.store(on, Ordering::Release);
    }

    /// A handle to wait for entries to be durable.
    pub fn durability(&self) -> Durability {
        Durability(self.flush.durable.subscribe())
    }

    /// Stops every further write to the file (the zeroing thread's included; it waits for
    /// one in progress). Call before the data directory is unlocked: another keeper may open
    /// the file next.
    /// The preallocated zeros are cut off, so a stopped keeper's directory holds only its log.
    pub fn close(&self) {
        let mut g = self.inner.lock();
        if g.closed {
            return;
        }
        g.closed = true;
        if g.alloc_end > g.end {
            let res = g.file.set_len(g.end).and_then(|_| g.file.sync_all());
            match res {
                Ok(()) => g.alloc_end = g.end,
                // Harmless: the next open reads the zeros as the end of the log.
                Err(e) => {
                    tracing::warn!(path = %g.path.display(), error = %e, "could not cut the Raft log's preallocated tail")
                }
            }
        }
    }

    /// Zeroes ahead of the last record now, in the caller's thread (tests).
    #[cfg(test)]
    fn preallocate_now(&self) -> std::io::Result<()> {
        log_prealloc::extend(&mut |zeros| self.inner.lock().zero_piece(zeros))
    }

    /// Writes entries without telling the flusher (tests: nothing makes them durable).
    #[cfg(test)]
    pub(crate) fn write_unflushed(&self, entries: Vec<RaftEntry>) {
        self.inner.lock().write_entries(entries).unwrap();
    }

    /// Tells the flusher something was written (tests).
    #[cfg(test)]
    pub(crate) fn kick_flusher(&self) {
        let _g = self.inner.lock();
        self.flush.kick(None);
    }

    /// (Logical end, file length) (tests).
    #[cfg(test)]
    fn ends(&self) -> (u64, u64) {
        let g = self.inner.lock();
        (g.end, g.alloc_end)
    }

    /// Lets the store drop entries from memory once the state machine's applied index (shared
    /// through `applied`) covers them.
    pub fn track_applied(&self, applied: Arc<AtomicU64>) {
        self.inner.lock().applied = Some(applied);
    }

    /// Frees applied entries now unless the store is busy (an append in progress frees them
    /// when it finishes).
    pub fn evict_applied_now(&self) {
        if let Some(mut inner) = self.inner.try_lock() {
            inner.evict_applied();
        }
    }

    /// Number of unpurged entries (for tests and stats).
    pub fn len(&self) -> usize {
        self.inner.lock().offsets.len()
    }

    /// Number of entries held in memory.
    pub fn in_memory(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// True when every entry is purged (or none was appended).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl LogStore {
    /// Runs file I/O off the runtime's worker threads (an fdatasync would otherwise stall every
    /// connection task scheduled there). Openraft calls the storage methods one at a time, so
    /// they still reach the file in order.
    async fn blocking<F>(&self, f: F) -> Result<(), String>
    where
        F: FnOnce(&mut Inner) -> Result<(), String> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&mut inner.lock()))
            .await
            .map_err(|e| format!("Raft log I/O task failed: {e}"))?
    }
}

impl Inner {
    /// Writes and (when fsync is on) fdatasyncs `entries` in the caller's thread.
    #[cfg(test)]
    fn append(&mut self, entries: Vec<RaftEntry>) -> Result<(), String> {
        self.write_entries(entries)?;
        if self.fsync {
            self.file
                .sync_data()
                .map_err(|e| format!("fdatasync of {}: {e}", self.path.display()))?;
        }
        Ok(())
    }

    /// Writes `entries` to the file (not synced) and indexes them.
    fn write_entries(&mut self, entries: Vec<RaftEntry>) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        self.check_open()?;
        let mut buf = Vec::with_capacity(4096);
        let mut starts = Vec::with_capacity(entries.len());
        for e in &entries {
            starts.push(self.end + buf.len() as u64);
            encode_entry(e, &mut buf)?;
        }
        self.file
            .write_all_at(&buf, self.end)
            .map_err(|e| format!("appending to {}: {e}", self.path.display()))?;
        self.end += buf.len() as u64;
        self.alloc_end = self.alloc_end.max(self.end);
        self.want_zeros();
        for (e, at) in entries.into_iter().zip(starts) {
            self.offsets.insert(e.log_id.index, at);
            self.last = Some(e.log_id);
            self.written = e.log_id.index;
            self.entries.insert(e.log_id.index, e);
        }
        self.evict_applied();
        Ok(())
    }

    fn check_open(&self) -> Result<(), String> {
        if self.closed {
            return Err(format!("{} is closed", self.path.display()));
        }
        Ok(())
    }

    /// Wakes the zeroing thread when the preallocated bytes run low.
    fn want_zeros(&self) {
        if let Some(p) = &self.prealloc {
            if p.wanted(self.end, self.alloc_end) {
                p.request();
            }
        }
    }

    /// Writes the next piece of zeros past the file's end (see `log_prealloc::NextPiece`).
    fn zero_piece(&mut self, zeros: &[u8]) -> std::io::Result<Option<(Arc<File>, u64, usize)>> {
        let Some(p) = &self.prealloc else {
            return Ok(None);
        };
        let from = self.alloc_end.max(self.end);
        let target = self.end + p.ahead;
        if self.closed || from >= target {
            return Ok(None);
        }
        let len = zeros.len().min((target - from) as usize);
        self.file.write_all_at(&zeros[..len], from)?;
        self.alloc_end = from + len as u64;
        Ok(Some((self.file.clone(), from, len)))
    }

    /// Drops applied entries from memory (they stay in the file).
    fn evict_applied(&mut self) {
        let Some(applied) = &self.applied else {
            return;
        };
        let upto = applied.load(Ordering::Acquire);
        while let Some(entry) = self.entries.first_entry() {
            if *entry.key() > upto {
                break;
            }
            entry.remove();
        }
    }

    /// The entry at `index`, from memory or read back from the file.
    fn read(&self, index: u64) -> Result<Option<RaftEntry>, String> {
        if let Some(e) = self.entries.get(&index) {
            return Ok(Some(e.clone()));
        }
        let Some(&at) = self.offsets.get(&index) else {
            return Ok(None);
        };
        let fail = |e: std::io::Error| format!("reading {} at {at}: {e}", self.path.display());
        let mut head = [0u8; FRAME_HEADER];
        self.file.read_exact_at(&mut head, at).map_err(fail)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_RECORD {
            return Err(format!(
                "record at {at} of {} is too long",
                self.path.display()
            ));
        }
        let mut payload = vec![0u8; len];
        self.file
            .read_exact_at(&mut payload, at + FRAME_HEADER as u64)
            .map_err(fail)?;
        let want = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if crc32fast::hash(&payload) != want {
            return Err(format!(
                "record at {at} of {} fails its crc",
                self.path.display()
            ));
        }
        decode_entry(&payload).map(Some)
    }

    fn truncate(&mut self, index: u64) -> Result<(), String> {
        let Some(&at) = self.offsets.get(&index) else {
            return Ok(());
        };
        self.check_open()?;
        // Cutting the file (preallocated zeros included) leaves nothing of the removed
        // records past the end; the zeroing thread extends it again.
        self.file
            .set_len(at)
            .and_then(|_| self.file.sync_all())
            .map_err(|e| format!("truncating {}: {e}", self.path.display()))?;
        self.end = at;
        self.alloc_end = at;
        self.written = index.saturating_sub(1);
        self.truncations += 1;
        let kept = self.written;
        self.flush
            .durable
            .send_modify(|d| d.index = d.index.min(kept));
        self.want_zeros();
        self.entries.split_off(&index);
        self.offsets.split_off(&index);
        self.last = match self.offsets.keys().next_back() {
            Some(&i) => self.read(i)?.map(|e| e.log_id),
            None => self.purged,
        };
        Ok(())
    }

    fn purge(&mut self, upto: LogId<u64>) -> Result<(), String> {
        self.check_open()?;
        let keep = self.entries.split_off(&(upto.index + 1));
        self.entries = keep;
        let kept_offsets = self.offsets.split_off(&(upto.index + 1));
        self.purged = Some(upto);
        if self.last.is_none_or(|l| l.index <= upto.index) {
            self.last = Some(upto);
        }
        // The kept records are copied byte for byte from the old file (they may no longer be
        // in memory); their offsets shift by the length of what was cut.
        let mut buf = encode_header(self.purged);
        let mut offsets = BTreeMap::new();
        if let Some((_, &from)) = kept_offsets.iter().next() {
            let mut tail = vec![0u8; (self.end - from) as usize];
            self.file
                .read_exact_at(&mut tail, from)
                .map_err(|e| format!("reading {}: {e}", self.path.display()))?;
            for (i, at) in kept_offsets {
                offsets.insert(i, at - from + buf.len() as u64);
            }
            buf.extend_from_slice(&tail);
        }
        courier_durable_file::replace(&self.path, &buf, None)
            .map_err(|e| format!("rewriting {}: {e}", self.path.display()))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| format!("reopening {}: {e}", self.path.display()))?;
        self.file = Arc::new(file);
        self.end = buf.len() as u64;
        self.alloc_end = self.end;
        self.offsets = offsets;
        self.want_zeros();
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<RaftEntry>, StorageError<u64>> {
        let inner = self.inner.lock();
        let mut out = Vec::new();
        for &i in inner.offsets.range(range).map(|(i, _)| i) {
            match inner.read(i) {
                Ok(Some(e)) => out.push(e),
                Ok(None) => break,
                Err(e) => {
                    return Err(StorageError::IO {
                        source: StorageIOError::read_logs(AnyError::error(e)),
                    })
                }
            }
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let inner = self.inner.lock();
        Ok(LogState {
            last_purged_log_id: inner.purged,
            last_log_id: inner.last.or(inner.purged),
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        let f = self.inner.lock().vote.clone();
        f.save(vote).map_err(|e| StorageError::IO {
            source: StorageIOError::write_vote(AnyError::new(&e)),
        })
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        let f = self.inner.lock().vote.clone();
        f.read().map_err(|e| StorageError::IO {
            source: StorageIOError::read_vote(AnyError::new(&e)),
        })
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<RaftEntry> = entries.into_iter().collect();
        // A write to the page cache is quick; the fdatasync is the flusher thread's.
        let mut inner = self.inner.lock();
        let res = inner.write_entries(entries);
        match res {
            Ok(()) if inner.fsync => {
                let early = self.ack_on_write.load(Ordering::Acquire);
                let callback = if early {
                    self.flush.kick(None);
                    Some(callback)
                } else {
                    self.flush.kick(Some(callback));
                    None
                };
                drop(inner);
                if let Some(cb) = callback {
                    cb.log_io_completed(Ok(()));
                }
                Ok(())
            }
            Ok(()) => {
                // Nothing is ever synced: written is as durable as it gets.
                let written = inner.written;
                drop(inner);
                self.flush.publish(written);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "Raft log append failed");
                callback.log_io_completed(Err(std::io::Error::other(e.clone())));
                Err(write_failed(&e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let res = self
            .blocking(move |inner| inner.truncate(log_id.index))
            .await;
        res.map_err(|e| write_failed(&e))
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        let res = self.blocking(move |inner| inner.purge(log_id)).await;
        res.map_err(|e| write_failed(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Txn, TxnEntry};
    use openraft::storage::RaftLogStorage;

    fn entry(index: u64, zxid: i64) -> RaftEntry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(TxnBatch(Arc::new(vec![TxnEntry {
                zxid,
                time_ms: 5,
                session_id: 1,
                txn: Txn::Delete {
                    path: format!("/n{zxid}"),
                },
            }]))),
        }
    }

    fn append(s: &LogStore, es: Vec<RaftEntry>) {
        s.inner.lock().append(es).unwrap();
    }

    async fn all(s: &mut LogStore) -> Vec<RaftEntry> {
        s.try_get_log_entries(..).await.unwrap()
    }

    #[tokio::test]
    async fn appends_survive_reopen_and_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Not preallocated: the file ends with the last record.
            let s = LogStore::open_with(dir.path(), true, None).unwrap();
            append(&s, vec![entry(1, 1), entry(2, 2), entry(3, 3)]);
        }
        let p = dir.path().join(FILE);
        let len = std::fs::metadata(&p).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 2)
            .unwrap();
        let mut s = LogStore::open_with(dir.path(), true, None).unwrap();
        assert_eq!(all(&mut s).await, vec![entry(1, 1), entry(2, 2)]);
        append(&s, vec![entry(3, 30)]);
        drop(s);
        let mut s = LogStore::open_with(dir.path(), true, None).unwrap();
        assert_eq!(
            all(&mut s).await,
            vec![entry(1, 1), entry(2, 2), entry(3, 30)]
        );
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(entry(3, 30).log_id));
        assert_eq!(st.last_purged_log_id, None);
    }

    #[tokio::test]
    async fn truncate_and_purge_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(dir.path(), false).unwrap();
        append(&s, (1..=6).map(|i| entry(i, i as i64)).collect());
        s.truncate(entry(5, 5).log_id).await.unwrap();
        s.purge(entry(2, 2).log_id).await.unwrap();
        append(&s, vec![entry(5, 50)]);
        drop(s);
        let mut s = LogStore::open(dir.path(), false).unwrap();
        assert_eq!(
            all(&mut s).await,
            vec![entry(3, 3), entry(4, 4), entry(5, 50)]
        );
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(entry(2, 2).log_id));
        s.purge(entry(5, 50).log_id).await.unwrap();
        drop(s);
        let mut s = LogStore::open(dir.path(), false).unwrap();
        assert!(s.is_empty());
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(entry(5, 50).log_id));
    }

    #[tokio::test]
    async fn applied_entries_leave_memory_and_are_read_back_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open(dir.path(), false).unwrap();
        let applied = Arc::new(AtomicU64::new(0));
        s.track_applied(applied.clone());
        append(&s, (1..=4).map(|i| entry(i, i as i64)).collect());
        assert_eq!(s.in_memory(), 4);
        applied.store(2, Ordering::Release);
        s.evict_applied_now();
        assert_eq!(s.in_memory(), 2);
        applied.store(3, Ordering::Release);
        append(&s, vec![entry(5, 5)]);
        assert_eq!((s.in_memory(), s.len()), (2, 5));
        assert_eq!(
            all(&mut s).await,
            (1..=5).map(|i| entry(i, i as i64)).collect::<Vec<_>>()
        );
        // Purging copies the kept records from the file, evicted or not.
        s.purge(entry(2, 2).log_id).await.unwrap();
        assert_eq!(
            all(&mut s).await,
            (3..=5).map(|i| entry(i, i as i64)).collect::<Vec<_>>()
        );
        s.truncate(entry(5, 5).log_id).await.unwrap();
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(entry(4, 4).log_id));
        drop(s);
        let mut s = LogStore::open(dir.path(), false).unwrap();
        assert_eq!(
            all(&mut s).await,
            (3..=4).map(|i| entry(i, i as i64)).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn flipped_byte_stops_replay_and_foreign_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = LogStore::open(dir.path(), false).unwrap();
            append(&s, vec![entry(1, 1), entry(2, 2)]);
        }
        let p = dir.path().join(FILE);
        let mut raw = std::fs::read(&p).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        std::fs::write(&p, raw).unwrap();
        let mut s = LogStore::open(dir.path(), false).unwrap();
        assert_eq!(all(&mut s).await, vec![entry(1, 1)]);
        drop(s);
        std::fs::write(&p, b"hello world, this is not a raft log at all").unwrap();
        assert!(matches!(
            LogStore::open(dir.path(), false),
            Err(KeeperError::Corrupt { .. })
        ));
    }

    /// Small preallocation so tests see several extensions.
    const TINY: Option<(u64, u64)> = Some((64 << 10, 16 << 10));

    fn open_tiny(dir: &Path) -> LogStore {
        LogStore::open_with(dir, false, TINY).unwrap()
    }

    fn file_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(FILE)).unwrap().len()
    }

    fn write_at(dir: &Path, at: u64, bytes: &[u8]) {
        let f = OpenOptions::new().write(true).open(dir.join(FILE)).unwrap();
        f.write_all_at(bytes, at).unwrap();
    }

    fn record(e: &RaftEntry) -> Vec<u8> {
        let mut out = Vec::new();
        encode_entry(e, &mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn preallocated_zeros_end_the_log_and_are_kept_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_tiny(dir.path());
        append(&s, vec![entry(1, 1), entry(2, 2), entry(3, 3)]);
        s.preallocate_now().unwrap();
        let (end, alloc) = s.ends();
        assert_eq!(alloc, end + (64 << 10));
        assert_eq!(file_len(dir.path()), alloc);
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(s.ends(), (end, alloc), "zeros are not a torn tail");
        assert_eq!(
            all(&mut s).await,
            vec![entry(1, 1), entry(2, 2), entry(3, 3)]
        );
        append(&s, vec![entry(4, 4)]);
        assert_eq!(file_len(dir.path()), alloc, "the append overwrote zeros");
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(all(&mut s).await.len(), 4);
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_log_id, Some(entry(4, 4).log_id));
    }

    /// A preallocated log holding entries 1 and 2, dropped as a crash would leave it (the
    /// zeros stay); returns the logical end, where entry 3 would go.
    fn two_entries_then_crash(dir: &Path) -> u64 {
        let s = open_tiny(dir);
        append(&s, vec![entry(1, 1), entry(2, 2)]);
        s.preallocate_now().unwrap();
        let (end, alloc) = s.ends();
        assert!(alloc > end, "the tail is preallocated");
        end
    }

    #[tokio::test]
    async fn a_torn_record_followed_by_zeros_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let end = two_entries_then_crash(dir.path());
        // A record whose first bytes reached the disk and the rest did not.
        let torn = record(&entry(3, 3));
        write_at(dir.path(), end, &torn[..torn.len() - 5]);
        let mut s = open_tiny(dir.path());
        assert_eq!(s.ends(), (end, end), "cut at the torn record");
        assert_eq!(file_len(dir.path()), end);
        assert_eq!(all(&mut s).await, vec![entry(1, 1), entry(2, 2)]);
        append(&s, vec![entry(3, 30)]);
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(
            all(&mut s).await,
            vec![entry(1, 1), entry(2, 2), entry(3, 30)]
        );
    }

    #[tokio::test]
    async fn an_unsynced_record_behind_a_lost_one_is_never_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let end = two_entries_then_crash(dir.path());
        // Entries 3 and 4 were written, then a crash: 4's bytes reached the disk, 3's did not
        // (still zeros). Without the cut, 4 would be valid again once a new entry 3 of the
        // same length were appended in front of it.
        let three = record(&entry(3, 3));
        write_at(dir.path(), end + three.len() as u64, &record(&entry(4, 4)));
        let mut s = open_tiny(dir.path());
        assert_eq!(all(&mut s).await, vec![entry(1, 1), entry(2, 2)]);
        assert_eq!(s.ends(), (end, end));
        append(&s, vec![entry(3, 9)]);
        assert_eq!(record(&entry(3, 9)).len(), three.len());
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(
            all(&mut s).await,
            vec![entry(1, 1), entry(2, 2), entry(3, 9)]
        );
    }

    #[tokio::test]
    async fn truncate_then_append_then_reopen_with_a_preallocated_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open_tiny(dir.path());
        append(&s, (1..=5).map(|i| entry(i, i as i64)).collect());
        s.preallocate_now().unwrap();
        s.truncate(entry(4, 4).log_id).await.unwrap();
        s.preallocate_now().unwrap();
        let (end, alloc) = s.ends();
        assert!(alloc > end);
        append(&s, vec![entry(4, 40)]);
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(
            all(&mut s).await,
            vec![entry(1, 1), entry(2, 2), entry(3, 3), entry(4, 40)]
        );
        assert_eq!(s.ends().1, alloc, "the zeros after the new entry stay");
    }

    #[tokio::test]
    async fn purge_of_a_preallocated_log_then_append_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open_tiny(dir.path());
        append(&s, (1..=5).map(|i| entry(i, i as i64)).collect());
        s.preallocate_now().unwrap();
        s.purge(entry(2, 2).log_id).await.unwrap();
        let (end, alloc) = s.ends();
        assert_eq!((alloc, file_len(dir.path())), (end, end));
        s.preallocate_now().unwrap();
        assert_eq!(file_len(dir.path()), end + (64 << 10));
        append(&s, vec![entry(6, 6)]);
        drop(s); // as a crash would: the zeros stay
        let mut s = open_tiny(dir.path());
        assert_eq!(
            all(&mut s).await,
            (3..=6).map(|i| entry(i, i as i64)).collect::<Vec<_>>()
        );
        let st = s.get_log_state().await.unwrap();
        assert_eq!(st.last_purged_log_id, Some(entry(2, 2).log_id));
    }

    #[tokio::test]
    async fn the_zeroing_thread_keeps_the_tail_preallocated() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LogStore::open_with(dir.path(), true, TINY).unwrap();
        let wait_for_zeros = |s: &LogStore| {
            // A deadline, not a timing assertion: the thread is asked, not waited for.
            for _ in 0..1000 {
                let (end, alloc) = s.ends();
                if alloc >= end + (64 << 10) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            panic!("the tail was not preallocated: {:?}", s.ends());
        };
        wait_for_zeros(&s);
        // Past the low-water mark: the appends ask for more.
        let big = |i: u64| Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(TxnBatch(Arc::new(vec![TxnEntry {
                zxid: i as i64,
                time_ms: 5,
                session_id: 1,
                txn: Txn::SetData {
                    path: "/big".into(),
                    data: vec![7u8; 20 << 10].into(),
                },
            }]))),
        };
        for i in 1..=3 {
            append(&s, vec![big(i)]);
        }
        wait_for_zeros(&s);
        assert_eq!(all(&mut s).await, (1..=3).map(big).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_closed_store_writes_nothing_and_leaves_no_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_tiny(dir.path());
        append(&s, vec![entry(1, 1)]);
        s.preallocate_now().unwrap();
        s.close();
        let len = file_len(dir.path());
        assert_eq!(len, s.ends().0, "the zeros are cut at a clean close");
        s.preallocate_now().unwrap();
        assert!(s.inner.lock().append(vec![entry(2, 2)]).is_err());
        assert_eq!(file_len(dir.path()), len);
    }

    #[tokio::test]
    async fn entries_are_durable_once_the_flusher_synced_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = LogStore::open_with(dir.path(), true, None).unwrap();
        let d = s.durability();
        d.wait(0).await.unwrap();
        s.write_unflushed(vec![entry(1, 1), entry(2, 2)]);
        let early = tokio::time::timeout(std::time::Duration::from_millis(300), d.wait(2)).await;
        assert!(early.is_err(), "written but not synced is not durable");
        s.kick_flusher();
        d.wait(2).await.unwrap();
        drop(s);
        // What a reopen finds in the file is durable.
        let s = LogStore::open_with(dir.path(), true, None).unwrap();
        s.durability().wait(2).await.unwrap();
    }
}
