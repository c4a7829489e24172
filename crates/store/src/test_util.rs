//! Helpers shared by the crate's own unit tests: a message whose body and KEYS follow from
//! (queue, seq), and a small multi-thread runtime.

use crate::{encode_properties, MessageToStore};

/// A message on `topic`/`queue` with a `len`-byte body derived from `seq`, TAGS `t` and KEYS
/// `k{queue}-{seq}`.
pub(crate) fn msg(topic: &str, queue: i32, seq: u32, len: usize) -> MessageToStore {
    let body: Vec<u8> = (0..len).map(|i| (i as u32 ^ seq) as u8).collect();
    let mut m = MessageToStore::new(topic, queue, body);
    m.properties = encode_properties(&[("TAGS", "t"), ("KEYS", &format!("k{queue}-{seq}"))]);
    m
}

/// A two-worker runtime with timers (the store's SYNC_FLUSH waits use them).
pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the test")
}
