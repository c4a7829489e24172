//! Retention driven through `delete_expired_files` with a fake clock, and the disk-full guard.

mod common_util;

use std::time::{Duration, SystemTime};

use common_util::{msg, small_config};
use courier_store::{decode_record, GetStatus, MessageStore, PutStatus};

fn fill(store: &MessageStore, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for i in 0..n {
        let r = rt.block_on(store.put(msg(
            "R",
            (i % 2) as i32,
            vec![i as u8; 700],
            "",
            &format!("k{i}"),
        )));
        assert_eq!(r.status, PutStatus::PutOk);
    }
}

fn cq_files(dir: &std::path::Path, q: i32) -> usize {
    std::fs::read_dir(dir.join("consumequeue").join("R").join(q.to_string()))
        .unwrap()
        .count()
}

#[test]
fn expired_segments_are_deleted_and_queues_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.delete_when = (0..24).collect();
    cfg.file_reserved_time = Duration::from_secs(3600);
    let store = MessageStore::open(cfg.clone()).unwrap();
    fill(&store, 600);
    let segs_before = std::fs::read_dir(dir.path().join("commitlog"))
        .unwrap()
        .count();
    assert!(segs_before >= 6);
    let cq_before = cq_files(dir.path(), 0);

    assert_eq!(
        store.delete_expired_files(SystemTime::now()),
        0,
        "nothing is old yet"
    );
    assert_eq!(store.min_phys_offset(), 0);

    let later = SystemTime::now() + Duration::from_secs(2 * 3600);
    let deleted = store.delete_expired_files(later);
    assert!(deleted >= 5, "deleted {deleted}");
    let min_phys = store.min_phys_offset();
    assert_eq!(min_phys, deleted as i64 * 64 * 1024);
    assert!(!dir
        .path()
        .join("commitlog")
        .join(format!("{:020}", 0))
        .exists());
    // The segment being written survives.
    assert!(store.max_phys_offset() >= min_phys);

    for q in 0..2 {
        let min = store.min_offset("R", q);
        assert!(min > 0);
        let g = store.get_messages("R", q, 0, 4, 1 << 20, None);
        assert_eq!(g.status, GetStatus::OffsetTooSmall);
        assert_eq!(g.next_begin_offset, min);
        let g = store.get_messages("R", q, min, 1000, 1 << 30, None);
        assert_eq!(g.status, GetStatus::Found);
        assert_eq!(g.messages.len() as i64, store.max_offset("R", q) - min);
        for (i, b) in g.messages.iter().enumerate() {
            let m = decode_record(b).unwrap();
            assert!(m.phys_offset() >= min_phys);
            assert_eq!(m.queue_offset(), min + i as i64);
        }
    }
    assert!(
        cq_files(dir.path(), 0) < cq_before,
        "CQ files below the new min are deleted"
    );
    assert!(store.query_by_key("R", "k0", 10, 0, i64::MAX).is_empty());
    assert_eq!(store.query_by_key("R", "k599", 10, 0, i64::MAX).len(), 1);

    let mins = (store.min_offset("R", 0), store.min_offset("R", 1));
    store.shutdown().unwrap();
    drop(store);
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!((store.min_offset("R", 0), store.min_offset("R", 1)), mins);
    assert_eq!(store.min_phys_offset(), min_phys);
}

/// A reserve time past the clock's range (a huge `fileReservedTime`) keeps every file by age;
/// adding it to a file's mtime used to panic the housekeeping thread.
#[test]
fn a_reserve_time_past_the_clock_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.delete_when = (0..24).collect();
    cfg.file_reserved_time = Duration::MAX;
    let store = MessageStore::open(cfg).unwrap();
    fill(&store, 200);
    let later = SystemTime::now() + Duration::from_secs(10 * 365 * 24 * 3600);
    assert_eq!(store.delete_expired_files(later), 0);
    assert_eq!(store.min_phys_offset(), 0);
}

#[test]
fn outside_delete_when_hours_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    let now = SystemTime::now() + Duration::from_secs(10 * 3600);
    // Every hour except the one `now` falls in.
    let hour_now = (0..24u8)
        .find(|h| {
            let probe = tempfile::tempdir().unwrap();
            let mut c = small_config(probe.path());
            c.delete_when = vec![*h];
            c.file_reserved_time = Duration::from_secs(1);
            let s = MessageStore::open(c).unwrap();
            fill(&s, 200);
            s.delete_expired_files(now) > 0
        })
        .unwrap();
    cfg.delete_when = (0..24).filter(|h| *h != hour_now).collect();
    cfg.file_reserved_time = Duration::from_secs(1);
    let store = MessageStore::open(cfg).unwrap();
    fill(&store, 200);
    assert_eq!(store.delete_expired_files(now), 0);
    assert_eq!(store.min_phys_offset(), 0);
}

#[test]
fn disk_over_warning_level_refuses_puts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small_config(dir.path());
    cfg.disk_space_warning_level_ratio = 0;
    let store = MessageStore::open(cfg).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(store.put(msg("R", 0, vec![1], "", "")));
    assert_eq!(r.status, PutStatus::ServiceNotAvailable);
    assert!(r.reason.unwrap().contains("disk"));
    assert_eq!(store.max_offset("R", 0), 0);
}
