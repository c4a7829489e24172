//! The prefault thread: keeps the CommitLog pages just ahead of the write position faulted in, so
//! the put path (which writes under the put lock) does not take the page faults and the kernel's
//! zero-fill of fresh page-cache pages itself. Profiles before this thread showed that first-touch
//! work at 25–38 % of the put path's CPU. It does the same for the ConsumeQueues the put path
//! hands it (`ConsumeQueue::prefault_ahead`), also when the CommitLog is written with `O_DIRECT`
//! and has no pages to fault.
//!
//! Segments written with mapped copies (ASYNC_FLUSH) get `MappedFile::prefault`, which changes no
//! byte of any file. Segments written with pwrite (SYNC_FLUSH) get real zeros written ahead of the
//! writer (`MappedFile::write_zeros`, RocketMQ's warmMappedFile done incrementally): that fills
//! the page cache *and* turns the fallocated, unwritten extents into written ones before records
//! arrive, so each group-commit fdatasync writes data only instead of data plus an extent change
//! (measured with a 64 KiB write + fdatasync loop: about 140 µs instead of 250 µs per flush). It
//! costs a second write of every byte of the log, in the background. The zeros go out in 64 KiB
//! `pwrite`s (`ZERO_STEP`): a buffered write holds the inode lock that the put path's record
//! `pwrite` needs, so one long zero write would stall the put lock.
//!
//! Zeros must never land on a record. `ZeroFence` keeps the two apart: the put path announces
//! the end of what it is about to write (`before_write`, under the put lock) and the zeroer claims
//! a chunk only if it lies wholly beyond that end; a put that would write into a claimed chunk
//! waits until the chunk's zeros are written (SeqCst on both sides, so at least one of them sees
//! the other). Zeros are only ever written to bytes past every record, which are zero already, so
//! pre-faulting still cannot change what is stored, recovered or read.
//!
//! Invariants: the thread holds an `Arc` of the segment it
//! works on, so a segment deleted by retention (or a stale spare removed by the allocator) stays
//! mapped until the thread lets go, and a pre-fault of it is harmless; segments are fully allocated
//! before they are mapped, so pre-faulting can neither hit ENOSPC nor SIGBUS (failures come back as
//! errors and only cost the head start). It checks the stop flag between chunks, so shutdown waits
//! for at most one chunk.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use crate::store::Inner;

const PAGE: u64 = 4096;

/// Keeps zeros written ahead of the writer off the records (module comment).
pub(crate) struct ZeroFence {
    /// Absolute CommitLog end of the bytes the put path has written or is about to write.
    reserved: AtomicU64,
    /// Start of the chunk being zeroed, `u64::MAX` when none.
    claim: AtomicU64,
    /// Held by the zeroer while it writes a claimed chunk.
    busy: Mutex<()>,
}

impl ZeroFence {
    pub fn new(end: u64) -> ZeroFence {
        ZeroFence {
            reserved: AtomicU64::new(end),
            claim: AtomicU64::new(u64::MAX),
            busy: Mutex::new(()),
        }
    }

    /// Put path, before writing bytes below the absolute offset `end`: announces them and waits
    /// for a zeroing chunk they would overlap.
    pub fn before_write(&self, end: u64) {
        self.reserved.fetch_max(end, Ordering::SeqCst);
        if end > self.claim.load(Ordering::SeqCst) {
            drop(self.busy.lock());
        }
    }

    /// Where the put path has announced writing up to.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::SeqCst)
    }

    /// Zeroer: claims the chunk starting at the absolute offset `from` (page-aligned) if every
    /// announced write ends at or before it. The chunk is owned until the guard is released.
    fn claim(&self, from: u64) -> Option<ClaimGuard<'_>> {
        let busy = self.busy.lock();
        self.claim.store(from, Ordering::SeqCst);
        if self.reserved.load(Ordering::SeqCst) > from {
            self.claim.store(u64::MAX, Ordering::SeqCst);
            return None;
        }
        Some(ClaimGuard {
            fence: self,
            _busy: busy,
        })
    }
}

