//! The Raft log's preallocated tail: zeros written (and fdatasynced once) ahead of the last
//! record, so that an append overwrites blocks the file system already allocated and sized.
//! An fdatasync after such an append only flushes data; after a plain append it must also
//! journal the new file size and block allocation, which measured about 30 % slower per sync.
//!
//! Invariants (kept together with `log_store.rs`, which owns the file):
//! - Bytes past the log's logical end are either zeros or a torn tail from a crash. Records
//!   never have a zero length (a payload holds at least its log id), so an all-zero record
//!   header marks the end; on open, any non-zero byte after the end is a torn tail and the file
//!   is cut there, which also removes records written after it but never synced (without the
//!   cut they could be read back as valid once new appends reach them).
//! - Zeros are written only past `max(file length, logical end)`, under the store lock, so they
//!   never land on a record. The zeroing runs on a thread of its own (never in an append or in
//!   the fdatasync of one), in pieces that are written back right away, so an fdatasync of the
//!   log never has more than one piece of zeros to flush with its records.
//! - Preallocation is a speed-up only: when it fails (disk full) appends simply extend the file.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How far past the logical end the file is zeroed.
pub(super) const AHEAD: u64 = 16 << 20;
/// The zeroing starts again when fewer preallocated bytes than this are left.
pub(super) const LOW_WATER: u64 = 4 << 20;
/// Bytes zeroed per lock hold and write-back.
pub(super) const PIECE: usize = 256 << 10;

/// How much to preallocate, and the request flag the zeroing thread waits on.
pub(super) struct Prealloc {
    pub(super) ahead: u64,
    pub(super) low_water: u64,
    want: Mutex<bool>,
    wake: Condvar,
}

impl Prealloc {
    pub(super) fn new(ahead: u64, low_water: u64) -> Prealloc {
        Prealloc {
            ahead,
            low_water: low_water.min(ahead),
            want: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// True when the zeroed bytes past `end` (the file is `alloc_end` long) are running out.
    pub(super) fn wanted(&self, end: u64, alloc_end: u64) -> bool {
        alloc_end.saturating_sub(end) < self.low_water
    }

    /// Wakes the zeroing thread.
    pub(super) fn request(&self) {
        let mut w = self.want.lock();
        if !*w {
            *w = true;
            self.wake.notify_one();
        }
    }

    /// Waits for a request; false once `alive` says the store is gone.
    pub(super) fn wait(&self, alive: impl Fn() -> bool) -> bool {
        let mut w = self.want.lock();
        while !*w {
            if !alive() {
                return false;
            }
            self.wake.wait_for(&mut w, Duration::from_millis(500));
        }
        *w = false;
        true
    }
}

/// One zeroing step of the store: writes the next piece of zeros (the slice given) past its
/// end under its lock and returns the file and the range written, or `None` when enough is
/// preallocated (or the store is closed or gone).
pub(super) type NextPiece<'a> =
    dyn FnMut(&[u8]) -> std::io::Result<Option<(Arc<File>, u64, usize)>> + 'a;

/// Zeroes pieces until `next` says enough, writing each back before the next (so the log's own
/// fdatasync finds at most one piece dirty), then fdatasyncs once to make the new size and
/// allocation durable.
pub(super) fn extend(next: &mut NextPiece<'_>) -> std::io::Result<()> {
    let zeros = vec![0u8; PIECE];
    let mut last: Option<Arc<File>> = None;
    while let Some((file, at, len)) = next(&zeros)? {
        write_back(&file, at, len)?;
        last = Some(file);
    }
    match last {
        Some(f) => f.sync_data(),
        None => Ok(()),
    }
}

/// Starts writing `len` bytes at `at` to disk and waits for them (no metadata, no barrier).
#[cfg(target_os = "linux")]
fn write_back(file: &File, at: u64, len: usize) -> std::io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    // SAFETY: plain syscall on a descriptor `file` keeps open for the duration of the call.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), at as i64, len as i64, flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Elsewhere the final fdatasync writes every piece.
#[cfg(not(target_os = "linux"))]
fn write_back(_file: &File, _at: u64, _len: usize) -> std::io::Result<()> {
    Ok(())
}

/// True when nothing but zeros follows the last record (`rest` = the bytes after it).
pub(super) fn clean_tail(rest: &[u8]) -> bool {
    // OR-folding a block at a time vectorizes; the tail can be the whole preallocated region.
    rest.chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// True when the record header at the start of `b` is all zeros (the end of the records).
pub(super) fn zero_header(b: &[u8], header: usize) -> bool {
    b.len() >= header && b[..header].iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_tail_finds_any_non_zero_byte() {
        let mut b = vec![0u8; 1000];
        assert!(clean_tail(&b));
        assert!(clean_tail(&b[3..]));
        for at in [0, 7, 8, 500, 997, 999] {
            b[at] = 1;
            assert!(!clean_tail(&b), "byte {at}");
            assert!(!clean_tail(&b[..=at]), "byte {at}, unaligned end");
            b[at] = 0;
        }
        assert!(clean_tail(&[]));
    }

    #[test]
    fn the_thread_is_woken_once_per_request() {
        let p = Prealloc::new(100, 40);
        assert!(p.wanted(70, 100));
        assert!(!p.wanted(60, 100));
        assert!(p.wanted(120, 100), "an append past the zeroed bytes");
        p.request();
        p.request();
        assert!(p.wait(|| true));
        assert!(!p.wait(|| false), "no request and the store is gone");
    }
}
