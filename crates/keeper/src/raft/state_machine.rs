//! Openraft's state machine for the keeper: applies `TxnBatch` entries with the pure
//! `StateMachine::apply`, tracks the last applied log id and membership, and builds/installs
//! snapshots in `snapshot.rs`'s body format.
//!
//! Snapshot file `<data_dir>/raft.snap`: 8-byte magic `CKRSNP02`, meta length u32 BE, the
//! `SnapshotMeta` as JSON (last log id, membership, id), the compact `snapshot::write_compact`
//! body, then a crc32 u32 BE of everything between the magic and the crc. (`CKRSNP01` files,
//! whose body is `snapshot::encode`'s v1 format, are still read.) The bytes handed to openraft
//! as snapshot data are the whole file. A build streams the body straight into
//! `raft.snap.tmp` (no in-memory copy of the tree), fsyncs, renames and fsyncs the directory:
//! a crash leaves the old or the new snapshot.
//!
//! Consistency of a snapshot: it is built under the state read lock. Only `apply` here changes
//! the state, under the write lock, and it records the entry's log id in `applied` before
//! releasing it, so whenever the read lock is held the in-memory state is exactly the state
//! after the last applied log id recorded in `applied`.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BufMut;
use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, Snapshot,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership,
};
use parking_lot::Mutex;
use tokio::sync::RwLock;

use super::{BatchApplied, TypeConfig};
use crate::error::KeeperError;
use crate::state::{Applied, StateMachine};
use crate::txn::TxnEntry;

const MAGIC: &[u8; 8] = b"CKRSNP02";
const MAGIC_V1: &[u8; 8] = b"CKRSNP01";
const FILE: &str = "raft.snap";

type Meta = SnapshotMeta<u64, BasicNode>;
type Membership = StoredMembership<u64, BasicNode>;

/// Told about every applied batch, under the state write lock, right after it was applied
/// (the server answers the batch's requests and fires its watches from here).
pub trait ApplyObserver: Send + Sync {
    /// `results[i]` is what applying `entries[i]` did (None: already in the state, skipped).
    fn applied(&self, state: &StateMachine, entries: &[TxnEntry], results: Vec<Option<Applied>>);
}

/// The state machine's half shared with the server and the sequencer.
pub struct SmShared {
    /// The keeper state (tree, sessions, zxid); the server's readers use the same lock.
    pub state: Arc<RwLock<StateMachine>>,
    applied: Mutex<(Option<LogId<u64>>, Membership)>,
    /// Index of `applied`'s log id, shared with the log store (it frees applied entries).
    applied_index: Arc<AtomicU64>,
    log: Mutex<Option<super::LogStore>>,
    /// The log's durability: an entry is applied only once it is on disk (see
    /// `LogStore::ack_on_write`). None: no log attached (tests of the machine alone).
    durability: Mutex<Option<super::log_store::Durability>>,
    /// While Raft starts, openraft asks for the current snapshot only to learn its meta; the
    /// data (the whole file) is then not read, so starting does not briefly hold a copy of it.
    meta_only: std::sync::atomic::AtomicBool,
    /// Highest zxid in the in-memory state.
    mem_zxid: AtomicI64,
    observer: parking_lot::RwLock<Option<Arc<dyn ApplyObserver>>>,
    /// Highest session id seen in the snapshot or any applied txn (session ids are never reused).
    max_session: AtomicI64,
    dir: PathBuf,
    snapshots_built: AtomicU64,
    /// zxid covered by the newest snapshot on disk.
    snapshot_zxid: AtomicI64,
    /// Held while a snapshot file is written; true once the keeper closed. A snapshot build
    /// runs in a task openraft spawns, which can outlive `Raft::shutdown`: without this fence
    /// it could replace `raft.snap` under the next keeper opening the same directory.
    disk: Mutex<bool>,
}

impl SmShared {
    /// Highest zxid in the in-memory state.
    pub fn mem_zxid(&self) -> i64 {
        self.mem_zxid.load(Ordering::Acquire)
    }

    fn note_applied(&self, log_id: LogId<u64>) {
        self.applied.lock().0 = Some(log_id);
        self.applied_index.fetch_max(log_id.index, Ordering::AcqRel);
        if let Some(log) = self.log.lock().as_ref() {
            log.evict_applied_now();
        }
    }

