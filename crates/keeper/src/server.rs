//! Startup (log replay, session restore), the accept loop, the session-expiry and
//! container/TTL timers, and orderly shutdown (stop accepting, close connections, let the
//! sequencer finish and sync, then return).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::RwLock;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::KeeperConfig;
use crate::conn;
use crate::error::KeeperError;
use crate::prep::WriteOp;
use crate::sequencer::{self, now_ms, SeqMsg, WriteJob};
use crate::session::SessionTracker;
use crate::shared::{Shared, Stats};
use crate::state::StateMachine;
use crate::tree::{owner_kind, OwnerKind};
use crate::wal::FileTxnLog;
use crate::watches::WatchManager;

fn load_or_create_secret(dir: &Path) -> Result<[u8; 16], KeeperError> {
    let path = dir.join("keeper.secret");
    let io = |context, source| KeeperError::Io {
        context,
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(b) if b.len() == 16 => {
            let mut s = [0u8; 16];
            s.copy_from_slice(&b);
            Ok(s)
        }
        Ok(_) | Err(_) => {
            let s: [u8; 16] = rand::random();
            std::fs::write(&path, s).map_err(|e| io("writing the session secret", e))?;
            Ok(s)
        }
    }
}

/// Takes an exclusive lock on `<dir>/keeper.lock` for as long as the returned file lives, so two
/// keepers can never write the same log.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, KeeperError> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir).map_err(|source| KeeperError::Io {
        context: "creating the data directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join("keeper.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| KeeperError::Io {
            context: "opening the data directory lock",
            path: path.clone(),
            source,
        })?;
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
    log: FileTxnLog,
    state: StateMachine,
    max_session: i64,
    secret: [u8; 16],
    dir_lock: std::fs::File,
}

impl Keeper {
    /// Locks the data directory and restores the state (snapshot + newer log entries).
    pub async fn open(config: KeeperConfig) -> Result<Keeper, KeeperError> {
        let dir = config.data_dir.clone();
        let fsync = config.fsync;
        tokio::task::spawn_blocking(move || {
            let dir_lock = lock_data_dir(&dir)?;
            let (log, entries) = FileTxnLog::open(&dir, fsync)?;
            let mut state = crate::snapshot::load(&dir)?.unwrap_or_else(StateMachine::new);
            let mut max_session = state.sessions.keys().copied().max().unwrap_or(0);
            let from_snapshot = state.last_zxid;
            // Entries at or below the snapshot's zxid are already in it (a crash between
            // writing the snapshot and emptying the log leaves them behind).
            for e in entries.iter().filter(|e| e.zxid > from_snapshot) {
                max_session = max_session.max(e.session_id);
                state.apply(e).map_err(|err| KeeperError::Corrupt {
                    path: log.path().to_path_buf(),
                    zxid: err.zxid,
                    reason: err.reason,
                })?;
            }
            let secret = load_or_create_secret(&dir)?;
            tracing::info!(
                snapshot_zxid = format_args!("{from_snapshot:#x}"),
                entries = entries.len(),
                zxid = format_args!("{:#x}", state.last_zxid),
                nodes = state.tree.node_count(),
                sessions = state.sessions.len(),
                "keeper state restored"
            );
            Ok(Keeper {
                config,
                log,
                state,
                max_session,
                secret,
                dir_lock,
            })
        })
        .await
        .map_err(|e| KeeperError::Listener(std::io::Error::other(e)))?
    }

    /// Serves `listener` until `shutdown` is cancelled (or the write path fails).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), KeeperError> {
        let Keeper {
            config,
            log,
            state,
            max_session,
            secret,
            dir_lock,
        } = self;
        let result = serve_inner(config, log, state, max_session, secret, listener, shutdown).await;
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
    log: FileTxnLog,
    state: StateMachine,
    max_session: i64,
    secret: [u8; 16],
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), KeeperError> {
    let now = Instant::now();
    let mut tracker = SessionTracker::new(now_ms(), config.server_id, max_session, secret);
    for (id, timeout) in &state.sessions {
        tracker.add(*id, *timeout, None, now);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared {
        published_zxid: std::sync::atomic::AtomicI64::new(state.last_zxid),
        super_digest: config.super_digest.clone(),
        config,
        state: RwLock::new(state),
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
    let seq = std::thread::Builder::new()
        .name("keeper-sequencer".into())
        .spawn(move || sequencer::run(seq_shared, rx, Box::new(log)))
        .map_err(KeeperError::Listener)?;

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
    let _ = tokio::task::spawn_blocking(move || seq.join()).await;
    if shared.failed.load(Ordering::SeqCst) {
        return Err(KeeperError::WritePathStopped);
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
                .chain(state.tree.ttl_nodes())
                .filter(|p| {
                    state.tree.get(p).is_some_and(|n| {
                        n.children.is_empty()
                            && match owner_kind(n.stat.ephemeral_owner) {
                                OwnerKind::Container => n.stat.cversion > 0,
                                OwnerKind::Ttl(ttl) => now - n.stat.mtime > ttl,
                                _ => false,
                            }
                    })
                })
                .cloned()
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
