//! One ConsumeQueue: the per-(topic, queue) index of CommitLog records, stored under
//! `consumequeue/<topic>/<queueId>/` as files of `entries_per_file` 20-byte big-endian entries
//! (phys offset i64, size i32, tags code i64), each file named by its 20-digit start BYTE offset.
//!
//! Invariants: logical offset N lives at byte N*20; entries `[min_offset, max_offset)` are all
//! written (dense, no zero entries), and so is every entry of the last file before `max_offset`,
//! below `min_offset` too: `open` finds the max by binary search for the first never-written entry
//! of the last file (recovery marks what it cannot rebuild LOST, down to the start of that file);
//! an all-zero entry (size 0) means "never written"; entries are
//! only written by the store's put path (under the put lock) or by recovery before the store is
//! live; `max_offset` is published (Release) after the entry bytes are written, so a reader that
//! sees offset N < max also sees entry N. The put path assigns offsets from `next_offset`, which
//! runs ahead of `max_offset` while a SYNC_FLUSH store holds records staged but not yet written
//! (`stage.rs`): their entries are written, not published. Size 1 with phys `LOST_ENTRY_PHYS` is Courier's marker for
//! an entry recovery could not rebuild (its record was destroyed); readers skip it.
//!
//! Pages ahead of the write position are faulted in by the prefault thread (`prefault.rs`), not
//! by the put path: a first write to a fresh page of a shared file mapping costs the writer a
//! read fault and a write fault (14–25 µs a page on this project's VM under load, 4,696 of them
//! on the broker's worker per 960k batched messages before this; docs/store.md §6). The put path
//! asks (`wants_prefault`) once per `PREFAULT_STEP` of a queue; the thread faults
//! `PREFAULT_AHEAD` bytes past the write position into the files that exist. Faulting changes
//! no byte.
//!
//! Every queue file is mapped `MADV_RANDOM` (no fault readaround). A fault in a file nobody has
//! read makes the kernel read around it up to `read_ahead_kb` (8 MiB on this project's VM) and
//! zero-fill all of that from the fallocated extents: the put path's first write to each new file,
//! which it makes itself, stalled the broker's worker 2.2–3.0 ms (8 such stalls in a 960k-message
//! run over 8 queues; docs/store.md §6). Without readaround that write faults in only its own
//! pages. Readers lose little: a pull reads a few entries, and 4 KiB holds 204 of them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};

use crate::mapped_file::{offset_file_name, parse_offset_file_name, MappedFile};

/// Bytes per entry.
pub const CQ_ENTRY_SIZE: u64 = 20;
/// Bytes past a queue's write position the prefault thread keeps faulted in. Per active queue,
/// so it is kept small: 1,000 busy queues hold 128 MiB of page cache ahead.
pub const PREFAULT_AHEAD: u64 = 128 << 10;
/// The put path asks for more once it has written this much into the faulted range, leaving the
/// thread `PREFAULT_AHEAD - PREFAULT_STEP` bytes of margin (4 ms of a single queue taking
/// 1.2 M entries/s; the put path wakes the thread when it asks).
const PREFAULT_STEP: u64 = 32 << 10;
/// Most queues [`ConsumeQueue::flush_all`] flushes at once.
pub const FLUSH_THREADS: usize = 8;
/// Physical offset written in an entry whose record was lost (see module doc).
pub const LOST_ENTRY_PHYS: i64 = i64::MAX;

/// A ConsumeQueue file as every queue maps it: without fault readaround (module doc).
fn queue_file(f: MappedFile) -> MappedFile {
    if let Err(e) = f.advise_random() {
        tracing::debug!(file = %f.path().display(), error = %e, "MADV_RANDOM refused; faults on this consume queue file read around");
    }
    f
}

/// One decoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CqEntry {
    /// CommitLog offset of the record.
    pub phys: i64,
    /// Record size.
    pub size: i32,
    /// Tags hash code.
    pub tags_code: i64,
}

impl CqEntry {
    pub(crate) fn encode(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.phys.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }
    fn decode(b: &[u8]) -> CqEntry {
        CqEntry {
            phys: crate::message::be_i64(b, 0),
            size: crate::message::be_i32(b, 8),
            tags_code: crate::message::be_i64(b, 12),
        }
    }
    /// The entry marks a record recovery could not rebuild.
    pub fn is_lost(&self) -> bool {
        self.phys == LOST_ENTRY_PHYS
    }
}

/// See [`ConsumeQueue::writer`].
pub(crate) struct CqWriter<'a> {
    files: RwLockReadGuard<'a, Vec<Arc<MappedFile>>>,
    file_bytes: u64,
    /// Index in `files` of the file the last entry went to: the next one is almost always there.
    cur: usize,
}

