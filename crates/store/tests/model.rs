//! Model-based property test: random puts, batches, filtered reads, clean restarts and crashes
//! (a store dropped without shutdown) against an in-memory model of every queue. Small segments
//! (64 KiB) and bodies up to ~3 KiB make segments, ConsumeQueue files and index files roll over
//! constantly; stores start and restart under either flush mode (SYNC_FLUSH writes with pwrite
//! and zeros ahead, ASYNC_FLUSH through the mapping or the write-behind buffer).

mod common_util;

use std::collections::HashMap;

use common_util::small_config;
use courier_store::{
    decode_record, encode_properties, java_string_hash, FlushDiskType, GetStatus, MessageStore,
    MessageToStore, PutStatus,
};
use proptest::prelude::*;

const TOPICS: [&str; 3] = ["TopicA", "T_b", "%RETRY%group"];
const TAGS: [&str; 4] = ["", "TagA", "TagB", "TagC"];

#[derive(Clone, Debug)]
enum Op {
    Put {
        topic: usize,
        queue: i32,
        size: usize,
        tag: usize,
    },
    Batch {
        topic: usize,
        queue: i32,
        n: usize,
        size: usize,
        tag: usize,
    },
    Get {
        topic: usize,
        queue: i32,
        back: i64,
        max_count: u32,
        max_bytes: u32,
        filter: Option<Vec<usize>>,
    },
    /// Clean restart in another write mode (`Mode`).
    Reopen { mode: Mode },
    /// The store dropped without `shutdown` (it leaves `abort`, as a killed process does), then
    /// opened in another write mode: crash recovery must rebuild exactly what was acknowledged.
    /// In-process nothing acknowledged is lost (the page cache and the stopped committer keep
    /// it), so the model is not trimmed; losing data to a real kill is `crash.rs`'s subject.
    Crash { mode: Mode },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..3i32, 0..3000usize, 0..4usize)
            .prop_map(|(topic, queue, size, tag)| Op::Put { topic, queue, size, tag }),
        2 => (0..3usize, 0..3i32, 1..6usize, 0..800usize, 0..4usize)
            .prop_map(|(topic, queue, n, size, tag)| Op::Batch { topic, queue, n, size, tag }),
        4 => (0..3usize, 0..3i32, 0..40i64, 1..12u32, 1..20_000u32, proptest::option::of(proptest::collection::vec(0..4usize, 1..3)))
            .prop_map(|(topic, queue, back, max_count, max_bytes, filter)| Op::Get { topic, queue, back, max_count, max_bytes, filter }),
        1 => mode().prop_map(|mode| Op::Reopen { mode }),
        1 => mode().prop_map(|mode| Op::Crash { mode }),
    ]
}

/// One stored message as the model remembers it.
#[derive(Clone, Debug)]
struct Entry {
    body: Vec<u8>,
    tag: usize,
    size: usize,
}

fn make(topic: usize, queue: i32, size: usize, tag: usize, seq: u64) -> (MessageToStore, Entry) {
    let body: Vec<u8> = (0..size).map(|i| (seq as usize * 7 + i) as u8).collect();
    let props = if TAGS[tag].is_empty() {
        encode_properties(&[("KEYS", &format!("key{seq}"))])
    } else {
        encode_properties(&[("TAGS", TAGS[tag]), ("KEYS", &format!("key{seq}"))])
    };
    let mut m = MessageToStore::new(TOPICS[topic], queue, body.clone());
    m.properties = props;
    let size = 91 + m.body.len() + m.topic.len() + m.properties.len();
    (m, Entry { body, tag, size })
}

fn tag_code(tag: usize) -> i64 {
    if TAGS[tag].is_empty() {
        0
    } else {
        java_string_hash(TAGS[tag]) as i64
    }
}

/// How the store writes: SYNC_FLUSH (pwrite segments, zeros ahead), ASYNC_FLUSH through the
/// write-behind buffer (O_DIRECT), or ASYNC_FLUSH copying into the mapping.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Sync,
    AsyncDirect,
    AsyncMapped,
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::Sync),
        Just(Mode::AsyncDirect),
        Just(Mode::AsyncMapped)
    ]
}

fn apply(cfg: &mut courier_store::StoreConfig, mode: Mode) {
    cfg.flush_disk_type = match mode {
        Mode::Sync => FlushDiskType::SyncFlush,
        Mode::AsyncDirect | Mode::AsyncMapped => FlushDiskType::AsyncFlush,
    };
    cfg.direct_write = matches!(mode, Mode::AsyncDirect);
}