struct ClaimGuard<'a> {
    fence: &'a ZeroFence,
    _busy: MutexGuard<'a, ()>,
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        // Cleared before `busy` is released (fields drop after this body).
        self.fence.claim.store(u64::MAX, Ordering::SeqCst);
    }
}

/// Pre-faulted per madvise call: large enough to amortise the syscall, small enough that the stop
/// flag is checked every millisecond or so.
const CHUNK: u64 = 1 << 20;
/// Bytes of zeros per `pwrite`. A buffered write holds the inode's lock (`i_rwsem`) for the whole
/// copy, and the put path's record `pwrite` (under the put lock) needs the same lock: with 1 MiB
/// zero writes, profiles of 64 SYNC_FLUSH appenders showed the writers spinning on it
/// (`rwsem_spin_on_owner`, 5 % of all CPU) while every appender waited behind the put lock.
const ZERO_STEP: usize = 64 << 10;
/// Poll period while the mapped CommitLog's writer is moving or queues keep asking; doubled
/// while idle, up to `IDLE_MAX`. A queue's request also wakes the thread at once.
const ACTIVE_POLL: Duration = Duration::from_millis(1);
const IDLE_MAX: Duration = Duration::from_millis(32);

/// What the thread has done so far (tests look at it).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PrefaultStats {
    /// CommitLog bytes pre-faulted or zeroed.
    pub bytes: u64,
    /// ConsumeQueue bytes pre-faulted.
    pub queue_bytes: u64,
    /// Of `bytes`, bytes zeroed ahead of a pwrite writer.
    pub zeroed: u64,
    /// Zeroing chunks skipped because the writer had already reached them.
    pub fenced: u64,
    /// madvise / fadvise / pwrite calls that failed.
    pub failures: u64,
    /// Times the thread woke and looked for work (each a timer or an `unpark`).
    pub rounds: u64,
}

