//! The CommitLog: every message of every topic, appended to fixed-size mapped segments named by the
//! 20-digit offset of their first byte (`commitlog/00000000000000000000`, ...).
//!
//! Invariants: segments are contiguous (segment k+1 starts where k ends); a record never spans two
//! segments: when `len + 8` bytes do not fit, the writer puts an 8-byte blank record (TOTALSIZE =
//! remaining bytes, BLANK magic) and continues at the next segment; `max_phys` (Release) is the end
//! of the last complete record and every byte below it is immutable; `flushed` <= `max_phys` and
//! every byte below `flushed` is on disk. Only the put path (under the put lock) and the SYNC_FLUSH
//! drain (`stage.rs`: one at a time, bytes the put path assigned) write records.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::error::StoreError;
use crate::mapped_file::{parse_offset_file_name, MappedFile};
use crate::message::{be_i32, be_i64, be_u32, MAGIC_V1, MAGIC_V2, POS_MAGIC, POS_PHYS_OFFSET};

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

    /// Zero-copy bytes of the record at `phys` if it is published and its header is sane
    /// (TOTALSIZE equals `expect_size` when given, V1/V2 magic, PHYSICALOFFSET equals `phys`).
    pub fn read_record(&self, phys: u64, expect_size: Option<u32>) -> Option<Bytes> {
        let max = self.max_phys();
        let seg = self.segment_for(phys)?;
        let off = phys - seg.start();
        let head = seg.get(off, 36)?;
        let size = be_i32(head, 0);
        if size <= 36 || expect_size.is_some_and(|e| e as i32 != size) {
            return None;
        }
        let magic = be_u32(head, POS_MAGIC);
        if (magic != MAGIC_V1 && magic != MAGIC_V2) || be_i64(head, POS_PHYS_OFFSET) != phys as i64
        {
            return None;
        }
        if phys + size as u64 > max {
            return None;
        }
        seg.bytes(off, size as usize)
    }

    /// Like `read_record`, but slices the record out of `window`: one zero-copy `Bytes` over the
    /// published part of a segment, made once and reused for every record of a read batch (so a
    /// batch costs one owner allocation, not one per record).
    pub fn read_record_windowed(
        &self,
        window: &mut Option<(u64, Bytes)>,
        phys: u64,
        size: u32,
    ) -> Option<Bytes> {
        let fits = |w: &(u64, Bytes)| phys >= w.0 && phys + size as u64 <= w.0 + w.1.len() as u64;
        if !window.as_ref().is_some_and(fits) {
            let seg = self.segment_for(phys)?;
            let end = self.max_phys().min(seg.end());
            if end <= seg.start() {
                return None;
            }
            *window = Some((seg.start(), seg.bytes(0, (end - seg.start()) as usize)?));
        }
        let (start, bytes) = window.as_ref().filter(|w| fits(w))?;
        let off = (phys - start) as usize;
        let head = &bytes[off..off + 36.min(size as usize)];
        if size <= 36
            || be_i32(head, 0) != size as i32
            || !matches!(be_u32(head, POS_MAGIC), MAGIC_V1 | MAGIC_V2)
            || be_i64(head, POS_PHYS_OFFSET) != phys as i64
        {
            return None;
        }
        Some(bytes.slice(off..off + size as usize))
    }

    /// Makes every byte below `target` durable (msync). One caller at a time.
    pub fn flush_to(&self, target: u64) -> io::Result<()> {
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
