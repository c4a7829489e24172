//! The CommitLog: every message of every topic, appended to fixed-size mapped segments named by the
//! 20-digit offset of their first byte (`commitlog/00000000000000000000`, ...).
//!
//! Invariants: segments are contiguous (segment k+1 starts where k ends); a record never spans two
//! segments: when `len + 8` bytes do not fit, the writer puts an 8-byte blank record (TOTALSIZE =
//! remaining bytes, BLANK magic) and continues at the next segment; `max_phys` (Release) is the end
//! of the last complete record and every byte below it is immutable; `flushed` <= `max_phys` and
//! every byte below `flushed` is on disk. Only the put path (under the put lock) and the SYNC_FLUSH
//! drain (`stage.rs`: one at a time, bytes the put path assigned) write records.
//!
//! With a write-behind buffer (`wb`, ASYNC_FLUSH with direct writes) the newest bytes live in the
//! buffer until its committer has written them: below `wb.floor()` the segment files hold every
//! published byte, at or above it only the buffer does. Every read here goes to the right side;
//! `flushed` never passes what the committer has written (up to a record boundary).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::error::StoreError;
use crate::mapped_file::{parse_offset_file_name, MappedFile};
use crate::message::{
    be_i32, be_i64, be_u32, peek_head, RecordHead, MAGIC_V1, MAGIC_V2, POS_MAGIC, POS_PHYS_OFFSET,
};
use crate::write_behind::WriteBehind;

pub(crate) struct CommitLog {
    pub dir: PathBuf,
    pub file_size: u64,
    pub segments: RwLock<Vec<Arc<MappedFile>>>,
    max_phys: AtomicU64,
    flushed: AtomicU64,
    flush_lock: Mutex<()>,
    /// Store timestamp of the newest record (written with `max_phys`).
    pub last_store_ts: AtomicI64,
    /// Store timestamp of the newest flushed record (at least; used for the checkpoint).
    pub flushed_store_ts: AtomicI64,
    /// The write-behind buffer of direct writes (`write_behind.rs`), if on.
    pub wb: Option<WriteBehind>,
}

/// Result of loading the segment files.
pub(crate) struct LoadedSegments {
    pub segments: Vec<Arc<MappedFile>>,
    /// Segments (start, path) that were shorter than `commitlog_file_size` and were zero-extended.
    pub repaired: Vec<(u64, PathBuf)>,
}

