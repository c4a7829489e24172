//! End-to-end behaviour of the public API: put/get, batches, segment roll-over, restart (clean and
//! crash), key queries, SYNC_FLUSH group commit, WAIT=false, transaction records and the store lock.

mod common_util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common_util::{msg, small_config};
use courier_store::{
    decode_record, encode_properties, offset_msg_id, FlushDiskType, GetStatus, MessageRef,
    MessageStore, MessageToStore, PutStatus, StoreError, FLAG_TRANSACTION_PREPARED,
};

#[tokio::test]
async fn put_get_roll_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.recovery_report().clean_shutdown || store.recovery_report().scanned_bytes == 0);
    let mut phys = Vec::new();
    for i in 0..300u32 {
        let r = store
            .put(msg(
                "TopicA",
                (i % 2) as i32,
                vec![i as u8; 500],
                "TagA",
                &format!("k{i}"),
            ))
            .await;
        assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.reason);
        assert_eq!(r.queue_offset, (i / 2) as i64);
        assert_eq!(r.msg_id.len(), 32);
        phys.push(r.phys_offset);
    }
    // 300 * ~560 bytes over 64 KiB segments: several roll-overs, no record spans a segment.
    assert!(store.max_phys_offset() > 2 * 64 * 1024);
    for p in &phys {
        let start = *p as u64 % (64 * 1024);
        let b = store.message_by_phys_offset(*p).unwrap();
        assert!(start + b.len() as u64 <= 64 * 1024);
    }
    // The first segment ends with a blank record covering exactly the bytes left after its last
    // message: TOTALSIZE = remaining, MAGIC = 0xCBD43194, then the next message starts segment 2.
    let roll = phys.iter().position(|p| *p >= 64 * 1024).unwrap();
    let last_end =
        phys[roll - 1] as u64 + store.message_by_phys_offset(phys[roll - 1]).unwrap().len() as u64;
    assert_eq!(phys[roll], 64 * 1024);
    let seg0 = std::fs::read(dir.path().join("commitlog").join(format!("{:020}", 0))).unwrap();
    let at = last_end as usize;
    assert_eq!(
        i32::from_be_bytes(seg0[at..at + 4].try_into().unwrap()) as u64,
        64 * 1024 - last_end
    );
    assert_eq!(
        u32::from_be_bytes(seg0[at + 4..at + 8].try_into().unwrap()),
        courier_store::MAGIC_BLANK
    );
    assert!(64 * 1024 - last_end >= 8);
    assert_eq!(store.max_offset("TopicA", 0), 150);
    let g = store.get_messages("TopicA", 1, 10, 5, 1 << 20, None);
    assert_eq!(g.status, GetStatus::Found);
    assert_eq!(g.messages.len(), 5);
    assert_eq!(g.next_begin_offset, 15);
    let m = decode_record(&g.messages[0]).unwrap();
    assert_eq!(m.queue_offset(), 10);
    assert_eq!(m.queue_id(), 1);
    assert_eq!(m.body(), &vec![21u8; 500][..]);
    assert_eq!(
        store
            .get_messages("TopicA", 1, 150, 5, 1 << 20, None)
            .status,
        GetStatus::OffsetOverflowOne
    );
    assert_eq!(
        store
            .get_messages("TopicA", 1, 151, 5, 1 << 20, None)
            .status,
        GetStatus::OffsetOverflowBadly
    );
    assert_eq!(
        store.get_messages("Nope", 0, 0, 5, 1 << 20, None).status,
        GetStatus::NoMatchedLogicQueue
    );
    // Tag filter.
    let other = courier_store::java_string_hash("TagB") as i64;
    let g = store.get_messages("TopicA", 0, 0, 5, 1 << 20, Some(&[other]));
    assert_eq!(g.status, GetStatus::NoMatchedMessage);
    assert_eq!(g.next_begin_offset, 150);
    // max_bytes limits the batch but returns at least one.
    let g = store.get_messages("TopicA", 0, 0, 32, 1, None);
    assert_eq!(g.messages.len(), 1);
    // Key query (the index thread may lag; query catches up itself).
    let found = store.query_by_key("TopicA", "k77", 10, 0, i64::MAX);
    assert_eq!(found.len(), 1);
    assert_eq!(decode_record(&found[0]).unwrap().body()[0], 77);
    let ts_mid = decode_record(&store.message_by_phys_offset(phys[100]).unwrap())
        .unwrap()
        .store_timestamp();
    assert!(store.offset_by_time("TopicA", 0, ts_mid) <= 50);
    // Each queue offset's store timestamp is its record's; none outside the queue.
    for (i, p) in phys.iter().enumerate().step_by(37) {
        let bytes = store.message_by_phys_offset(*p).unwrap();
        let stored_at = decode_record(&bytes).unwrap().store_timestamp();
        let (q, off) = ((i % 2) as i32, (i / 2) as i64);
        assert_eq!(store.store_timestamp("TopicA", q, off), Some(stored_at));
    }
    assert_eq!(store.store_timestamp("TopicA", 0, 150), None);
    assert_eq!(store.store_timestamp("TopicA", 0, -1), None);
    assert_eq!(store.store_timestamp("TopicA", 7, 0), None);
    assert_eq!(store.store_timestamp("NoSuchTopic", 0, 0), None);
    let end = store.max_phys_offset();
    store.shutdown().unwrap();
    store.shutdown().unwrap();
    assert_eq!(
        store.put(msg("TopicA", 0, vec![1], "", "")).await.status,
        PutStatus::ServiceNotAvailable
    );
    drop(store);
    assert!(!dir.path().join("abort").exists());

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(rep.clean_shutdown, "{rep:?}");
    assert!(
        rep.scanned_bytes < 2000,
        "clean open must verify only the tail: {rep:?}"
    );
    assert_eq!(store.max_phys_offset(), end);
    assert_eq!(store.max_offset("TopicA", 1), 150);
    let r = store
        .put(msg("TopicA", 1, vec![9; 10], "TagA", "after"))
        .await;
    assert_eq!(r.queue_offset, 150);
    assert_eq!(r.phys_offset, end);
    assert_eq!(store.query_by_key("TopicA", "k3", 10, 0, i64::MAX).len(), 1);
    drop(store); // crash: abort stays

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(!rep.clean_shutdown);
    assert!(rep.corrupt.is_empty(), "{rep:?}");
    assert_eq!(store.max_offset("TopicA", 1), 151);
    assert_eq!(store.max_offset("TopicA", 0), 150);
    let g = store.get_messages("TopicA", 1, 150, 5, 1 << 20, None);
    assert_eq!(decode_record(&g.messages[0]).unwrap().body(), &[9u8; 10]);
    store.shutdown().unwrap();
}

