//! SYNC_FLUSH write staging: the put path encodes records into one staging buffer under the put
//! lock, and `drain` writes everything staged with ONE `pwrite` right before a group-commit flush,
//! then publishes it. The alternative, one `pwrite` per put under the put lock, cost ~2 µs of
//! serialized time per record (an ext4 buffered write takes the inode lock, looks up and dirties
//! the page, updates mtime); with 64 appenders that was most of the time a round waits for its
//! appenders to come back. Copying 1 KiB into a `Vec` costs tens of nanoseconds, and one 64 KiB
//! `pwrite` per round replaces 64 small ones.
//!
//! Invariants:
//! - `Staged` holds the bytes of `[from, from + buf.len())`, and `from + buf.len()` is the put
//!   path's write position: every byte the put path has assigned but not yet handed to the file.
//!   All of it lies in one segment (`seg`): the put path moves to a new segment only when nothing
//!   is staged or being drained (`CommitLog::max_phys` has caught up with the write position),
//!   otherwise it drains first (`Outcome::NeedDrain` in `store.rs`).
//! - Staged records are invisible. `max_phys` and the queues' max offsets move only in `drain`,
//!   after the `pwrite` succeeded: the CommitLog end first, then each queue, in offset order. One
//!   drain runs at a time (the drain lock, taken before the put lock), so publication never
//!   overtakes a range that is still being written: readers see neither holes nor half records.
//! - ConsumeQueue entries of staged records are written at staging time but not published; the
//!   put path assigns queue offsets from `ConsumeQueue::next_offset`, which runs ahead.
//! - The zero fence (`prefault.rs`) is announced for staged bytes when they are staged, under the
//!   put lock, so the prefault thread's zeros cannot land on them whenever `drain` writes them.
//! - A failed `pwrite` publishes nothing and puts the bytes back in front of whatever was staged
//!   meanwhile; the round's waiters get FLUSH_DISK_TIMEOUT and the next drain retries the range.
//!   Once more than `MAX_STAGED` bytes wait, puts are refused (nothing stored) until writes work.
//! - A crash loses staged bytes. None of them was acknowledged: a SYNC_FLUSH put resolves only
//!   after the round that drained and flushed it, and a WAIT=false put drains before it returns.
//!   Recovery drops ConsumeQueue entries that point past the recovered log end.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::consume_queue::ConsumeQueue;
use crate::mapped_file::MappedFile;
use crate::store::Inner;

/// Puts are refused while more than this many bytes are staged (only when writes keep failing:
/// a healthy store drains every group-commit round).
pub(crate) const MAX_STAGED: usize = 64 << 20;
/// A drained buffer that grew past this (a large batch) is released instead of kept.
const MAX_KEPT: usize = 4 << 20;

/// What the put path has staged (lives in the put state, under the put lock).
#[derive(Default)]
pub(crate) struct Staged {
    /// Encoded records, contiguous, starting at CommitLog offset `from`.
    pub buf: Vec<u8>,
    pub from: u64,
    /// The segment `buf` belongs to.
    pub seg: Option<Arc<MappedFile>>,
    /// Queue max offsets to publish once `buf` is written, in put order.
    pub queues: Vec<(Arc<ConsumeQueue>, i64)>,
    /// Store timestamp of the newest staged record.
    pub ts: i64,
}

impl Staged {
    /// Starts staging at `from` in `seg` when nothing is staged.
    pub fn begin(&mut self, from: u64, seg: &Arc<MappedFile>) {
        if self.buf.is_empty() {
            self.from = from;
            if !self.seg.as_ref().is_some_and(|s| Arc::ptr_eq(s, seg)) {
                self.seg = Some(Arc::clone(seg));
            }
        }
    }

    /// Notes that `q`'s entries below `max` become visible with the bytes staged so far.
    pub fn publish_later(&mut self, q: &Arc<ConsumeQueue>, max: i64) {
        match self.queues.last_mut() {
            Some((last, m)) if Arc::ptr_eq(last, q) => *m = max,
            _ => self.queues.push((Arc::clone(q), max)),
        }
    }
}

