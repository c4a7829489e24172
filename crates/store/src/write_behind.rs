//! The write-behind buffer of an ASYNC_FLUSH CommitLog written with `O_DIRECT`
//! (`StoreConfig::direct_write`, RocketMQ's `transientStorePoolEnable` in spirit).
//!
//! Why: a put that copies its record into the mapped segment makes the kernel allocate and
//! zero-fill a fresh page-cache page for every 4 KiB of log, then write it back. On the virtual
//! machines Courier is measured on, first-touching a page costs 1.5–4 µs (docs/store.md §11.4);
//! at a gigabyte per second that alone needs a whole core. Here the put path copies records into a
//! small ring of resident, reused memory chunks, and one committer thread writes them to the
//! segment file with `O_DIRECT` (the device DMAs from the chunk; no page-cache page is made).
//! Readers of recent records get zero-copy `Bytes` over the chunks; older records are read through
//! the segment's mapping as before.
//!
//! Layout: chunk k of a segment caches file bytes `[seg.start + k*chunk, min(+chunk, seg.end))`;
//! `chunk` divides into 4 KiB blocks and so does the segment size, so every chunk starts on a
//! block of the file. Live slots are kept oldest first, contiguous in log offsets except across a
//! segment's dead tail (past its end-of-segment blank).
//!
//! Invariants:
//! - Every byte in `[floor, max_phys)` (floor = start of the oldest live slot) is in a live slot.
//!   A slot made for a range the file already holds (the first put after opening) is first
//!   filled from the file.
//! - `committed`: every byte below it is in the segment file (not necessarily flushed). It never
//!   passes the published end (`max_phys`) and it skips a sealed segment's dead tail in one step.
//!   While busy the committer leaves a partial last block for later (at most `TAIL_EVERY`), so
//!   `committed` may stop inside a record; `boundary` is the last record boundary it reached, and
//!   the flush thread fsyncs (and the checkpoint claims) only up to `boundary`.
//! - A slot leaves the live list only once `committed >= slot.end`, so everything below `floor`
//!   can be read from the file. Its chunk is reused only when nobody else holds it
//!   (`Arc::get_mut`); `Bytes` handed to readers keep theirs alive and unchanged.
//! - Only the put path (under the put lock) writes chunk bytes, only at or past `max_phys`;
//!   readers and the committer read only below `max_phys`.
//! - On disk nothing but zeros follows the committed end inside its block: a partial last block
//!   is written from a zero-padded copy, never from the chunk (whose bytes past the end may be
//!   a record being written or a stale one from the chunk's previous use).
//! - A process crash (kill -9) loses what was not committed: at most `COMMIT_BATCH` bytes or
//!   the commit interval's worth of puts while the committer keeps up, and never more than
//!   `max_uncommitted` (the ring less `SPARE_CHUNKS` chunks) plus the put in progress: a put
//!   that would run further ahead waits for the committer. SYNC_FLUSH never uses this path.
//! - Nobody waits for the committer while holding the put lock or a thread: `cover` answers
//!   `Cover::WaitFor` instead, and the put waits with `wait_committed`, an async wait, so a slow
//!   disk holds up puts and nothing else on the runtime (pulls of stored messages, heartbeats, and
//!   in `courier dev` the name server and the keeper share that runtime).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::mapped_file::MappedFile;

/// Bytes per chunk (a segment smaller than this gets chunks of its own size).
const CHUNK: u64 = 4 << 20;
/// Transparent huge page size on x86_64 and most arm64 kernels; chunks start on one.
const HUGE_PAGE: usize = 2 << 20;
/// The unit of `O_DIRECT` offsets, lengths and buffer addresses.
pub(crate) const BLOCK: u64 = 4096;
/// The committer starts a write at once when this much is pending, and otherwise waits up to
/// the commit interval (`StoreConfig::commit_interval`) for more to gather.
const COMMIT_BATCH: u64 = 2 << 20;
/// Pause after a failed write before the next attempt.
const RETRY_AFTER: Duration = Duration::from_millis(20);
/// While busy, the partial last block is written at most this often: it is rewritten by the
/// next round anyway, and each write is one more I/O request (a VM exit here).
const TAIL_EVERY: Duration = Duration::from_millis(10);
/// Longest an idle committer sleeps before looking again (a missed wakeup costs no more).
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// Fewest chunks a buffer has: the committer writes one while the put path fills the next ones.
const MIN_CHUNKS: usize = 4;
/// Chunks of the ring the put path leaves to the committer however far behind it is: the one
/// being written and one more, so that a put needing a fresh chunk, or a chunk a reader still
/// holds, does not wait on the committer a second time.
const SPARE_CHUNKS: u64 = 2;

/// Most bytes the put path may run ahead of the committer in a ring of `ring_bytes` for
/// segments of `file_size` bytes: the ring less `SPARE_CHUNKS` chunks (8 MiB of the smallest
/// ring, 56 MiB of the broker's default 64 MiB). It is what a process crash can lose when
/// producers outrun the disk; while the committer keeps up it stays a few hundred KiB behind.
///
/// Why the whole ring and not a fixed few MiB: on a disk whose writes stall for 100–300 ms at
/// a time (a virtual disk flushing its host's cache, ext4 committing its journal), an 8 MiB
/// bound stopped producers within about 20 ms of each stall (8 MiB at 400–450 MB/s), and the
/// committer then lingered while they refilled a batch; a ring's worth of lead keeps them
/// going through the stall, so the committer writes the backlog back to back afterwards
/// (docs/perf-log.md, session 26).
pub fn max_uncommitted(file_size: u64, ring_bytes: u64) -> u64 {
    let (chunk_len, chunks) = ring_shape(file_size, ring_bytes);
    (chunks as u64 - SPARE_CHUNKS) * chunk_len
}

/// The chunk length and chunk count of a ring of `ring_bytes` for segments of `file_size`
/// bytes: 4 MiB chunks (a segment's size if smaller), at least `MIN_CHUNKS` of them.
fn ring_shape(file_size: u64, ring_bytes: u64) -> (u64, usize) {
    // `max(1)`: a config not yet validated may say 0.
    let chunk_len = CHUNK.min(file_size).max(1);
    (
        chunk_len,
        ((ring_bytes / chunk_len) as usize).max(MIN_CHUNKS),
    )
}

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const LINGER: u8 = 2;

/// One block-aligned heap buffer.
struct Chunk {
    ptr: NonNull<u8>,
    len: usize,
    /// Made by [`Chunk::map`] (else heap memory).
    mapped: bool,
}

// SAFETY: the chunk is plain memory; who may write which bytes when is the module's invariant
// (single writer past `max_phys`, readers below it).
unsafe impl Send for Chunk {}
unsafe impl Sync for Chunk {}

impl Chunk {
    fn layout(len: usize) -> Option<Layout> {
        Layout::from_size_align(len, BLOCK as usize).ok()
    }

    /// `len` zeroed bytes: a mapping of its own for a ring chunk ([`Chunk::map`]), heap memory
    /// for anything smaller than a huge page (the zero-padded last block) or if mapping fails.
    fn new(len: usize) -> Option<Chunk> {
        if len >= HUGE_PAGE {
            if let Some(chunk) = Self::map(len) {
                return Some(chunk);
            }
        }
        let layout = Self::layout(len)?;
        // SAFETY: the layout has a non-zero size (callers pass at least one block).
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        Some(Chunk {
            ptr,
            len,
            mapped: false,
        })
    }