#[tokio::test]
async fn batch_is_contiguous_with_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    store.put(msg("B", 0, vec![0; 100], "x", "y")).await;
    let batch: Vec<MessageToStore> = (0..10)
        .map(|i| msg("B", 0, vec![i; 50], "t", "k"))
        .collect();
    let r = store.put_batch(batch).await;
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!((r.queue_offset, r.msg_count), (1, 10));
    let g = store.get_messages("B", 0, 1, 32, 1 << 20, None);
    assert_eq!(g.messages.len(), 10);
    let mut expect = r.phys_offset;
    // The answer names every record: its offset msgIds, comma-joined.
    let ids: Vec<&str> = r.msg_id.split(',').collect();
    assert_eq!(ids.len(), 10);
    for (i, b) in g.messages.iter().enumerate() {
        let m = decode_record(b).unwrap();
        assert_eq!(m.phys_offset(), expect);
        assert_eq!(m.queue_offset(), 1 + i as i64);
        assert_eq!(ids[i], offset_msg_id(m.store_host(), m.phys_offset()));
        expect += b.len() as i64;
    }
    assert_eq!(expect - r.phys_offset, r.wrote_bytes as i64);
    let mixed = vec![msg("B", 0, vec![1], "", ""), msg("B", 1, vec![1], "", "")];
    assert_eq!(
        store.put_batch(mixed).await.status,
        PutStatus::MessageIllegal
    );
    assert_eq!(
        store.put_batch(Vec::new()).await.status,
        PutStatus::MessageIllegal
    );
    let big = msg("B", 0, vec![0; 17 * 1024], "", "");
    let r = store.put(big).await;
    assert_eq!(r.status, PutStatus::MessageIllegal);
    assert!(r.reason.unwrap().contains("max_message_size"));
    let mut props = msg("B", 0, vec![0], "", "");
    props.properties = "a\u{1}".to_string() + &"v".repeat(40_000) + "\u{2}";
    assert_eq!(
        store.put(props).await.status,
        PutStatus::PropertiesSizeExceeded
    );
    assert_eq!(
        store.put(msg("a/b", 0, vec![0], "", "")).await.status,
        PutStatus::MessageIllegal
    );
    assert_eq!(store.max_offset("B", 0), 11);
}