impl CommitLog {
    /// Maps every segment in `dir`, checking names, sizes and contiguity. `unmapped_writes`:
    /// segments are written with pwrite (SYNC_FLUSH, see `mapped_file.rs`).
    pub fn load(
        dir: &Path,
        file_size: u64,
        unmapped_writes: bool,
    ) -> Result<LoadedSegments, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let mut found = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))? {
            let e = e.map_err(|e| StoreError::io(dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let Some(start) = parse_offset_file_name(&name) else {
                continue;
            };
            let len = e
                .metadata()
                .map_err(|err| StoreError::io(e.path(), err))?
                .len();
            found.push((start, len, e.path()));
        }
        found.sort_unstable_by_key(|f| f.0);
        let mut segments: Vec<Arc<MappedFile>> = Vec::with_capacity(found.len());
        let mut repaired = Vec::new();
        for (start, len, path) in found {
            if start % file_size != 0 || len > file_size {
                return Err(StoreError::Layout(format!(
                    "{} ({} bytes) does not fit commitlog_file_size {}; open the store with the segment size it was written with",
                    path.display(),
                    len,
                    file_size
                )));
            }
            if let Some(prev) = segments.last() {
                if prev.end() != start {
                    return Err(StoreError::Layout(format!(
                        "commitlog segment missing between {} and {}; restore it or move the segments before the gap out of {}",
                        prev.path().display(),
                        path.display(),
                        dir.display()
                    )));
                }
            }
            if len < file_size {
                repaired.push((start, path.clone()));
            }
            let mut f =
                MappedFile::open(&path, start, file_size).map_err(|e| StoreError::io(&path, e))?;
            if unmapped_writes {
                f = f.with_unmapped_writes();
            }
            segments.push(Arc::new(f));
        }
        Ok(LoadedSegments { segments, repaired })
    }

    pub fn new(
        dir: PathBuf,
        file_size: u64,
        segments: Vec<Arc<MappedFile>>,
        end: u64,
        wb: Option<WriteBehind>,
    ) -> CommitLog {
        CommitLog {
            dir,
            file_size,
            segments: RwLock::new(segments),
            max_phys: AtomicU64::new(end),
            flushed: AtomicU64::new(end),
            flush_lock: Mutex::new(()),
            last_store_ts: AtomicI64::new(0),
            flushed_store_ts: AtomicI64::new(0),
            wb,
        }
    }

    pub fn max_phys(&self) -> u64 {
        self.max_phys.load(Ordering::Acquire)
    }
    pub fn publish(&self, end: u64) {
        self.max_phys.store(end, Ordering::Release);
    }
    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }
    pub fn min_phys(&self) -> u64 {
        match self.segments.read().first() {
            Some(s) => s.start(),
            None => self.max_phys(),
        }
    }

    pub fn segment_for(&self, phys: u64) -> Option<Arc<MappedFile>> {
        let segs = self.segments.read();
        let first = segs.first()?;
        if phys < first.start() {
            return None;
        }
        let idx = ((phys - first.start()) / self.file_size) as usize;
        segs.get(idx).cloned()
    }

    /// Start of the buffered part of the log: every published byte below it is in the files.
    pub(crate) fn file_floor(&self) -> u64 {
        self.wb.as_ref().map_or(u64::MAX, |w| w.floor())
    }

    /// Bytes `[phys, phys+len)` if they are published: zero-copy from the mapping or the
    /// write-behind buffer; copied when the range straddles a chunk or the buffer's floor.
    pub fn read_exact(&self, phys: u64, len: usize) -> Option<Bytes> {
        if phys.checked_add(len as u64)? > self.max_phys() {
            return None;
        }
        let end = phys + len as u64;
        // The floor only rises, and what falls below it is in the files: a buffer lookup that
        // misses because its slot was just retired is retried against the files.
        loop {
            let floor = self.file_floor();
            if end <= floor {
                let seg = self.segment_for(phys)?;
                return seg.bytes(phys - seg.start(), len);
            }
            let wb = self.wb.as_ref()?;
            if phys >= floor {
                if let Some(b) = wb.read(phys, len) {
                    return Some(b);
                }
            } else {
                let seg = self.segment_for(phys)?;
                let head = seg.get(phys - seg.start(), (floor - phys) as usize)?;
                if let Some(tail) = wb.read(floor, (end - floor) as usize) {
                    let mut v = Vec::with_capacity(len);
                    v.extend_from_slice(head);
                    v.extend_from_slice(&tail[..]);
                    return Some(Bytes::from(v));
                }
            }
            if self.file_floor() == floor {
                return None;
            }
        }
    }

    /// Checks a record head read at `phys`: TOTALSIZE (equal to `expect_size` when given, more
    /// than the fixed header), V1/V2 magic, PHYSICALOFFSET equal to `phys`. Returns the size.
    fn sane_head(head: &[u8], phys: u64, expect_size: Option<u32>) -> Option<u32> {
        let size = be_i32(head, 0);
        if size <= 36 || expect_size.is_some_and(|e| e as i32 != size) {
            return None;
        }
        let magic = be_u32(head, POS_MAGIC);
        if (magic != MAGIC_V1 && magic != MAGIC_V2) || be_i64(head, POS_PHYS_OFFSET) != phys as i64
        {
            return None;
        }
        Some(size as u32)
    }

    /// Zero-copy bytes of the record at `phys` if it is published and its header is sane
    /// (`sane_head`).
    pub fn read_record(&self, phys: u64, expect_size: Option<u32>) -> Option<Bytes> {
        let head = self.read_exact(phys, 36)?;
        let size = Self::sane_head(&head, phys, expect_size)?;
        self.read_exact(phys, size as usize)
    }

    /// Like `read_record`, but slices the record out of `window`: one zero-copy `Bytes` over the
    /// published part of a segment (or of a write-behind chunk), made once and reused for every
    /// record of a read batch (so a batch costs one owner allocation, not one per record).
    pub fn read_record_windowed(
        &self,
        window: &mut Option<(u64, Bytes)>,
        phys: u64,
        size: u32,
    ) -> Option<Bytes> {
        let fits = |w: &(u64, Bytes)| phys >= w.0 && phys + size as u64 <= w.0 + w.1.len() as u64;
        if !window.as_ref().is_some_and(fits) {
            *window = Some(self.window_at(phys)?);
        }
        let Some((start, bytes)) = window.as_ref().filter(|w| fits(w)) else {
            // Straddles a chunk or the buffer's floor (or is not published).
            return self.read_record(phys, Some(size));
        };
        let off = (phys - start) as usize;
        let head = &bytes[off..off + 36.min(size as usize)];
        if size <= 36 || Self::sane_head(head, phys, Some(size)).is_none() {
            return None;
        }
        Some(bytes.slice(off..off + size as usize))
    }

    /// One zero-copy view of published bytes holding `phys`, as (its log offset, bytes): the
    /// write-behind chunk that caches it, or its segment's mapping up to the published end and
    /// the buffer's floor. None when nothing is published at `phys`.
    fn window_at(&self, phys: u64) -> Option<(u64, Bytes)> {
        let max = self.max_phys();
        if let Some(w) = self.wb.as_ref().and_then(|w| w.window(phys, max)) {
            return Some(w);
        }
        let seg = self.segment_for(phys)?;
        let end = max.min(seg.end()).min(self.file_floor());
        if end <= phys {
            return None;
        }
        Some((seg.start(), seg.bytes(0, (end - seg.start()) as usize)?))
    }

    /// For sequential scans (the index thread): bytes from `phys` on, at most `avail` (all
    /// published), holding the whole record (or the 8-byte BLANK head) at `phys`, sliced out of
    /// `window`, which is refreshed only when it does not hold them. A record that straddles a
    /// write-behind chunk or the buffer's floor is copied alone.
    pub fn scan_at<'w>(
        &self,
        window: &'w mut Option<(u64, Bytes)>,
        phys: u64,
        avail: usize,
    ) -> Option<&'w [u8]> {
        let covers = |w: &(u64, Bytes)| {
            phys >= w.0
                && phys - w.0 < w.1.len() as u64
                && whole_record(&w.1[(phys - w.0) as usize..], avail)
        };
        if !window.as_ref().is_some_and(covers) {
            *window = match self.window_at(phys) {
                Some(w) if covers(&w) => Some(w),
                _ => {
                    let head = self.read_exact(phys, 8.min(avail))?;
                    let want = record_extent(&head).min(avail);
                    Some((phys, self.read_exact(phys, want)?))
                }
            };
        }
        let (start, bytes) = window.as_ref()?;
        let off = (phys - start) as usize;
        Some(&bytes[off..(off + avail).min(bytes.len())])
    }

    /// Makes every byte below `target` durable (msync). One caller at a time. With a
    /// write-behind buffer only what its committer has written counts.
    pub fn flush_to(&self, target: u64) -> io::Result<()> {
        let target = match &self.wb {
            Some(w) => target.min(w.boundary()),
            None => target,
        };
        let _g = self.flush_lock.lock();
        let from = self.flushed();
        if target <= from {
            return Ok(());
        }
        let ts = self.last_store_ts.load(Ordering::Acquire);
        let segs: Vec<Arc<MappedFile>> = self
            .segments
            .read()
            .iter()
            .filter(|s| s.end() > from && s.start() < target)
            .cloned()
            .collect();
        for s in segs {
            let a = from.max(s.start()) - s.start();
            let b = target.min(s.end()) - s.start();
            s.flush_range(a, b - a)?;
        }
        self.flushed.store(target, Ordering::Release);
        self.flushed_store_ts.fetch_max(
            ts.min(self.last_store_ts.load(Ordering::Acquire)),
            Ordering::AcqRel,
        );
        Ok(())
    }
}

/// Bytes a scan needs at the head of `rest`: a message record's TOTALSIZE, else 8 (a BLANK
/// head, or a head too short or broken to say more).
fn record_extent(rest: &[u8]) -> usize {
    match peek_head(rest) {
        RecordHead::Message(size) => (size as usize).max(8),
        _ => 8,
    }
}

/// True if `rest` holds what a scan needs at its head (`record_extent`, capped at `avail`).
fn whole_record(rest: &[u8], avail: usize) -> bool {
    rest.len() >= record_extent(rest).min(avail)
}
