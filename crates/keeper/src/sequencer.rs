//! The single writer: a dedicated thread that turns write requests into txns in one global
//! order, logs them, applies them and releases the results.
//!
//! Per batch (everything queued when the thread wakes, up to `MAX_BATCH`): take the state write
//! lock; for each job prep → zxid = last + 1 → apply in memory (so the next job is prepared
//! against it); then propose the batch's txns as ONE Raft entry through openraft
//! (`raft::Proposer`) and wait until it is committed — fdatasynced by the Raft log, the group
//! commit — and through the Raft state machine; then, still under the lock, queue every watch
//! event to its connections in zxid order and hand each job its outcome. Nothing a batch changed
//! is visible to readers or acknowledged before the commit. A Raft/log failure stops the thread
//! and the server (ZooKeeper does the same: a server that cannot persist must not acknowledge).

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use courier_keeper_proto::{perms, ErrorCode, Id};
use tokio::sync::oneshot;

use crate::prep::{prep, PrepCtx, Prepared, WriteOp};
use crate::raft::Proposer;
use crate::shared::{notification, Shared};
use crate::state::{Applied, StateMachine};
use crate::txn::{Txn, TxnEntry};

const MAX_BATCH: usize = 1024;

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

/// Messages into the sequencer thread.
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

/// Runs until `Stop` or until every sender is gone.
pub fn run(shared: Arc<Shared>, rx: Receiver<SeqMsg>, raft: Proposer) {
    let mut stop = false;
    while !stop {
        let mut batch = match rx.recv() {
            Ok(SeqMsg::Job(j)) => vec![j],
            Ok(SeqMsg::Stop) | Err(_) => break,
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
        let Some(written) = process_batch(&shared, batch, &raft) else {
            break;
        };
        if written > 0 {
            // Raft builds it under the state read lock, between batches, and then purges
            // the log entries it covers.
            raft.maybe_snapshot(shared.config.snapshot_every_txns);
        }
    }
}

/// Applies one txn at the next zxid in memory (it is proposed with its batch).
fn commit(
    state: &mut StateMachine,
    now: i64,
    session_id: i64,
    txn: Txn,
) -> Result<(TxnEntry, Applied), String> {
    let entry = TxnEntry {
        zxid: state.last_zxid + 1,
        time_ms: now,
        session_id,
        txn,
    };
    let applied = state
        .apply(&entry)
        .map_err(|e| format!("prepared txn failed to apply: {e}"))?;
    Ok((entry, applied))
}

/// Runs one batch; returns how many txns were logged, or None if the write path must stop.
fn process_batch(shared: &Arc<Shared>, batch: Vec<WriteJob>, raft: &Proposer) -> Option<u64> {
    let mut state = shared.state.blocking_write();
    let mut results = Vec::with_capacity(batch.len());
    let mut proposal: Vec<TxnEntry> = Vec::new();
    let mut written = 0u64;
    let mut ok = true;
    for job in batch {
        let now = now_ms();
        let ctx = PrepCtx {
            session_id: job.session_id,
            ids: &job.ids,
            now_ms: now,
            max_data: shared.config.max_data_bytes,
            extended_types: shared.config.extended_types_enabled,
        };
        let outcome = if !ok {
            WriteOutcome::Failed {
                zxid: state.last_zxid,
                code: ErrorCode::SystemError,
            }
        } else {
            // Like ZooKeeper, a rejected client write still takes a zxid: it is logged as an
            // error txn (a no-op when applied) and its reply carries that zxid. Internal jobs
            // (expiry, sweep) that turn out to be moot leave no trace.
            let client = job.reply.is_some();
            let (txn, rejected) = match prep(&state, &job.op, &ctx) {
                Ok(Prepared::Txn(txn)) => (Some(txn), None),
                Ok(Prepared::MultiFailed(codes)) => {
                    let first = codes.iter().copied().find(|c| *c != 0).unwrap_or(0);
                    (
                        client.then_some(Txn::Error { code: first }),
                        Some(Err(codes)),
                    )
                }
                Err(code) => (
                    client.then_some(Txn::Error { code: code.code() }),
                    Some(Ok(code)),
                ),
            };
            let committed = match txn {
                None => None,
                Some(txn) => match commit(&mut state, now, job.session_id, txn) {
                    Ok(c) => {
                        proposal.push(c.0.clone());
                        written += 1;
                        Some(c)
                    }
                    Err(reason) => {
                        tracing::error!(%reason, "stopping the write path");
                        ok = false;
                        None
                    }
                },
            };
            let zxid = state.last_zxid;
            match (committed, rejected) {
                _ if !ok => WriteOutcome::Failed {
                    zxid,
                    code: ErrorCode::SystemError,
                },
                (_, Some(Ok(code))) => WriteOutcome::Failed { zxid, code },
                (_, Some(Err(codes))) => WriteOutcome::MultiFailed { zxid, codes },
                (Some((entry, applied)), None) => WriteOutcome::Done {
                    zxid: entry.zxid,
                    txn: entry.txn,
                    applied,
                },
                (None, None) => WriteOutcome::Failed {
                    zxid,
                    code: ErrorCode::SystemError,
                },
            }
        };
        results.push((job, outcome));
    }
    if !proposal.is_empty() && ok {
        if let Err(e) = raft.propose(proposal) {
            tracing::error!(error = %e, "the Raft log did not commit a batch; stopping the keeper");
            ok = false;
        }
    }
    if !ok {
        shared.failed.store(true, Ordering::SeqCst);
        shared.shutdown.cancel();
        // Nothing of this batch may be acknowledged; connections are being closed.
        for (job, _) in results {
            if let Some(tx) = job.reply {
                let _ = tx.send(WriteOutcome::Failed {
                    zxid: 0,
                    code: ErrorCode::SystemError,
                });
            }
        }
        return None;
    }
    shared
        .published_zxid
        .store(state.last_zxid, Ordering::Release);
    let mut watches = shared.watches.lock();
    let mut sessions = shared.sessions.lock();
    let conns = shared.conns.lock();
    let now = std::time::Instant::now();
    for (job, outcome) in results {
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
    Some(written)
}