/// Buffers the drain swaps in for the put path's, so staging goes on while a drain writes.
/// Guarded by the drain lock.
#[derive(Default)]
pub(crate) struct Spare {
    buf: Vec<u8>,
    queues: Vec<(Arc<ConsumeQueue>, i64)>,
}

impl Inner {
    /// Writes everything staged to its segment with one `pwrite` and publishes it (module
    /// comment). Returns once the bytes staged before the call are visible, or the write error.
    pub(crate) fn drain_staged(&self) -> io::Result<()> {
        let mut spare = self.drain_lock.lock();
        let (from, seg, ts) = {
            let mut st = self.put.lock();
            let stage = &mut st.stage;
            if stage.buf.is_empty() {
                return Ok(());
            }
            std::mem::swap(&mut stage.buf, &mut spare.buf);
            std::mem::swap(&mut stage.queues, &mut spare.queues);
            let from = stage.from;
            stage.from = from + spare.buf.len() as u64;
            (from, stage.seg.clone(), stage.ts)
        };
        let res = match &seg {
            #[cfg(test)]
            Some(_)
                if self
                    .test_fail_drains
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok() =>
            {
                Err(io::Error::other("injected write failure"))
            }
            Some(seg) if from >= seg.start() => seg.pwrite(from - seg.start(), &spare.buf),
            _ => Err(io::Error::other(
                "staged commitlog bytes without their segment (a bug); restart the store",
            )),
        };
        if let Err(e) = res {
            let mut st = self.put.lock();
            let stage = &mut st.stage;
            spare.buf.extend_from_slice(&stage.buf);
            std::mem::swap(&mut stage.buf, &mut spare.buf);
            spare.buf.clear();
            spare.queues.append(&mut stage.queues);
            std::mem::swap(&mut stage.queues, &mut spare.queues);
            stage.from = from;
            return Err(e);
        }
        self.cl.last_store_ts.store(ts, Ordering::Release);
        self.cl.publish(from + spare.buf.len() as u64);
        for (q, max) in spare.queues.drain(..) {
            q.publish(max);
        }
        spare.buf.clear();
        if spare.buf.capacity() > MAX_KEPT {
            spare.buf = Vec::new();
        }
        Ok(())
    }

    /// Bytes staged and not yet taken by a drain.
    pub(crate) fn staged_len(&self) -> usize {
        self.put.lock().stage.buf.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use crate::message::PreparedRecord;
    use crate::store::Outcome;
    use crate::{
        decode_record, FlushDiskType, GetStatus, MessageStore, MessageToStore, PutStatus,
        StoreConfig,
    };

    fn config(dir: &Path) -> StoreConfig {
        crate::test_util::small_store(dir, 64 * 1024, FlushDiskType::SyncFlush)
    }

    fn msg(seq: u32, len: usize) -> MessageToStore {
        MessageToStore::new("ST", 0, vec![seq as u8; len])
    }

    /// Stages one record through the put path without waiting for a flush.
    fn stage(store: &MessageStore, m: &MessageToStore) -> Outcome {
        let inner = store.test_inner();
        let rec = PreparedRecord::new(m.as_ref(), &inner.cfg.store_host);
        let len = rec.len;
        inner.try_append(&[rec], len)
    }

    fn staged_at(o: Outcome) -> (u64, i64) {
        match o {
            Outcome::Done {
                phys,
                queue_offset,
                staged: true,
                ..
            } => (phys, queue_offset),
            _ => panic!("record was not staged"),
        }
    }

    fn body_at(store: &MessageStore, phys: u64) -> Option<Vec<u8>> {
        let b = store.message_by_phys_offset(phys as i64)?;
        Some(decode_record(&b).unwrap().body().to_vec())
    }

    /// Opens a SYNC_FLUSH store with one flushed record, then stops its threads so nothing
    /// drains behind the test's back.
    fn store_with_one_record(dir: &Path) -> MessageStore {
        let store = MessageStore::open(config(dir)).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(store.put(msg(0, 100))).status, PutStatus::PutOk);
        store.test_stop_threads();
        store
    }

