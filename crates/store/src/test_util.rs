//! Helpers shared by the crate's own unit tests: a small store configuration, a message whose
//! body and KEYS follow from (queue, seq), a small multi-thread runtime, and bounded waits.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{encode_properties, FlushDiskType, MessageToStore, StoreConfig};

/// A store with `segment`-byte CommitLog segments, small ConsumeQueue and index files (so they
/// roll over within a test), a 20 ms async flush, and disk-usage limits that a nearly full test
/// machine does not trip.
pub(crate) fn small_store(dir: &Path, segment: u64, flush: FlushDiskType) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = segment;
    c.cq_entries_per_file = 256;
    c.index_slots = 64;
    c.index_entries = 1024;
    c.flush_interval = Duration::from_millis(20);
    c.disk_space_warning_level_ratio = 100;
    c.disk_max_used_space_ratio = 95;
    c.flush_disk_type = flush;
    c
}

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

/// Polls `done` every 2 ms for up to 30 s; whether it came to hold. The bound only turns a hang
/// into a failure, it is not a speed assertion.
fn poll(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Polls `done` until it holds; panics with `what` when it never does (see `poll`).
pub(crate) fn wait_until(what: &str, done: impl FnMut() -> bool) {
    assert!(poll(done), "{what}");
}

/// Reads a figure the store's threads advance until it reaches `at_least` (see `poll`) and
/// returns its last value, for the caller to assert on.
pub(crate) fn wait_at_least(at_least: u64, read: impl Fn() -> u64) -> u64 {
    let mut v = read();
    poll(|| {
        v = read();
        v >= at_least
    });
    v
}
