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
//! Views: every file has one shared mapping used for reads (normal kernel readahead). A CommitLog
//! segment of a SYNC_FLUSH store also gets a second shared mapping of the same file, the write
//! view, advised `MADV_RANDOM`: page faults through it create 4 KiB page-cache pages instead of the
//! large folios readahead builds (up to `read_ahead_kb`, 8 MiB on some virtual disks). The kernel
//! tracks dirtiness per folio for mapped writes, so with large folios every group-commit msync of a
//! few KiB rewrote the whole multi-MiB folio (measured: 6.7 GB written for 0.23 GB of records).
//! Both views map the same page cache, so a byte written through one is visible through the other.
//! `populate_write` faults pages of the write view in ahead of the writer
//! (`MADV_POPULATE_WRITE`), so the zero-fill and page-fault work happens on a background thread
//! instead of under the put lock; it never changes the file's contents and reports failure as an
//! error, never as SIGBUS.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Write view (see the module comment); None = writes go through `map`.
    wmap: Option<MmapRaw>,
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
            wmap: None,
        })
    }

    /// Adds the 4 KiB-page write view (module comment). Reads keep using the readahead mapping.
    pub fn with_small_write_pages(mut self) -> io::Result<MappedFile> {
        let wmap = MmapOptions::new()
            .len(self.len as usize)
            .map_raw(&self.file)?;
        // SAFETY: advice on a mapping we own, over exactly its length; MADV_RANDOM changes no data.
        let rc = unsafe {
            libc::madvise(
                wmap.as_mut_ptr().cast::<libc::c_void>(),
                self.len as usize,
                libc::MADV_RANDOM,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.wmap = Some(wmap);
        Ok(self)
    }

    /// True when writes go through a separate 4 KiB-page write view.
    pub fn has_small_write_pages(&self) -> bool {
        self.wmap.is_some()
    }

    fn write_base(&self) -> *mut u8 {
        self.wmap.as_ref().unwrap_or(&self.map).as_mut_ptr()
    }

    /// Faults `[off, off+len)` (widened to whole pages, clipped to the file) into the write view as
    /// writable pages without changing a byte (`MADV_POPULATE_WRITE`, Linux 5.14+). The file is
    /// fully allocated, so this cannot run out of space; any failure (EINVAL on an older kernel,
    /// ENOMEM, EINTR) is returned and the caller simply writes without the head start.
    pub fn populate_write(&self, off: u64, len: u64) -> io::Result<()> {
        let page = PAGE;
        let a = off / page * page;
        let b = off.saturating_add(len).min(self.len);
        if a >= b {
            return Ok(());
        }
        // SAFETY: the range lies inside our mapping; POPULATE_WRITE only faults pages in (it writes
        // no data), so concurrent writers and readers of the range are unaffected.
        let rc = unsafe {
            libc::madvise(
                self.write_base().add(a as usize).cast::<libc::c_void>(),
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
            self.write_base().add(off as usize),
            len,
        ))
    }

    /// Copies `data` to `off` (single writer of an unpublished range). Returns false if out of range.
    pub fn write(&self, off: u64, data: &[u8]) -> bool {
        // SAFETY: see get_mut; every caller writes ranges it owns under the owning structure's lock.
        match unsafe { self.get_mut(off, data.len()) } {
            Some(dst) => {
                dst.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// msync(MS_SYNC) of `[off, off+len)`: the range is on disk when this returns.
    pub fn flush_range(&self, off: u64, len: u64) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let end = (off + len).min(self.len);
        if off >= end {
            return Ok(());
        }
        // msync(MS_SYNC) syncs the file range, covering writes made through either view.
        self.wmap
            .as_ref()
            .unwrap_or(&self.map)
            .flush_range(off as usize, (end - off) as usize)
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
    fn populate_write_changes_no_byte_and_clips_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = MappedFile::create(&p, 0, 256 * 1024).unwrap();
        assert!(f.write(5000, b"keep me"));
        f.populate_write(0, 256 * 1024).unwrap();
        // Unaligned start, length past the end: widened to pages, clipped to the mapping.
        f.populate_write(4097, 10 << 20).unwrap();
        f.populate_write(256 * 1024, 4096).unwrap();
        assert_eq!(f.get(5000, 7).unwrap(), b"keep me");
        assert!(f.get(0, 5000).unwrap().iter().all(|b| *b == 0));
        assert!(f
            .get(5007, 256 * 1024 - 5007)
            .unwrap()
            .iter()
            .all(|b| *b == 0));
        // Pre-faulting only maps pages in: the file on disk stays all zeros but the record.
        f.flush_range(0, 256 * 1024).unwrap();
        let disk = std::fs::read(&p).unwrap();
        assert_eq!(&disk[5000..5007], b"keep me");
        assert_eq!(disk.iter().filter(|b| **b != 0).count(), 7);
    }

    #[test]
    fn populate_write_of_an_unlinked_file_is_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = Arc::new(MappedFile::create(&p, 0, 64 * 1024).unwrap());
        assert!(f.write(10, b"x"));
        std::fs::remove_file(&p).unwrap();
        f.populate_write(0, 64 * 1024).unwrap();
        assert!(f.write(20, b"y"));
        assert_eq!(f.get(10, 11).unwrap(), b"x\0\0\0\0\0\0\0\0\0y");
    }

    #[test]
    fn small_page_write_view_shares_the_page_cache_with_the_read_view() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(offset_file_name(0));
        let f = Arc::new(
            MappedFile::create(&p, 0, 64 * 1024)
                .unwrap()
                .with_small_write_pages()
                .unwrap(),
        );
        assert!(f.has_small_write_pages());
        f.populate_write(0, 64 * 1024).unwrap();
        assert!(f.write(4090, b"across a page"));
        // Reads go through the other mapping and see the write at once.
        assert_eq!(&f.bytes(4090, 13).unwrap()[..], b"across a page");
        f.flush_range(4090, 13).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[4090..4103], b"across a page");
        f.zero_from(4095).unwrap();
        assert_eq!(f.get(4090, 6).unwrap(), b"acros\0");
        let reopened = MappedFile::open(&p, 0, 64 * 1024).unwrap();
        assert!(!reopened.has_small_write_pages());
        assert_eq!(reopened.get(4090, 5).unwrap(), b"acros");
    }
}
