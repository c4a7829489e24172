//! The single writer: one task on the runtime that turns write requests into txns in one global
//! order and hands them to Raft, plus the apply hook that releases their results. (A task, not
//! a thread: a write then crosses no thread boundary between its connection and openraft.)
//!
//! Pipeline. Per batch (everything queued when the thread wakes, up to `MAX_BATCH`), under the
//! state READ lock and the pending lock: prep each job against the pending view (the applied
//! state plus the effects of the txns in flight, `prep::Pending`), give it the next zxid and
//! record its
//! effects as pending; then queue the batch's txns as ONE Raft entry (`raft::Proposer`, which
//! keeps submission order) and go on with the next batch without waiting — batch N+1 is
//! prepared, proposed and written while N is being fdatasynced, and one fdatasync covers
//! every batch written before it. At most `MAX_IN_FLIGHT` (16) batches are in flight; requests
//! arriving meanwhile wait in the queue and form the next batch.
//!
//! Apply. Openraft applies committed entries in log order through the Raft state machine,
//! which first waits until the entry is durable (fdatasynced) and calls [`Releaser::applied`]
//! under the state WRITE lock right after applying it:
//! it retires the entry's pending effects, publishes the zxid, queues every watch event to its
//! connections in zxid order and then hands each job its outcome. So nothing a batch changed is
//! visible to readers or acknowledged before it is durable and applied, readers never wait for
//! an fsync (only for the in-memory apply), and a client sees a watch event before any reply
//! that reflects the change. A connection answers its requests in order, so a read queued
//! behind the same session's write runs after that write's reply, i.e. after its apply.
//!
//! A Raft/log failure stops the server and answers everything in flight with SYSTEMERROR
//! (ZooKeeper does the same: a server that cannot persist must not acknowledge).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use courier_keeper_proto::{perms, ErrorCode, Id};
use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use crate::prep::{prep_pending, Pending, PrepCtx, Prepared, WriteOp};
use crate::raft::{ApplyObserver, Proposer};
use crate::shared::{notification, Shared};
use crate::state::{Applied, StateMachine};
use crate::txn::{Txn, TxnEntry};

const MAX_BATCH: usize = 1024;
/// Batches proposed and not applied yet, at most. The log acknowledges an append to openraft
/// when written and one fdatasync covers every entry written before it, so batches proposed
/// during an fdatasync share the next one; the bound keeps a burst from splitting into one
/// Raft entry per request (every entry costs openraft a round of per-entry work). It must not
/// be small: a slot comes back only when its batch is applied, so with few slots the small
/// batches formed during one fdatasync take them all, and a request that then waits for a
/// slot is written after the next fdatasync has started and waits a whole extra cycle. With
/// 4 slots, 16 closed-loop clients and fdatasyncs slowed to ≈ 450 µs (a slow disk, emulated),
/// a quarter of the writes waited for a slot, 140 µs on average; 16 slots gave 4-15 % more
/// write ops/s there and the same or 3-10 % more at this VM's ≈ 150 µs (docs/keeper.md).
const MAX_IN_FLIGHT: usize = 16;
/// A write request for the sequencer.
pub struct WriteJob {
    /// Issuing session (0 for server-internal jobs such as the container sweep).
    pub session_id: i64,
    /// The connection's identities, for ACL checks.
    pub ids: Arc<Vec<Id>>,
    /// What to do.
    pub op: WriteOp,
    /// Where the outcome goes (None: nobody waits).
    pub reply: Option<oneshot::Sender<WriteOutcome>>,
}

/// Messages into the sequencer task.
pub enum SeqMsg {
    /// A write.
    Job(WriteJob),
    /// Finish the queue and exit.
    Stop,
}