    #[test]
    fn staged_records_stay_invisible_until_drained() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_one_record(dir.path());
        let end = store.max_phys_offset();
        let staged: Vec<(u64, i64)> = (1..4)
            .map(|i| staged_at(stage(&store, &msg(i, 100))))
            .collect();
        // Queue offsets keep counting while nothing is published.
        assert_eq!(staged.iter().map(|s| s.1).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(staged[0].0, end as u64);
        assert_eq!(store.max_phys_offset(), end);
        assert_eq!(store.max_offset("ST", 0), 1);
        assert_eq!(
            store.get_messages("ST", 0, 1, 32, 1 << 20, None).status,
            GetStatus::OffsetOverflowOne
        );
        assert!(body_at(&store, staged[0].0).is_none());

        store.test_inner().drain_staged().unwrap();
        assert_eq!(store.max_offset("ST", 0), 4);
        let got = store.get_messages("ST", 0, 1, 32, 1 << 20, None);
        assert_eq!(got.status, GetStatus::Found);
        assert_eq!(got.messages.len(), 3);
        for (i, (phys, _)) in staged.iter().enumerate() {
            assert_eq!(body_at(&store, *phys).unwrap(), vec![i as u8 + 1; 100]);
        }
        assert_eq!(store.test_inner().staged_len(), 0);
    }

    #[test]
    fn a_failed_drain_publishes_nothing_and_the_next_one_writes_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_one_record(dir.path());
        let end = store.max_phys_offset();
        let first = staged_at(stage(&store, &msg(1, 200)));
        store
            .test_inner()
            .test_fail_drains
            .store(1, Ordering::Release);
        assert!(store.test_inner().drain_staged().is_err());
        assert_eq!(store.max_phys_offset(), end);
        assert_eq!(store.max_offset("ST", 0), 1);
        // Records staged after the failure queue up behind the ones that failed.
        let second = staged_at(stage(&store, &msg(2, 300)));
        assert_eq!(second.1, 2);
        assert!(second.0 > first.0);
        store.test_inner().drain_staged().unwrap();
        assert_eq!(store.max_offset("ST", 0), 3);
        assert_eq!(body_at(&store, first.0).unwrap(), vec![1; 200]);
        assert_eq!(body_at(&store, second.0).unwrap(), vec![2; 300]);
        let stored = store.get_messages("ST", 0, 0, 32, 1 << 20, None);
        assert_eq!(stored.messages.len(), 3);
    }

    #[test]
    fn the_put_path_drains_before_it_moves_to_the_next_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_one_record(dir.path());
        let seg = store.test_inner().cfg.commitlog_file_size;
        let mut n = 1;
        let wait_drain = loop {
            match stage(&store, &msg(n, 4000)) {
                Outcome::Done { staged: true, .. } => n += 1,
                Outcome::NeedDrain => break n,
                _ => panic!("unexpected outcome while filling the first segment"),
            }
            assert!(n < 100, "never reached the end of the segment");
        };
        assert!(store.max_phys_offset() < seg as i64);
        store.test_inner().drain_staged().unwrap();
        assert_eq!(store.max_offset("ST", 0), wait_drain as i64);
        assert_eq!(body_at(&store, 0).unwrap(), vec![0; 100]);
        assert_eq!(store.test_inner().staged_len(), 0);
    }

    #[test]
    fn a_round_whose_write_fails_reports_flush_disk_timeout_and_the_records_follow_later() {
        let dir = tempfile::tempdir().unwrap();
        let store = MessageStore::open(config(dir.path())).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        store
            .test_inner()
            .test_fail_drains
            .store(1, Ordering::Release);
        let failed = rt.block_on(store.put(msg(1, 100)));
        assert_eq!(failed.status, PutStatus::FlushDiskTimeout);
        assert_eq!(failed.queue_offset, 0);
        let ok = rt.block_on(store.put(msg(2, 100)));
        assert_eq!(ok.status, PutStatus::PutOk);
        assert_eq!(ok.queue_offset, 1);
        // The retry wrote the first record too, in front of the second, and flushed both.
        assert!(store.flushed_phys_offset() >= ok.phys_offset + ok.wrote_bytes as i64);
        assert_eq!(
            body_at(&store, failed.phys_offset as u64).unwrap(),
            vec![1; 100]
        );
        assert_eq!(
            body_at(&store, ok.phys_offset as u64).unwrap(),
            vec![2; 100]
        );
        store.shutdown().unwrap();
    }
}