fn run(ops: Vec<Op>, mode: Mode) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Hundreds of stores are opened and closed (each with a few fsyncs): on tmpfs when the machine
    // has one, so the test measures the store's logic rather than the disk's sync latency.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .unwrap();
    let mut cfg = small_config(dir.path());
    apply(&mut cfg, mode);
    let mut store = MessageStore::open(cfg.clone()).unwrap();
    let mut model: HashMap<(usize, i32), Vec<Entry>> = HashMap::new();
    let mut seq = 0u64;
    for op in ops {
        match op {
            Op::Put {
                topic,
                queue,
                size,
                tag,
            } => {
                seq += 1;
                let (m, e) = make(topic, queue, size, tag, seq);
                let r = rt.block_on(store.put(m));
                prop_assert_eq!(r.status, PutStatus::PutOk);
                let q = model.entry((topic, queue)).or_default();
                prop_assert_eq!(r.queue_offset, q.len() as i64);
                prop_assert_eq!(r.wrote_bytes as usize, e.size);
                q.push(e);
            }
            Op::Batch {
                topic,
                queue,
                n,
                size,
                tag,
            } => {
                let mut msgs = Vec::new();
                let mut es = Vec::new();
                for i in 0..n {
                    seq += 1;
                    let (m, e) = make(topic, queue, size + i, tag, seq);
                    msgs.push(m);
                    es.push(e);
                }
                let r = rt.block_on(store.put_batch(msgs));
                prop_assert_eq!(r.status, PutStatus::PutOk);
                let q = model.entry((topic, queue)).or_default();
                prop_assert_eq!(r.queue_offset, q.len() as i64);
                prop_assert_eq!(r.msg_count as usize, n);
                q.extend(es);
            }
            Op::Get {
                topic,
                queue,
                back,
                max_count,
                max_bytes,
                filter,
            } => {
                let q = model.get(&(topic, queue)).cloned().unwrap_or_default();
                let offset = (q.len() as i64 - back).max(0);
                let codes: Option<Vec<i64>> = filter
                    .as_ref()
                    .map(|f| f.iter().map(|t| tag_code(*t)).collect());
                let g = store.get_messages(
                    TOPICS[topic],
                    queue,
                    offset,
                    max_count,
                    max_bytes,
                    codes.as_deref(),
                );
                prop_assert_eq!(g.max_offset, q.len() as i64);
                if q.is_empty() {
                    prop_assert!(matches!(
                        g.status,
                        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue
                    ));
                    continue;
                }
                if offset == q.len() as i64 {
                    prop_assert_eq!(g.status, GetStatus::OffsetOverflowOne);
                    prop_assert_eq!(g.next_begin_offset, offset);
                    continue;
                }
                // Simulate: skip non-matching, stop at max_count or when the next one would exceed
                // max_bytes (but always return at least one).
                let mut want = Vec::new();
                let mut bytes = 0usize;
                let mut o = offset as usize;
                while o < q.len() && want.len() < max_count as usize {
                    let e = &q[o];
                    let matches = codes.as_ref().is_none_or(|c| c.contains(&tag_code(e.tag)));
                    if matches {
                        if !want.is_empty() && bytes + e.size > max_bytes as usize {
                            break;
                        }
                        bytes += e.size;
                        want.push((o, e));
                    }
                    o += 1;
                }
                prop_assert_eq!(g.next_begin_offset, o as i64);
                prop_assert_eq!(g.messages.len(), want.len());
                prop_assert_eq!(
                    g.status,
                    if want.is_empty() {
                        GetStatus::NoMatchedMessage
                    } else {
                        GetStatus::Found
                    }
                );
                for (b, (o, e)) in g.messages.iter().zip(want) {
                    let m = decode_record(b).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(m.queue_offset(), o as i64);
                    prop_assert_eq!(m.topic(), TOPICS[topic]);
                    prop_assert_eq!(m.queue_id(), queue);
                    prop_assert_eq!(m.body(), &e.body[..]);
                    prop_assert_eq!(m.tags_code(), tag_code(e.tag));
                }
            }
            Op::Reopen { mode } | Op::Crash { mode } => {
                let clean = matches!(op, Op::Reopen { .. });
                let end = store.max_phys_offset();
                if clean {
                    store.shutdown().unwrap();
                }
                drop(store);
                apply(&mut cfg, mode);
                store = MessageStore::open(cfg.clone()).unwrap();
                let report = store.recovery_report();
                prop_assert_eq!(report.clean_shutdown, clean);
                prop_assert!(report.corrupt.is_empty(), "{:?}", report.corrupt);
                prop_assert_eq!(store.max_phys_offset(), end);
                for ((t, qid), q) in &model {
                    prop_assert_eq!(store.max_offset(TOPICS[*t], *qid), q.len() as i64);
                }
            }
        }
    }
    store.shutdown().unwrap();
    Ok(())
}

proptest! {
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..100), mode in mode()) {
        run(ops, mode)?;
    }
}
