//! Retention: deletion of old CommitLog segments and of the ConsumeQueue/IndexFile data that pointed
//! into them, plus the disk-full guard.
//!
//! Rules (RocketMQ CleanCommitLogService, simplified): a segment is deleted when (a) the local hour
//! of `now` is in `delete_when` and its mtime is older than `file_reserved_time`, or (b) disk usage
//! of the store's filesystem exceeds `disk_max_used_space_ratio` (then the oldest segments go
//! regardless of age, re-checking usage after each). Segments are deleted oldest first and only
//! as a prefix (the log stays contiguous); the segment being written and anything after it are never
//! deleted; at most 10 per call. After deleting, every ConsumeQueue's min offset moves past entries
//! pointing below the new CommitLog start and CQ/index files wholly below it are removed.
//! Usage above `disk_space_warning_level_ratio` sets the disk-full flag (puts get
//! ServiceNotAvailable) until a later check sees it below again.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::store::Inner;

const DELETE_BATCH_MAX: usize = 10;

/// Percentage of the filesystem holding `path` that is used ((total - free) / total), like Java's
/// `File.getTotalSpace()/getFreeSpace()`.
pub(crate) fn disk_usage_percent(path: &Path) -> Option<f64> {
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct we own from a valid C string path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 || st.f_blocks == 0 {
        return None;
    }
    let total = st.f_blocks as f64;
    let free = st.f_bfree as f64;
    Some((total - free) / total * 100.0)
}

/// Local hour of day of `t`.
pub(crate) fn local_hour(t: SystemTime) -> u8 {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    tm.tm_hour.clamp(0, 23) as u8
}

impl Inner {
    /// Updates the disk-full flag; returns the usage seen.
    pub(crate) fn check_disk(&self) -> Option<f64> {
        let usage = disk_usage_percent(&self.cl.dir)?;
        let full = usage > self.cfg.disk_space_warning_level_ratio as f64;
        let was = self
            .disk_full
            .swap(full, std::sync::atomic::Ordering::AcqRel);
        if full && !was {
            tracing::error!(
                usage,
                "disk almost full: refusing puts until usage drops below {}%",
                self.cfg.disk_space_warning_level_ratio
            );
        } else if !full && was {
            tracing::info!(usage, "disk usage back to normal: accepting puts");
        }
        Some(usage)
    }

    pub(crate) fn delete_expired_files(&self, now: SystemTime) -> usize {
        let max_ratio = (self.cfg.disk_max_used_space_ratio as f64).clamp(10.0, 95.0);
        let in_window = self.cfg.delete_when.contains(&local_hour(now));
        let mut deleted = 0usize;
        while deleted < DELETE_BATCH_MAX {
            let usage = self.check_disk().unwrap_or(0.0);
            let forced = usage > max_ratio;
            if !in_window && !forced {
                break;
            }
            let end = self.cl.max_phys();
            let victim = {
                let segs = self.cl.segments.read();
                match segs.first() {
                    // Never the segment being written (the one holding `end`), nor the last one.
                    Some(s) if segs.len() > 1 && s.end() <= end => Arc::clone(s),
                    _ => break,
                }
            };
            let expired = std::fs::metadata(victim.path())
                .and_then(|m| m.modified())
                // A reserve time past the clock's range (a huge setting) means "never by age".
                .map(|mtime| {
                    mtime
                        .checked_add(self.cfg.file_reserved_time)
                        .is_some_and(|t| t <= now)
                })
                .unwrap_or(false);
            if !(forced || (in_window && expired)) {
                break;
            }
            {
                let mut segs = self.cl.segments.write();
                if segs.first().is_some_and(|s| Arc::ptr_eq(s, &victim)) {
                    segs.remove(0);
                } else {
                    break;
                }
            }
            if let Err(e) = std::fs::remove_file(victim.path()) {
                tracing::warn!(
                    "cannot delete expired segment {}: {e}",
                    victim.path().display()
                );
            } else {
                tracing::info!(
                    forced,
                    "deleted commitlog segment {}",
                    victim.path().display()
                );
            }
            deleted += 1;
        }
        if deleted > 0 {
            let min_phys = self.cl.min_phys() as i64;
            let cqs: Vec<_> = self
                .cqs
                .read()
                .values()
                .flat_map(|m| m.values().cloned())
                .collect();
            for q in cqs {
                q.advance_min(min_phys);
            }
            if let Some(ix) = &self.index {
                ix.lock().svc.delete_below(min_phys);
            }
            self.quarantine
                .write()
                .retain(|_, (end, _)| *end as i64 > min_phys);
        }
        deleted
    }
}
