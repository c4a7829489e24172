//! Background creation of CommitLog segments (RocketMQ's AllocateMappedFileService) and warming of
//! the pages just ahead of the writer, so the put path never creates or fallocates a segment on a
//! tokio worker and rarely takes a page-cache-filling fault.
//!
//! Invariants: at most one creation is in flight and the same start offset is never created twice
//! while a mapping of it may be live; a finished result (segment or error) waits in `ready` until
//! the put path takes it; an error is handed to exactly one put and the next request retries.
//! Warming only read-faults pages (MADV_POPULATE_READ): it never dirties a page, so it adds no disk
//! writes, and it stays at most `WARM_AHEAD` bytes in front of the CommitLog end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::mapped_file::{offset_file_name, MappedFile};
use crate::store::Inner;

/// How far in front of the CommitLog end pages are kept faulted in.
const WARM_AHEAD: u64 = 64 << 20;
/// Largest range warmed in one step (keeps the thread responsive to allocation requests).
const WARM_STEP: u64 = 4 << 20;
/// How often the thread looks at the writer's position when it has nothing else to do.
const WARM_POLL: Duration = Duration::from_millis(10);

#[derive(Default)]
struct State {
    wanted: Option<u64>,
    in_progress: Option<u64>,
    ready: Option<(u64, Result<Arc<MappedFile>, String>)>,
    waiters: Vec<oneshot::Sender<()>>,
    stop: bool,
}

pub(crate) struct Allocator {
    dir: PathBuf,
    file_size: u64,
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
    pub fn new(dir: PathBuf, file_size: u64) -> Allocator {
        Allocator {
            dir,
            file_size,
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        }
    }

    fn want(&self, s: &mut State, start: u64) {
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
        if s.stop || matches!(&s.ready, Some((st, _)) if *st == start) {
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

    /// The segment holding `pos`: a live one, or the ready spare.
    fn segment_at(&self, inner: &Inner, pos: u64) -> Option<Arc<MappedFile>> {
        if let Some(seg) = inner.cl.segment_for(pos) {
            return Some(seg);
        }
        match &self.state.lock().ready {
            Some((_, Ok(seg))) if seg.start() <= pos && pos < seg.end() => Some(Arc::clone(seg)),
            _ => None,
        }
    }

    /// Read-faults up to one step of pages in `[max(warmed, end), end + WARM_AHEAD)`.
    /// Returns true if it did some work.
    fn warm_step(&self, inner: &Inner, warmed: &mut u64) -> bool {
        let end = inner.cl.max_phys();
        if *warmed < end {
            *warmed = end;
        }
        if *warmed >= end + WARM_AHEAD {
            return false;
        }
        let Some(seg) = self.segment_at(inner, *warmed) else {
            return false;
        };
        let stop = (*warmed + WARM_STEP).min(end + WARM_AHEAD).min(seg.end());
        seg.prefault_range(*warmed - seg.start(), stop - *warmed);
        *warmed = stop;
        true
    }

    /// The allocator thread's loop.
    pub fn run(&self, inner: &Inner) {
        let mut warmed = 0u64;
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
                            break Some(w);
                        }
                    }
                    drop(s);
                    if !self.warm_step(inner, &mut warmed) {
                        s = self.state.lock();
                        if s.wanted.is_none() && !s.stop {
                            self.cv.wait_for(&mut s, WARM_POLL);
                        }
                    } else {
                        s = self.state.lock();
                    }
                }
            };
            let Some(start) = start else { continue };
            let path = self.dir.join(offset_file_name(start));
            let res = MappedFile::create(&path, start, self.file_size)
                .map(Arc::new)
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