    /// Lets applies free the log store's copies of applied entries right away (not only at its
    /// next append: after a restart's replay there may be none for a long time).
    /// Also makes applies wait until their entries are durable.
    pub fn attach_log(&self, log: super::LogStore) {
        *self.durability.lock() = Some(log.durability());
        *self.log.lock() = Some(log);
    }

    /// The applied log index, kept current (the log store frees entries at or below it).
    pub fn applied_index(&self) -> Arc<AtomicU64> {
        self.applied_index.clone()
    }

    /// See `meta_only`: set around `Raft::new`.
    pub fn set_meta_only(&self, on: bool) {
        self.meta_only.store(on, Ordering::Release);
    }

    /// Installs the hook told about every applied batch.
    pub fn set_observer(&self, observer: Option<Arc<dyn ApplyObserver>>) {
        *self.observer.write() = observer;
    }

    /// Highest session id ever seen.
    pub fn max_session(&self) -> i64 {
        self.max_session.load(Ordering::Acquire)
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId<u64>> {
        self.applied.lock().0
    }

    /// zxid covered by the newest snapshot on disk (0 if none).
    pub fn snapshot_zxid(&self) -> i64 {
        self.snapshot_zxid.load(Ordering::Acquire)
    }

    /// Waits for a snapshot write in progress and refuses any later one, and closes the Raft
    /// log. Call after Raft is shut down, before the data directory is unlocked.
    pub fn close(&self) {
        *self.disk.lock() = true;
        if let Some(log) = self.log.lock().take() {
            log.close();
        }
    }

    /// How many snapshots this process built.
    pub fn snapshots_built(&self) -> u64 {
        self.snapshots_built.load(Ordering::Acquire)
    }
}

/// Openraft's `RaftStateMachine` (and, cloned, its snapshot builder).
#[derive(Clone)]
pub struct KeeperStateMachine {
    shared: Arc<SmShared>,
}

fn encode_file(meta: &Meta, body: &[u8]) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(meta).map_err(|e| format!("encoding snapshot meta: {e}"))?;
    let mut out = Vec::with_capacity(16 + json.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.put_u32(json.len() as u32);
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    let crc = crc32fast::hash(&out[MAGIC.len()..]);
    out.put_u32(crc);
    Ok(out)
}

/// A snapshot file's bytes for decoding. Large files are mapped rather than read: decoding
/// copies each node into the arena once, and a heap buffer the size of the file, freed right
/// after, tends to stay in the allocator's (and so the process's) resident memory.
enum FileBytes {
    Heap(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Heap(v) => v,
            FileBytes::Mapped(m) => m,
        }
    }
}

fn map_file(path: &Path) -> std::io::Result<FileBytes> {
    let f = std::fs::File::open(path)?;
    if f.metadata()?.len() < 1 << 20 {
        return std::fs::read(path).map(FileBytes::Heap);
    }
    // SAFETY: the mapping is only read while this function's caller decodes it. Snapshot files
    // are never written in place (a new one is renamed over the old), and the data directory
    // is locked by this process, so the mapped bytes cannot change underneath.
    let map = unsafe { memmap2::Mmap::map(&f)? };
    Ok(FileBytes::Mapped(map))
}

/// Only the meta of a snapshot file (its crc is not checked: `open` just did).
fn read_meta(path: &Path) -> Result<Option<Meta>, String> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut head = [0u8; HEAD];
    f.read_exact(&mut head).map_err(|e| e.to_string())?;
    let (_, len) = parse_head(&head)?;
    if len > 1 << 20 {
        return Err("snapshot meta is implausibly long".into());
    }
    let mut json = vec![0u8; len];
    f.read_exact(&mut json).map_err(|e| e.to_string())?;
    decode_meta(&json).map(Some)
}

/// Length of a snapshot file's fixed head: the magic, then the meta's length.
const HEAD: usize = MAGIC.len() + 4;

/// Checks a snapshot file's magic; returns whether the body is compact and the meta's length.
fn parse_head(head: &[u8; HEAD]) -> Result<(bool, usize), String> {
    let (magic, len) = head.split_at(MAGIC.len());
    let compact = match magic {
        m if m == MAGIC => true,
        m if m == MAGIC_V1 => false,
        _ => return Err("not a keeper Raft snapshot (bad magic)".into()),
    };
    Ok((
        compact,
        u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize,
    ))
}

