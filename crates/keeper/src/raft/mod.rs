//! The keeper's write path behind openraft: a single-member Raft group in standalone mode, so
//! the 3/5-node ensemble later adds members instead of rewriting the storage.
//!
//! Owns the type configuration (one Raft entry = one group-commit batch of `TxnEntry`s, zxids
//! strictly increasing across entries), startup (first start `initialize`s a one-member
//! cluster with node id = `server_id`; a restart recovers from snapshot + log + vote and waits
//! until every logged entry is applied before the keeper serves), and the submodules:
//! `log_store` (durable log; group commit in a flusher thread; in this standalone mode openraft
//! hears an append finished when it is written and the state machine applies an entry only
//! once the flusher made it durable), `vote`, `state_machine` (applies batches with the pure
//! `StateMachine::apply`, builds/installs snapshots) and `network` (no peers).
//!
//! Every node — the leader, a restarting node replaying its log, later a follower — applies
//! every committed batch through the state machine, in log order, with the same pure function.
//! The leader does not pre-apply: its sequencer prepares against a pending view and proposes
//! batches back to back ([`Proposer::propose`] keeps their order and does not wait), and the
//! state machine's [`ApplyObserver`] releases each batch's replies and watch events under the
//! state write lock right after applying it.

#[cfg(test)]
mod conformance;
mod log_prealloc;
pub mod log_store;
pub mod network;
pub mod state_machine;
pub mod vote;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BufMut;
use courier_keeper_proto::Record;
use openraft::{BasicNode, Config, Raft, ServerState, SnapshotPolicy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::KeeperError;
use crate::state::StateMachine;
use crate::txn::TxnEntry;

pub use log_store::LogStore;
pub use network::StandaloneNetwork;
pub use state_machine::{ApplyObserver, KeeperStateMachine, SmShared};

/// Largest encoded batch accepted when decoding (a batch is at most 1024 bounded txns).
pub(crate) const MAX_BATCH_BYTES: usize = 1 << 30;

openraft::declare_raft_types!(
    /// Openraft types of the keeper.
    pub TypeConfig:
        D = TxnBatch,
        R = BatchApplied,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// The keeper's Raft handle.
pub type KeeperRaft = Raft<TypeConfig>;

/// One Raft entry's application data: the txns of one group-commit batch, in zxid order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnBatch(pub Arc<Vec<TxnEntry>>);

impl TxnBatch {
    /// The batch's highest zxid (None when empty).
    pub fn last_zxid(&self) -> Option<i64> {
        self.0.last().map(|e| e.zxid)
    }

    /// Encoding: count u32 BE, then per txn `len u32 BE | jute TxnEntry`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.put_u32(self.0.len() as u32);
        for e in self.0.iter() {
            let b = e.to_bytes();
            out.put_u32(b.len() as u32);
            out.extend_from_slice(&b);
        }
    }

    /// Inverse of [`TxnBatch::encode_into`].
    pub fn decode(mut raw: &[u8]) -> Result<TxnBatch, String> {
        let take_u32 = |raw: &mut &[u8]| -> Result<usize, String> {
            if raw.len() < 4 {
                return Err("batch is truncated".into());
            }
            let v = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
            *raw = &raw[4..];
            Ok(v)
        };
        let n = take_u32(&mut raw)?;
        let mut out = Vec::with_capacity(n.min(raw.len() / 8));
        for _ in 0..n {
            let len = take_u32(&mut raw)?;
            if raw.len() < len {
                return Err("batch txn is truncated".into());
            }
            let e = TxnEntry::from_slice(&raw[..len], MAX_BATCH_BYTES)
                .map_err(|e| format!("batch txn does not decode: {e}"))?;
            out.push(e);
            raw = &raw[len..];
        }
        if !raw.is_empty() {
            return Err("trailing bytes after a batch".into());
        }
        Ok(TxnBatch(Arc::new(out)))
    }
}

// Serde goes through the compact jute encoding: a batch crosses the wire (later, replication)
// as one byte string, not as a tree of serde values.
impl Serialize for TxnBatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        s.serialize_bytes(&out)
    }
}

impl<'de> Deserialize<'de> for TxnBatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Vec<u8> = serde::de::Deserialize::deserialize(d)?;
        TxnBatch::decode(&raw).map_err(serde::de::Error::custom)
    }
}

/// What applying one Raft entry reports back to the proposer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchApplied {
    /// The state's zxid after the entry.
    pub last_zxid: i64,
}

/// Openraft settings for a standalone member: snapshots are requested explicitly by the
/// sequencer (it counts txns, not entries) and a snapshot lets every covered entry go.
fn raft_config() -> Result<Arc<Config>, KeeperError> {
    let cfg = Config {
        cluster_name: "courier-keeper".into(),
        election_timeout_min: 150,
        election_timeout_max: 300,
        heartbeat_interval: 50,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        ..Default::default()
    };
    cfg.validate()
        .map(Arc::new)
        .map_err(|e| KeeperError::Raft(format!("invalid Raft settings: {e}")))
}

/// A started standalone Raft member and its state machine handle.
pub struct RaftNode {
    /// The Raft handle writes are proposed through.
    pub raft: KeeperRaft,
    /// The state machine's shared half (in-memory state, applied zxid).
    pub sm: Arc<SmShared>,
}