    /// An anonymous mapping of `len` bytes starting on a huge-page boundary and advised
    /// `MADV_HUGEPAGE`, so that the kernel can back it with 2 MiB pages.
    ///
    /// Why: an `O_DIRECT` write is built from the buffer's physical pages, and scattered 4 KiB
    /// pages split it into many requests. On the session-22 VM, 1 GiB of 1 MiB writes from 4 KiB
    /// pages took 2,300 requests and ran at 172 MB/s, and from huge pages 1,028 requests at 652
    /// MB/s (docs/perf-log.md, session 22). The broker's allocator happens to hand out huge pages
    /// for heap chunks; the store should not depend on which allocator its user links.
    fn map(len: usize) -> Option<Chunk> {
        let span = len.checked_add(HUGE_PAGE)?;
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                span,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let addr = base as usize;
        let start = addr.next_multiple_of(HUGE_PAGE);
        let (head, tail) = (start - addr, addr + span - (start + len));
        // SAFETY: both ranges lie inside the mapping made above and outside `[start, +len)`;
        // an unmap that fails only leaves address space mapped, never memory in use.
        unsafe {
            if head > 0 {
                libc::munmap(base, head);
            }
            if tail > 0 {
                libc::munmap((start + len) as *mut libc::c_void, tail);
            }
            // Advice only: without transparent huge pages the chunk works as before.
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
        Some(Chunk {
            ptr: NonNull::new(start as *mut u8)?,
            len,
            mapped: true,
        })
    }

    fn all_mut(&mut self) -> &mut [u8] {
        // SAFETY: `&mut self` is the only access; the memory is `len` bytes long.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// `[off, off+len)`; the caller keeps to the module's read rule (published bytes only).
    fn slice(&self, off: usize, len: usize) -> &[u8] {
        assert!(off + len <= self.len, "chunk read out of range");
        // SAFETY: in bounds (checked above); the memory lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), len) }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.mapped {
            // SAFETY: `[ptr, +len)` is what `map` kept of its mapping; nothing refers to it now.
            let _rc = unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
            #[cfg(test)]
            tests::UNMAPPED_HERE.with(|u| {
                u.borrow_mut()
                    .push((self.ptr.as_ptr() as usize, self.len, _rc))
            });
        } else if let Some(layout) = Self::layout(self.len) {
            // SAFETY: allocated in `new` with this very layout.
            unsafe { dealloc(self.ptr.as_ptr(), layout) }
        }
    }
}

/// Owner of a zero-copy `Bytes` over part of a chunk.
struct ChunkSlice {
    chunk: Arc<Chunk>,
    off: usize,
    len: usize,
}

impl AsRef<[u8]> for ChunkSlice {
    fn as_ref(&self) -> &[u8] {
        self.chunk.slice(self.off, self.len)
    }
}

/// A chunk caching `[start, end)` of the log (inside one segment).
#[derive(Clone)]
pub(crate) struct Slot {
    start: u64,
    end: u64,
    seg: Arc<MappedFile>,
    chunk: Arc<Chunk>,
}

impl Slot {
    fn off(&self, phys: u64) -> usize {
        (phys - self.start) as usize
    }

    fn bytes(&self, phys: u64, len: usize) -> Bytes {
        Bytes::from_owner(ChunkSlice {
            chunk: Arc::clone(&self.chunk),
            off: self.off(phys),
            len,
        })
    }

    /// True if `[phys, phys+len)` lies inside this slot.
    pub fn holds(&self, phys: u64, len: usize) -> bool {
        phys >= self.start && phys + len as u64 <= self.end
    }

    /// Writable view of `[phys, phys+len)` for the put path.
    ///
    /// # Safety
    /// The caller holds the put lock and the range lies at or past the published end, so nobody
    /// else reads or writes it until it is published.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn dst(&self, phys: u64, len: usize) -> &mut [u8] {
        assert!(self.holds(phys, len), "chunk write out of range");
        std::slice::from_raw_parts_mut(self.chunk.ptr.as_ptr().add(self.off(phys)), len)
    }
}

/// Why `cover` could not make room at once.
#[derive(Debug)]
pub(crate) enum Cover {
    /// There is room once everything below this log offset is committed: release the put lock
    /// and `wait_committed` for it, then try again.
    WaitFor(u64),
    /// Nothing can be written; the reason is for the producer.
    Fail(String),
}

/// Wakeup state between the put path, the committer and writers waiting for room.
#[derive(Default)]
struct Signal {
    stop: bool,
    /// A writer waits for room: commit now, whatever is pending.
    urgent: bool,
}

/// The buffer (module comment).
pub(crate) struct WriteBehind {
    chunk_len: u64,
    max_slots: usize,
    /// `max_uncommitted(..)` of this ring.
    max_uncommitted: u64,
    slots: RwLock<VecDeque<Slot>>,
    /// Start of the oldest live slot, `u64::MAX` when none (readers' fast check).
    floor: AtomicU64,
    committed: AtomicU64,
    /// A record boundary (or segment start) at or below `committed`: what flushing and the
    /// checkpoint may claim (recovery starts its scan at a record boundary).
    boundary: AtomicU64,
    /// Sealed segments not yet passed by the committer: segment end -> end of its data.
    seals: Mutex<BTreeMap<u64, u64>>,
    /// Chunks outside the ring (at most `max_slots`): made ahead of need by `warm`, or retired
    /// while a reader still held them. `take_chunk` reuses one nobody holds before allocating,
    /// so neither start-up nor a lagging reader (the index thread) makes the put path fault
    /// fresh memory in.
    pool: Mutex<Pool>,
    sleep: AtomicU8,
    /// The committer thread, set when it starts. It sleeps with `park_timeout` and is woken
    /// with `unpark`, which takes no lock: the put path wakes it on every put, and a mutex
    /// shared with the committer there (then under the put lock) made the worker spin,
    /// `sched_yield` and give up its CPU whenever the committer held it (docs/store.md §6).
    /// An `unpark` that comes before the `park` is kept as a token, so no wake-up is lost.
    committer: OnceLock<Thread>,
    signal: Mutex<Signal>,
    /// Told (`notify_waiters`) whenever `committed` moves and at stop: puts waiting for room.
    room: Notify,
    /// Longest a lingering committer waits for `COMMIT_BATCH` bytes before writing what it has.
    /// Each write is one I/O request; fewer, larger ones cost less CPU (docs/store.md §6).
    linger: Duration,
    /// Set once an `O_DIRECT` open or write was refused: later writes use plain `pwrite`.
    buffered: AtomicBool,
    /// The last commit failed (cleared by the next success).
    failing: AtomicBool,
    stats: Mutex<WriteBehindStats>,
    /// `committed` as each piece's write began, so a test can see a round publish its pieces.
    #[cfg(test)]
    committed_at_writes: Mutex<Vec<u64>>,
}

/// The chunks outside the ring, and how many chunks exist in all.
#[derive(Default)]
struct Pool {
    free: Vec<Arc<Chunk>>,
    /// Chunks in the ring, in `free`, parked with a reader, being made by `warm`, or on their
    /// way from `take_chunk` into a slot. Counted under this lock before a chunk is allocated,
    /// so `warm` never tops the ring up from a stale view (a chunk between `take_chunk` and
    /// its slot is in neither the ring nor `free`) and the stats count only chunks that exist.
    made: usize,
}

/// What the committer has done (tests and `courier bench store` look at it).
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteBehindStats {
    /// `O_DIRECT` writes.
    pub direct_writes: u64,
    /// Plain `pwrite`s (the filesystem refused `O_DIRECT`).
    pub buffered_writes: u64,
    /// Bytes carried by both kinds of write (including the zero padding of partial blocks).
    pub written_bytes: u64,
    /// Chunks that exist: in the ring, pooled, or retired but still held by a reader.
    pub chunks: u64,
    /// Time spent inside those writes, ns. Its growth over a period, divided by the period, is
    /// the share of it the disk was busy with the log: near 1, the disk sets the pace.
    pub write_nanos: u64,
    /// Times the put path waited for the committer (a free chunk, or `max_uncommitted`).
    pub waits_for_room: u64,
    /// Time puts spent in those waits, ns (summed over puts that waited at once).
    pub wait_nanos: u64,
    /// Log offset below which everything is in the segment files.
    pub committed: u64,
}