impl CqWriter<'_> {
    /// Writes the encoded entries `run` (a whole number of entries) from logical offset `first`
    /// on, in one copy per file instead of one per entry; false if a file is missing (entries
    /// before it are written).
    pub fn write_run(&mut self, first: i64, mut run: &[u8]) -> bool {
        let mut byte = first as u64 * CQ_ENTRY_SIZE;
        while !run.is_empty() {
            let hit = self
                .files
                .get(self.cur)
                .is_some_and(|f| f.start() <= byte && byte < f.end());
            if !hit {
                match ConsumeQueue::index_of(&self.files, byte, self.file_bytes) {
                    Some(i) => self.cur = i,
                    None => return false,
                }
            }
            let f = &self.files[self.cur];
            let n = run.len().min((f.end() - byte) as usize);
            if !f.write(byte - f.start(), &run[..n]) {
                return false;
            }
            run = &run[n..];
            byte += n as u64;
        }
        true
    }

    /// Writes entry `offset` (see [`ConsumeQueue::write_entry`]); false if its file is missing.
    pub fn write_entry(&mut self, offset: i64, e: CqEntry) -> bool {
        self.write_run(offset, &e.encode())
    }
}

pub(crate) struct ConsumeQueue {
    pub topic: String,
    pub queue_id: i32,
    dir: PathBuf,
    file_bytes: u64,
    files: RwLock<Vec<Arc<MappedFile>>>,
    max_offset: AtomicI64,
    /// Next logical offset the put path assigns (only read and written under the put lock); never
    /// below `max_offset` in effect (see `next_offset`).
    next: AtomicI64,
    min_offset: AtomicI64,
    /// Logical offset up to which entries are known flushed.
    flushed: AtomicI64,
    /// Byte offset up to which the prefault thread has faulted pages in (or given up on).
    prefaulted: AtomicU64,
    /// The queue is waiting for the prefault thread (so the put path asks once).
    prefault_asked: AtomicBool,
    /// A file was short at open (see `repaired`).
    repaired: bool,
}

