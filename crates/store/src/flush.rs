//! CommitLog flushing. ASYNC_FLUSH: one thread wakes every `flush_interval` and flushes when at
//! least `flush_least_pages` pages are dirty, or everything every `flush_thorough_interval`.
//! SYNC_FLUSH: group commit. Appenders enqueue (end offset, oneshot) after their record is
//! staged (`stage.rs`); the one flush thread takes every queued waiter, writes everything staged
//! with one pwrite (which covers all of them), issues one msync up to the new end of the log and
//! completes them together, so N concurrent appenders cost one write and one disk flush, not N.
//!
//! Records stored with WAIT=false under SYNC_FLUSH queue no waiter; the group-commit thread flushes
//! them within 10 ms anyway (RocketMQ does the same).
//!
//! Invariant: a waiter is completed with `true` only if `flushed >= its end offset`; on an I/O
//! error or at shutdown without a successful flush it gets `false` (reported as FlushDiskTimeout).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::store::Inner;

const PAGE: u64 = 4096;
/// SYNC_FLUSH: how often an idle group-commit thread flushes records nobody waits for.
const IDLE_FLUSH: Duration = Duration::from_millis(10);
/// Longest a group-commit round waits for the previous round's appenders to re-join.
const GATHER_MAX: Duration = Duration::from_micros(500);

/// Stop signal shared by the background threads, with interruptible sleeps.
pub(crate) struct Stopper {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Stopper {
    pub fn new() -> Stopper {
        Stopper {
            stopped: Mutex::new(false),
            cv: Condvar::new(),
        }
    }
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }
    /// Sleeps up to `d`; true if the store is stopping.
    pub fn sleep(&self, d: Duration) -> bool {
        let mut s = self.stopped.lock();
        if !*s {
            self.cv.wait_for(&mut s, d);
        }
        *s
    }
}

#[derive(Default)]
struct Queue {
    waiters: Vec<(u64, oneshot::Sender<bool>)>,
    stop: bool,
    /// Queue length at which `enqueue` wakes the waiting flush thread. While it gathers a group
    /// this is the group size it waits for: waking it for every single appender cost a futex
    /// wake and a context switch per put.
    wake_at: usize,
}

/// The SYNC_FLUSH request queue.
pub(crate) struct GroupCommit {
    q: Mutex<Queue>,
    cv: Condvar,
}

impl GroupCommit {
    pub fn new() -> GroupCommit {
        GroupCommit {
            q: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        }
    }

    /// Queues a waiter for `end`; the receiver yields true once it is durable.
    pub fn enqueue(&self, end: u64) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let mut q = self.q.lock();
        if q.stop {
            let _ = tx.send(false);
        } else {
            q.waiters.push((end, tx));
            if q.waiters.len() >= q.wake_at {
                self.cv.notify_one();
            }
        }
        rx
    }

    pub fn stop(&self) {
        self.q.lock().stop = true;
        self.cv.notify_all();
    }

    /// The group-commit thread: flush for everyone queued, complete them, repeat.
    pub fn run(&self, inner: &Arc<Inner>) {
        let mut batch = Vec::new();
        let mut last_len = 1usize;
        loop {
            let stopping = {
                let mut q = self.q.lock();
                // Puts with WAIT=false do not queue a waiter; like RocketMQ's GroupCommitService, an
                // idle round still flushes whatever they wrote, every IDLE_FLUSH.
                q.wake_at = 1;
                while q.waiters.is_empty() && !q.stop {
                    if self.cv.wait_for(&mut q, IDLE_FLUSH).timed_out()
                        && (inner.cl.max_phys() > inner.cl.flushed() || inner.staged_len() > 0)
                    {
                        break;
                    }
                }
                // The appenders completed by the previous flush come back a few microseconds apart;
                // give them a moment (bounded) to join, so one flush serves the whole group instead
                // of alternating between a tiny and a large batch.
                let woke = Instant::now();
                q.wake_at = last_len;
                while q.waiters.len() < last_len && !q.stop && woke.elapsed() < GATHER_MAX {
                    self.cv.wait_for(&mut q, GATHER_MAX);
                }
                std::mem::swap(&mut batch, &mut q.waiters);
                q.stop
            };
            last_len = batch.len().max(1);
            // Every waiter in `batch` staged its records before it queued, so this one write
            // covers all of them (stage.rs); appenders stage the next round's meanwhile.
            let res = inner
                .drain_staged()
                .map_err(|e| ("write", e))
                .and_then(|()| {
                    inner
                        .cl
                        .flush_to(inner.cl.max_phys())
                        .map_err(|e| ("flush", e))
                });
            let ok = match res {
                Ok(()) => true,
                Err((step, e)) => {
                    tracing::error!(
                        "commitlog {step} failed: {e}; puts will report FlushDiskTimeout"
                    );
                    false
                }
            };
            let flushed = inner.cl.flushed();
            for (end, tx) in batch.drain(..) {
                let _ = tx.send(ok && flushed >= end);
            }
            if stopping {
                let mut q = self.q.lock();
                for (_, tx) in q.waiters.drain(..) {
                    let _ = tx.send(false);
                }
                return;
            }
        }
    }
}

/// The ASYNC_FLUSH thread.
pub(crate) fn run_async_flush(inner: &Arc<Inner>) {
    let cfg = &inner.cfg;
    let mut last_thorough = Instant::now();
    loop {
        if inner.stopper.sleep(cfg.flush_interval) {
            return;
        }
        let target = inner.cl.max_phys();
        let dirty = target.saturating_sub(inner.cl.flushed());
        let thorough = last_thorough.elapsed() >= cfg.flush_thorough_interval;
        if dirty == 0 || (!thorough && dirty < cfg.flush_least_pages as u64 * PAGE) {
            continue;
        }
        if thorough {
            last_thorough = Instant::now();
        }
        if let Err(e) = inner.cl.flush_to(target) {
            tracing::error!("commitlog flush failed: {e}; will retry");
        }
    }
}
