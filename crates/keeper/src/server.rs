//! Startup (Raft recovery via `raft::start`, session restore), the accept loop, the session-expiry and
//! container/TTL timers, and orderly shutdown (stop accepting, close connections, let the
//! sequencer finish and sync, then return).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::KeeperConfig;
use crate::conn;
use crate::error::{io_err, KeeperError};
use crate::prep::WriteOp;
use crate::raft::{Proposer, RaftNode};
use crate::sequencer::{self, now_ms, SeqMsg, WriteJob};
use crate::session::SessionTracker;
use crate::shared::{Shared, Stats};
use crate::state::StateMachine;
use crate::tree::{owner_kind, OwnerKind};
use crate::watches::WatchManager;

fn load_or_create_secret(dir: &Path) -> Result<[u8; 16], KeeperError> {
    let path = dir.join("keeper.secret");
    match std::fs::read(&path) {
        Ok(b) if b.len() == 16 => {
            let mut s = [0u8; 16];
            s.copy_from_slice(&b);
            Ok(s)
        }
        Ok(_) | Err(_) => {
            let s: [u8; 16] = rand::random();
            std::fs::write(&path, s).map_err(io_err("writing the session secret", &path))?;
            Ok(s)
        }
    }
}

/// Takes an exclusive lock on `<dir>/keeper.lock` for as long as the returned file lives, so two
/// keepers can never write the same log.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, KeeperError> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir).map_err(io_err("creating the data directory", dir))?;
    let path = dir.join("keeper.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening the data directory lock", &path))?;
    // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(KeeperError::DataDirInUse { path });
    }
    Ok(file)
}

/// A keeper whose data directory is locked and whose state is restored, not serving yet.
pub struct Keeper {
    config: KeeperConfig,
    node: RaftNode,
    secret: [u8; 16],
    dir_lock: std::fs::File,
}

impl Keeper {
    /// Locks the data directory and restores the state (Raft snapshot + newer log entries;
    /// a data directory from before Raft is migrated).
    pub async fn open(config: KeeperConfig) -> Result<Keeper, KeeperError> {
        let dir = config.data_dir.clone();
        let (dir_lock, secret, seed) = tokio::task::spawn_blocking(move || {
            let dir_lock = lock_data_dir(&dir)?;
            let seed = load_pre_raft_state(&dir)?;
            let secret = load_or_create_secret(&dir)?;
            Ok::<_, KeeperError>((dir_lock, secret, seed))
        })
        .await
        .map_err(|e| KeeperError::Listener(std::io::Error::other(e)))??;
        let migrating = seed.is_some();
        let node =
            crate::raft::start(&config.data_dir, config.fsync, config.server_id, seed).await?;
        if migrating {
            if let Err(e) = finish_migration(&node, &config.data_dir).await {
                let _ = node.raft.shutdown().await;
                node.sm.close();
                return Err(e);
            }
        }
        {
            let state = node.sm.state.read().await;
            tracing::info!(
                zxid = format_args!("{:#x}", state.last_zxid),
                nodes = state.tree.node_count(),
                sessions = state.sessions.len(),
                "keeper state restored"
            );
        }
        Ok(Keeper {
            config,
            node,
            secret,
            dir_lock,
        })
    }

    /// Serves `listener` until `shutdown` is cancelled (or the write path fails).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), KeeperError> {
        let Keeper {
            config,
            node,
            secret,
            dir_lock,
        } = self;
        let raft = node.raft.clone();
        let sm = node.sm.clone();
        let every = config.snapshot_every_txns.max(1);
        let result = serve_inner(config, node, secret, listener, shutdown).await;
        if result.is_ok() {
            snapshot_if_due(&raft, &sm, every).await;
        }
        if let Err(e) = raft.shutdown().await {
            tracing::warn!(error = %e, "Raft did not shut down cleanly");
        }
        // No snapshot write may land after the directory lock is released.
        let _ = tokio::task::spawn_blocking(move || sm.close()).await;
        drop(dir_lock);
        result
    }
}

/// Runs a keeper on `listener` until `shutdown` is cancelled (or the write path fails).
pub async fn run(
    config: KeeperConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), KeeperError> {
    Keeper::open(config).await?.serve(listener, shutdown).await
}