/// Nanoseconds elapsed since `t` (saturating; a u64 holds 584 years of them).
fn nanos_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Rounds down to a block.
fn block_floor(x: u64) -> u64 {
    x / BLOCK * BLOCK
}

impl WriteBehind {
    /// A buffer of `bytes` (at least `MIN_CHUNKS` chunks) for a log whose segments are
    /// `file_size` bytes and whose bytes below `end` are already in the files; the committer
    /// writes at least every `linger` while anything is pending.
    pub fn new(file_size: u64, bytes: u64, end: u64, linger: Duration) -> WriteBehind {
        let (chunk_len, max_slots) = ring_shape(file_size, bytes);
        WriteBehind {
            chunk_len,
            max_slots,
            max_uncommitted: max_uncommitted(file_size, bytes),
            slots: RwLock::new(VecDeque::new()),
            floor: AtomicU64::new(u64::MAX),
            committed: AtomicU64::new(end),
            boundary: AtomicU64::new(end),
            seals: Mutex::new(BTreeMap::new()),
            pool: Mutex::new(Pool::default()),
            sleep: AtomicU8::new(BUSY),
            committer: OnceLock::new(),
            signal: Mutex::new(Signal::default()),
            room: Notify::new(),
            linger,
            buffered: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            stats: Mutex::new(WriteBehindStats::default()),
            #[cfg(test)]
            committed_at_writes: Mutex::new(Vec::new()),
        }
    }

    /// True when a log with this segment size can be written this way.
    pub fn supports(file_size: u64) -> bool {
        file_size % BLOCK == 0 && file_size >= BLOCK
    }

    /// Everything below this is in the segment files.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Everything below this is in the segment files, and it is a record boundary.
    pub fn boundary(&self) -> u64 {
        self.boundary.load(Ordering::Acquire)
    }

    /// Start of the oldest buffered byte (`u64::MAX` when nothing is buffered): every byte
    /// below it is in the segment files and may be read through the mapping.
    pub fn floor(&self) -> u64 {
        self.floor.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> WriteBehindStats {
        WriteBehindStats {
            committed: self.committed(),
            chunks: self.pool.lock().made as u64,
            ..*self.stats.lock()
        }
    }

    // ----- put path (under the put lock) -----

    /// Makes sure live slots cover `[phys, end)` of `seg` (`end <= seg.end()`), the newest of
    /// them in `cur`. Never waits: without room it answers `Cover::WaitFor`, and slots made so
    /// far stay in `cur` for the next attempt.
    pub fn cover(
        &self,
        cur: &mut Option<Slot>,
        seg: &Arc<MappedFile>,
        phys: u64,
        end: u64,
    ) -> Result<(), Cover> {
        // Bounded loss on a crash: wait until at most `max_uncommitted` bytes (or, for a put
        // larger than that, only the put itself) would be unwritten.
        let want = end.saturating_sub(self.max_uncommitted).min(phys);
        if self.committed() < want {
            return Err(Cover::WaitFor(want));
        }
        loop {
            let next_start = match cur.as_ref() {
                Some(s) if s.seg.start() == seg.start() && s.end >= end => return Ok(()),
                Some(s) if s.seg.start() == seg.start() && s.end > phys => s.end,
                _ => {
                    let rel = phys - seg.start();
                    seg.start() + rel / self.chunk_len * self.chunk_len
                }
            };
            let slot = self.push_slot(seg, next_start)?;
            *cur = Some(slot);
        }
    }

    fn push_slot(&self, seg: &Arc<MappedFile>, start: u64) -> Result<Slot, Cover> {
        let end = (start + self.chunk_len).min(seg.end());
        let chunk = loop {
            let mut slots = self.slots.write();
            if slots.len() < self.max_slots {
                drop(slots);
                break self.take_chunk().map_err(Cover::Fail)?;
            }
            let oldest_end = slots.front().map(|s| s.end).unwrap_or(0);
            if self.committed() >= oldest_end {
                if let Some(old) = slots.pop_front() {
                    self.floor.store(
                        slots.front().map(|s| s.start).unwrap_or(u64::MAX),
                        Ordering::Release,
                    );
                    drop(slots);
                    let mut c = old.chunk;
                    if Arc::get_mut(&mut c).is_some() {
                        break c;
                    }
                    // A reader still holds it: park it until the reader lets go.
                    let mut pool = self.pool.lock();
                    if pool.free.len() < self.max_slots {
                        pool.free.push(c);
                    } else {
                        // Freed when the reader lets go; no longer the ring's.
                        pool.made -= 1;
                    }
                    drop(pool);
                    break self.take_chunk().map_err(Cover::Fail)?;
                }
                continue;
            }
            return Err(Cover::WaitFor(oldest_end));
        };
        let slot = Slot {
            start,
            end,
            seg: Arc::clone(seg),
            chunk,
        };
        // Bytes the file already holds (the tail of the log when the store was opened) are
        // copied in, so readers and the committer's first block see them.
        let have = self.committed().min(end);
        if have > start {
            let from = seg.get(start - seg.start(), (have - start) as usize);
            let Some(from) = from else {
                // Back to the pool: the chunk stays counted in `made`.
                self.pool.lock().free.push(slot.chunk);
                return Err(Cover::Fail(format!(
                    "cannot read {} for the write-behind buffer",
                    seg.path().display()
                )));
            };
            // SAFETY: the slot is not live yet; nobody else sees its chunk.
            unsafe { slot.dst(start, from.len()) }.copy_from_slice(from);
        }
        let mut slots = self.slots.write();
        slots.push_back(slot.clone());
        if slots.len() == 1 {
            self.floor.store(start, Ordering::Release);
        }
        Ok(slot)
    }

    /// True once `stop` was called: waits for room end at once.
    pub fn stopped(&self) -> bool {
        self.signal.lock().stop
    }

    /// Why a put that waited `patience` for room gives up (`OsPageCacheBusy`'s reason).
    pub fn full_reason(&self, patience: Duration) -> String {
        if self.failing.load(Ordering::Acquire) {
            "writes to the commitlog keep failing (see the log); retry once the disk works again"
                .to_string()
        } else {
            format!(
                "the commitlog write-behind buffer stayed full for {} ms: the disk is slower than the producers",
                patience.as_millis()
            )
        }
    }

    /// A pooled chunk nobody holds, else a new one.
    fn take_chunk(&self) -> Result<Arc<Chunk>, String> {
        {
            let mut pool = self.pool.lock();
            if let Some(i) = pool.free.iter_mut().position(|c| Arc::get_mut(c).is_some()) {
                return Ok(pool.free.swap_remove(i));
            }
            pool.made += 1;
        }
        let Some(chunk) = Chunk::new(self.chunk_len as usize) else {
            self.pool.lock().made -= 1;
            return Err(format!(
                "cannot allocate a {} KiB write-behind chunk: out of memory",
                self.chunk_len >> 10
            ));
        };
        Ok(Arc::new(chunk))
    }

    /// Makes the ring's chunks before they are needed and touches every page of them, so puts
    /// do not pay for first-touch page faults under the put lock: zeroing a fresh 64 MiB ring was
    /// 7 % of the broker worker's samples in a 1 GB batch-send run on this project's VM (RocketMQ's
    /// TransientStorePool allocates and locks its buffers at start for the same reason). Run by
    /// the prefault thread; returns early once `stop()` says so. A put that finds no free chunk
    /// while one is being made here allocates its own, so the ring may end one chunk over
    /// `max_slots`; that chunk then serves the next reader-held retirement.
    pub fn warm(&self, stop: impl Fn() -> bool) {
        while !stop() {
            {
                let mut pool = self.pool.lock();
                if pool.made >= self.max_slots {
                    return;
                }
                pool.made += 1;
            }
            let Some(mut chunk) = Chunk::new(self.chunk_len as usize) else {
                self.pool.lock().made -= 1;
                return;
            };
            for page in chunk.all_mut().chunks_mut(BLOCK as usize) {
                // Volatile: the allocator may hand out zeroed memory the compiler knows is
                // zero, and a plain store of zero could then be dropped.
                // SAFETY: `page` is a valid, exclusively borrowed, non-empty slice.
                unsafe { std::ptr::write_volatile(page.as_mut_ptr(), 0) };
            }
            self.pool.lock().free.push(Arc::new(chunk));
        }
    }

    /// Waits until `committed >= want`, the deadline passes (false) or the store stops (false).
    /// An async wait: the thread goes on running other tasks meanwhile (module invariants).
    pub async fn wait_committed(&self, want: u64, deadline: tokio::time::Instant) -> bool {
        let started = Instant::now();
        let got = loop {
            // Made before the check: `notify_waiters` reaches a `Notified` from its creation on,
            // so a commit between the check and the await still wakes it.
            let notified = self.room.notified();
            {
                let mut sig = self.signal.lock();
                if self.committed() >= want {
                    break true;
                }
                if sig.stop {
                    break false;
                }
                sig.urgent = true;
            }
            self.wake();
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break self.committed() >= want;
            }
        };
        let mut st = self.stats.lock();
        st.waits_for_room += 1;
        st.wait_nanos += nanos_since(started);
        got
    }