/// Opens the log, vote and snapshot in `dir`, starts Raft and waits until this member leads
/// and has applied every logged entry. `seed` is the state to start from when there is no Raft
/// snapshot yet (a data directory migrated from the pre-Raft log).
pub async fn start(
    dir: &Path,
    fsync: bool,
    server_id: u8,
    seed: Option<StateMachine>,
) -> Result<RaftNode, KeeperError> {
    let id = u64::from(server_id);
    let log = LogStore::open(dir, fsync)?;
    // A one-member group: the state machine waits for durability itself (see the method).
    log.ack_on_write(true);
    let (sm, snapshot_present) = KeeperStateMachine::open(dir, seed)?;
    let shared = sm.shared();
    log.track_applied(shared.applied_index());
    shared.attach_log(log.clone());
    shared.set_meta_only(true);
    let raft = Raft::new(id, raft_config()?, StandaloneNetwork, log, sm).await;
    shared.set_meta_only(false);
    let raft = raft.map_err(|e| KeeperError::Raft(format!("starting Raft: {e}")))?;
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| KeeperError::Raft(format!("reading Raft state: {e}")))?;
    if !initialized {
        let mut members = BTreeMap::new();
        members.insert(id, BasicNode::default());
        raft.initialize(members)
            .await
            .map_err(|e| KeeperError::Raft(format!("initializing the one-member group: {e}")))?;
    }
    raft.wait(Some(Duration::from_secs(30)))
        .state(ServerState::Leader, "standalone member leads")
        .await
        .map_err(|e| {
            KeeperError::Raft(format!(
                "this member did not become leader ({e}); check the server id matches the data directory"
            ))
        })?;
    // Committing the leader's first entry means every earlier entry is committed; waiting for
    // it to be applied means the in-memory state reflects the whole log before we serve.
    raft.ensure_linearizable()
        .await
        .map_err(|e| KeeperError::Raft(format!("replaying the Raft log: {e}")))?;
    tracing::info!(
        node = id,
        snapshot = snapshot_present,
        zxid = format_args!("{:#x}", shared.mem_zxid()),
        "keeper Raft member ready"
    );
    Ok(RaftNode { raft, sm: shared })
}

/// The sequencer's handle on Raft: hands batches to openraft in the order they were proposed,
/// without waiting for them to commit.
#[derive(Clone)]
pub struct Proposer {
    raft: KeeperRaft,
    sm: Arc<SmShared>,
    rt: tokio::runtime::Handle,
}

impl Proposer {
    /// A proposer whose Raft calls run on `rt`.
    pub fn new(node: &RaftNode, rt: tokio::runtime::Handle) -> Proposer {
        Proposer {
            raft: node.raft.clone(),
            sm: node.sm.clone(),
            rt,
        }
    }

    /// Proposes `entries` (zxids above every earlier proposal) as one Raft entry and returns
    /// once openraft has queued it (openraft logs client writes in the order it receives them,
    /// so calls from one task keep their order). The state machine applies it once committed;
    /// `on_fail` runs if it cannot be.
    pub async fn propose(
        &self,
        entries: Vec<TxnEntry>,
        on_fail: impl FnOnce(String) + Send + 'static,
    ) {
        match self.raft.client_write_ff(TxnBatch(Arc::new(entries))).await {
            Ok(done) => {
                // Watched by a task of its own, so the next batch is proposed while this one
                // is being fdatasynced.
                self.rt.spawn(async move {
                    match done.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => on_fail(format!("Raft write failed: {e}")),
                        Err(_) => on_fail("Raft stopped before the write finished".into()),
                    }
                });
            }
            Err(e) => on_fail(format!("Raft is not running: {e}")),
        }
    }

    /// Asks for a snapshot when at least `every` txns (zxids) are newer than the newest one
    /// on disk. Openraft ignores a request while a snapshot is being built, so this is asked
    /// again after every batch until one lands.
    pub fn maybe_snapshot(&self, every: u64) {
        let behind = self.sm.mem_zxid().saturating_sub(self.sm.snapshot_zxid());
        if behind >= 0 && behind as u64 >= every.max(1) {
            self.request_snapshot();
        }
    }

    /// Asks Raft to snapshot the state and purge the log it covers (asynchronously).
    pub fn request_snapshot(&self) {
        let raft = self.raft.clone();
        self.rt.spawn(async move {
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "could not request a snapshot; the log keeps growing until the next one");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::Txn;

    #[test]
    fn batch_round_trips_through_serde() {
        let b = TxnBatch(Arc::new(vec![
            TxnEntry {
                zxid: 7,
                time_ms: 1,
                session_id: 2,
                txn: Txn::Delete { path: "/a".into() },
            },
            TxnEntry {
                zxid: 8,
                time_ms: 1,
                session_id: 2,
                txn: Txn::CreateSession { timeout_ms: 4000 },
            },
        ]));
        let json = serde_json::to_vec(&b).unwrap();
        let back: TxnBatch = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.last_zxid(), Some(8));
        let mut raw = Vec::new();
        b.encode_into(&mut raw);
        assert!(TxnBatch::decode(&raw[..raw.len() - 1]).is_err());
    }
}