#[tokio::test]
async fn prepared_transactions_are_not_dispatched() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    store.put(msg("T", 0, vec![1], "", "")).await;
    let mut half = msg("T", 0, vec![2], "", "halfkey");
    half.sys_flag = FLAG_TRANSACTION_PREPARED;
    let r = store.put(half).await;
    assert_eq!(r.status, PutStatus::PutOk);
    assert_eq!(r.queue_offset, 0);
    let stored = decode_record(&store.message_by_phys_offset(r.phys_offset).unwrap())
        .unwrap()
        .queue_offset();
    assert_eq!(stored, 0);
    assert_eq!(store.max_offset("T", 0), 1);
    assert!(store
        .query_by_key("T", "halfkey", 10, 0, i64::MAX)
        .is_empty());
    assert_eq!(
        store.put(msg("T", 0, vec![3], "", "")).await.queue_offset,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_flush_group_commit_and_wait_false() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.flush_disk_type = FlushDiskType::SyncFlush;
    cfg.commitlog_file_size = 1 << 20;
    let store = Arc::new(MessageStore::open(cfg).unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    // SYNC_FLUSH records become visible when their group-commit round writes them; a woken
    // reader must find the record it was told about.
    let weak = Arc::new(std::sync::OnceLock::<std::sync::Weak<MessageStore>>::new());
    let w = Arc::clone(&weak);
    store.set_arrival_listener(Arc::new(move |t: &str, q, o, _c, _p: &str| {
        assert_eq!((t, q), ("S", 0));
        if let Some(s) = w.get().and_then(|w| w.upgrade()) {
            assert!(
                s.max_offset(t, q) > o,
                "listener called before offset {o} was visible"
            );
            let got = s.get_messages(t, q, o, 1, 1 << 20, None);
            assert_eq!(got.messages.len(), 1, "record at offset {o} not readable");
        }
        h.fetch_add(1, Ordering::Relaxed);
    }));
    weak.set(Arc::downgrade(&store)).unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let r = s.put(msg("S", 0, vec![i as u8; 100], "", "")).await;
            assert_eq!(r.status, PutStatus::PutOk);
            assert!(s.flushed_phys_offset() >= r.phys_offset + r.wrote_bytes as i64);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(hits.load(Ordering::Relaxed), 64);
    let mut nowait = msg("S", 0, vec![1], "", "");
    nowait.properties.push_str("WAIT\u{1}false\u{2}");
    let r = store.put(nowait).await;
    assert_eq!(r.status, PutStatus::PutOk);
    // Nobody waits for its flush, but it is readable as soon as the put returns.
    assert!(store.message_by_phys_offset(r.phys_offset).is_some());
    assert_eq!(store.max_offset("S", 0), r.queue_offset + 1);
    // Nobody waits for it, but the group-commit thread still flushes it (bounded wait).
    let end = r.phys_offset + r.wrote_bytes as i64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while store.flushed_phys_offset() < end {
        assert!(
            std::time::Instant::now() < deadline,
            "WAIT=false record never flushed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    store.shutdown().unwrap();
}

/// A batch of borrowed messages (slices of one request-like buffer, one shared topic) is stored
/// as the same messages lent by owned ones would be, and its rules are the same.
#[tokio::test]
async fn borrowed_batch_stores_what_owned_messages_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    // Bodies and properties side by side in one buffer, as in a SEND_BATCH_MESSAGE body.
    let mut request = Vec::new();
    let mut spans = Vec::new();
    for i in 0..5u8 {
        let body_at = request.len();
        request.extend(std::iter::repeat_n(b'a' + i, 40 + i as usize));
        let props_at = request.len();
        request.extend(encode_properties(&[("TAGS", "t"), ("KEYS", &format!("r{i}"))]).bytes());
        spans.push((body_at..props_at, props_at..request.len()));
    }
    let text = std::str::from_utf8(&request).unwrap();
    let topic = String::from("R");
    let owned = msg("R", 0, Vec::new(), "", "");
    let refs: Vec<MessageRef<'_>> = spans
        .iter()
        .map(|(body, props)| MessageRef {
            topic: &topic,
            flag: 7,
            body: &request[body.clone()],
            properties: &text[props.clone()],
            ..owned.as_ref()
        })
        .collect();
    let r = store.put_batch_refs(&refs).await;
    assert_eq!(r.status, PutStatus::PutOk, "{:?}", r.reason);
    assert_eq!((r.queue_offset, r.msg_count), (0, 5));
    let copies: Vec<MessageToStore> = refs
        .iter()
        .map(|m| {
            let mut c = MessageToStore::new(m.topic, m.queue_id, m.body.to_vec());
            c.flag = m.flag;
            c.properties = m.properties.to_string();
            c.born_timestamp = m.born_timestamp;
            c
        })
        .collect();
    let r2 = store.put_batch(copies).await;
    assert_eq!((r2.queue_offset, r2.wrote_bytes), (5, r.wrote_bytes));
    let g = store.get_messages("R", 0, 0, 10, 1 << 20, None);
    assert_eq!(g.messages.len(), 10);
    for (i, (a, b)) in g.messages[..5].iter().zip(&g.messages[5..]).enumerate() {
        let (a, b) = (decode_record(a).unwrap(), decode_record(b).unwrap());
        assert_eq!(a.body(), &request[spans[i].0.clone()]);
        assert_eq!(
            (a.body(), a.properties(), a.topic()),
            (b.body(), b.properties(), b.topic())
        );
        assert_eq!((a.flag(), a.born_timestamp()), (7, b.born_timestamp()));
        assert_eq!(a.queue_offset() + 5, b.queue_offset());
    }
    let keyed = store.query_by_key("R", "r3", 4, 0, i64::MAX);
    assert_eq!(keyed.len(), 2, "both copies of r3 are indexed");
    // Messages of two queues, or none, are refused as for owned batches.
    let other = MessageRef {
        queue_id: 1,
        ..refs[0]
    };
    assert_eq!(
        store.put_batch_refs(&[refs[0], other]).await.status,
        PutStatus::MessageIllegal
    );
    assert_eq!(
        store.put_batch_refs(&[]).await.status,
        PutStatus::MessageIllegal
    );
    store.shutdown().unwrap();
}

#[test]
fn second_open_is_refused_with_lock_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    match MessageStore::open(small_config(dir.path())) {
        Err(e @ StoreError::Locked(_)) => assert!(e.to_string().contains("lock")),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("second open succeeded"),
    }
    store.shutdown().unwrap();
    drop(store);
    MessageStore::open(small_config(dir.path())).unwrap();
}

#[test]
fn crash_recovery_rescans_only_past_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    for i in 0..300u32 {
        rt.block_on(store.put(msg("K", 0, vec![i as u8; 500], "", "")));
    }
    let end = store.max_phys_offset();
    // Wait (bounded) until the background flush and checkpoint have caught up with the end.
    let ck = dir.path().join("checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let b = std::fs::read(&ck).unwrap();
        let at = |o: usize| i64::from_be_bytes(b[o..o + 8].try_into().unwrap());
        if at(24) == end && at(48) == end {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "checkpoint never caught up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tail: Vec<u8> = (0..3).map(|i| i as u8).collect();
    let r = rt.block_on(store.put(msg("K", 0, tail.clone(), "", "")));
    drop(store); // crash
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(!rep.clean_shutdown);
    assert!(rep.scanned_bytes <= r.wrote_bytes as u64, "{rep:?}");
    assert_eq!(store.max_offset("K", 0), 301);
    let g = store.get_messages("K", 0, 300, 1, 1 << 20, None);
    assert_eq!(decode_record(&g.messages[0]).unwrap().body(), &tail[..]);
}

#[test]
fn store_and_put_future_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    send_sync(&store);
    let fut = store.put(msg("X", 0, vec![1], "", ""));
    send(&fut);
    drop(fut);
    let fut = store.put_batch(vec![msg("X", 0, vec![1], "", "")]);
    send(&fut);
}

#[tokio::test]
async fn a_property_filtered_read_keeps_matches_and_scans_a_bounded_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.cq_entries_per_file = 4096;
    cfg.commitlog_file_size = 4 << 20;
    let store = MessageStore::open(cfg).unwrap();
    let filtered = courier_store::MAX_SCAN_ENTRIES_FILTERED as i64;
    // A long run of messages the filter rejects, then one it keeps.
    for i in 0..filtered + 10 {
        let mut m = MessageToStore::new("F", 0, vec![1u8; 16]);
        let want = if i == filtered + 5 { "yes" } else { "no" };
        m.properties = encode_properties(&[("want", want)]);
        assert_eq!(store.put(m).await.status, PutStatus::PutOk);
    }
    let keep = |props: &str| courier_store::property_value(props, "want") == Some("yes");
    let r = store.get_messages_filtered("F", 0, 0, 32, u32::MAX, None, Some(&keep));
    assert_eq!(r.status, GetStatus::NoMatchedMessage);
    assert_eq!(
        r.next_begin_offset, filtered,
        "one read scans at most the filtered bound"
    );
    let r =
        store.get_messages_filtered("F", 0, r.next_begin_offset, 32, u32::MAX, None, Some(&keep));
    assert_eq!(r.status, GetStatus::Found);
    assert_eq!(r.messages.len(), 1);
    assert_eq!(
        decode_record(&r.messages[0]).unwrap().queue_offset(),
        filtered + 5
    );
    assert_eq!(r.next_begin_offset, filtered + 10);
    // Unfiltered reads keep RocketMQ's bound.
    let all = store.get_messages("F", 0, 0, 32, u32::MAX, None);
    assert_eq!(all.messages.len(), 32);
    store.shutdown().unwrap();
}

/// Every put, single, batch or refused, is timed once: the runtime info's bands and the
/// Prometheus histogram both count it.
#[tokio::test]
async fn every_put_is_timed_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert_eq!(store.put_latency().count, 0);
    for i in 0..5u8 {
        let r = store.put(msg("TopicA", 0, vec![i; 100], "TagA", "k")).await;
        assert_eq!(r.status, PutStatus::PutOk);
    }
    let batch: Vec<MessageToStore> = (0..4u8)
        .map(|i| msg("TopicA", 1, vec![i; 100], "TagA", "k"))
        .collect();
    assert_eq!(store.put_batch(batch).await.status, PutStatus::PutOk);
    let refused = store.put(msg("TopicA", -1, vec![1], "", "")).await;
    assert_ne!(refused.status, PutStatus::PutOk);
    let s = store.put_latency();
    assert_eq!(s.count, 7, "five singles, one batch, one refused");
    assert_eq!(s.bands.iter().sum::<u64>(), 7);
    assert_eq!(s.buckets[15], 7, "none took 10 s");
    assert!(s.distribution_text().starts_with("[<=0ms]:"));
}