/// The result of one write.
#[derive(Debug)]
pub enum WriteOutcome {
    /// Logged and applied.
    Done {
        /// The txn's zxid.
        zxid: i64,
        /// The txn.
        txn: Txn,
        /// What applying it did.
        applied: Applied,
    },
    /// A multi whose ops failed (nothing changed); per-op codes.
    MultiFailed {
        /// Current zxid.
        zxid: i64,
        /// Codes.
        codes: Vec<i32>,
    },
    /// Rejected with a ZooKeeper error code.
    Failed {
        /// Current zxid.
        zxid: i64,
        /// Why.
        code: ErrorCode,
    },
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How a job of an in-flight batch will be answered once its entry is applied.
enum Planned {
    /// The txn at this index of the batch; the reply carries what applying it did.
    Txn(usize),
    /// Rejected; an error txn took this zxid.
    Failed { zxid: i64, code: ErrorCode },
    /// A multi whose ops failed; an error txn took this zxid.
    MultiFailed { zxid: i64, codes: Vec<i32> },
}

struct InFlight {
    last_zxid: i64,
    jobs: Vec<(WriteJob, Planned)>,
    /// One of `MAX_IN_FLIGHT`; given back when the batch is released.
    _slot: OwnedSemaphorePermit,
}

/// State shared by the sequencer task and the apply hook.
pub struct Pipeline {
    pending: Mutex<Pending>,
    in_flight: Mutex<VecDeque<InFlight>>,
    slots: Arc<Semaphore>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Arc<Pipeline> {
        Arc::new(Pipeline {
            pending: Mutex::new(Pending::default()),
            in_flight: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// Answers everything in flight with SYSTEMERROR (the write path is stopping).
    fn fail_all(&self) {
        let batches: Vec<InFlight> = self.in_flight.lock().drain(..).collect();
        for b in batches {
            for (job, _) in b.jobs {
                if let Some(tx) = job.reply {
                    let _ = tx.send(WriteOutcome::Failed {
                        zxid: 0,
                        code: ErrorCode::SystemError,
                    });
                }
            }
        }
        self.slots.close();
    }
}

/// Stops the keeper after a Raft/log failure.
fn stop_write_path(shared: &Shared, pipeline: &Pipeline, reason: &str) {
    tracing::error!(%reason, "the Raft log did not commit a batch; stopping the keeper");
    shared.failed.store(true, Ordering::SeqCst);
    shared.shutdown.cancel();
    pipeline.fail_all();
}

/// Runs until `Stop` or until every sender is gone; then waits until what it proposed is
/// applied (or the write path failed).
pub async fn run(
    shared: Arc<Shared>,
    mut rx: UnboundedReceiver<SeqMsg>,
    raft: Proposer,
    pipeline: Arc<Pipeline>,
) {
    let mut last_zxid = shared.state.read().await.last_zxid;
    let mut stop = false;
    while !stop {
        // The slot is taken before the queue is drained, so whatever arrives while the
        // batches in flight commit joins the next batch (group commit) instead of waiting.
        let Ok(slot) = pipeline.slots.clone().acquire_owned().await else {
            break;
        };
        let mut batch = match rx.recv().await {
            Some(SeqMsg::Job(j)) => vec![j],
            Some(SeqMsg::Stop) | None => break,
        };
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(SeqMsg::Job(j)) => batch.push(j),
                Ok(SeqMsg::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if shared.failed.load(Ordering::SeqCst) {
            fail_jobs(batch);
            break;
        }
        let proposal = plan_batch(&shared, &pipeline, batch, &mut last_zxid, slot).await;
        if let Some(entries) = proposal {
            let weak_shared = Arc::downgrade(&shared);
            let weak_pipeline = Arc::downgrade(&pipeline);
            raft.propose(entries, move |reason| {
                if let (Some(s), Some(p)) = (weak_shared.upgrade(), weak_pipeline.upgrade()) {
                    stop_write_path(&s, &p, &reason);
                }
            })
            .await;
            // Raft builds it under the state read lock, between applies, and then purges
            // the log entries it covers.
            raft.maybe_snapshot(shared.config.snapshot_every_txns);
        }
    }
    // Every slot back means every proposed batch was released (or the path failed).
    let _ = pipeline.slots.acquire_many(MAX_IN_FLIGHT as u32).await;
}

fn fail_jobs(batch: Vec<WriteJob>) {
    for job in batch {
        if let Some(tx) = job.reply {
            let _ = tx.send(WriteOutcome::Failed {
                zxid: 0,
                code: ErrorCode::SystemError,
            });
        }
    }
}

/// Prepares one batch against the pending view and queues it as in flight; returns the txns
/// to propose (None when every job was a moot internal one).
async fn plan_batch(
    shared: &Shared,
    pipeline: &Pipeline,
    batch: Vec<WriteJob>,
    last_zxid: &mut i64,
    slot: OwnedSemaphorePermit,
) -> Option<Vec<TxnEntry>> {
    let state = shared.state.read().await;
    let mut pending = pipeline.pending.lock();
    let mut entries: Vec<TxnEntry> = Vec::new();
    let mut jobs = Vec::with_capacity(batch.len());
    for job in batch {
        let now = now_ms();
        let ctx = PrepCtx {
            session_id: job.session_id,
            ids: &job.ids,
            now_ms: now,
            max_data: shared.config.max_data_bytes,
            extended_types: shared.config.extended_types_enabled,
        };
        let (res, effects) = prep_pending(&state, &pending, &job.op, &ctx);
        // Like ZooKeeper, a rejected client write still takes a zxid: it is logged as an
        // error txn (a no-op when applied) and its reply carries that zxid. Internal jobs
        // (expiry, sweep) that turn out to be moot leave no trace.
        let client = job.reply.is_some();
        let (txn, planned) = match res {
            Ok(Prepared::Txn(txn)) => {
                pending.record(effects, *last_zxid + 1);
                (txn, Planned::Txn(entries.len()))
            }
            Ok(Prepared::MultiFailed(codes)) if client => {
                let first = codes.iter().copied().find(|c| *c != 0).unwrap_or(0);
                let zxid = *last_zxid + 1;
                (
                    Txn::Error { code: first },
                    Planned::MultiFailed { zxid, codes },
                )
            }
            Err(code) if client => {
                let zxid = *last_zxid + 1;
                (
                    Txn::Error { code: code.code() },
                    Planned::Failed { zxid, code },
                )
            }
            Ok(Prepared::MultiFailed(_)) | Err(_) => continue,
        };
        *last_zxid += 1;
        entries.push(TxnEntry {
            zxid: *last_zxid,
            time_ms: now,
            session_id: job.session_id,
            txn,
        });
        jobs.push((job, planned));
    }
    if entries.is_empty() {
        return None;
    }
    pipeline.in_flight.lock().push_back(InFlight {
        last_zxid: *last_zxid,
        jobs,
        _slot: slot,
    });
    Some(entries)
}

/// The apply hook: releases the results of the leader's batches as openraft applies them.
pub struct Releaser {
    shared: Weak<Shared>,
    pipeline: Arc<Pipeline>,
}

impl Releaser {
    /// A hook for `shared`'s write path.
    pub fn new(shared: &Arc<Shared>, pipeline: Arc<Pipeline>) -> Releaser {
        Releaser {
            shared: Arc::downgrade(shared),
            pipeline,
        }
    }
}

impl ApplyObserver for Releaser {
    fn applied(
        &self,
        state: &StateMachine,
        entries: &[TxnEntry],
        mut results: Vec<Option<Applied>>,
    ) {
        let Some(last) = entries.last().map(|e| e.zxid) else {
            return;
        };
        self.pipeline.pending.lock().retire(last);
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        shared
            .published_zxid
            .store(state.last_zxid, Ordering::Release);
        let batch = {
            let mut q = self.pipeline.in_flight.lock();
            match q.front() {
                Some(b) if b.last_zxid == last => q.pop_front(),
                _ => None,
            }
        };
        let Some(batch) = batch else {
            return;
        };
        release(&shared, state, entries, &mut results, batch);
    }
}

/// Queues a batch's watch events in zxid order and answers its jobs (state write lock held).
fn release(
    shared: &Shared,
    state: &StateMachine,
    entries: &[TxnEntry],
    results: &mut [Option<Applied>],
    batch: InFlight,
) {
    let mut watches = shared.watches.lock();
    let mut sessions = shared.sessions.lock();
    let conns = shared.conns.lock();
    let now = std::time::Instant::now();
    for (job, planned) in batch.jobs {
        let outcome = match planned {
            Planned::Failed { zxid, code } => WriteOutcome::Failed { zxid, code },
            Planned::MultiFailed { zxid, codes } => WriteOutcome::MultiFailed { zxid, codes },
            Planned::Txn(i) => match (entries.get(i), results.get_mut(i).and_then(Option::take)) {
                (Some(entry), Some(applied)) => WriteOutcome::Done {
                    zxid: entry.zxid,
                    txn: entry.txn.clone(),
                    applied,
                },
                _ => WriteOutcome::Failed {
                    zxid: state.last_zxid,
                    code: ErrorCode::SystemError,
                },
            },
        };
        if let WriteOutcome::Done { zxid, txn, applied } = &outcome {
            for (p, ev) in &applied.events {
                let targets = watches.trigger(p, *ev);
                if targets.is_empty() {
                    continue;
                }
                let frame = notification(*zxid, *ev, p);
                for (c, recursive_only) in targets {
                    let Some(h) = conns.get(&c) else { continue };
                    if recursive_only {
                        let acl = state.tree.get(p).map(|n| n.acl().clone()).or_else(|| {
                            applied
                                .deleted_acls
                                .iter()
                                .find(|(d, _)| d == p)
                                .map(|(_, a)| a.clone())
                        });
                        if let Some(acl) = acl {
                            if !crate::acl::allowed(&acl, perms::READ, &h.ids.read()) {
                                continue;
                            }
                        }
                    }
                    h.send(frame.clone());
                }
            }
            match txn {
                Txn::CreateSession { timeout_ms } => {
                    sessions.add(job.session_id, *timeout_ms, None, now);
                }
                Txn::CloseSession => {
                    if let Some(c) = sessions.remove(job.session_id) {
                        // An expiry closes the bound connection; an explicit close is closed by
                        // its own connection after the reply.
                        if job.reply.is_none() {
                            if let Some(h) = conns.get(&c) {
                                h.close();
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(tx) = job.reply {
            let _ = tx.send(outcome);
        }
    }
}
