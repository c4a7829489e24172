//! Background creation of CommitLog segments (RocketMQ's AllocateMappedFileService), so the put
//! path never creates or fallocates a segment on a tokio worker.
//!
//! A new segment gets its first `warm` bytes prepared (`MappedFile::prefault`, or zeros written
//! with `MappedFile::write_zeros` for pwrite segments, see `prefault.rs`) before it is handed
//! out, so the first puts after a roll-over do not pay for first-touch page work (RocketMQ warms
//! whole segments with `warmMapedFileEnable`; Courier warms the head and lets the prefault thread
//! keep ahead of the writer from there).
//!
//! Invariants: at most one creation is in flight and the same start offset is never created twice
//! while a mapping of it may be live; a finished result (segment or error) waits in `ready` until
//! the put path takes it; an error is handed to exactly one put and the next request retries.
//! Handed-out starts only grow (`handed`): a request for a start at or below the last one handed
//! out is ignored. Such a request comes from an appender that found no segment, then waited
//! while another appender took it. Creating it again would rename a zero file over a live
//! segment (the writers keep writing into the unlinked inode), and then, as a stale spare,
//! delete it and the next segment as well: a crash test once found two segments missing from
//! the middle of the log (on a multi-threaded runtime, where appenders run in parallel).

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::mapped_file::{offset_file_name, MappedFile};

#[derive(Default)]
struct State {
    wanted: Option<u64>,
    in_progress: Option<u64>,
    ready: Option<(u64, Result<Arc<MappedFile>, String>)>,
    waiters: Vec<oneshot::Sender<()>>,
    stop: bool,
    /// The newest start `take` handed out (module invariants).
    handed: Option<u64>,
}

pub(crate) struct Allocator {
    dir: PathBuf,
    file_size: u64,
    unmapped_writes: bool,
    warm: u64,
    state: Mutex<State>,
    cv: Condvar,
}

/// What `take` found.
pub(crate) enum Take {
    Ready(Arc<MappedFile>),
    NotReady,
    Failed(String),
}