async fn serve_inner(
    config: KeeperConfig,
    node: RaftNode,
    secret: [u8; 16],
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), KeeperError> {
    let now = Instant::now();
    let max_session = node.sm.max_session();
    let mut tracker = SessionTracker::new(now_ms(), config.server_id, max_session, secret);
    let last_zxid = {
        let state = node.sm.state.read().await;
        for (id, timeout) in &state.sessions {
            tracker.add(*id, *timeout, None, now);
        }
        state.last_zxid
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        published_zxid: std::sync::atomic::AtomicI64::new(last_zxid),
        super_digest: config.super_digest.clone(),
        config,
        state: node.sm.state.clone(),
        watches: Mutex::new(WatchManager::default()),
        sessions: Mutex::new(tracker),
        conns: Mutex::new(Default::default()),
        writes: tx,
        next_conn: AtomicU64::new(1),
        stats: Stats::default(),
        started: Instant::now(),
        shutdown: shutdown.child_token(),
        failed: AtomicBool::new(false),
    });
    let seq_shared = shared.clone();
    let proposer = Proposer::new(&node, tokio::runtime::Handle::current());
    let pipeline = sequencer::Pipeline::new();
    node.sm.set_observer(Some(Arc::new(sequencer::Releaser::new(
        &shared,
        pipeline.clone(),
    ))));
    let seq = tokio::spawn(sequencer::run(seq_shared, rx, proposer, pipeline));

    let timers = [
        tokio::spawn(expiry_loop(shared.clone())),
        tokio::spawn(sweep_loop(shared.clone())),
    ];
    tracing::info!(addr = ?listener.local_addr().ok(), "keeper listening");
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            acc = listener.accept() => match acc {
                Ok((stream, peer)) => {
                    tokio::spawn(conn::serve(shared.clone(), stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    shared.shutdown.cancel();
    for t in timers {
        t.abort();
    }
    let _ = shared.writes.send(SeqMsg::Stop);
    let _ = seq.await;
    node.sm.set_observer(None);
    if shared.failed.load(Ordering::SeqCst) {
        return Err(KeeperError::WritePathStopped);
    }
    Ok(())
}

/// On a clean stop, a log with at least this many txns past the snapshot is compacted.
const SHUTDOWN_SNAPSHOT_TXNS: u64 = 1000;

/// On a clean stop, finishes the snapshot the write path asked for (or that is due) and lets
/// Raft purge the log it covers, so the next start replays at most `every` txns. Snapshots
/// otherwise run in the background and one requested just before the stop would be dropped.
async fn snapshot_if_due(raft: &crate::raft::KeeperRaft, sm: &crate::raft::SmShared, every: u64) {
    // A clean stop also compacts a log that is not due yet but long enough to cost the next
    // start more than the snapshot costs now (replaying a txn is dearer than encoding a node).
    let behind = sm.mem_zxid().saturating_sub(sm.snapshot_zxid());
    if behind <= 0 || (behind as u64) < every.min(SHUTDOWN_SNAPSHOT_TXNS) {
        return;
    }
    // Openraft ignores a request while a build runs (that build may cover less than
    // everything applied), so the request is repeated until a snapshot covers it all.
    let mut done = Ok(());
    for _ in 0..15 {
        if raft.trigger().snapshot().await.is_err() {
            return;
        }
        done = raft
            .wait(Some(Duration::from_secs(2)))
            .metrics(
                |m| m.snapshot.is_some() && m.snapshot == m.last_applied && m.purged == m.snapshot,
                "snapshot and purge at shutdown",
            )
            .await
            .map(|_| ());
        if done.is_ok() {
            break;
        }
    }
    if let Err(e) = done {
        tracing::warn!(error = %e, "the shutdown snapshot did not finish; the next start replays more of the log");
    }
}

/// The state of a data directory written before the Raft log (`keeper.snap` + `keeper.wal`),
/// if it has one and no Raft snapshot yet. Raft starts from it; entries Raft logs afterwards
/// carry higher zxids, so replaying them on top after a crash mid-migration is correct.
fn load_pre_raft_state(dir: &Path) -> Result<Option<StateMachine>, KeeperError> {
    let old_log = dir.join("keeper.wal");
    if dir.join("raft.snap").exists() || !(old_log.exists() || dir.join("keeper.snap").exists()) {
        return Ok(None);
    }
    let (_, entries) = crate::wal::FileTxnLog::open(dir, true)?;
    let mut state = crate::snapshot::load(dir)?.unwrap_or_else(StateMachine::new);
    let from = state.last_zxid;
    for e in entries.iter().filter(|e| e.zxid > from) {
        state.apply(e).map_err(|err| KeeperError::Corrupt {
            path: old_log.clone(),
            zxid: err.zxid,
            reason: err.reason,
        })?;
    }
    tracing::info!(
        zxid = format_args!("{:#x}", state.last_zxid),
        "migrating a pre-Raft data directory to the Raft log"
    );
    Ok(Some(state))
}

/// Makes the migrated state durable as a Raft snapshot, then moves the old files aside.
async fn finish_migration(node: &RaftNode, dir: &Path) -> Result<(), KeeperError> {
    let before = node.sm.snapshots_built();
    node.raft
        .trigger()
        .snapshot()
        .await
        .map_err(|e| KeeperError::Raft(format!("requesting the migration snapshot: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.sm.snapshots_built() == before || !dir.join("raft.snap").exists() {
        if Instant::now() > deadline {
            return Err(KeeperError::Raft(
                "the migration snapshot was not written within 60 s".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for name in ["keeper.wal", "keeper.snap"] {
        let from = dir.join(name);
        if from.exists() {
            let to = dir.join(format!("{name}.pre-raft"));
            std::fs::rename(&from, &to)
                .map_err(io_err("moving a migrated pre-Raft file aside", &from))?;
        }
    }
    Ok(())
}

async fn expiry_loop(shared: Arc<Shared>) {
    let every = Duration::from_millis(u64::from((shared.config.tick_time_ms / 2).max(10)));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let expired = shared.sessions.lock().expire(Instant::now());
        for id in expired {
            tracing::info!(session = format_args!("{id:#x}"), "session expired");
            let _ = shared.writes.send(SeqMsg::Job(WriteJob {
                session_id: id,
                ids: Arc::new(Vec::new()),
                op: WriteOp::CloseSession,
                reply: None,
            }));
        }
    }
}

async fn sweep_loop(shared: Arc<Shared>) {
    let every = Duration::from_millis(shared.config.container_check_interval_ms.max(10));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let now = now_ms();
        let candidates: Vec<String> = {
            let state = shared.state.read().await;
            state
                .tree
                .containers()
                .into_iter()
                .chain(state.tree.ttl_nodes())
                .filter(|p| {
                    state.tree.get(p).is_some_and(|n| {
                        (n.num_children() == 0)
                            && match owner_kind(n.stat().ephemeral_owner) {
                                OwnerKind::Container => n.stat().cversion > 0,
                                OwnerKind::Ttl(ttl) => now - n.stat().mtime > ttl,
                                _ => false,
                            }
                    })
                })
                .collect()
        };
        for path in candidates {
            let _ = shared.writes.send(SeqMsg::Job(WriteJob {
                session_id: 0,
                ids: Arc::new(Vec::new()),
                op: WriteOp::Sweep { path },
                reply: None,
            }));
        }
    }
}

/// A keeper running in the background on 127.0.0.1 (tests, embedding).
pub struct KeeperHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    token: CancellationToken,
    join: JoinHandle<Result<(), KeeperError>>,
}

impl KeeperHandle {
    /// Binds 127.0.0.1:0, restores the state (startup errors are returned here) and serves.
    pub async fn start(mut config: KeeperConfig) -> Result<KeeperHandle, KeeperError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(KeeperError::Listener)?;
        let addr = listener.local_addr().map_err(KeeperError::Listener)?;
        config.client_port = addr.port();
        let keeper = Keeper::open(config).await?;
        let token = CancellationToken::new();
        let join = tokio::spawn(keeper.serve(listener, token.clone()));
        Ok(KeeperHandle { addr, token, join })
    }

    /// Stops the server and waits until its log is closed.
    pub async fn stop(self) -> Result<(), KeeperError> {
        self.token.cancel();
        self.join
            .await
            .map_err(|e| KeeperError::Listener(std::io::Error::other(e)))?
    }
}