    /// Writes `data` at `phys` across however many live slots it spans (records that straddle
    /// a chunk boundary; the put path encodes those into a buffer first).
    pub fn copy_in(&self, phys: u64, data: &[u8]) -> bool {
        let slots = self.slots.read();
        let mut at = phys;
        let mut rest = data;
        while !rest.is_empty() {
            let Some(s) = find(&slots, at) else {
                return false;
            };
            let n = rest.len().min((s.end - at) as usize);
            // SAFETY: put path under the put lock, bytes past the published end (see `dst`).
            unsafe { s.dst(at, n) }.copy_from_slice(&rest[..n]);
            at += n as u64;
            rest = &rest[n..];
        }
        true
    }

    /// The put path is about to publish a segment switch: the old segment's data ends at
    /// `data_end`; the committer writes no further into it.
    pub fn seal(&self, seg_end: u64, data_end: u64) {
        self.seals.lock().insert(seg_end, data_end);
    }

    /// The put path published up to `end` (called after every put attempt, outside the put
    /// lock): wakes the committer if it sleeps and has work.
    pub fn published(&self, end: u64) {
        fence(Ordering::SeqCst);
        let s = self.sleep.load(Ordering::Relaxed);
        if s == IDLE || (s == LINGER && end.saturating_sub(self.committed()) >= COMMIT_BATCH) {
            self.wake();
        }
    }

    /// Wakes the committer (lock-free; see `committer`). Before the thread has started there
    /// is nobody to wake: it looks for work before its first sleep.
    fn wake(&self) {
        if let Some(t) = self.committer.get() {
            t.unpark();
        }
    }

    // ----- readers -----

    /// Zero-copy bytes of `[phys, phys+len)` if it is buffered; a range that straddles two
    /// chunks is copied. None when not buffered (read it from the file) or not fully published
    /// (the caller bounds `len` by the published end).
    pub fn read(&self, phys: u64, len: usize) -> Option<Bytes> {
        if phys < self.floor() {
            return None;
        }
        let slots = self.slots.read();
        let s = find(&slots, phys)?;
        if s.holds(phys, len) {
            return Some(s.bytes(phys, len));
        }
        let mut out = Vec::with_capacity(len);
        let mut at = phys;
        while out.len() < len {
            let s = find(&slots, at)?;
            let n = (len - out.len()).min((s.end - at) as usize);
            out.extend_from_slice(s.chunk.slice(s.off(at), n));
            at += n as u64;
        }
        Some(Bytes::from(out))
    }

    /// The live slot holding `phys`, as (slot start, zero-copy bytes of the slot up to `limit`).
    pub fn window(&self, phys: u64, limit: u64) -> Option<(u64, Bytes)> {
        if phys < self.floor() {
            return None;
        }
        let slots = self.slots.read();
        let s = find(&slots, phys)?;
        let end = s.end.min(limit);
        (end > phys).then(|| (s.start, s.bytes(s.start, (end - s.start) as usize)))
    }

    // ----- the committer -----

    /// Writes every published byte not yet in the files (`max_phys` is the published end).
    /// One caller at a time (the committer thread, or shutdown after it stopped).
    pub fn commit(&self, max_phys: u64) -> io::Result<()> {
        self.commit_round(max_phys, true)
    }

    /// `commit`, except that without `with_tail` a partial last block is left for a later
    /// round (`TAIL_EVERY`): `committed` then stops at a block boundary inside a record, and
    /// `boundary` does not move.
    fn commit_round(&self, max_phys: u64, with_tail: bool) -> io::Result<()> {
        let from = self.committed();
        if from >= max_phys {
            return Ok(());
        }
        let seals = self.seals.lock().clone();
        // Past a sealed segment's data the rest of it is dead space: nothing to write there.
        let skip_dead = |at: u64| match seals.range(at + 1..).next() {
            Some((&seg_end, &data_end)) if at >= data_end => seg_end,
            _ => at,
        };
        let (at, res) = {
            let todo: Vec<Slot> = self
                .slots
                .read()
                .iter()
                .filter(|s| s.end > from && s.start < max_phys)
                .cloned()
                .collect();
            let mut at = skip_dead(from);
            let mut res = Ok(());
            for s in &todo {
                if s.end <= at {
                    continue;
                }
                if s.start > at {
                    // Never expected: a gap in the buffer. Stop rather than leave a hole.
                    res = Err(io::Error::other(format!(
                        "write-behind buffer has no bytes for log offsets {at}..{}",
                        s.start
                    )));
                    break;
                }
                let seal = seals.get(&s.seg.end()).copied();
                let data_end = max_phys.min(s.end).min(seal.unwrap_or(u64::MAX));
                // A sealed segment's last block is final: always written.
                let upto = if with_tail || seal == Some(data_end) {
                    data_end
                } else {
                    block_floor(data_end)
                };
                // In pieces of at most COMMIT_BATCH, each published as soon as it is on disk:
                // puts waiting for room resume while the next piece is written, so a disk
                // slower than the producers never idles between rounds waiting for them to
                // refill a batch the round released all at once.
                let mut piece = block_floor(at).max(s.start);
                while upto > at {
                    let piece_end = upto.min(piece + COMMIT_BATCH);
                    if let Err(e) = self.write_slot(s, piece, piece_end) {
                        res = Err(e);
                        break;
                    }
                    at = piece_end;
                    piece = piece_end;
                    self.committed.store(at, Ordering::Release);
                    self.room.notify_waiters();
                }
                if res.is_err() {
                    break;
                }
                at = skip_dead(at);
            }
            // `todo` is dropped here, before the chunks it holds can be evicted for reuse.
            (at.min(max_phys), res)
        };
        if at > from {
            self.seals.lock().retain(|seg_end, _| *seg_end > at);
            if at == max_phys {
                self.boundary.store(at, Ordering::Release);
            }
            self.committed.store(at, Ordering::Release);
            self.room.notify_waiters();
        }
        self.failing.store(res.is_err(), Ordering::Release);
        res
    }

    /// Writes `[a, b)` of slot `s` to its segment file: whole blocks straight from the chunk, a
    /// partial last block from a zero-padded copy. `a` is block-aligned.
    fn write_slot(&self, s: &Slot, a: u64, b: u64) -> io::Result<()> {
        #[cfg(test)]
        self.committed_at_writes.lock().push(self.committed());
        let full = block_floor(b);
        if full > a {
            self.write_at(s, s.chunk.slice(s.off(a), (full - a) as usize), a)?;
        }
        if b > full {
            let mut pad = Chunk::new(BLOCK as usize).ok_or_else(|| {
                io::Error::new(io::ErrorKind::OutOfMemory, "no memory for a 4 KiB block")
            })?;
            let n = (b - full) as usize;
            let dst = pad.all_mut();
            dst[..n].copy_from_slice(s.chunk.slice(s.off(full), n));
            self.write_at(s, dst, full)?;
        }
        Ok(())
    }