/// The prefault thread's loop; returns when the store stops or pre-faulting is not supported.
pub(crate) fn run_prefault(inner: &Arc<Inner>) {
    let window = inner.cfg.prefault_window;
    if window == 0 {
        return;
    }
    let _ = inner.prefault_thread.set(std::thread::current());
    if let Some(wb) = &inner.cl.wb {
        wb.warm(|| inner.stopper.is_stopped());
    }
    // Absolute CommitLog offset up to which pages are known to be faulted in.
    let mut ahead = 0u64;
    // calloc'ed: reading it for pwrite maps the shared zero page, no resident memory.
    let zeros = vec![0u8; ZERO_STEP];
    let mut last_end = u64::MAX;
    let mut idle = ACTIVE_POLL;
    loop {
        if inner.stopper.is_stopped() {
            return;
        }
        inner.prefault_stats.lock().rounds += 1;
        let end = inner.cl.max_phys();
        let mut worked = prefault_queues(inner);
        // With direct writes the CommitLog makes no page-cache pages: only queues need the thread.
        let mapped = inner.cl.wb.is_none();
        if let Some(seg) = inner.cl.segment_for(end).filter(|_| mapped) {
            // Never past the segment: the next one is warmed by the allocator when it is created.
            let want = end.saturating_add(window).min(seg.end());
            let zero = seg.unmapped_writes();
            let mut from = ahead.max(end).max(seg.start() + seg.prepared());
            if zero {
                // A page of margin past everything the writer announced, on a page boundary.
                let floor = inner.zero_fence.reserved().max(end).div_ceil(PAGE) * PAGE + PAGE;
                from = from.max(floor);
            }
            while from < want {
                if inner.stopper.is_stopped() {
                    return;
                }
                let n = CHUNK.min(want - from);
                let res = if zero {
                    let Some(claim) = inner.zero_fence.claim(from) else {
                        // The writer got here first; try again further on at the next poll.
                        inner.prefault_stats.lock().fenced += 1;
                        break;
                    };
                    let r = seg.write_zeros(from - seg.start(), n, &zeros);
                    // Released before the writeback is started, which can block on a busy disk;
                    // records written over the zeros meanwhile are just written back early.
                    drop(claim);
                    r.and_then(|()| seg.start_writeback(from - seg.start(), n))
                } else {
                    seg.prefault(from - seg.start(), n)
                };
                match res {
                    Ok(()) => {
                        seg.mark_prepared(from + n - seg.start());
                        let mut st = inner.prefault_stats.lock();
                        st.bytes += n;
                        if zero {
                            st.zeroed += n;
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        tracing::info!(
                            "pre-faulting is not supported here ({e}); the writer faults CommitLog pages in itself"
                        );
                        return;
                    }
                    Err(e) => {
                        // Give up on this window rather than retry it every poll; the writer
                        // faults these pages in itself.
                        inner.prefault_stats.lock().failures += 1;
                        tracing::debug!("pre-faulting {} failed: {e}", seg.path().display());
                        from = want;
                        break;
                    }
                }
                from += n;
                worked = true;
            }
            ahead = from;
        }
        // With direct writes a moving log needs nothing from this thread, and queues wake it
        // when they ask: polling every millisecond then only cost a timer wake-up each time
        // (about 700 a second, 2 % of a CPU, in an e2e run at 20,000 msgs/s).
        let moved = mapped && end != last_end;
        last_end = end;
        idle = if worked || moved {
            ACTIVE_POLL
        } else {
            (idle * 2).min(IDLE_MAX)
        };
        // Woken early by a queue's request (`Inner::prefault_thread`) or by the store stopping.
        std::thread::park_timeout(idle);
        if inner.stopper.is_stopped() {
            return;
        }
    }
}

/// Faults in the pages ahead of every queue that asked (`ConsumeQueue::wants_prefault`); true
/// if there was any.
fn prefault_queues(inner: &Inner) -> bool {
    let queues = std::mem::take(&mut *inner.cq_prefault.lock());
    for q in &queues {
        match q.prefault_ahead() {
            Ok(n) => inner.prefault_stats.lock().queue_bytes += n,
            Err(e) => {
                inner.prefault_stats.lock().failures += 1;
                tracing::debug!("pre-faulting {} failed: {e}", q.dir().display());
            }
        }
    }
    !queues.is_empty()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use crate::test_util::{rt, wait_at_least};
    use crate::{FlushDiskType, GetStatus, MessageStore, MessageToStore, PutStatus, StoreConfig};

    fn config(dir: &Path, seg: u64, window: u64, flush: FlushDiskType) -> StoreConfig {
        let mut c = crate::test_util::small_store(dir, seg, flush);
        c.prefault_window = window;
        // Pre-faulting is for mapped writes; direct writes make no page-cache pages.
        c.direct_write = false;
        c
    }

    fn msg(queue: i32, seq: u32, len: usize) -> MessageToStore {
        crate::test_util::msg("PF", queue, seq, len)
    }

    /// CommitLog bytes the prefault thread has done, once at least `at_least` (bounded wait).
    fn wait_prefaulted(store: &MessageStore, at_least: u64) -> u64 {
        wait_at_least(at_least, || store.prefault_stats().bytes)
    }

    #[test]
    fn the_window_ahead_of_the_writer_is_faulted_in() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(config(
            dir.path(),
            4 << 20,
            1 << 20,
            FlushDiskType::AsyncFlush,
        ))
        .unwrap();
        // Fresh store: the thread faults in the window after the (empty) log end.
        assert!(wait_prefaulted(&store, 1 << 20) >= 1 << 20);
        let r = rt().block_on(async {
            for i in 0..300 {
                let r = store.put(msg(0, i, 4000)).await;
                assert_eq!(r.status, PutStatus::PutOk);
            }
            store.put(msg(0, 300, 10)).await
        });
        assert_eq!(r.status, PutStatus::PutOk);
        // The writer moved about 1.2 MiB: the thread followed it.
        assert!(wait_prefaulted(&store, 2 << 20) >= 2 << 20);
        assert_eq!(store.prefault_stats().failures, 0);
        store.shutdown().unwrap();
    }

    /// The thread faults in the pages ahead of the queues the put path hands it, whether the
    /// CommitLog is mapped, pwritten (SYNC_FLUSH) or written directly; with direct writes it
    /// makes the whole write-behind ring before any put needs it.
    #[test]
    fn queues_and_the_write_behind_ring_are_prepared_in_every_mode() {
        for (flush, direct) in [
            (FlushDiskType::AsyncFlush, false),
            (FlushDiskType::SyncFlush, false),
            (FlushDiskType::AsyncFlush, true),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut c = config(dir.path(), 8 << 20, 1 << 20, flush);
            c.direct_write = direct;
            c.write_buffer_bytes = 16 << 20;
            c.cq_entries_per_file = 100_000;
            let store = MessageStore::open(c).unwrap();
            if direct {
                wait_at_least(4, || store.write_behind_stats().unwrap().chunks);
                // 16 MiB of 4 MiB chunks, made before the first put.
                assert_eq!(store.write_behind_stats().unwrap().chunks, 4);
            }
            rt().block_on(async {
                for i in 0..20u32 {
                    let m = msg((i % 2) as i32, i, 500);
                    assert_eq!(store.put(m).await.status, PutStatus::PutOk);
                }
            });
            let want = 2 * crate::consume_queue::PREFAULT_AHEAD;
            wait_at_least(want, || store.prefault_stats().queue_bytes);
            // Two queues, each faulted a window ahead of its ten entries. A put that read the
            // faulted end just before the thread recorded the new one may still ask again (the
            // check and the ask are two steps); that second round only extends the window by
            // the entries written in between, at most the queue's 10 × 20 bytes.
            let got = store.prefault_stats().queue_bytes;
            assert!(
                (want..=want + 2 * 10 * 20).contains(&got),
                "{flush:?} direct={direct}: {got} bytes faulted ahead, want {want} (+ at most 400)"
            );
            assert_eq!(store.prefault_stats().failures, 0);
            if direct {
                // The puts took chunks from the ring made ahead; none was allocated for them.
                assert_eq!(store.write_behind_stats().unwrap().chunks, 4);
            }
            store.shutdown().unwrap();
        }
    }

    /// With direct writes a moving log gives the thread nothing to do, so a steady trickle of
    /// puts lets it back off to `IDLE_MAX` instead of waking every millisecond (the queue's first
    /// request is served before the count starts).
    #[test]
    fn a_moving_log_with_direct_writes_does_not_keep_the_thread_polling() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path(), 8 << 20, 1 << 20, FlushDiskType::AsyncFlush);
        c.direct_write = true;
        c.write_buffer_bytes = 16 << 20;
        c.cq_entries_per_file = 100_000;
        let store = MessageStore::open(c).unwrap();
        wait_at_least(4, || store.write_behind_stats().unwrap().chunks);
        let rt = rt();
        assert_eq!(
            rt.block_on(store.put(msg(0, 0, 500))).status,
            PutStatus::PutOk
        );
        wait_at_least(crate::consume_queue::PREFAULT_AHEAD, || {
            store.prefault_stats().queue_bytes
        });
        let before = store.prefault_stats().rounds;
        let started = std::time::Instant::now();
        for i in 1..=100u32 {
            assert_eq!(
                rt.block_on(store.put(msg(0, i, 500))).status,
                PutStatus::PutOk
            );
            std::thread::sleep(Duration::from_millis(3));
        }
        let rounds = store.prefault_stats().rounds - before;
        // Polling every millisecond while the log moves would be one round per millisecond
        // slept (300 or more); backing off to 32 ms makes about one per 32 ms.
        let elapsed_ms = started.elapsed().as_millis() as u64;
        assert!(
            rounds * 8 < elapsed_ms,
            "{rounds} rounds in {elapsed_ms} ms of trickling puts"
        );
        store.shutdown().unwrap();
    }

    #[test]
    fn zero_window_turns_prefaulting_off() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            MessageStore::open(config(dir.path(), 1 << 20, 0, FlushDiskType::AsyncFlush)).unwrap();
        rt().block_on(async {
            for i in 0..50 {
                assert_eq!(store.put(msg(0, i, 1000)).await.status, PutStatus::PutOk);
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(store.prefault_stats().bytes, 0);
        store.shutdown().unwrap();
    }

    #[test]
    fn sync_flush_segments_use_unmapped_writes_including_rolled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 64 * 1024, 32 * 1024, FlushDiskType::SyncFlush);
        let store = MessageStore::open(cfg.clone()).unwrap();
        rt().block_on(async {
            for i in 0..200 {
                assert_eq!(store.put(msg(1, i, 1500)).await.status, PutStatus::PutOk);
            }
        });
        let segs = store.test_inner().cl.segments.read().clone();
        assert!(
            segs.len() >= 4,
            "expected roll-overs, got {} segments",
            segs.len()
        );
        assert!(segs.iter().all(|s| s.unmapped_writes()));
        store.shutdown().unwrap();
        drop(store);
        // Reopened segments are written with pwrite as well; async stores write through the map.
        let store = MessageStore::open(cfg.clone()).unwrap();
        assert!(store
            .test_inner()
            .cl
            .segments
            .read()
            .iter()
            .all(|s| s.unmapped_writes()));
        let r = store.get_messages("PF", 1, 0, 500, u32::MAX, None);
        assert_eq!(r.messages.len(), 200);
        store.shutdown().unwrap();
        drop(store);
        let mut a = cfg;
        a.flush_disk_type = FlushDiskType::AsyncFlush;
        let store = MessageStore::open(a).unwrap();
        assert!(!store
            .test_inner()
            .cl
            .segments
            .read()
            .iter()
            .any(|s| s.unmapped_writes()));
        store.shutdown().unwrap();
    }

    /// Pre-faulting runs while segments roll over every few puts and retention deletes the old
    /// ones under it; every record still reads back byte for byte, before and after a reopen.
    #[test]
    fn prefault_races_with_rollover_and_retention() {
        for flush in [FlushDiskType::AsyncFlush, FlushDiskType::SyncFlush] {
            let dir = tempfile::tempdir().unwrap();
            let mut cfg = config(dir.path(), 64 * 1024, 256 * 1024, flush);
            cfg.delete_when = (0..24).collect();
            cfg.file_reserved_time = Duration::from_secs(1);
            let store = std::sync::Arc::new(MessageStore::open(cfg.clone()).unwrap());
            let runtime = rt();
            let deleted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let cleaner = {
                let (store, deleted, stop) = (store.clone(), deleted.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        // "Now" far in the future: every closed segment is expired.
                        let n = store.delete_expired_files(
                            SystemTime::now() + Duration::from_secs(3600 * 24 * 30),
                        );
                        deleted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            };
            runtime.block_on(async {
                let mut hs = Vec::new();
                for q in 0..4 {
                    let store = store.clone();
                    hs.push(tokio::spawn(async move {
                        for i in 0..400u32 {
                            let r = store.put(msg(q, i, 700 + (i as usize * 37) % 900)).await;
                            assert_eq!(r.status, PutStatus::PutOk);
                        }
                    }));
                }
                for h in hs {
                    h.await.unwrap();
                }
            });
            stop.store(true, std::sync::atomic::Ordering::Release);
            cleaner.join().unwrap();
            assert!(deleted.load(std::sync::atomic::Ordering::Relaxed) > 0);
            let check = |store: &MessageStore| {
                for q in 0..4 {
                    let (min, max) = (store.min_offset("PF", q), store.max_offset("PF", q));
                    assert_eq!(max, 400);
                    let mut o = min;
                    while o < max {
                        let r = store.get_messages("PF", q, o, 64, u32::MAX, None);
                        assert_eq!(r.status, GetStatus::Found, "queue {q} offset {o}");
                        for (k, b) in r.messages.iter().enumerate() {
                            let m = crate::decode_record(b).unwrap();
                            let i = (o as usize + k) as u32;
                            assert_eq!(
                                m.body(),
                                &msg(q, i, 700 + (i as usize * 37) % 900).body[..]
                            );
                        }
                        o = r.next_begin_offset;
                    }
                }
            };
            check(&store);
            let stats = store.prefault_stats();
            assert_eq!(stats.failures, 0);
            if flush == FlushDiskType::SyncFlush {
                // pwrite segments get zeros written ahead of the writer, racing with it.
                assert!(stats.zeroed > 0, "{stats:?}");
            } else {
                assert_eq!(stats.zeroed, 0);
            }
            store.shutdown().unwrap();
            drop(store);
            let store = MessageStore::open(cfg).unwrap();
            check(&store);
            store.shutdown().unwrap();
        }
    }

    #[test]
    fn zero_fence_refuses_a_chunk_the_writer_reached() {
        let f = super::ZeroFence::new(10_000);
        assert!(f.claim(8192).is_none());
        assert!(f.claim(12_288).is_some());
        f.before_write(20_000);
        assert!(f.claim(16_384).is_none());
        assert_eq!(f.reserved(), 20_000);
        // Announcements never move back.
        f.before_write(100);
        assert_eq!(f.reserved(), 20_000);
    }

    #[test]
    fn a_write_into_a_claimed_chunk_waits_for_its_zeros() {
        use std::sync::{mpsc, Arc, Mutex};
        let f = Arc::new(super::ZeroFence::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let claim = f.claim(4096).unwrap();
        // A write that ends before the claimed chunk does not wait.
        let (tx, rx) = mpsc::channel();
        {
            let f = f.clone();
            std::thread::spawn(move || {
                f.before_write(4096);
                tx.send(()).unwrap();
            });
        }
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a write below the claim must not wait");
        let writer = {
            let (f, log) = (f.clone(), log.clone());
            std::thread::spawn(move || {
                f.before_write(5000);
                log.lock().unwrap().push("write");
            })
        };
        log.lock().unwrap().push("zeros done");
        drop(claim);
        writer.join().unwrap();
        assert_eq!(*log.lock().unwrap(), vec!["zeros done", "write"]);
        // And the zeroer may not claim below what that writer announced.
        assert!(f.claim(4096).is_none());
    }

    /// Shutdown (and a simulated crash: drop without shutdown) while the thread is busy faulting
    /// in a large window: both return, and the store reopens with everything acknowledged.
    #[test]
    fn shutdown_and_crash_while_prefaulting() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 32 << 20, 32 << 20, FlushDiskType::AsyncFlush);
        let runtime = rt();
        let mut expect = 0i64;
        for round in 0..6 {
            let store = MessageStore::open(cfg.clone()).unwrap();
            runtime.block_on(async {
                for i in 0..20 {
                    assert_eq!(store.put(msg(0, i, 3000)).await.status, PutStatus::PutOk);
                }
            });
            expect += 20;
            if round % 2 == 0 {
                store.shutdown().unwrap();
            } else {
                // Everything acknowledged is in the page cache: a dropped (crashed) store keeps it.
                drop(store);
                continue;
            }
            drop(store);
        }
        let store = MessageStore::open(cfg).unwrap();
        assert_eq!(store.max_offset("PF", 0), expect);
        assert_eq!(
            store
                .get_messages("PF", 0, 0, 1000, u32::MAX, None)
                .messages
                .len() as i64,
            expect
        );
        store.shutdown().unwrap();
    }
}