fn decode_meta(json: &[u8]) -> Result<Meta, String> {
    serde_json::from_slice(json).map_err(|e| format!("snapshot meta does not decode: {e}"))
}

/// Checks a snapshot file's magic and crc; returns its meta, whether the body is compact, and
/// the body.
fn split_file(raw: &[u8]) -> Result<(Meta, bool, &[u8]), String> {
    if raw.len() < MAGIC.len() + 8 {
        return Err("not a keeper Raft snapshot (too short)".into());
    }
    let head: &[u8; HEAD] = raw[..HEAD]
        .try_into()
        .map_err(|_| "not a keeper Raft snapshot (too short)".to_string())?;
    let (compact, meta_len) = parse_head(head)?;
    let crc_at = raw.len() - 4;
    let want = u32::from_be_bytes([
        raw[crc_at],
        raw[crc_at + 1],
        raw[crc_at + 2],
        raw[crc_at + 3],
    ]);
    if crc32fast::hash(&raw[MAGIC.len()..crc_at]) != want {
        return Err("snapshot checksum mismatch".into());
    }
    let body_at = HEAD + meta_len;
    if body_at > crc_at {
        return Err("snapshot meta overruns the file".into());
    }
    let meta = decode_meta(&raw[HEAD..body_at])?;
    Ok((meta, compact, &raw[body_at..crc_at]))
}

/// Splits a snapshot file into its meta and state.
fn decode_file(raw: &[u8]) -> Result<(Meta, StateMachine), String> {
    let (meta, compact, body) = split_file(raw)?;
    let state = if compact {
        crate::snapshot::decode_compact(body)
    } else {
        crate::snapshot::decode(body)
    }
    .map_err(|e| format!("snapshot state does not decode: {e}"))?;
    Ok((meta, state))
}

fn write_atomically(dir: &Path, raw: &[u8]) -> Result<(), std::io::Error> {
    courier_durable_file::replace(&dir.join(FILE), raw, None)
}

/// Passes writes through and keeps the crc32 of everything after the magic.
struct CrcWriter<W> {
    inner: W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: std::io::Write> std::io::Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams a snapshot file of `state` under `meta` into `<dir>/raft.snap` (tmp, fsync, rename,
/// directory fsync); returns the file's length and how long the state's read guard was held
/// (applies wait that long).
///
/// Only the encoding runs under the guard. It hands 1 MiB chunks, whole, to a writer thread that
/// checksums them and writes them to the file meanwhile, on the other core; the chunks go back
/// and forth between the two, so no fresh memory is faulted in per chunk. (Staging the whole
/// body in memory instead measured no shorter: faulting in fresh memory costs about what the
/// page-cache writes do.) The guard is released once the last chunk is handed over, before the
/// writer drains and the fsync.
fn write_streaming(
    dir: &Path,
    meta: &Meta,
    state: tokio::sync::OwnedRwLockReadGuard<StateMachine>,
    locked_at: std::time::Instant,
) -> Result<(u64, std::time::Duration), String> {
    use std::io::Write;
    let json = serde_json::to_vec(meta).map_err(|e| format!("encoding snapshot meta: {e}"))?;
    let tmp = dir.join(format!("{FILE}.tmp"));
    let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(MAGIC).map_err(io)?;
    let (held, written) = std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 1);
        let writer = std::thread::Builder::new()
            .name("keeper-snap-write".into())
            .spawn_scoped(scope, move || {
                let mut w = CrcWriter {
                    inner: f,
                    crc: crc32fast::Hasher::new(),
                    len: MAGIC.len() as u64,
                };
                for mut chunk in full_rx {
                    w.write_all(&chunk)?;
                    chunk.clear();
                    // The encoder may be gone (it failed); the chunk is then simply dropped.
                    let _ = empty_tx.try_send(chunk);
                }
                Ok::<_, std::io::Error>(w)
            })
            .map_err(|e| format!("starting the snapshot writer: {e}"))?;
        // Hands a filled chunk to the writer and continues in one it sent back (or a new one).
        let hand_over = |chunk: &mut Vec<u8>| {
            let next = empty_rx.try_recv().unwrap_or_else(|_| new_chunk());
            full_tx.send(std::mem::replace(chunk, next)).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "snapshot writer stopped")
            })
        };
        let mut chunk = new_chunk();
        chunk.extend_from_slice(&(json.len() as u32).to_be_bytes());
        chunk.extend_from_slice(&json);
        let encoded = crate::snapshot::emit_compact(&state, &mut chunk, CHUNK, hand_over);
        drop(state);
        let held = locked_at.elapsed();
        drop(full_tx);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the snapshot writer panicked")));
        // The writer's error explains an encoder that found the pipe closed.
        Ok::<_, String>((held, written.and_then(|w| encoded.map(|_| w))))
    })?;
    let w = written.map_err(io)?;
    let crc = w.crc.finalize();
    let len = w.len + 4;
    let mut f = w.inner;
    f.write_all(&crc.to_be_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(FILE)).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok((len, held))
}