    /// One write of block-aligned `data` at log offset `at`: `O_DIRECT` unless refused.
    fn write_at(&self, s: &Slot, data: &[u8], at: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file_off = at - s.seg.start();
        let started = Instant::now();
        if !self.buffered.load(Ordering::Relaxed) {
            let refused = match s.seg.direct_writer() {
                Ok(f) => match f.write_all_at(data, file_off) {
                    Ok(()) => {
                        let mut st = self.stats.lock();
                        st.direct_writes += 1;
                        st.written_bytes += data.len() as u64;
                        st.write_nanos += nanos_since(started);
                        return Ok(());
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => e,
                    Err(e) => return Err(e),
                },
                Err(e) => e,
            };
            tracing::info!(
                "{} refuses O_DIRECT ({refused}); the commitlog is written through the page cache",
                s.seg.path().display()
            );
            self.buffered.store(true, Ordering::Relaxed);
        }
        s.seg.pwrite(file_off, data)?;
        let mut st = self.stats.lock();
        st.buffered_writes += 1;
        st.written_bytes += data.len() as u64;
        st.write_nanos += nanos_since(started);
        Ok(())
    }

    /// The committer thread: writes what the put path published, in batches of at least
    /// `COMMIT_BATCH` or every `linger`; on stop, writes everything and returns.
    pub fn run(&self, max_phys: impl Fn() -> u64) {
        let _ = self.committer.set(std::thread::current());
        let mut last_tail = Instant::now();
        loop {
            let stopping;
            let with_tail;
            let (stop, urgent) = {
                let sig = self.signal.lock();
                (sig.stop, sig.urgent)
            };
            if !stop && !urgent {
                // Whoever publishes stores the new end, then (SeqCst fence) reads `sleep`; here
                // `sleep` is stored, then (SeqCst fence) the end is read again. So either the
                // publisher sees IDLE / LINGER and unparks, or this re-check sees its bytes.
                if max_phys() <= self.committed() {
                    self.sleep.store(IDLE, Ordering::Relaxed);
                    fence(Ordering::SeqCst);
                    if max_phys() <= self.committed() {
                        std::thread::park_timeout(IDLE_WAIT);
                    }
                }
                // Woken from idle or not, a partial batch waits out the interval: a trickle of
                // puts then costs one write per interval, not one per put.
                if max_phys() > self.committed() {
                    self.sleep.store(LINGER, Ordering::Relaxed);
                    fence(Ordering::SeqCst);
                    self.linger_until(Instant::now() + self.linger, &max_phys);
                }
                self.sleep.store(BUSY, Ordering::Relaxed);
            }
            {
                let mut sig = self.signal.lock();
                stopping = sig.stop;
                // Decided after the wait: woken by a full batch means busy (the tail can wait),
                // a linger that ran out means quiet (write it all).
                let pending = max_phys().saturating_sub(self.committed());
                with_tail = stopping
                    || sig.urgent
                    || pending < COMMIT_BATCH
                    || last_tail.elapsed() >= TAIL_EVERY;
                sig.urgent = false;
            }
            if with_tail {
                last_tail = Instant::now();
            }
            if let Err(e) = self.commit_round(max_phys(), with_tail) {
                tracing::error!("commitlog write failed: {e}; will retry");
                if !stopping {
                    std::thread::sleep(RETRY_AFTER);
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Parks until `deadline`, a full batch, a writer waiting for room, or stop. `park_timeout`
    /// may return without a wake-up, so the reason is checked before giving up the wait.
    fn linger_until(&self, deadline: Instant, max_phys: &impl Fn() -> u64) {
        loop {
            // Checked before parking too: the batch may have filled before `LINGER` was stored,
            // when the put path saw no reason to wake anyone.
            if max_phys().saturating_sub(self.committed()) >= COMMIT_BATCH {
                return;
            }
            {
                let sig = self.signal.lock();
                if sig.stop || sig.urgent {
                    return;
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            std::thread::park_timeout(deadline - now);
        }
    }

    /// Stops the committer (it writes everything published before it returns) and releases
    /// writers waiting for room.
    pub fn stop(&self) {
        let mut sig = self.signal.lock();
        sig.stop = true;
        self.wake();
        drop(sig);
        self.room.notify_waiters();
    }
}

/// The live slot holding `phys`.
fn find(slots: &VecDeque<Slot>, phys: u64) -> Option<&Slot> {
    let i = slots.partition_point(|s| s.end <= phys);
    slots.get(i).filter(|s| s.start <= phys)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use crate::test_util::{rt, wait_until};
    use crate::{decode_record, MessageStore, MessageToStore, PutStatus};
    use crate::{FlushDiskType, StoreConfig};

    thread_local! {
        /// Each ring chunk this thread unmapped: address, length, munmap's return code.
        pub(super) static UNMAPPED_HERE: std::cell::RefCell<Vec<(usize, usize, i32)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// 8 MiB segments (two 4 MiB chunks each) and a four-chunk ring, so a few dozen MiB of puts
    /// run the ring round several times and records straddle chunks and segments.
    fn config(dir: &Path) -> StoreConfig {
        let mut c = crate::test_util::small_store(dir, 8 << 20, FlushDiskType::AsyncFlush);
        // Tens of thousands of records: larger queue and index files keep the file count low.
        c.cq_entries_per_file = 4096;
        c.index_slots = 1024;
        c.index_entries = 65_536;
        c.direct_write = true;
        c.write_buffer_bytes = 16 << 20;
        c
    }

    /// Stops the store's threads but leaves the buffer taking puts, as if its committer had
    /// stalled: puts that need room wait for it (stopping the store would refuse them at once).
    fn stall_committer(store: &MessageStore) {
        store.test_stop_threads();
        store
            .test_inner()
            .cl
            .wb
            .as_ref()
            .unwrap()
            .signal
            .lock()
            .stop = false;
    }

    /// Puts one record, waits until the committer has written it, then stalls the committer;
    /// returns the log's end at that point (all of it committed).
    fn commit_one_then_stall(store: &MessageStore, runtime: &tokio::runtime::Runtime) -> u64 {
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        runtime.block_on(put_range(store, 0, 1));
        let start = store.test_inner().cl.max_phys();
        wait_until("the first put was never committed", || {
            wb.committed() >= start
        });
        stall_committer(store);
        start
    }

    fn size(i: u32) -> usize {
        match i % 7 {
            0 => 7000,
            3 => 3,
            _ => 200 + (i as usize * 53) % 1900,
        }
    }

    fn msg(queue: i32, seq: u32, len: usize) -> MessageToStore {
        crate::test_util::msg("WB", queue, seq, len)
    }

    /// Queue 0 gets single puts `0..n` (every fifth number skipped), queue 1 a batch of four for
    /// each skipped number.
    async fn put_range(store: &MessageStore, from: u32, to: u32) {
        for i in from..to {
            let r = if i % 5 == 4 {
                let b = (0..4).map(|k| msg(1, i * 4 + k, 1200)).collect();
                store.put_batch(b).await
            } else {
                store.put(msg(0, i, size(i))).await
            };
            assert_eq!(r.status, PutStatus::PutOk, "put {i}: {:?}", r.reason);
        }
    }

    /// Every record of a queue, in queue order.
    fn drain(store: &MessageStore, queue: i32) -> Vec<Bytes> {
        let mut out = Vec::new();
        loop {
            let r = store.get_messages("WB", queue, out.len() as i64, 256, u32::MAX, None);
            if r.messages.is_empty() {
                return out;
            }
            out.extend(r.messages);
        }
    }

    fn check(store: &MessageStore, n: u32) {
        let singles: Vec<u32> = (0..n).filter(|i| i % 5 != 4).collect();
        let got = drain(store, 0);
        assert_eq!(got.len(), singles.len(), "queue 0 record count");
        for (b, &i) in got.iter().zip(&singles) {
            let m = decode_record(b).unwrap();
            assert_eq!(m.body(), &msg(0, i, size(i)).body[..], "put {i}");
        }
        let batched: Vec<u32> = (0..n)
            .filter(|i| i % 5 == 4)
            .flat_map(|i| (0..4).map(move |k| i * 4 + k))
            .collect();
        let got = drain(store, 1);
        assert_eq!(got.len(), batched.len(), "queue 1 record count");
        for (b, &seq) in got.iter().zip(&batched) {
            let m = decode_record(b).unwrap();
            assert_eq!(m.body(), &msg(1, seq, 1200).body[..], "batch record {seq}");
        }
        // Keys are indexed from the buffer and from the files alike.
        for i in [0u32, 1, n / 2 - n / 2 % 5, n - 2 - (n - 2) % 5] {
            let hits = store.query_by_key("WB", &format!("k0-{i}"), 4, 0, i64::MAX);
            assert_eq!(hits.len(), 1, "key k0-{i}");
            assert_eq!(
                decode_record(&hits[0]).unwrap().body(),
                &msg(0, i, size(i)).body[..]
            );
        }
    }

    fn wait_indexed(store: &MessageStore) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while store.test_inner().index_lag() > 0 {
            assert!(Instant::now() < deadline, "index thread stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The put path wakes an idle committer without taking the lock the committer decides
    /// under: with that lock held elsewhere (here by the test, in the broker by a committer that
    /// was preempted holding it), puts still complete, and what they wrote is then committed.
    #[test]
    fn puts_wake_the_committer_without_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(MessageStore::open(config(dir.path())).unwrap());
        let runtime = rt();
        runtime.block_on(put_range(&store, 0, 10));
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        wait_until("the committer never went idle", || {
            wb.committed() >= store.test_inner().cl.max_phys()
                && wb.sleep.load(std::sync::atomic::Ordering::Relaxed) == super::IDLE
        });
        let held = wb.signal.lock();
        let (tx, rx) = std::sync::mpsc::channel();
        let putter = {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let r = rt().block_on(store.put(msg(0, 10, 300)));
                tx.send(r.status).unwrap();
            })
        };
        // A put that waited for the lock would still be waiting when this gives up.
        let status = rx.recv_timeout(Duration::from_secs(10));
        drop(held);
        putter.join().unwrap();
        assert_eq!(
            status,
            Ok(PutStatus::PutOk),
            "the put waited for the committer's lock"
        );
        // Liveness only: the committer's idle timeout (`IDLE_WAIT`) would also get it there.
        let end = store.test_inner().cl.max_phys();
        wait_until("the put was never committed", || wb.committed() >= end);
    }

    /// Ring chunks are their own huge-page-aligned mappings advised `MADV_HUGEPAGE` (the `hg`
    /// flag in smaps), zeroed, and given back whole when dropped; a block-sized pad stays on
    /// the heap.
    #[test]
    fn ring_chunks_are_mapped_on_huge_page_boundaries_and_advised() {
        // With --test-threads=1 earlier tests ran on this thread too.
        UNMAPPED_HERE.with(|u| u.borrow_mut().clear());
        let mut chunk = super::Chunk::new(super::CHUNK as usize).unwrap();
        let at = chunk.ptr.as_ptr() as usize;
        assert!(chunk.mapped);
        assert_eq!(at % super::HUGE_PAGE, 0);
        assert!(chunk.all_mut().iter().all(|&b| b == 0));
        chunk.all_mut()[super::CHUNK as usize - 1] = 7;
        if std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let flags = mapping_flags(&smaps, at).expect("the chunk's mapping in smaps");
            assert!(
                flags.split_whitespace().any(|f| f == "hg"),
                "VmFlags: {flags}"
            );
        }
        drop(chunk);
        // Read from this thread's own record, not from smaps: another test's thread may map
        // something new at the freed address before smaps could be read.
        let unmapped = UNMAPPED_HERE.with(|u| u.borrow().clone());
        assert_eq!(unmapped, vec![(at, super::CHUNK as usize, 0)]);
        assert!(!super::Chunk::new(super::BLOCK as usize).unwrap().mapped);
    }

    /// The `VmFlags` line of the smaps entry whose range holds `addr`.
    fn mapping_flags(smaps: &str, addr: usize) -> Option<String> {
        let mut inside = false;
        for line in smaps.lines() {
            // A mapping's header starts with its range; its fields start with "Name:".
            let first = line.split_whitespace().next().unwrap_or("");
            let range = first.split_once('-').filter(|_| !first.ends_with(':'));
            if let Some((a, b)) = range {
                let (a, b) = (
                    usize::from_str_radix(a, 16).ok()?,
                    usize::from_str_radix(b, 16).ok()?,
                );
                inside = a <= addr && addr < b;
            } else if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.trim().to_string());
                }
            }
        }
        None
    }

    /// A round with more than a batch pending writes it in batch-sized pieces and publishes
    /// each as soon as it is on disk, so puts waiting for room resume while the rest is
    /// written: when every write of a round had to finish first, producers faster than the disk
    /// were held for the whole round, and the disk then idled while they refilled a batch.
    #[test]
    fn a_long_round_publishes_each_piece_as_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(config(dir.path())).unwrap();
        let runtime = rt();
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        let start = commit_one_then_stall(&store, &runtime);
        for seq in 0..7 {
            let r = runtime.block_on(store.put(msg(2, seq, 1 << 20)));
            assert_eq!(r.status, PutStatus::PutOk);
        }
        let end = store.test_inner().cl.max_phys();
        wb.committed_at_writes.lock().clear();
        wb.commit(end).unwrap();
        assert_eq!(wb.committed(), end);
        let seen = wb.committed_at_writes.lock().clone();
        // 7 MiB spans two 4 MiB chunks: at least four pieces, the first from where it stood.
        assert!(seen.len() >= 4, "{} writes: {seen:?}", seen.len());
        assert_eq!(seen[0], start, "{seen:?}");
        for w in seen.windows(2) {
            assert!(
                w[1] > w[0] && w[1] - w[0] <= super::COMMIT_BATCH + super::BLOCK,
                "a write began before the previous piece was published: {seen:?}"
            );
        }
    }

    /// A lone small put waits out the commit interval before it is written, so that a trickle
    /// of puts costs one I/O request per interval; a full batch is written without waiting for
    /// the interval; a stop writes what is pending at once.
    #[test]
    fn the_committer_waits_out_the_interval_unless_a_batch_is_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.commit_interval = Duration::from_millis(400);
        let store = MessageStore::open(cfg.clone()).unwrap();
        let runtime = rt();
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        let put_at = Instant::now();
        runtime.block_on(put_range(&store, 0, 1));
        let end = store.test_inner().cl.max_phys();
        wait_until("the put was never committed", || wb.committed() >= end);
        let waited = put_at.elapsed();
        assert!(
            waited >= cfg.commit_interval,
            "written after {waited:?}, before the interval ran out"
        );

        // More than a batch (`COMMIT_BATCH`, 2 MiB) is written as soon as it has gathered. The
        // interval is made as long as allowed, so a committer that waited it out anyway would be
        // seen; the rest of the second is slack for a loaded machine.
        cfg.commit_interval = crate::MAX_COMMIT_INTERVAL;
        store.shutdown().unwrap();
        let store = MessageStore::open(cfg.clone()).unwrap();
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        let start = wb.committed();
        let put_at = Instant::now();
        for seq in 1..4 {
            let r = runtime.block_on(store.put(msg(2, seq, 1 << 20)));
            assert_eq!(r.status, PutStatus::PutOk);
        }
        wait_until("a full batch was never committed", || {
            wb.committed() >= start + super::COMMIT_BATCH
        });
        let waited = put_at.elapsed();
        assert!(
            waited < cfg.commit_interval,
            "a full batch waited {waited:?}, the whole interval"
        );

        // Stopping does not wait out the interval either: once the committer is idle, a put
        // starts a fresh one-second wait, and the shutdown right after it neither takes that
        // second nor leaves the put out of the files.
        let end = store.test_inner().cl.max_phys();
        wait_until("the rest was never committed", || wb.committed() >= end);
        runtime.block_on(put_range(&store, 1, 2));
        let stop_at = Instant::now();
        store.shutdown().unwrap();
        let stopped_in = stop_at.elapsed();
        assert!(
            stopped_in < cfg.commit_interval / 2,
            "the shutdown took {stopped_in:?}, waiting out the interval"
        );
        let store = MessageStore::open(cfg).unwrap();
        assert!(store.recovery_report().clean_shutdown);
        check(&store, 2);
        assert_eq!(drain(&store, 2).len(), 3);
        store.shutdown().unwrap();
    }

    /// Single puts and batches over ~30 MiB: records straddle chunks, segments roll over and the
    /// ring is reused several times. Everything reads back byte for byte, by queue and by key;
    /// after a simulated crash (drop: the committer writes what it holds as it stops), after a
    /// restart in the middle of a chunk (whose first bytes must come from the file, or the
    /// committer's first block would write zeros over them) and after a clean shutdown.
    #[test]
    fn records_read_back_across_chunks_segments_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let runtime = rt();
        let store = MessageStore::open(cfg.clone()).unwrap();
        runtime.block_on(put_range(&store, 0, 9000));
        wait_indexed(&store);
        check(&store, 9000);
        let st = store.write_behind_stats().unwrap();
        assert!(st.direct_writes + st.buffered_writes > 0, "{st:?}");
        assert!(st.write_nanos > 0, "{st:?}");
        // Every committed byte of this fresh log went out through one kind of write or the other.
        assert!(
            st.committed > 0 && st.written_bytes >= st.committed,
            "{st:?}"
        );
        assert!(store.test_inner().cl.segments.read().len() >= 3);
        drop(store);

        let store = MessageStore::open(cfg.clone()).unwrap();
        assert!(!store.recovery_report().clean_shutdown);
        assert!(store.recovery_report().corrupt.is_empty());
        check(&store, 9000);
        runtime.block_on(put_range(&store, 9000, 9100));
        store.shutdown().unwrap();
        drop(store);

        let store = MessageStore::open(cfg).unwrap();
        assert!(store.recovery_report().clean_shutdown);
        wait_indexed(&store);
        check(&store, 9100);
        store.shutdown().unwrap();
    }