impl Allocator {
    /// `unmapped_writes`: segments are written with pwrite (SYNC_FLUSH); `warm`: bytes of each new
    /// segment to prefault before it is handed out (0 = none).
    pub fn new(dir: PathBuf, file_size: u64, unmapped_writes: bool, warm: u64) -> Allocator {
        Allocator {
            dir,
            file_size,
            unmapped_writes,
            warm,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    fn want(&self, s: &mut State, start: u64) {
        if s.handed.is_some_and(|h| start <= h) {
            return;
        }
        if s.in_progress != Some(start) {
            s.wanted = Some(start);
            self.cv.notify_one();
        }
    }

    /// Takes the segment starting at `start` if it is ready, and asks for the one after it.
    pub fn take(&self, start: u64) -> Take {
        let mut s = self.state.lock();
        match s.ready.take() {
            Some((st, Ok(seg))) if st == start => {
                s.handed = Some(start);
                self.want(&mut s, start + self.file_size);
                Take::Ready(seg)
            }
            Some((st, Err(e))) if st == start => Take::Failed(e),
            other => {
                if let Some((_, Ok(stale))) = other {
                    // A spare for an offset we no longer need: nobody maps it, remove the file.
                    let _ = std::fs::remove_file(stale.path());
                }
                self.want(&mut s, start);
                Take::NotReady
            }
        }
    }

    /// Asks for `start` and returns a receiver completed when a result for it is ready.
    pub fn wait_ready(&self, start: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut s = self.state.lock();
        // Already handed out: the caller retries and finds the log past it.
        let taken = s.handed.is_some_and(|h| start <= h);
        if s.stop || taken || matches!(&s.ready, Some((st, _)) if *st == start) {
            let _ = tx.send(());
        } else {
            s.waiters.push(tx);
            if s.ready.is_none() {
                self.want(&mut s, start);
            }
        }
        rx
    }

    /// Requests a spare without waiting (after open).
    pub fn prefetch(&self, start: u64) {
        let mut s = self.state.lock();
        if s.ready.is_none() {
            self.want(&mut s, start);
        }
    }

    pub fn stop(&self) {
        let mut s = self.state.lock();
        s.stop = true;
        for w in s.waiters.drain(..) {
            let _ = w.send(());
        }
        self.cv.notify_all();
    }

    /// The allocator thread's loop.
    pub fn run(&self) {
        loop {
            let start = {
                let mut s = self.state.lock();
                loop {
                    if s.stop {
                        return;
                    }
                    if let Some(w) = s.wanted.take() {
                        if !matches!(&s.ready, Some((st, _)) if *st == w) {
                            s.in_progress = Some(w);
                            break w;
                        }
                    }
                    self.cv.wait(&mut s);
                }
            };
            let path = self.dir.join(offset_file_name(start));
            let res = MappedFile::create(&path, start, self.file_size)
                .map(|mut f| {
                    // Nobody writes a spare before it is taken, so its head can be zeroed freely.
                    let warmed = if self.unmapped_writes {
                        f = f.with_unmapped_writes();
                        let zeros = vec![0u8; self.warm.min(1 << 20) as usize];
                        f.write_zeros(0, self.warm, &zeros)
                            .and_then(|()| f.start_writeback(0, self.warm))
                    } else {
                        f.prefault(0, self.warm)
                    };
                    match warmed {
                        Ok(()) => f.mark_prepared(self.warm),
                        // Only a head start is lost: the writer does the work itself.
                        Err(e) => tracing::debug!("cannot pre-fault {}: {e}", path.display()),
                    }
                    if let Err(e) = f.sync_dir() {
                        // Some filesystems refuse a directory fsync; only power-loss safety of
                        // the new name is weaker then.
                        tracing::debug!("cannot fsync the directory of {}: {e}", path.display());
                    }
                    Arc::new(f)
                })
                .map_err(|e| format!("cannot create commitlog segment {}: {e}", path.display()));
            if let Err(e) = &res {
                tracing::warn!("{e}");
            }
            let mut s = self.state.lock();
            s.in_progress = None;
            if let Some((_, Ok(stale))) = s.ready.take() {
                let _ = std::fs::remove_file(stale.path());
            }
            s.ready = Some((start, res));
            for w in s.waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::test_util::wait_until;

    const FS: u64 = 64 << 10;

    /// Waits until the allocator has nothing wanted or in progress.
    fn settle(a: &Allocator) {
        wait_until("the allocator never settled", || {
            let s = a.state.lock();
            s.wanted.is_none() && s.in_progress.is_none()
        });
    }

    fn take_ready(a: &Allocator, start: u64) -> Arc<MappedFile> {
        let mut got = None;
        wait_until(&format!("{start} never became ready"), || {
            match a.take(start) {
                Take::Ready(seg) => {
                    got = Some(seg);
                    true
                }
                Take::Failed(e) => panic!("creating {start} failed: {e}"),
                Take::NotReady => false,
            }
        });
        got.expect("taken")
    }

    /// An appender that asks for a segment another appender has already taken (it found none,
    /// then waited while the other one switched to it) must not get it created again: that
    /// renamed a zero file over the live segment and then deleted it and the next spare.
    #[test]
    fn a_start_already_handed_out_is_never_created_again() {
        let dir = tempfile::tempdir().unwrap();
        let a = Arc::new(Allocator::new(dir.path().to_path_buf(), FS, false, 0));
        let runner = {
            let a = Arc::clone(&a);
            std::thread::spawn(move || a.run())
        };
        a.prefetch(0);
        let seg0 = take_ready(&a, 0);
        let inode = std::fs::metadata(seg0.path()).unwrap().ino();
        // The late appender's request for segment 0 completes at once and wants nothing.
        let mut late = a.wait_ready(0);
        settle(&a);
        assert_eq!(
            std::fs::metadata(seg0.path()).unwrap().ino(),
            inode,
            "the live segment was replaced"
        );
        assert!(
            late.try_recv().is_ok(),
            "a handed-out start is reported ready"
        );
        let seg1 = take_ready(&a, FS);
        assert_eq!(seg1.start(), FS);
        assert!(seg0.path().exists() && seg1.path().exists());
        a.stop();
        runner.join().unwrap();
    }
}
