//! A fixed-size, fully allocated, shared-mapped file: the unit of CommitLog segments, ConsumeQueue
//! files and IndexFiles.
//!
//! Invariants: a file is created under a `.tmp` name, its blocks are reserved with
//! `posix_fallocate` (so running out of space is an error at creation, never a SIGBUS on a mapped
//! write) and only then renamed to its final name; the mapping always covers exactly `len` bytes
//! and the file is never shorter than the mapping. Writers own disjoint, not-yet-published ranges;
//! readers only look at ranges published through an atomic by the owning structure. The mapping
//! stays alive as long as any `Arc<MappedFile>` (including the owner of a `Bytes` handed out by
//! `bytes()`) exists, even after the file is unlinked.
//!
//! Two ways to write. By default `write`/`get_mut` copy straight into the shared mapping. A
//! CommitLog segment of a SYNC_FLUSH store is instead switched to **unmapped writes**
//! (`with_unmapped_writes`): `write` is a `pwrite` on the descriptor, and the mapping is only
//! read. Reads see those bytes at once (one page cache). Why: the kernel tracks the dirtiness of a
//! page written through a mapping per folio, and the folios readahead builds are large (up to
//! `read_ahead_kb`, 8 MiB on some virtual disks), so every group-commit msync of a few KiB wrote
//! whole multi-MiB folios back (measured: 5.8 GB written for 0.23 GB of records); each flush also
//! write-protects the pages again (TLB shootdowns) and the next put takes a write fault. A `pwrite`
//! marks only the 4 KiB blocks it touched dirty and maps nothing. Independently of the mode,
//! `pwrite` writes one range with `pwrite`: ASYNC_FLUSH puts that cover whole pages use it, so the
//! kernel fills fresh page-cache pages from the data instead of zero-filling them first.
//!
//! `prefault` prepares pages ahead of the writer without changing a byte: `MADV_POPULATE_WRITE` on
//! the mapping (mapped writes), or `POSIX_FADV_WILLNEED` readahead into the page cache (unmapped
//! writes). Either way the kernel's zero-fill of fresh pages and the page faults happen on the
//! calling background thread instead of under the put lock, and a failure is an error return,
//! never a SIGBUS. `write_zeros` goes further for pwrite segments: it writes real zeros (which
//! also converts the fallocated extents, see `prefault.rs`); its caller must own the range.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// One mapped file.
pub(crate) struct MappedFile {
    path: PathBuf,
    /// Logical start offset encoded in the file name (CommitLog/CQ); 0 for index files.
    start: u64,
    len: u64,
    file: File,
    map: MmapRaw,
    /// Writes are `pwrite`s instead of copies into the mapping (module comment).
    unmapped_writes: bool,
    /// Bytes from the start already prepared by `prefault` / `write_zeros` (a hint that saves
    /// repeating the work; never trusted for correctness).
    prepared: AtomicU64,
    /// The `O_DIRECT` descriptor, opened on first use (Err: the errno that refused it).
    direct: OnceLock<Result<File, i32>>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("start", &self.start)
            .finish()
    }
}

const PAGE: u64 = 4096;
/// `MADV_POPULATE_WRITE` (Linux 5.14, include/uapi/asm-generic/mman-common.h).
const MADV_POPULATE_WRITE: libc::c_int = 23;

