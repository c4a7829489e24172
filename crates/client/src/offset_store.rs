//! Consumer offset stores (fact sheet §10).
//!
//! - Clustering (`Remote`): offsets live on the broker of each queue; read with
//!   QUERY_CONSUMER_OFFSET when a queue is assigned, kept in memory, written
//!   with UPDATE_CONSUMER_OFFSET (oneway) every persist period, when a queue is
//!   dropped and on shutdown.
//! - Broadcasting (`Local`): offsets live in
//!   `<dir>/<clientId>/<group>/offsets.json`, written every persist period and
//!   on shutdown. The file is replaced atomically (write a temp file, fdatasync
//!   it, rename), so a crash or a power loss leaves the old or the new file,
//!   never a torn one. Writers take turns (they share the temp file) and write
//!   on the blocking pool.
//!
//! An offset is "the next offset to consume". Updates never move an offset
//! backwards unless `force` is set (a reset).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::message_queue::MessageQueue;

/// Where a consumer group's offsets are kept.
pub(crate) enum OffsetStore {
    Remote {
        instance: Arc<ClientInstance>,
        group: String,
        table: Mutex<HashMap<MessageQueue, i64>>,
    },
    Local {
        path: PathBuf,
        table: Mutex<HashMap<MessageQueue, i64>>,
        /// Writers of the file take turns: they share its temp file, and a table snapshotted
        /// before a newer one must not be written after it (the snapshot is taken in the turn).
        write_turn: tokio::sync::Mutex<()>,
        /// Writes of the file that failed (each is retried by the next persist).
        write_failures: std::sync::atomic::AtomicU64,
    },
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OffsetFile {
    offsets: Vec<OffsetEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OffsetEntry {
    topic: String,
    broker_name: String,
    queue_id: i32,
    offset: i64,
}

impl OffsetStore {
    pub(crate) fn remote(instance: Arc<ClientInstance>, group: &str) -> Self {
        OffsetStore::Remote {
            instance,
            group: group.to_string(),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Opens (or starts) the local file for `client_id`/`group` under `dir`.
    pub(crate) fn local(dir: &Path, client_id: &str, group: &str) -> Result<Self> {
        // ':' (IPv6, ports) is not portable in file names.
        let safe = |s: &str| s.replace([':', '/', '\\'], "_");
        let path = dir
            .join(safe(client_id))
            .join(safe(group))
            .join("offsets.json");
        let mut table = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: OffsetFile =
                    serde_json::from_slice(&bytes).map_err(|e| ClientError::OffsetFile {
                        path: path.display().to_string(),
                        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                    })?;
                for e in file.offsets {
                    table.insert(
                        MessageQueue::new(e.topic, e.broker_name, e.queue_id),
                        e.offset,
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ClientError::OffsetFile {
                    path: path.display().to_string(),
                    source,
                })
            }
        }
        Ok(OffsetStore::Local {
            path,
            table: Mutex::new(table),
            write_turn: tokio::sync::Mutex::new(()),
            write_failures: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Failed writes of a broadcasting group's offset file so far (0 for a clustering group).
    #[cfg(test)]
    pub(crate) fn write_failures(&self) -> u64 {
        match self {
            OffsetStore::Remote { .. } => 0,
            OffsetStore::Local { write_failures, .. } => {
                write_failures.load(std::sync::atomic::Ordering::Relaxed)
            }
        }
    }

    fn table(&self) -> &Mutex<HashMap<MessageQueue, i64>> {
        match self {
            OffsetStore::Remote { table, .. } | OffsetStore::Local { table, .. } => table,
        }
    }

    /// Records a new offset in memory.
    pub(crate) fn update(&self, mq: &MessageQueue, offset: i64, force: bool) {
        let mut t = self.table().lock();
        let e = t.entry(mq.clone()).or_insert(offset);
        if force || offset > *e {
            *e = offset;
        }
    }

    /// The stored offset: memory first, then (remote) the broker.
    pub(crate) async fn read(&self, mq: &MessageQueue) -> Result<Option<i64>> {
        if let Some(o) = self.table().lock().get(mq) {
            return Ok(Some(*o));
        }
        match self {
            OffsetStore::Local { .. } => Ok(None),
            OffsetStore::Remote {
                instance, group, ..
            } => {
                let o = instance.query_consumer_offset(group, mq).await?;
                if let Some(o) = o {
                    self.update(mq, o, false);
                }
                Ok(o)
            }
        }
    }

    /// The in-memory offset, if any.
    pub(crate) fn cached(&self, mq: &MessageQueue) -> Option<i64> {
        self.table().lock().get(mq).copied()
    }

    /// The in-memory offsets of `topic`'s queues, sorted by queue (what a consumer answers
    /// GET_CONSUMER_STATUS_FROM_CLIENT with, as Java's `cloneOffsetTable(topic)`).
    pub(crate) fn of_topic(&self, topic: &str) -> Vec<(MessageQueue, i64)> {
        let mut held: Vec<_> = self
            .table()
            .lock()
            .iter()
            .filter(|(q, _)| q.topic == topic)
            .map(|(q, o)| (q.clone(), *o))
            .collect();
        held.sort();
        held
    }

    /// Persists the offsets of `queues` (remote) or the whole table (local).
    /// Remote commits are oneway when `oneway` (the periodic commit, as Java
    /// does) and awaited otherwise (shutdown, dropped queue), so a later reader
    /// sees them.
    pub(crate) async fn persist(&self, queues: &[MessageQueue], oneway: bool) {
        match self {
            OffsetStore::Remote {
                instance,
                group,
                table,
            } => {
                let entries: Vec<(MessageQueue, i64)> = {
                    let t = table.lock();
                    queues
                        .iter()
                        .filter_map(|q| t.get(q).map(|o| (q.clone(), *o)))
                        .collect()
                };
                for (q, o) in entries {
                    if let Err(e) = instance.update_consumer_offset(group, &q, o, oneway).await {
                        tracing::warn!(queue = %q, error = %e, "offset commit failed; retried next period");
                    }
                }
            }
            OffsetStore::Local {
                path,
                table,
                write_turn,
                write_failures,
            } => {
                let _turn = write_turn.lock().await;
                let sorted: BTreeMap<MessageQueue, i64> =
                    table.lock().iter().map(|(q, o)| (q.clone(), *o)).collect();
                let file = OffsetFile {
                    offsets: sorted
                        .into_iter()
                        .map(|(q, offset)| OffsetEntry {
                            topic: q.topic,
                            broker_name: q.broker_name,
                            queue_id: q.queue_id,
                            offset,
                        })
                        .collect(),
                };
                // A write and an fsync: off the async worker, which serves the consumer's pulls.
                let path = path.clone();
                let written =
                    tokio::task::spawn_blocking(move || write_atomically(&path, &file)).await;
                let failed = match written {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(e) = failed {
                    write_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %e, "offset file write failed; retried next period");
                }
            }
        }
    }

    /// Persists one queue's offset right away and forgets it (queue dropped).
    pub(crate) async fn persist_and_remove(&self, mq: &MessageQueue) {
        self.persist(std::slice::from_ref(mq), false).await;
        if let OffsetStore::Remote { table, .. } = self {
            table.lock().remove(mq);
        }
    }
}

fn write_atomically(path: &Path, file: &OffsetFile) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(file).unwrap_or_default();
    courier_durable_file::replace(path, &bytes, None).map_err(|source| ClientError::OffsetFile {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Persists running at once (the periodic one, a dropped queue's, shutdown's) take turns:
    /// none fails on another's temp file, and the file ends with the newest offsets.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_persists_keep_the_newest_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap());
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let q = MessageQueue::new("T", "b", i);
                    for o in 1..=50 {
                        s.update(&q, o, false);
                        s.persist(&[], false).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(s.write_failures(), 0);
        let again = OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap();
        for i in 0..16 {
            let q = MessageQueue::new("T", "b", i);
            assert_eq!(again.read(&q).await.unwrap(), Some(50), "queue {i}");
        }
    }

    #[tokio::test]
    async fn local_offsets_survive_a_reopen_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let q = MessageQueue::new("T", "b", 1);
        let s = OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap();
        assert_eq!(s.read(&q).await.unwrap(), None);
        s.update(&q, 10, false);
        s.update(&q, 7, false);
        assert_eq!(s.cached(&q), Some(10));
        s.persist(&[], false).await;
        let s = OffsetStore::local(dir.path(), "127.0.0.1@x", "g").unwrap();
        assert_eq!(s.read(&q).await.unwrap(), Some(10));
        s.update(&q, 3, true);
        assert_eq!(s.cached(&q), Some(3));
    }

    #[test]
    fn a_corrupt_offset_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c").join("g");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("offsets.json"), b"{not json").unwrap();
        let e = OffsetStore::local(dir.path(), "c", "g").err().unwrap();
        assert!(e.to_string().contains("offsets.json"), "{e}");
    }
}