/// Bytes the snapshot encoder hands to the writer at a time (a chunk ends after the node that
/// crosses this, so it may be a little longer).
const CHUNK: usize = 1 << 20;
/// Chunks queued for the writer before the encoder waits for it.
const CHUNKS_IN_FLIGHT: usize = 4;

/// A chunk with room for the node that crosses `CHUNK` (most nodes are far smaller than 64 KiB;
/// a larger one only makes the Vec grow once).
fn new_chunk() -> Vec<u8> {
    Vec::with_capacity(CHUNK + (64 << 10))
}

fn sm_write_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::write_snapshot(None, AnyError::error(e.to_string())),
    }
}

fn sm_read_err(e: impl std::fmt::Display) -> StorageError<u64> {
    StorageError::IO {
        source: StorageIOError::read_snapshot(None, AnyError::error(e.to_string())),
    }
}

impl KeeperStateMachine {
    /// Loads `<dir>/raft.snap` if present, else starts from `seed` (or the empty state).
    /// Returns the machine and whether a snapshot was loaded.
    pub fn open(
        dir: &Path,
        seed: Option<StateMachine>,
    ) -> Result<(KeeperStateMachine, bool), KeeperError> {
        let path = dir.join(FILE);
        let loaded = match map_file(&path) {
            Ok(raw) => Some(decode_file(&raw).map_err(|reason| KeeperError::Corrupt {
                path: path.clone(),
                zxid: 0,
                reason,
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(KeeperError::Io {
                    context: "reading the Raft snapshot",
                    path,
                    source,
                })
            }
        };
        let present = loaded.is_some();
        let snapshot_zxid = loaded.as_ref().map(|(_, st)| st.last_zxid).unwrap_or(0);
        let (applied, membership, state) = match loaded {
            Some((meta, state)) => (meta.last_log_id, meta.last_membership, state),
            None => (None, Membership::default(), seed.unwrap_or_default()),
        };
        let shared = SmShared {
            mem_zxid: AtomicI64::new(state.last_zxid),
            observer: parking_lot::RwLock::new(None),
            max_session: AtomicI64::new(state.sessions.keys().copied().max().unwrap_or(0)),
            state: Arc::new(RwLock::new(state)),
            applied_index: Arc::new(AtomicU64::new(applied.map(|l| l.index).unwrap_or(0))),
            applied: Mutex::new((applied, membership)),
            log: Mutex::new(None),
            durability: Mutex::new(None),
            meta_only: std::sync::atomic::AtomicBool::new(false),
            dir: dir.to_path_buf(),
            snapshots_built: AtomicU64::new(0),
            snapshot_zxid: AtomicI64::new(snapshot_zxid),
            disk: Mutex::new(false),
        };
        Ok((
            KeeperStateMachine {
                shared: Arc::new(shared),
            },
            present,
        ))
    }

    /// The shared half.
    pub fn shared(&self) -> Arc<SmShared> {
        self.shared.clone()
    }

    // openraft's own error type is what the trait methods return; boxing it here gains nothing.
    #[allow(clippy::result_large_err)]
    fn read_current(&self) -> Result<Option<(Meta, Vec<u8>)>, StorageError<u64>> {
        let path = self.shared.dir.join(FILE);
        let raw = match std::fs::read(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(sm_read_err(format!("{}: {e}", path.display()))),
        };
        let (meta, _, _) =
            split_file(&raw).map_err(|e| sm_read_err(format!("{}: {e}", path.display())))?;
        Ok(Some((meta, raw)))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for KeeperStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let state = self.shared.state.clone().read_owned().await;
        let locked_at = std::time::Instant::now();
        let (last_log_id, last_membership) = self.shared.applied.lock().clone();
        let shared = self.shared.clone();
        // Encoding a large tree and fsyncing it takes seconds: keep it off the worker threads.
        let (meta, zxid) = tokio::task::spawn_blocking(move || {
            let zxid = state.last_zxid;
            let snapshot_id = match last_log_id {
                Some(id) => format!(
                    "{}-{}-{}-{zxid:x}",
                    id.leader_id.term, id.leader_id.node_id, id.index
                ),
                None => format!("none-{zxid:x}"),
            };
            let meta = Meta {
                last_log_id,
                last_membership,
                snapshot_id,
            };
            let closed = shared.disk.lock();
            if *closed {
                return Err("the keeper is shutting down; snapshot not written".to_string());
            }
            let (bytes, held) = write_streaming(&shared.dir, &meta, state, locked_at)?;
            drop(closed);
            tracing::info!(
                zxid = format_args!("{zxid:#x}"),
                bytes,
                writes_held_ms = held.as_millis() as u64,
                "keeper snapshot written"
            );
            Ok::<_, String>((meta, zxid))
        })
        .await
        .map_err(sm_write_err)?
        .map_err(sm_write_err)?;
        self.shared.snapshot_zxid.fetch_max(zxid, Ordering::AcqRel);
        self.shared.snapshots_built.fetch_add(1, Ordering::AcqRel);
        // Openraft keeps only the meta of a snapshot it asked for; the data is read back from
        // the file (`get_current_snapshot`) when it is needed, so no copy of the tree is held.
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for KeeperStateMachine {
    type SnapshotBuilder = KeeperStateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, Membership), StorageError<u64>> {
        Ok(self.shared.applied.lock().clone())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchApplied>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let durability = self.shared.durability.lock().clone();
        for entry in entries {
            let log_id = entry.log_id;
            if let Some(d) = &durability {
                d.wait(log_id.index).await.map_err(|e| StorageError::IO {
                    source: StorageIOError::apply(log_id, AnyError::error(e)),
                })?;
            }
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Membership(m) => {
                    self.shared.applied.lock().1 = StoredMembership::new(Some(log_id), m);
                }
                EntryPayload::Normal(batch) => {
                    let mut state = self.shared.state.write().await;
                    let mut results = Vec::with_capacity(batch.0.len());
                    for e in batch.0.iter() {
                        if e.zxid <= state.last_zxid {
                            // Already in the state (a migration seed covers it).
                            results.push(None);
                            continue;
                        }
                        let applied = state.apply(e).map_err(|err| StorageError::IO {
                            source: StorageIOError::apply(log_id, AnyError::new(&err)),
                        })?;
                        results.push(Some(applied));
                    }
                    self.shared
                        .mem_zxid
                        .store(state.last_zxid, Ordering::Release);
                    self.shared.note_applied(log_id);
                    let observer = self.shared.observer.read().clone();
                    if let Some(o) = observer {
                        o.applied(&state, &batch.0, results);
                    }
                    drop(state);
                    let max_session = batch.0.iter().map(|e| e.session_id).max().unwrap_or(0);
                    self.shared
                        .max_session
                        .fetch_max(max_session, Ordering::AcqRel);
                }
            }
            self.shared.note_applied(log_id);
            out.push(BatchApplied {
                last_zxid: self.shared.mem_zxid(),
            });
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> KeeperStateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let raw = snapshot.into_inner();
        let (_, new_state) = decode_file(&raw).map_err(sm_read_err)?;
        // Re-encoded under the meta openraft gives, which is the authority on what it covers.
        let body = crate::snapshot::encode_compact(&new_state);
        let raw = encode_file(meta, &body).map_err(sm_write_err)?;
        {
            let closed = self.shared.disk.lock();
            if *closed {
                return Err(sm_write_err(
                    "the keeper is shutting down; snapshot not installed",
                ));
            }
            write_atomically(&self.shared.dir, &raw).map_err(sm_write_err)?;
        }
        let mut state = self.shared.state.write().await;
        *state = new_state;
        self.shared
            .snapshot_zxid
            .store(state.last_zxid, Ordering::Release);
        self.shared
            .mem_zxid
            .store(state.last_zxid, Ordering::Release);
        let max_session = state.sessions.keys().copied().max().unwrap_or(0);
        self.shared
            .max_session
            .fetch_max(max_session, Ordering::AcqRel);
        *self.shared.applied.lock() = (meta.last_log_id, meta.last_membership.clone());
        if let Some(l) = meta.last_log_id {
            self.shared
                .applied_index
                .fetch_max(l.index, Ordering::AcqRel);
        }
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        if self.shared.meta_only.load(Ordering::Acquire) {
            let path = self.shared.dir.join(FILE);
            return read_meta(&path)
                .map(|m| {
                    m.map(|meta| Snapshot {
                        meta,
                        snapshot: Box::new(Cursor::new(Vec::new())),
                    })
                })
                .map_err(|e| sm_read_err(format!("{}: {e}", path.display())));
        }
        Ok(self.read_current()?.map(|(meta, raw)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(raw)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::TxnBatch;
    use crate::txn::{Txn, TxnEntry};
    use bytes::Bytes;
    use openraft::CommittedLeaderId;

    fn batch_entry(index: u64, zxids: std::ops::RangeInclusive<i64>) -> Entry<TypeConfig> {
        let txns = zxids
            .map(|z| TxnEntry {
                zxid: z,
                time_ms: 10,
                session_id: z,
                txn: Txn::Create {
                    path: format!("/n{z}"),
                    data: Bytes::from_static(b"d"),
                    acl: crate::acl::open_acl(),
                    ephemeral_owner: 0,
                },
            })
            .collect();
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(TxnBatch(Arc::new(txns))),
        }
    }

    #[tokio::test]
    async fn nothing_is_applied_before_its_entry_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let log = super::super::LogStore::open(dir.path(), true).unwrap();
        log.ack_on_write(true);
        let (mut sm, _) = KeeperStateMachine::open(dir.path(), None).unwrap();
        let shared = sm.shared();
        shared.attach_log(log.clone());
        log.write_unflushed(vec![batch_entry(1, 1..=2)]);
        let mut apply = Box::pin(sm.apply(vec![batch_entry(1, 1..=2)]));
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(300), apply.as_mut()).await;
        assert!(early.is_err(), "applied before the fdatasync");
        assert_eq!(shared.mem_zxid(), 0);
        log.kick_flusher();
        let r = apply.await.unwrap();
        assert_eq!(r[0].last_zxid, 2);
        assert!(shared.state.read().await.tree.get("/n2").is_some());
    }

    #[tokio::test]
    async fn applies_batches_once_and_snapshots_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, present) = KeeperStateMachine::open(dir.path(), None).unwrap();
        assert!(!present);
        let r = sm
            .apply(vec![batch_entry(1, 1..=3), batch_entry(2, 4..=4)])
            .await
            .unwrap();
        assert_eq!(r.iter().map(|a| a.last_zxid).collect::<Vec<_>>(), [3, 4]);
        // A batch the leader already applied in memory is not applied again.
        {
            let mut st = sm.shared.state.write().await;
            st.apply(&match batch_entry(3, 5..=5).payload {
                EntryPayload::Normal(b) => b.0[0].clone(),
                _ => unreachable!(),
            })
            .unwrap();
        }
        sm.apply(vec![batch_entry(3, 5..=5)]).await.unwrap();
        assert_eq!(sm.shared.state.read().await.last_zxid, 5);
        assert_eq!(sm.shared.max_session(), 5);
        assert_eq!(sm.shared.last_applied().map(|l| l.index), Some(3));

        let snap = sm.build_snapshot().await.unwrap();
        assert_eq!(snap.meta.last_log_id.map(|l| l.index), Some(3));
        let (reopened, present) = KeeperStateMachine::open(dir.path(), None).unwrap();
        assert!(present);
        assert_eq!(reopened.shared.last_applied().map(|l| l.index), Some(3));
        let st = reopened.shared.state.read().await;
        assert_eq!(st.last_zxid, 5);
        assert!(st.tree.get("/n5").is_some());
        drop(st);

        // Installing that snapshot elsewhere reproduces the state.
        let other = tempfile::tempdir().unwrap();
        let (mut sm2, _) = KeeperStateMachine::open(other.path(), None).unwrap();
        let data = sm.get_current_snapshot().await.unwrap().unwrap();
        sm2.install_snapshot(&data.meta, data.snapshot)
            .await
            .unwrap();
        assert_eq!(
            sm2.shared.state.read().await.tree.node_count(),
            st_count(&sm).await
        );
        assert_eq!(sm2.shared.mem_zxid(), 5);
        assert_eq!(
            sm2.applied_state().await.unwrap().0.map(|l| l.index),
            Some(3)
        );
    }

    async fn st_count(sm: &KeeperStateMachine) -> usize {
        sm.shared.state.read().await.tree.node_count()
    }

    #[tokio::test]
    async fn large_snapshot_is_mapped_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _) = KeeperStateMachine::open(dir.path(), None).unwrap();
        let txns = (1..=5000)
            .map(|z| TxnEntry {
                zxid: z,
                time_ms: 10,
                session_id: 0,
                txn: Txn::Create {
                    path: format!("/big{z}"),
                    data: Bytes::from(vec![7u8; 250]),
                    acl: crate::acl::open_acl(),
                    ephemeral_owner: 0,
                },
            })
            .collect();
        sm.apply(vec![Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
            payload: EntryPayload::Normal(TxnBatch(Arc::new(txns))),
        }])
        .await
        .unwrap();
        sm.build_snapshot().await.unwrap();
        let len = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(
            len > 1 << 20,
            "{len} bytes: too small to take the mapped path"
        );
        let (reopened, present) = KeeperStateMachine::open(dir.path(), None).unwrap();
        assert!(present);
        let st = reopened.shared.state.read().await;
        assert_eq!(st.last_zxid, 5000);
        assert_eq!(st.tree.get("/big4321").unwrap().data(), &[7u8; 250][..]);
        assert_eq!(st.tree.dump(), sm.shared.state.read().await.tree.dump());
    }

    #[tokio::test]
    async fn corrupt_snapshot_stops_startup() {
        let dir = tempfile::tempdir().unwrap();
        let (mut sm, _) = KeeperStateMachine::open(dir.path(), None).unwrap();
        sm.apply(vec![batch_entry(1, 1..=2)]).await.unwrap();
        sm.build_snapshot().await.unwrap();
        let p = dir.path().join(FILE);
        let mut raw = std::fs::read(&p).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 1;
        std::fs::write(&p, raw).unwrap();
        assert!(matches!(
            KeeperStateMachine::open(dir.path(), None),
            Err(KeeperError::Corrupt { .. })
        ));
    }
}