fn reserve(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a valid, owned descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

impl MappedFile {
    /// Creates `path` with `len` reserved zero bytes and maps it.
    pub fn create(path: &Path, start: u64, len: u64) -> io::Result<MappedFile> {
        let tmp = path.with_extension("tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        if let Err(e) = reserve(&file, len) {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::rename(&tmp, path)?;
        Self::map(path, start, len, file)
    }

    /// Makes this file's name durable: fsyncs the directory holding it. A file's own fdatasync
    /// covers its data, not the directory entry that finds it, so a CommitLog segment created
    /// after the last directory sync could vanish in a power loss with records acknowledged under
    /// SYNC_FLUSH. Called once per segment, off the put path.
    pub fn sync_dir(&self) -> io::Result<()> {
        courier_durable_file::sync_dir(self.path.parent().unwrap_or_else(|| Path::new(".")))
    }

    /// Opens and maps an existing file, growing it (with zeros) to `len` if it is shorter.
    pub fn open(path: &Path, start: u64, len: u64) -> io::Result<MappedFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let actual = file.metadata()?.len();
        if actual < len {
            reserve(&file, len)?;
        }
        Self::map(path, start, len, file)
    }

    fn map(path: &Path, start: u64, len: u64, file: File) -> io::Result<MappedFile> {
        let map = MmapOptions::new().len(len as usize).map_raw(&file)?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            start,
            len,
            file,
            map,
            unmapped_writes: false,
            prepared: AtomicU64::new(0),
            direct: OnceLock::new(),
        })
    }

    /// Switches `write` to `pwrite` (module comment). Reads keep using the mapping.
    pub fn with_unmapped_writes(mut self) -> MappedFile {
        self.unmapped_writes = true;
        self
    }

    /// True when `write` is a `pwrite` rather than a copy into the mapping.
    pub fn unmapped_writes(&self) -> bool {
        self.unmapped_writes
    }

    /// How many bytes from the start were prepared (see `mark_prepared`).
    pub fn prepared(&self) -> u64 {
        self.prepared.load(Ordering::Acquire)
    }

    /// Records that `[0, upto)` was prepared (monotonic).
    pub fn mark_prepared(&self, upto: u64) {
        self.prepared
            .fetch_max(upto.min(self.len), Ordering::AcqRel);
    }

    /// Writes zeros over `[off, off+len)` (clipped to the file) with `pwrite`, from `zeros` (any
    /// length > 0, all zero). Once written back (`start_writeback`) this turns the fallocated
    /// (unwritten) extents into written ones ahead of the writer, so a later group-commit
    /// fdatasync of records there writes data only, not also the extent change (one fewer serial
    /// disk write per flush). The caller must own the range: no record may be written to it
    /// concurrently (`prefault::ZeroFence`).
    pub fn write_zeros(&self, off: u64, len: u64, zeros: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = off.saturating_add(len).min(self.len);
        if zeros.is_empty() || off >= end {
            return Ok(());
        }
        let mut at = off;
        while at < end {
            let n = (zeros.len() as u64).min(end - at) as usize;
            self.file.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Starts writeback of `[off, off+len)` (clipped) without waiting (`sync_file_range`). It
    /// promises nothing about durability; flushes still make data durable themselves.
    pub fn start_writeback(&self, off: u64, len: u64) -> io::Result<()> {
        let end = off.saturating_add(len).min(self.len);
        if off >= end {
            return Ok(());
        }
        // SAFETY: plain syscall on an owned descriptor over a range inside the file.
        let rc = unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                off as libc::off64_t,
                (end - off) as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Prepares `[off, off+len)` (widened to whole pages, clipped to the file) for writing without
    /// changing a byte: `MADV_POPULATE_WRITE` (Linux 5.14+) faults the pages into the mapping as
    /// writable, or, for unmapped writes, `POSIX_FADV_WILLNEED` reads them into the page cache (the
    /// blocks are fallocated, so this is a zero-fill without I/O). The file is fully allocated, so
    /// this cannot run out of space; a failure (EINVAL on an older kernel, ENOMEM, EINTR) is
    /// returned and the writer simply does the work itself.
    pub fn prefault(&self, off: u64, len: u64) -> io::Result<()> {
        let a = off / PAGE * PAGE;
        let b = off.saturating_add(len).min(self.len);
        if a >= b {
            return Ok(());
        }
        if self.unmapped_writes {
            // SAFETY: plain syscall on an owned descriptor; readahead only adds clean pages that
            // hold the file's current contents.
            let rc = unsafe {
                libc::posix_fadvise(
                    self.file.as_raw_fd(),
                    a as libc::off_t,
                    (b - a) as libc::off_t,
                    libc::POSIX_FADV_WILLNEED,
                )
            };
            return if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(rc))
            };
        }
        // SAFETY: the range lies inside our mapping; POPULATE_WRITE only faults pages in (it writes
        // no data), so concurrent writers and readers of the range are unaffected.
        let rc = unsafe {
            libc::madvise(
                self.map.as_mut_ptr().add(a as usize).cast::<libc::c_void>(),
                (b - a) as usize,
                MADV_POPULATE_WRITE,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// True when every page of `[off, off+len)` (clipped to the file) is in the page cache, so
    /// reading it through the mapping waits for no disk read (`mincore`). A failed call answers
    /// false: the caller then reads off the async runtime, which costs only a thread hop.
    pub fn resident(&self, off: u64, len: u64) -> bool {
        const MAX_PAGES: usize = 64;
        let a = off / PAGE * PAGE;
        let b = off.saturating_add(len).min(self.len);
        if a >= b {
            return true;
        }
        let pages = ((b - a).div_ceil(PAGE) as usize).min(MAX_PAGES);
        let mut vec = [0u8; MAX_PAGES];
        // SAFETY: the range lies inside our mapping and `vec` has a byte per page of it;
        // mincore only reports, it changes nothing.
        let rc = unsafe {
            libc::mincore(
                self.map.as_mut_ptr().add(a as usize).cast::<libc::c_void>(),
                pages * PAGE as usize,
                vec.as_mut_ptr(),
            )
        };
        rc == 0 && vec[..pages].iter().all(|v| v & 1 == 1)
    }

    /// Turns off fault readaround for this mapping (`MADV_RANDOM`); see `consume_queue.rs` for
    /// why ConsumeQueue files want it. Advice only: no byte changes, and a failure costs nothing
    /// but the readaround it meant to avoid.
    pub fn advise_random(&self) -> io::Result<()> {
        self.map.advise(memmap2::Advice::Random)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn end(&self) -> u64 {
        self.start + self.len
    }

    /// Bytes `[off, off+len)` of the file, or None when out of range.
    ///
    /// Callers only read ranges that are published (complete and no longer written) or that they
    /// own exclusively, so no concurrent write aliases the returned slice.
    pub fn get(&self, off: u64, len: usize) -> Option<&[u8]> {
        let end = off.checked_add(len as u64)?;
        if end > self.len {
            return None;
        }
        // SAFETY: range checked against the mapping length; the mapping lives as long as self.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(off as usize), len) })
    }

    /// Mutable view of `[off, off+len)` for the single writer that owns this unpublished range.
    ///
    /// # Safety
    /// The caller must be the only writer of the range and no reader may look at it until the
    /// caller publishes it (the put lock and the published-position atomics guarantee this).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get_mut(&self, off: u64, len: usize) -> Option<&mut [u8]> {
        let end = off.checked_add(len as u64)?;
        if end > self.len {
            return None;
        }
        Some(std::slice::from_raw_parts_mut(
            self.map.as_mut_ptr().add(off as usize),
            len,
        ))
    }

    /// Writes `data` at `off` (single writer of an unpublished range): a copy into the mapping, or
    /// a `pwrite` for unmapped writes. Returns false if out of range or if the `pwrite` failed.
    pub fn write(&self, off: u64, data: &[u8]) -> bool {
        self.try_write(off, data).is_ok()
    }

    /// `write` with the reason of a failure.
    pub fn try_write(&self, off: u64, data: &[u8]) -> io::Result<()> {
        self.check_range(off, data.len())?;
        if self.unmapped_writes {
            return self.pwrite_unchecked(off, data);
        }
        // SAFETY: see get_mut; every caller writes ranges it owns under the owning structure's lock.
        if let Some(dst) = unsafe { self.get_mut(off, data.len()) } {
            dst.copy_from_slice(data);
        }
        Ok(())
    }

    /// A second descriptor of this file opened with `O_DIRECT`, for the write-behind committer.
    /// It is reopened through `/proc/self/fd`, so it reaches this very file even after the name
    /// was unlinked. An error (the filesystem refuses `O_DIRECT`, no `/proc`) is sticky.
    pub fn direct_writer(&self) -> io::Result<&File> {
        use std::os::unix::fs::OpenOptionsExt;
        let r = self.direct.get_or_init(|| {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
                .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        });
        r.as_ref().map_err(|e| io::Error::from_raw_os_error(*e))
    }

    /// Writes `data` at `off` with a plain `pwrite` whatever the write mode (single writer of the
    /// range): the write-behind committer's way where `O_DIRECT` is refused.
    pub fn pwrite(&self, off: u64, data: &[u8]) -> io::Result<()> {
        self.check_range(off, data.len())?;
        self.pwrite_unchecked(off, data)
    }

    /// An error naming the file unless `len` bytes at `off` lie inside it.
    fn check_range(&self, off: u64, len: usize) -> io::Result<()> {
        if off.checked_add(len as u64).is_none_or(|e| e > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "write of {len} bytes at {off} is outside {} ({} bytes)",
                    self.path.display(),
                    self.len
                ),
            ));
        }
        Ok(())
    }

    fn pwrite_unchecked(&self, off: u64, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(data, off)
    }

    /// Makes `[off, off+len)` durable with msync(MS_SYNC) of the range; the range is on disk when
    /// this returns. On Linux msync of a shared file mapping is a ranged fdatasync of the file
    /// (`vfs_fsync_range`), so it also covers bytes written with `pwrite` (unmapped writes). It is
    /// used instead of fdatasync because it is ranged: fdatasync would also write back, and wait
    /// for, the zeros the prefault thread keeps dirty ahead of the writer.
    pub fn flush_range(&self, off: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let end = (off + len).min(self.len);
        if off >= end {
            return Ok(());
        }
        self.map.flush_range(off as usize, (end - off) as usize)
    }

    /// A second descriptor of the file, so that it can be synced by whoever does not own the
    /// mapping. `sync_data` on it writes back the pages dirtied through the mapping too: Linux
    /// tracks the dirty pages of shared file mappings, and `msync(MS_SYNC)` itself comes down to
    /// the same fdatasync of the range.
    pub fn clone_file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Zero-copy `Bytes` over `[off, off+len)`; keeps this mapping alive while it exists.
    pub fn bytes(self: &Arc<Self>, off: u64, len: usize) -> Option<Bytes> {
        self.get(off, len)?;
        Some(Bytes::from_owner(MappedSlice {
            file: Arc::clone(self),
            off: off as usize,
            len,
        }))
    }

    /// Zeroes `[off, len)`. Uses FALLOC_FL_ZERO_RANGE (or punch hole + re-reserve) for whole pages so
    /// a mostly-empty 1 GiB tail is not written page by page; the head partial page is zeroed by hand.
    pub fn zero_from(&self, off: u64) -> io::Result<()> {
        if off >= self.len {
            return Ok(());
        }
        let page = PAGE;
        let aligned = off.div_ceil(page) * page;
        let head_end = aligned.min(self.len);
        if let Some(dst) = unsafe { self.get_mut(off, (head_end - off) as usize) } {
            dst.fill(0);
        }
        if aligned >= self.len {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        let len = (self.len - aligned) as libc::off_t;
        // SAFETY: plain syscalls on an owned descriptor; the kernel keeps the shared mapping coherent.
        let zeroed = unsafe {
            libc::fallocate(
                fd,
                libc::FALLOC_FL_ZERO_RANGE | libc::FALLOC_FL_KEEP_SIZE,
                aligned as libc::off_t,
                len,
            ) == 0
                || (libc::fallocate(
                    fd,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    aligned as libc::off_t,
                    len,
                ) == 0
                    && libc::posix_fallocate(fd, aligned as libc::off_t, len) == 0)
        };
        if !zeroed {
            // Filesystem without either mode: zero the non-zero pages through the mapping.
            let mut p = aligned;
            while p < self.len {
                let n = page.min(self.len - p) as usize;
                if let Some(dst) = unsafe { self.get_mut(p, n) } {
                    if dst.iter().any(|b| *b != 0) {
                        dst.fill(0);
                    }
                }
                p += n as u64;
            }
        }
        Ok(())
    }
}

/// Owner of a zero-copy `Bytes`: a range of a mapped file.
struct MappedSlice {
    file: Arc<MappedFile>,
    off: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedSlice {
    fn as_ref(&self) -> &[u8] {
        // The range was bounds-checked when the slice was made; an empty slice is a safe fallback.
        self.file.get(self.off as u64, self.len).unwrap_or(&[])
    }
}

/// `name` as a 20-digit zero-padded number.
pub(crate) fn offset_file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit file name; other names (e.g. `.tmp` leftovers) give None.
pub(crate) fn parse_offset_file_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_write_read_zero() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = Arc::new(MappedFile::create(&p, 0, 64 * 1024).unwrap());
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 64 * 1024);
        assert!(f.write(100, b"abc"));
        assert!(!f.write(64 * 1024 - 1, b"xy"));
        let b = f.bytes(100, 3).unwrap();
        assert_eq!(&b[..], b"abc");
        f.write(9000, &[7u8; 100]);
        f.zero_from(101).unwrap();
        assert_eq!(f.get(100, 3).unwrap(), b"a\0\0");
        assert!(f.get(9000, 100).unwrap().iter().all(|b| *b == 0));
        // The Bytes handed out earlier still sees the mapping.
        assert_eq!(b.len(), 3);
        assert_eq!(parse_offset_file_name("00000000000000065536"), Some(65536));
        assert_eq!(parse_offset_file_name("00000000000000065536.tmp"), None);
    }

    #[test]
    fn prefault_changes_no_byte_and_clips_to_the_file() {
        for unmapped in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join(offset_file_name(0));
            let mut f = MappedFile::create(&p, 0, 256 * 1024).unwrap();
            if unmapped {
                f = f.with_unmapped_writes();
            }
            assert!(f.write(5000, b"keep me"));
            f.prefault(0, 256 * 1024).unwrap();
            // Unaligned start, length past the end: widened to pages, clipped to the file.
            f.prefault(4097, 10 << 20).unwrap();
            f.prefault(256 * 1024, 4096).unwrap();
            assert_eq!(f.get(5000, 7).unwrap(), b"keep me");
            assert!(f.get(0, 5000).unwrap().iter().all(|b| *b == 0));
            assert!(f
                .get(5007, 256 * 1024 - 5007)
                .unwrap()
                .iter()
                .all(|b| *b == 0));
            // Pre-faulting only prepares pages: the file on disk stays all zeros but the record.
            f.flush_range(0, 256 * 1024).unwrap();
            let disk = std::fs::read(&p).unwrap();
            assert_eq!(&disk[5000..5007], b"keep me");
            assert_eq!(disk.iter().filter(|b| **b != 0).count(), 7);
        }
    }

    #[test]
    fn prefault_of_an_unlinked_file_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = Arc::new(MappedFile::create(&p, 0, 64 * 1024).unwrap());
        assert!(f.write(10, b"x"));
        std::fs::remove_file(&p).unwrap();
        f.prefault(0, 64 * 1024).unwrap();
        assert!(f.write(20, b"y"));
        assert_eq!(f.get(10, 11).unwrap(), b"x\0\0\0\0\0\0\0\0\0y");
    }

    #[test]
    fn unmapped_writes_are_read_through_the_mapping_and_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = Arc::new(
            MappedFile::create(&p, 0, 64 * 1024)
                .unwrap()
                .with_unmapped_writes(),
        );
        assert!(f.unmapped_writes());
        f.prefault(0, 64 * 1024).unwrap();
        assert!(f.write(4090, b"across a page"));
        assert!(!f.write(64 * 1024 - 3, b"four"));
        assert!(f.try_write(u64::MAX, b"x").is_err());
        // Reads go through the mapping and see the pwrite at once (one page cache).
        assert_eq!(&f.bytes(4090, 13).unwrap()[..], b"across a page");
        f.flush_range(4090, 13).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[4090..4103], b"across a page");
        f.zero_from(4095).unwrap();
        assert_eq!(f.get(4090, 6).unwrap(), b"acros\0");
        let reopened = MappedFile::open(&p, 0, 64 * 1024).unwrap();
        assert!(!reopened.unmapped_writes());
        assert_eq!(reopened.get(4090, 6).unwrap(), b"acros\0");
    }

    #[test]
    fn write_zeros_turns_only_its_range_into_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = MappedFile::create(&p, 0, 64 * 1024)
            .unwrap()
            .with_unmapped_writes();
        assert!(f.write(0, &[9u8; 5000]));
        // Odd chunk size, range past the end: clipped, written in pieces.
        f.write_zeros(8192, 1 << 20, &[0u8; 3000]).unwrap();
        f.write_zeros(64 * 1024, 4096, &[0u8; 4096]).unwrap();
        assert!(f.get(0, 5000).unwrap().iter().all(|b| *b == 9));
        assert!(f
            .get(5000, 64 * 1024 - 5000)
            .unwrap()
            .iter()
            .all(|b| *b == 0));
        f.mark_prepared(1 << 30);
        assert_eq!(f.prepared(), 64 * 1024);
        f.mark_prepared(10);
        assert_eq!(f.prepared(), 64 * 1024);
        f.flush_range(0, 64 * 1024).unwrap();
        let disk = std::fs::read(&p).unwrap();
        assert_eq!(disk.len(), 64 * 1024);
        assert_eq!(disk.iter().filter(|b| **b == 9).count(), 5000);
    }
}