impl ConsumeQueue {
    /// Opens (or creates the directory of) a queue and finds its written extent.
    pub fn open(
        root: &Path,
        topic: &str,
        queue_id: i32,
        entries_per_file: u32,
    ) -> io::Result<Self> {
        let dir = root.join(topic).join(queue_id.to_string());
        std::fs::create_dir_all(&dir)?;
        let file_bytes = entries_per_file as u64 * CQ_ENTRY_SIZE;
        let mut starts = Vec::new();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            match parse_offset_file_name(&name) {
                Some(s) if s % file_bytes == 0 => starts.push(s),
                Some(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} is not a multiple of the ConsumeQueue file size {}; was cq_entries_per_file changed?",
                            e.path().display(),
                            file_bytes
                        ),
                    ))
                }
                None if name.ends_with(".tmp") => {
                    let _ = std::fs::remove_file(e.path());
                }
                None => {}
            }
        }
        starts.sort_unstable();
        // Keep only the contiguous run ending at the newest file: a gap means older files are stale.
        let mut files: Vec<Arc<MappedFile>> = Vec::with_capacity(starts.len());
        let mut repaired = false;
        for s in starts {
            if let Some(last) = files.last() {
                if last.end() != s {
                    files.clear();
                }
            }
            let path = dir.join(offset_file_name(s));
            // Files are created whole; a short one was cut by damage, and whatever it held past
            // the cut has to come back from the CommitLog.
            repaired |= std::fs::metadata(&path)?.len() < file_bytes;
            files.push(Arc::new(queue_file(MappedFile::open(
                &path, s, file_bytes,
            )?)));
        }
        let cq = ConsumeQueue {
            topic: topic.to_string(),
            queue_id,
            dir,
            file_bytes,
            files: RwLock::new(files),
            max_offset: AtomicI64::new(0),
            next: AtomicI64::new(0),
            min_offset: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
            prefaulted: AtomicU64::new(0),
            prefault_asked: AtomicBool::new(false),
            repaired,
        };
        let (min, max) = cq.scan_extent();
        // What lies past the extent must read as never written. A hole among written entries (a
        // page the kernel never wrote back before a crash, or damage) ends the search early, and
        // the entries after it would come back at a later open once new writes fill the hole.
        if let Some(last) = cq.files.read().last() {
            last.zero_from((max as u64 * CQ_ENTRY_SIZE).saturating_sub(last.start()))?;
        }
        cq.min_offset.store(min, Ordering::Release);
        cq.max_offset.store(max, Ordering::Release);
        cq.flushed.store(max, Ordering::Release);
        Ok(cq)
    }

    /// (first offset of the first file, first unwritten offset of the last file).
    fn scan_extent(&self) -> (i64, i64) {
        let files = self.files.read();
        let (Some(first), Some(last)) = (files.first(), files.last()) else {
            return (0, 0);
        };
        let min = (first.start() / CQ_ENTRY_SIZE) as i64;
        // Written entries form a prefix of the file: binary search for the first size-0 entry.
        let n = self.file_bytes / CQ_ENTRY_SIZE;
        let (mut lo, mut hi) = (0u64, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let written = last
                .get(mid * CQ_ENTRY_SIZE, 20)
                .map(|b| CqEntry::decode(b).size != 0)
                .unwrap_or(false);
            if written {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (min, ((last.start() / CQ_ENTRY_SIZE) + lo) as i64)
    }

    /// True when a file of this queue was shorter than a queue file is at open (zero-extended):
    /// the store then rebuilds the queues from the whole CommitLog.
    pub fn repaired(&self) -> bool {
        self.repaired
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn max_offset(&self) -> i64 {
        self.max_offset.load(Ordering::Acquire)
    }
    pub fn min_offset(&self) -> i64 {
        self.min_offset.load(Ordering::Acquire)
    }

    /// Put path: the next logical offset to assign. Recovery and `open` only move `max_offset`,
    /// so the larger of the two is the truth.
    pub fn next_offset(&self) -> i64 {
        self.next
            .load(Ordering::Relaxed)
            .max(self.max_offset.load(Ordering::Acquire))
    }

    /// Put path: offsets below `next` are assigned (their entries written, maybe not published).
    pub fn set_next(&self, next: i64) {
        self.next.store(next, Ordering::Relaxed);
    }

    fn file_for(&self, byte: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        Self::index_of(&files, byte, self.file_bytes).map(|i| Arc::clone(&files[i]))
    }

    /// Position in `files` of the file holding `byte`, if it is there.
    fn index_of(files: &[Arc<MappedFile>], byte: u64, file_bytes: u64) -> Option<usize> {
        let first = files.first()?;
        if byte < first.start() {
            return None;
        }
        let idx = ((byte - first.start()) / file_bytes) as usize;
        (idx < files.len()).then_some(idx)
    }

    /// Whether the file holding `byte` exists (no Arc clone: the put path asks once per batch).
    fn has_file(&self, byte: u64) -> bool {
        Self::index_of(&self.files.read(), byte, self.file_bytes).is_some()
    }

    /// Makes sure the file holding logical offsets `[offset, offset+count)` exists (writer only).
    /// This is the only blocking step of dispatch and happens once per `entries_per_file` entries.
    pub fn ensure_capacity(&self, offset: i64, count: u64) -> io::Result<()> {
        let first_byte = offset as u64 * CQ_ENTRY_SIZE;
        let last_byte = (offset as u64 + count.max(1) - 1) * CQ_ENTRY_SIZE;
        let mut byte = first_byte - first_byte % self.file_bytes;
        while byte <= last_byte {
            if !self.has_file(byte) {
                let mut files = self.files.write();
                let start = match files.last() {
                    Some(l) if l.end() <= byte => l.end(),
                    Some(_) => byte,
                    None => byte,
                };
                let mut s = start;
                while s <= byte {
                    let f = queue_file(MappedFile::create(
                        &self.dir.join(offset_file_name(s)),
                        s,
                        self.file_bytes,
                    )?);
                    if files.last().map(|l| l.end() != s).unwrap_or(false) {
                        files.clear();
                    }
                    files.push(Arc::new(f));
                    s += self.file_bytes;
                }
            }
            byte += self.file_bytes;
        }
        Ok(())
    }

    /// Writes entry `offset` (file must exist: see `ensure_capacity`). Does not publish it.
    /// Recovery rewrites entries below what the queue's files already held; the next `flush`
    /// must cover them too, or a power loss could take back what the checkpoint then claims.
    pub fn write_entry(&self, offset: i64, e: CqEntry) -> bool {
        self.flushed.fetch_min(offset.max(0), Ordering::AcqRel);
        self.writer().write_entry(offset, e)
    }

    /// The offset of the first entry in `[min_offset, end)` whose record starts at or after
    /// `phys`, or `end` if there is none: how far the queue reaches below that CommitLog
    /// position (the checkpoint's `cq_entries_floor`). LOST entries count as below (recovery
    /// writes them only under rebuilt ones), and so does an unreadable one. Entries point at
    /// increasing offsets, so the search gallops back from `end`: a queue that received
    /// nothing since `phys` costs one read.
    pub fn entries_below(&self, phys: i64, end: i64) -> i64 {
        let min = self.min_offset();
        let below = |o: i64| match self.raw_entry(o) {
            Some(e) if e.size != 0 && !e.is_lost() => e.phys < phys,
            Some(e) => e.size != 0,
            None => true,
        };
        // Invariant: every entry in [hi, end) is at or past `phys`.
        let (mut hi, mut step) = (end, 1i64);
        let mut lo = loop {
            if hi <= min {
                return hi;
            }
            let probe = (hi - step).max(min);
            if below(probe) {
                break probe + 1;
            }
            hi = probe;
            step = step.saturating_mul(2);
        };
        // Entry `lo - 1` is below: bisect [lo, hi).
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        hi
    }

    /// A handle for writing entries (writer only) under one read lock of the file list, with no
    /// lock or reference count per entry or run. Holding it blocks `ensure_capacity`'s file creation and retention, so drop it after
    /// the batch.
    pub fn writer(&self) -> CqWriter<'_> {
        CqWriter {
            files: self.files.read(),
            file_bytes: self.file_bytes,
            cur: 0,
        }
    }

    /// Put path, after writing entries below `next`: true when the queue should be handed to the
    /// prefault thread (it is near the end of its faulted range and has not asked yet).
    pub fn wants_prefault(&self, next: i64) -> bool {
        let byte = next as u64 * CQ_ENTRY_SIZE;
        byte + (PREFAULT_AHEAD - PREFAULT_STEP) > self.prefaulted.load(Ordering::Relaxed)
            && !self.prefault_asked.swap(true, Ordering::AcqRel)
    }

    /// Prefault thread: faults in the pages of the next `PREFAULT_AHEAD` bytes past the write
    /// position that lie in existing files (a file the writer has not reached yet is faulted in
    /// by the writer itself, at most one step of it). Returns the bytes covered.
    pub fn prefault_ahead(&self) -> io::Result<u64> {
        let pos = self.next_offset() as u64 * CQ_ENTRY_SIZE;
        let from = pos.max(self.prefaulted.load(Ordering::Relaxed));
        let to = pos + PREFAULT_AHEAD;
        // The end this round covers is recorded before the ask is cleared: a put in between
        // would otherwise still see the old end and ask again, waking this thread for a window
        // it is already faulting. Also before faulting: on failure the writer faults the pages
        // itself, and asking again for the same range every batch would only repeat the failure.
        self.prefaulted.fetch_max(to, Ordering::Relaxed);
        // Cleared now: a put that crosses the next step from here on asks again.
        self.prefault_asked.store(false, Ordering::Release);
        if from >= to {
            return Ok(0);
        }
        // Clones, so retention may drop a file meanwhile (the mapping lives until we let go).
        let files: Vec<Arc<MappedFile>> = {
            let files = self.files.read();
            files
                .iter()
                .filter(|f| f.start() < to && f.end() > from)
                .cloned()
                .collect()
        };
        let mut done = 0;
        for f in files {
            let a = from.max(f.start());
            let b = to.min(f.end());
            f.prefault(a - f.start(), b - a)?;
            done += b - a;
        }
        Ok(done)
    }

    /// Publishes entries below `max`.
    pub fn publish(&self, max: i64) {
        self.max_offset.store(max, Ordering::Release);
    }

    /// Entry `offset` as stored (None if its file does not exist).
    pub fn raw_entry(&self, offset: i64) -> Option<CqEntry> {
        if offset < 0 {
            return None;
        }
        let byte = offset as u64 * CQ_ENTRY_SIZE;
        let f = self.file_for(byte)?;
        f.get(byte - f.start(), 20).map(CqEntry::decode)
    }

    /// `raw_entry` that keeps the file it used in `cache`, for sequential scans.
    pub fn raw_entry_cached(
        &self,
        cache: &mut Option<Arc<MappedFile>>,
        offset: i64,
    ) -> Option<CqEntry> {
        if offset < 0 {
            return None;
        }
        let byte = offset as u64 * CQ_ENTRY_SIZE;
        if !cache
            .as_ref()
            .is_some_and(|f| f.start() <= byte && byte < f.end())
        {
            *cache = Some(self.file_for(byte)?);
        }
        let f = cache.as_ref()?;
        f.get(byte - f.start(), 20).map(CqEntry::decode)
    }

    /// Entry `offset` if it is within `[min, max)`.
    #[cfg(test)]
    pub fn entry(&self, offset: i64) -> Option<CqEntry> {
        if offset < self.min_offset() || offset >= self.max_offset() {
            return None;
        }
        self.raw_entry(offset)
    }

    /// Zeroes entries `[from, max)` and sets max to `from` (recovery only).
    pub fn truncate_to(&self, from: i64) {
        let max = self.max_offset();
        for o in from.max(0)..max {
            let byte = o as u64 * CQ_ENTRY_SIZE;
            if let Some(f) = self.file_for(byte) {
                f.write(byte - f.start(), &[0u8; 20]);
            }
        }
        self.max_offset.store(from.max(0), Ordering::Release);
        self.next.store(from.max(0), Ordering::Relaxed);
        if self.min_offset() > from {
            self.min_offset.store(from.max(0), Ordering::Release);
        }
        let keep_bytes = from.max(0) as u64 * CQ_ENTRY_SIZE;
        let mut files = self.files.write();
        // Files wholly beyond the new end (other than the one holding `from`) are dropped.
        while files.len() > 1
            && files
                .last()
                .map(|f| f.start() > keep_bytes)
                .unwrap_or(false)
        {
            if let Some(f) = files.pop() {
                let _ = std::fs::remove_file(f.path());
            }
        }
        self.flushed.store(
            self.flushed.load(Ordering::Acquire).min(from),
            Ordering::Release,
        );
    }

    /// The entries `[from, max)` written since the last flush, if any.
    fn unflushed(&self) -> Option<(i64, i64)> {
        let max = self.max_offset();
        let from = self.flushed.load(Ordering::Acquire).max(self.min_offset());
        (from < max).then_some((from, max))
    }

    /// True when entries were written since the last flush.
    pub fn has_unflushed(&self) -> bool {
        self.unflushed().is_some()
    }

    /// Flushes entries written since the last flush.
    pub fn flush(&self) -> io::Result<()> {
        let Some((from, max)) = self.unflushed() else {
            return Ok(());
        };
        let files: Vec<Arc<MappedFile>> = self.files.read().clone();
        let (a, b) = (from as u64 * CQ_ENTRY_SIZE, max as u64 * CQ_ENTRY_SIZE);
        for f in files.iter().filter(|f| f.end() > a && f.start() < b) {
            let s = a.max(f.start()) - f.start();
            let e = b.min(f.end()) - f.start();
            f.flush_range(s, e - s)?;
        }
        self.flushed.store(max, Ordering::Release);
        Ok(())
    }

    /// Flushes every queue of `queues` that has unflushed entries, up to [`FLUSH_THREADS`] at
    /// once, and returns the first error (the others are still flushed).
    ///
    /// Why at once: each queue's flush is its own `msync`, and each of those ends in a device
    /// cache flush, which on the VMs this is measured on stalls every write to the disk, the
    /// CommitLog's included, for 10–150 ms. The block layer and the journal let flushes that are
    /// waiting at the same time share one: eight queues flushed one after another held the disk
    /// for 128–350 ms a round, flushed together for 41–80 ms (docs/store.md §6).
    pub fn flush_all(queues: &[Arc<ConsumeQueue>]) -> io::Result<()> {
        let dirty: Vec<&ConsumeQueue> = queues
            .iter()
            .filter(|q| q.has_unflushed())
            .map(|q| q.as_ref())
            .collect();
        crate::at_once::try_each(&dirty, FLUSH_THREADS, "store-cq-flush", |q| q.flush())
    }

    /// Retention: moves min past entries pointing below `min_phys` and the start of the first file,
    /// and deletes files wholly below it. Returns the number of files deleted.
    pub fn advance_min(&self, min_phys: i64) -> usize {
        let max = self.max_offset();
        // Nothing below the first file can be read: a reader sent there would make no progress.
        // Recovery leaves such a queue when it rebuilds one whose older files are gone.
        let first = self
            .files
            .read()
            .first()
            .map_or(0, |f| (f.start() / CQ_ENTRY_SIZE) as i64);
        let mut min = self.min_offset();
        if min < first.min(max) {
            min = first.min(max);
            self.min_offset.store(min, Ordering::Release);
        }
        // Entries point at increasing offsets, so binary search the first one at/after min_phys.
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let below = match self.raw_entry(mid) {
                Some(e) if !e.is_lost() => e.phys < min_phys,
                _ => false,
            };
            if below {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo > min {
            min = lo;
            self.min_offset.store(min, Ordering::Release);
        }
        let min_byte = min as u64 * CQ_ENTRY_SIZE;
        let mut files = self.files.write();
        let mut deleted = 0;
        while files.len() > 1 && files.first().map(|f| f.end() <= min_byte).unwrap_or(false) {
            let f = files.remove(0);
            let _ = std::fs::remove_file(f.path());
            deleted += 1;
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A distinct entry for offset `i`.
    fn entry(i: i64) -> CqEntry {
        CqEntry {
            phys: i * 10,
            size: 7,
            tags_code: -i,
        }
    }

    /// The `VmFlags` line of this process's mapping of `path`, from /proc/self/smaps.
    fn vm_flags(path: &Path) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let want = path.to_str()?;
        let mut inside = false;
        for line in smaps.lines() {
            let first = line.split_whitespace().next().unwrap_or("");
            let header =
                first.contains('-') && first.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
            if header {
                inside = line.ends_with(want);
            } else if let (true, Some(flags)) = (inside, line.strip_prefix("VmFlags:")) {
                return Some(flags.to_string());
            }
        }
        None
    }

    #[test]
    fn queue_files_are_mapped_without_readaround_when_created_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let cq = ConsumeQueue::open(dir.path(), "RA", 0, 1024).unwrap();
            cq.ensure_capacity(0, 1).unwrap();
            assert!(cq.write_entry(0, entry(0)));
            let path = cq.dir().join(offset_file_name(0));
            let flags = vm_flags(&path).expect("the new file is mapped");
            assert!(
                flags.split_whitespace().any(|f| f == "rr"),
                "created: {flags}"
            );
            path
        };
        assert_eq!(vm_flags(&path), None, "dropping the queue unmaps its file");
        let cq = ConsumeQueue::open(dir.path(), "RA", 0, 1024).unwrap();
        let flags = vm_flags(&path).expect("the reopened file is mapped");
        assert!(
            flags.split_whitespace().any(|f| f == "rr"),
            "reopened: {flags}"
        );
        drop(cq);
    }

    #[test]
    fn writer_writes_a_run_across_files_and_refuses_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "W", 0, 4).unwrap();
        cq.ensure_capacity(0, 10).unwrap();
        {
            let mut w = cq.writer();
            for i in 0..10 {
                assert!(w.write_entry(i, entry(i)), "entry {i}");
            }
            // Offset 12 is in a file ensure_capacity did not create.
            assert!(!w.write_entry(12, entry(12)));
            // Going back to an earlier file still finds it.
            assert!(w.write_entry(1, entry(1)));
        }
        cq.publish(10);
        for i in 0..10 {
            assert_eq!(cq.entry(i), Some(entry(i)));
        }
        assert!(!cq.write_entry(12, entry(12)));
        assert!(cq.write_entry(9, entry(9)));
        // Retention drops the oldest file; the writer still finds the rest by position.
        assert_eq!(cq.advance_min(40), 1);
        let mut w = cq.writer();
        assert!(!w.write_entry(2, entry(2)));
        assert!(w.write_entry(5, entry(5)));
        assert!(w.write_entry(9, entry(9)));
    }

    /// The checkpoint floor's search: the first entry at or past a position, from any distance
    /// back from the end, with LOST entries (recovery's) counted as below and retention's min
    /// as the lower bound.
    #[test]
    fn entries_below_finds_the_first_entry_at_or_past_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "F", 0, 16).unwrap();
        assert_eq!(cq.entries_below(0, 0), 0);
        cq.ensure_capacity(0, 100).unwrap();
        {
            let mut w = cq.writer();
            for i in 0..100 {
                assert!(w.write_entry(i, entry(i)));
            }
        }
        cq.publish(100);
        for end in [1, 2, 37, 64, 100] {
            for phys in [-5, 0, 1, 10, 11, 155, 160, 365, 640, 989, 990, 991, 5_000] {
                let want = (0..end).find(|&i| i * 10 >= phys).unwrap_or(end);
                assert_eq!(cq.entries_below(phys, end), want, "phys {phys}, end {end}");
            }
        }
        // Recovery's LOST marker sorts below everything.
        let lost = CqEntry {
            phys: LOST_ENTRY_PHYS,
            size: 1,
            tags_code: 0,
        };
        for i in 0..3 {
            assert!(cq.write_entry(i, lost));
        }
        assert_eq!(cq.entries_below(25, 100), 3);
        assert_eq!(cq.entries_below(35, 100), 4);
        // Entries below min (retention) are not searched.
        cq.advance_min(400);
        assert_eq!(cq.min_offset(), 40);
        assert_eq!(cq.entries_below(25, 100), 40);
        assert_eq!(cq.entries_below(405, 100), 41);
        assert_eq!(cq.entries_below(995, 100), 100);
    }

    /// `flush_all` flushes every queue with unflushed entries and only those.
    #[test]
    fn flush_all_flushes_each_queue_that_has_unflushed_entries() {
        let dir = tempfile::tempdir().unwrap();
        let queues: Vec<Arc<ConsumeQueue>> = (0..5)
            .map(|q| Arc::new(ConsumeQueue::open(dir.path(), "A", q, 16).unwrap()))
            .collect();
        for (n, cq) in queues.iter().enumerate() {
            let n = n as i64 * 7;
            cq.ensure_capacity(0, n as u64).unwrap();
            for i in 0..n {
                assert!(cq.write_entry(i, entry(i)));
            }
            cq.publish(n);
        }
        assert_eq!(
            queues.iter().filter(|q| q.has_unflushed()).count(),
            4,
            "queue 0 has no entries"
        );
        ConsumeQueue::flush_all(&queues).unwrap();
        for (n, cq) in queues.iter().enumerate() {
            assert!(!cq.has_unflushed(), "queue {n}");
            assert_eq!(cq.flushed.load(Ordering::Acquire), n as i64 * 7);
        }
    }

    /// Recovery rewrites an entry below what was flushed: the next flush covers it again.
    #[test]
    fn a_rewritten_entry_below_the_flushed_mark_is_flushed_again() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "R", 0, 16).unwrap();
        cq.ensure_capacity(0, 20).unwrap();
        for i in 0..20 {
            assert!(cq.write_entry(i, entry(i)));
        }
        cq.publish(20);
        cq.flush().unwrap();
        assert_eq!(cq.flushed.load(Ordering::Acquire), 20);
        assert!(cq.write_entry(3, entry(33)));
        assert_eq!(cq.flushed.load(Ordering::Acquire), 3);
        cq.flush().unwrap();
        assert_eq!(cq.flushed.load(Ordering::Acquire), 20);
    }

    /// Whether each page of `[off, off+len)` of the queue's files is mapped in this process
    /// (`/proc/self/pagemap` bit 63): a page the writer would not fault on. The page cache alone
    /// (mincore) would not do: readahead fills it around the first fault.
    fn mapped(cq: &ConsumeQueue, off: u64, len: u64) -> Vec<bool> {
        use std::os::unix::fs::FileExt;
        let f = cq.file_for(off).unwrap();
        // Only the address is taken; reading through it would fault pages in.
        let addr = f.get(0, 1).unwrap().as_ptr() as u64 + (off - f.start());
        let pagemap = std::fs::File::open("/proc/self/pagemap").unwrap();
        (0..len.div_ceil(4096))
            .map(|i| {
                let mut b = [0u8; 8];
                pagemap
                    .read_exact_at(&mut b, (addr / 4096 + i) * 8)
                    .unwrap();
                u64::from_le_bytes(b) >> 63 == 1
            })
            .collect()
    }

    /// The put path asks once per step; the prefault thread's call faults in the next
    /// `PREFAULT_AHEAD` bytes of the existing files, and nothing past them, without changing a byte.
    #[test]
    fn prefault_faults_in_the_pages_ahead_of_the_writer_once_per_step() {
        let dir = tempfile::tempdir().unwrap();
        // 1 MiB files (52,428 entries), so the window lies inside the first file.
        let cq = ConsumeQueue::open(dir.path(), "P", 0, 52_428).unwrap();
        cq.ensure_capacity(0, 100).unwrap();
        {
            let mut w = cq.writer();
            for i in 0..100 {
                assert!(w.write_entry(i, entry(i)));
            }
        }
        cq.set_next(100);
        cq.publish(100);
        let pos = 100 * CQ_ENTRY_SIZE;
        let page_after = (pos + PREFAULT_AHEAD).div_ceil(4096) * 4096;
        assert!(
            !mapped(&cq, page_after, 64 << 10).iter().any(|r| *r),
            "a fresh file should have nothing mapped past the written entries"
        );
        assert!(cq.wants_prefault(100));
        // Asked already: no second request until the thread has run.
        assert!(!cq.wants_prefault(101));
        assert_eq!(cq.prefault_ahead().unwrap(), PREFAULT_AHEAD);
        let first_page = pos / 4096 * 4096;
        assert!(mapped(&cq, first_page, page_after - first_page)
            .iter()
            .all(|r| *r));
        assert!(!mapped(&cq, page_after, 64 << 10).iter().any(|r| *r));
        // Faulting wrote nothing: the entry after the last written one is still empty.
        assert_eq!(cq.raw_entry(100).unwrap().size, 0);
        assert_eq!(cq.scan_extent(), (0, 100));
        // Less than a step further: nothing to ask. A step further: ask again.
        let step = (PREFAULT_STEP / CQ_ENTRY_SIZE) as i64;
        assert!(!cq.wants_prefault(100 + step - 1));
        assert!(cq.wants_prefault(100 + step + 1));
        // The window past the end of the last file is clipped to the file.
        cq.set_next(52_428 - 10);
        assert!(cq.prefault_ahead().unwrap() < PREFAULT_AHEAD);
    }

    #[test]
    fn a_run_is_written_across_files_and_stops_at_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "R", 0, 4).unwrap();
        let run = |from: i64, to: i64| -> Vec<u8> {
            (from..to).flat_map(|i| entry(i).encode()).collect()
        };
        cq.ensure_capacity(0, 10).unwrap();
        // Offsets 2..10 span the second half of file 0, all of file 1 and half of file 2.
        assert!(cq.writer().write_run(2, &run(2, 10)));
        assert!(cq.writer().write_run(0, &run(0, 2)));
        cq.publish(10);
        for i in 0..10 {
            assert_eq!(cq.entry(i), Some(entry(i)), "entry {i}");
        }
        // File 3 (offsets 12..16) does not exist: entries before it are written, then it stops.
        assert!(!cq.writer().write_run(10, &run(10, 14)));
        assert_eq!(cq.raw_entry(11), Some(entry(11)));
        assert_eq!(cq.raw_entry(12), None);
    }

    /// A hole inside the written entries (a page never written back before a crash, or damage)
    /// ends the extent search early. The entries after it must not come back once new writes
    /// fill the hole: found by the store's `recover` fuzz target, where a put acknowledged after
    /// such an open vanished at the next restart behind three resurrected stale entries.
    #[test]
    fn entries_past_a_hole_do_not_come_back_after_the_hole_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "T", 0, 16).unwrap();
        for i in 0..10i64 {
            cq.ensure_capacity(i, 1).unwrap();
            assert!(cq.write_entry(i, entry(i)));
            cq.publish(i + 1);
        }
        cq.flush().unwrap();
        drop(cq);
        let file = dir.path().join("T/0").join(offset_file_name(0));
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 20], 8 * CQ_ENTRY_SIZE).unwrap();
        drop(f);

        let cq = ConsumeQueue::open(dir.path(), "T", 0, 16).unwrap();
        assert_eq!(cq.max_offset(), 8, "the extent ends at the hole");
        cq.set_next(8);
        assert!(cq.write_entry(8, entry(80)));
        cq.publish(9);
        cq.flush().unwrap();
        drop(cq);

        let cq = ConsumeQueue::open(dir.path(), "T", 0, 16).unwrap();
        assert_eq!(
            cq.max_offset(),
            9,
            "entry 9, written before the hole, came back"
        );
        assert_eq!(cq.entry(8), Some(entry(80)));
        assert_eq!(cq.raw_entry(9).map(|e| e.size), Some(0));
    }

    /// Recovery rebuilds a queue whose older files are gone (deleted, their records too) from the
    /// first record it finds, in a file it creates there. Nothing below that file can be read,
    /// so the queue starts there, as it does at the next open; before, its min stayed at 0 and a
    /// reader sent there got no entry and made no progress.
    #[test]
    fn min_is_never_below_the_first_file() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "M", 0, 4).unwrap();
        cq.ensure_capacity(9, 1).unwrap();
        for i in 8..10 {
            assert!(cq.write_entry(i, entry(i)));
        }
        cq.publish(10);
        assert_eq!(cq.min_offset(), 0);
        assert_eq!(cq.advance_min(0), 0);
        assert_eq!((cq.min_offset(), cq.max_offset()), (8, 10));
        drop(cq);
        let cq = ConsumeQueue::open(dir.path(), "M", 0, 4).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (8, 10));
    }

    #[test]
    fn append_read_reopen_and_roll_files() {
        let dir = tempfile::tempdir().unwrap();
        let cq = ConsumeQueue::open(dir.path(), "T", 1, 4).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (0, 0));
        for i in 0..10i64 {
            cq.ensure_capacity(i, 1).unwrap();
            assert!(cq.write_entry(
                i,
                CqEntry {
                    phys: i * 100,
                    size: 50,
                    tags_code: i
                }
            ));
            cq.publish(i + 1);
        }
        assert_eq!(
            cq.entry(7),
            Some(CqEntry {
                phys: 700,
                size: 50,
                tags_code: 7
            })
        );
        assert_eq!(cq.entry(10), None);
        cq.flush().unwrap();
        let files: Vec<_> = std::fs::read_dir(cq.dir()).unwrap().collect();
        assert_eq!(files.len(), 3);
        assert!(cq.dir().join("00000000000000000080").exists());
        drop(cq);
        let cq = ConsumeQueue::open(dir.path(), "T", 1, 4).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (0, 10));
        cq.truncate_to(6);
        assert_eq!(cq.max_offset(), 6);
        assert_eq!(cq.raw_entry(6).map(|e| e.size), Some(0));
        assert_eq!(cq.advance_min(450), 1);
        assert_eq!(cq.min_offset(), 5);
        assert_eq!(cq.entry(4), None);
        drop(cq);
        let cq = ConsumeQueue::open(dir.path(), "T", 1, 4).unwrap();
        assert_eq!((cq.min_offset(), cq.max_offset()), (4, 6));
    }
}