/// Figures, not a check: how long a snapshot holds the state's read lock (writes wait that
/// long). `NODES=1000000 cargo test --release -p courier-keeper --lib snapshot_hold_figures --
/// --ignored --nocapture` builds that many znodes of 100 B under 1,000 parents and writes five
/// snapshots of them.
#[cfg(test)]
mod hold_figures {
    use super::*;
    use crate::txn::{Txn, TxnEntry};
    use bytes::Bytes;

    fn create(sm: &mut StateMachine, zxid: i64, path: String, data: Bytes) {
        let txn = Txn::Create {
            path,
            data,
            acl: crate::acl::open_acl(),
            ephemeral_owner: 0,
        };
        let entry = TxnEntry {
            zxid,
            time_ms: 0,
            session_id: 0,
            txn,
        };
        sm.apply(&entry).expect("create");
    }

    #[test]
    #[ignore = "prints figures; run by hand with --release"]
    fn snapshot_hold_figures() {
        let nodes: usize = std::env::var("NODES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500_000);
        let mut sm = StateMachine::new();
        let data = Bytes::from(vec![b'x'; 100]);
        let mut zxid = 0;
        for i in 0..nodes {
            if i % 1000 == 0 {
                zxid += 1;
                create(&mut sm, zxid, format!("/d{}", i / 1000), Bytes::new());
            }
            zxid += 1;
            let path = format!("/d{}/node-{i:010}", i / 1000);
            create(&mut sm, zxid, path, data.clone());
        }
        let state = Arc::new(RwLock::new(sm));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let guard = rt.block_on(state.clone().read_owned());
            let t = std::time::Instant::now();
            let (bytes, held) =
                write_streaming(dir.path(), &Meta::default(), guard, t).expect("snapshot");
            println!(
                "{nodes} znodes, {bytes} bytes: lock held {:.1} ms, written and synced in {:.1} ms",
                held.as_secs_f64() * 1e3,
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