    /// A reader's `Bytes` over a chunk stays valid and unchanged while the ring moves on: the
    /// chunk it holds is not reused (one more is allocated instead); once the reader lets go,
    /// that chunk is taken again instead of allocating another. The four-chunk ring thus never
    /// has more than five chunks, whether the prefault thread made the first four ahead or not.
    #[test]
    fn bytes_held_by_a_reader_survive_chunk_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        // No index thread: the test's own `Bytes` are the only readers.
        cfg.message_index_enable = false;
        let store = MessageStore::open(cfg).unwrap();
        let runtime = rt();
        runtime.block_on(put_range(&store, 0, 3));
        let first: Bytes = store.get_messages("WB", 0, 0, 1, u32::MAX, None).messages[0].clone();
        let copy = first.to_vec();
        runtime.block_on(put_range(&store, 3, 12_000));
        assert_eq!(&first[..], &copy[..]);
        assert_eq!(store.write_behind_stats().unwrap().chunks, 5);
        // The same record, now read from the file.
        let again = store.get_messages("WB", 0, 0, 1, u32::MAX, None).messages[0].clone();
        assert_eq!(&again[..], &copy[..]);
        drop(first);
        // Hold a record of a live chunk; when that chunk retires, the first one is reused.
        let last = store.max_offset("WB", 0) - 1;
        let second = store
            .get_messages("WB", 0, last, 1, u32::MAX, None)
            .messages[0]
            .clone();
        let copy2 = second.to_vec();
        runtime.block_on(put_range(&store, 12_000, 24_000));
        assert_eq!(&second[..], &copy2[..]);
        assert_eq!(store.write_behind_stats().unwrap().chunks, 5);
        store.shutdown().unwrap();
    }

    /// `warm` tops the ring up to its size counting every chunk that exists, also those a put
    /// took and has not yet placed in a slot (it once counted only the ring and the pool, so a
    /// race with the put path could make one chunk too many and count one never kept).
    #[test]
    fn warm_counts_chunks_on_their_way_into_the_ring() {
        let wb = super::WriteBehind::new(8 << 20, 16 << 20, 0, Duration::from_millis(1));
        // Two chunks a put took and holds until the end, not yet in any slot.
        let _in_hand = [wb.take_chunk().unwrap(), wb.take_chunk().unwrap()];
        assert_eq!(wb.stats().chunks, 2);
        wb.warm(|| false);
        // Four chunks for a 16 MiB ring of 4 MiB ones: the two in hand and two made ahead.
        assert_eq!(wb.stats().chunks, 4);
        assert_eq!(wb.pool.lock().free.len(), 2);
    }

    /// What the committer writes is exactly the log: the records, then zeros to the end of the
    /// block, also while the last block is still partial and after it was rewritten.
    #[test]
    fn the_file_holds_the_records_and_zeros_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(config(dir.path())).unwrap();
        let runtime = rt();
        let seg_path = dir.path().join("commitlog").join("00000000000000000000");
        for round in 0..3u32 {
            runtime.block_on(put_range(&store, round * 3, round * 3 + 3));
            let end = store.max_phys_offset() as u64;
            let wb = store.test_inner().cl.wb.as_ref().unwrap();
            wait_until("committer stuck", || wb.committed() >= end);
            let file = std::fs::read(&seg_path).unwrap();
            let log = store.test_inner().cl.read_exact(0, end as usize).unwrap();
            assert_eq!(&file[..end as usize], &log[..], "round {round}");
            let block_end = end.div_ceil(super::BLOCK) as usize * super::BLOCK as usize;
            assert!(file[end as usize..block_end].iter().all(|b| *b == 0));
        }
        store.shutdown().unwrap();
    }

    /// A busy round leaves the partial last block for later: `committed` stops at the block,
    /// `boundary` (what flushing may claim) stays at the last record boundary; a round with the
    /// tail moves both to the published end.
    #[test]
    fn a_round_without_the_tail_stops_at_a_block_and_keeps_the_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(config(dir.path())).unwrap();
        store.test_stop_threads();
        let runtime = rt();
        runtime.block_on(async {
            for i in 0..3 {
                assert_eq!(store.put(msg(0, i, 3000)).await.status, PutStatus::PutOk);
            }
        });
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        let end = store.max_phys_offset() as u64;
        assert!(end % super::BLOCK != 0 && end > 2 * super::BLOCK);
        wb.commit_round(end, false).unwrap();
        assert_eq!(wb.committed(), end / super::BLOCK * super::BLOCK);
        assert_eq!(wb.boundary(), 0);
        wb.commit_round(end, true).unwrap();
        assert_eq!((wb.committed(), wb.boundary()), (end, end));
        let file =
            std::fs::read(dir.path().join("commitlog").join("00000000000000000000")).unwrap();
        let log = store.test_inner().cl.read_exact(0, end as usize).unwrap();
        assert_eq!(&file[..end as usize], &log[..]);
    }

    /// With the committer stalled, puts run ahead of it by the ring less two chunks and no
    /// further: a 32 MiB ring of 4 MiB chunks takes 24 MiB of log. The put that would leave more
    /// unwritten waits (bounded by `sync_flush_timeout`), then, the committer never coming back,
    /// fails as "page cache busy" and stores nothing. A fixed 8 MiB bound stopped producers
    /// within milliseconds of a stalled disk write. (With the two spare chunks the bound stops a
    /// put before the ring itself is full, here and whenever slots are whole chunks.)
    #[test]
    fn puts_run_ahead_of_a_stalled_committer_by_the_ring_less_two_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.sync_flush_timeout = Duration::from_millis(200);
        // One segment holds it all: with the threads stopped no new segment could be made.
        cfg.commitlog_file_size = 64 << 20;
        cfg.write_buffer_bytes = 32 << 20;
        assert_eq!(cfg.write_behind_max_uncommitted(), 24 << 20);
        let store = MessageStore::open(cfg).unwrap();
        let runtime = rt();
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        commit_one_then_stall(&store, &runtime);
        let mut record = 0;
        let refused = runtime.block_on(async {
            for i in 0..40_000u32 {
                let before = store.test_inner().cl.max_phys();
                let r = store.put(msg(0, 1_000 + i, 1000)).await;
                if r.status != PutStatus::PutOk {
                    return Some((i, r));
                }
                record = store.test_inner().cl.max_phys() - before;
            }
            None
        });
        let (i, r) = refused.expect("a 32 MiB ring cannot take 40 MB without a committer");
        assert_eq!(r.status, PutStatus::OsPageCacheBusy);
        assert!(r
            .reason
            .unwrap()
            .contains("write-behind buffer stayed full"));
        // The one put committed before the stall, then the `i` before the refused one.
        assert_eq!(store.max_offset("WB", 0), 1 + i as i64);
        assert!(store.write_behind_stats().unwrap().waits_for_room >= 1);
        let ahead = store.test_inner().cl.max_phys() - wb.committed();
        assert!(
            ahead <= 24 << 20 && ahead + record > 24 << 20,
            "{ahead} bytes ahead of the committer, records of {record}"
        );
    }

    /// A put that waits for the committer leaves its thread to the runtime's other tasks. On a
    /// one-thread runtime whose committer is stopped, the test's own task sees a put waiting,
    /// reads a stored message, writes the ring out itself, and every put then succeeds. A put
    /// that blocked its thread would have starved that task until `sync_flush_timeout` ran out
    /// and then failed as "page cache busy".
    #[test]
    fn a_put_waiting_for_room_does_not_block_the_runtime() {
        const PUTS: u32 = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.sync_flush_timeout = Duration::from_secs(2);
        cfg.commitlog_file_size = 64 << 20;
        let store = std::sync::Arc::new(MessageStore::open(cfg).unwrap());
        stall_committer(&store);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (statuses, rounds) = runtime.block_on(async {
            let producer = {
                let (store, done) = (std::sync::Arc::clone(&store), std::sync::Arc::clone(&done));
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    for i in 0..PUTS {
                        let status = store.put(msg(0, i, 1000)).await.status;
                        statuses.push(status);
                        done.store(i + 1, std::sync::atomic::Ordering::Release);
                        if status != PutStatus::PutOk {
                            break;
                        }
                    }
                    statuses
                })
            };
            let wb = store.test_inner().cl.wb.as_ref().unwrap();
            let mut rounds = 0;
            while !producer.is_finished() {
                if std::mem::take(&mut wb.signal.lock().urgent) {
                    // The producer is parked inside a put, and this task runs regardless.
                    assert!(done.load(std::sync::atomic::Ordering::Acquire) < PUTS);
                    let got = store.get_messages("WB", 0, 0, 1, 1 << 20, None);
                    assert_eq!(
                        got.messages.len(),
                        1,
                        "a stored message reads while a put waits"
                    );
                    wb.commit(store.max_phys_offset() as u64).unwrap();
                    rounds += 1;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            (producer.await.unwrap(), rounds)
        });
        assert!(
            rounds >= 1,
            "16 MiB of ring cannot take 20 MB without a wait: {:?}",
            statuses.last()
        );
        assert!(
            statuses.iter().all(|s| *s == PutStatus::PutOk),
            "{:?}",
            statuses.iter().find(|s| **s != PutStatus::PutOk)
        );
        assert_eq!(store.max_offset("WB", 0), i64::from(PUTS));
    }

    /// `reads_from_disk` answers true only for records below the buffer whose pages are not in
    /// the page cache: with `O_DIRECT` writes that is every record older than the ring until it
    /// is first read. Records in the ring, and a store written through its mapping, answer false.
    #[test]
    fn reads_from_disk_only_where_the_page_cache_lacks_the_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        // No index thread: it reads every record, and would cache the old ones itself.
        cfg.message_index_enable = false;
        let store = MessageStore::open(cfg).unwrap();
        let runtime = rt();
        runtime.block_on(async {
            // One record larger than the 256 KiB the check looks at.
            assert_eq!(store.put(msg(1, 0, 300_000)).await.status, PutStatus::PutOk);
            for i in 0..10_000u32 {
                assert_eq!(store.put(msg(0, i, 3000)).await.status, PutStatus::PutOk);
            }
        });
        let wb = store.test_inner().cl.wb.as_ref().unwrap();
        assert!(wb.floor() > 8 << 20, "30 MB through a 16 MiB ring");
        assert!(store.reads_from_disk("WB", 0, 0, 256 << 10));
        assert!(
            store.reads_from_disk("WB", 0, 0, 0),
            "a zero budget still reads one record"
        );
        assert!(
            store.reads_from_disk("WB", 1, 0, 16),
            "a record past the probe's size"
        );
        assert!(
            !store.reads_from_disk("WB", 0, 9_999, 256 << 10),
            "the newest is in the ring"
        );
        assert!(
            !store.reads_from_disk("WB", 0, 10_000, 256 << 10),
            "past the end"
        );
        assert!(
            !store.reads_from_disk("WB", 2, 0, 256 << 10),
            "no such queue"
        );
        let got = store.get_messages("WB", 0, 0, 32, 256 << 10, None);
        assert_eq!(got.messages.len(), 32);
        assert!(
            !store.reads_from_disk("WB", 0, 0, 32 * 3000),
            "read once, now cached"
        );

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.direct_write = false;
        let store = MessageStore::open(cfg).unwrap();
        runtime.block_on(async {
            for i in 0..100u32 {
                assert_eq!(store.put(msg(0, i, 3000)).await.status, PutStatus::PutOk);
            }
        });
        assert!(
            !store.reads_from_disk("WB", 0, 0, 256 << 10),
            "written through the page cache"
        );
    }

    /// A wait for room is counted, and timed from its start to its end (here: the committer
    /// stopping 50 ms after the waiter asked it to hurry).
    #[test]
    fn waits_for_room_are_counted_and_timed() {
        let wb = std::sync::Arc::new(super::WriteBehind::new(
            8 << 20,
            16 << 20,
            0,
            Duration::from_millis(2),
        ));
        let stopper = {
            let wb = std::sync::Arc::clone(&wb);
            std::thread::spawn(move || {
                // The waiter sets `urgent` once it is waiting.
                while !wb.signal.lock().urgent {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(50));
                wb.stop();
            })
        };
        let waited = crate::test_util::rt()
            .block_on(wb.wait_committed(1, tokio::time::Instant::now() + Duration::from_secs(30)));
        assert!(!waited);
        stopper.join().unwrap();
        let st = wb.stats();
        assert_eq!(st.waits_for_room, 1, "{st:?}");
        assert!(st.wait_nanos >= 50_000_000, "{st:?}");
        assert!(st.wait_nanos < 30_000_000_000, "{st:?}");
    }
}
