//! Store reads that may wait for the disk, kept off the async workers.
//!
//! A page fault on a record that is not in memory blocks the thread that takes it. On an async
//! worker (the broker runs one by default) that stalls every send, pull and heartbeat it serves,
//! so such reads run on tokio's blocking pool instead: always for requests that read arbitrary
//! history (they are rare), and only when `MessageStore::reads_from_disk` says so for the frequent
//! ones (pulls, delay delivery, transaction checks), which otherwise read the log's tail inline.
//! Bodies read there are copied, so whoever uses them later faults nothing in.

use std::sync::Arc;

use bytes::Bytes;
use courier_store::{GetResult, MessageStore};

/// Runs `f` on tokio's blocking pool. A panic in `f` is resumed here, so a request processor's
/// guard answers it like an inline one; `None` when the pool refused the task (the runtime is
/// shutting down).
pub(crate) async fn off_the_runtime<T, F>(f: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    }
}

/// `MessageStore::get_messages` without tag filtering, on the blocking pool (messages copied)
/// when its first record is not in memory; inline otherwise.
pub(crate) async fn get_messages(
    store: &Arc<MessageStore>,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max_count: u32,
    max_bytes: u32,
) -> GetResult {
    if store.reads_from_disk(topic, queue_id, offset, max_bytes) {
        let (s, t) = (Arc::clone(store), topic.to_string());
        let cold = off_the_runtime(move || {
            let mut r = s.get_messages(&t, queue_id, offset, max_count, max_bytes, None);
            for m in &mut r.messages {
                *m = Bytes::copy_from_slice(m);
            }
            r
        })
        .await;
        if let Some(r) = cold {
            return r;
        }
    }
    store.get_messages(topic, queue_id, offset, max_count, max_bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_store::{MessageToStore, PutStatus, StoreConfig};

    /// Old messages come back from the blocking pool byte for byte as an inline read returns
    /// them; the newest are read inline.
    #[tokio::test]
    async fn cold_reads_return_what_inline_reads_return() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = StoreConfig::new(dir.path());
        cfg.commitlog_file_size = 8 << 20;
        cfg.direct_write = true;
        cfg.write_buffer_bytes = 16 << 20;
        cfg.message_index_enable = false;
        let store = Arc::new(MessageStore::open(cfg).unwrap());
        for i in 0..10_000u32 {
            let body = format!("{i:08}").repeat(375).into_bytes();
            let r = store.put(MessageToStore::new("Cold", 0, body)).await;
            assert_eq!(r.status, PutStatus::PutOk);
        }
        assert!(store.reads_from_disk("Cold", 0, 0, 256 << 10));
        let cold = get_messages(&store, "Cold", 0, 0, 32, 256 << 10).await;
        let inline = store.get_messages("Cold", 0, 0, 32, 256 << 10, None);
        assert_eq!(cold.messages.len(), 32);
        assert_eq!(cold.messages, inline.messages);
        assert_eq!(cold.next_begin_offset, inline.next_begin_offset);
        assert!(!store.reads_from_disk("Cold", 0, 9_999, 256 << 10));
        let tail = get_messages(&store, "Cold", 0, 9_999, 32, 256 << 10).await;
        assert_eq!(tail.messages.len(), 1);
    }
}
