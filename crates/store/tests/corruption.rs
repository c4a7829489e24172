//! Damaged CommitLogs: bytes flipped in the middle of a segment, a truncated tail, a zeroed tail
//! record, garbage after the end; and ConsumeQueue files cut short or deleted — after a clean
//! shutdown and after a simulated crash (store dropped without shutdown, so `abort` stays).
//! Reopening must never panic, must report what it found with offsets, keep every intact record
//! readable and keep queue offsets dense.

mod common_util;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common_util::{msg, small_config};
use courier_store::{decode_record, GetStatus, MessageStore, PutStatus};

const N: usize = 200;

struct Written {
    phys: Vec<i64>,
    sizes: Vec<usize>,
}

/// Writes N messages to queue 0 of "C" (~3 segments) and closes the store (cleanly or not).
fn write(dir: &Path, clean: bool) -> Written {
    write_n(dir, N, clean)
}

/// `write` with `n` messages.
fn write_n(dir: &Path, n: usize, clean: bool) -> Written {
    let rt = runtime();
    let store = MessageStore::open(small_config(dir)).unwrap();
    let w = put_n(&rt, &store, n);
    if clean {
        store.shutdown().unwrap();
    }
    drop(store);
    assert_eq!(dir.join("abort").exists(), !clean);
    w
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Puts messages 0..n to queue 0 of "C" (body: 700 bytes of the message's number).
fn put_n(rt: &tokio::runtime::Runtime, store: &MessageStore, n: usize) -> Written {
    let mut w = Written {
        phys: Vec::new(),
        sizes: Vec::new(),
    };
    for i in 0..n {
        let r = rt.block_on(store.put(msg("C", 0, vec![i as u8; 700], "TagA", &format!("k{i}"))));
        assert_eq!(r.status, PutStatus::PutOk);
        w.phys.push(r.phys_offset);
        w.sizes.push(r.wrote_bytes as usize);
    }
    w
}

fn segment_of(dir: &Path, phys: i64) -> (PathBuf, u64) {
    let size = 64 * 1024i64;
    let start = phys / size * size;
    (
        dir.join("commitlog").join(format!("{start:020}")),
        (phys - start) as u64,
    )
}

fn patch(dir: &Path, phys: i64, at: u64, bytes: &[u8]) {
    let (path, off) = segment_of(dir, phys);
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, off + at).unwrap();
}

/// Appends message N (the next queue offset, which the put must be given) and shuts the store
/// down cleanly.
fn append_next_and_close(store: MessageStore) {
    append_and_close(store, N);
}

/// Appends message `at` to `C/0`, requires the put to be given queue offset `at`, and shuts the
/// store down cleanly.
fn append_and_close(store: MessageStore, at: usize) {
    let r = runtime().block_on(store.put(msg("C", 0, vec![at as u8; 700], "TagA", "new")));
    assert_eq!((r.status, r.queue_offset), (PutStatus::PutOk, at as i64));
    store.shutdown().unwrap();
}

/// Every message except those in `gone` reads back intact at its queue offset; offsets stay dense.
fn check_intact(store: &MessageStore, expect_max: usize, gone: &[usize]) {
    assert_eq!(store.max_offset("C", 0), expect_max as i64);
    let want: Vec<usize> = (0..expect_max).filter(|i| !gone.contains(i)).collect();
    assert_eq!(readable_from(store, 0), want);
}

/// The queue offsets `C/0` reads back from `from` to its max, each checked against its body;
/// every read must make progress.
fn readable_from(store: &MessageStore, from: i64) -> Vec<usize> {
    let (mut o, max) = (from, store.max_offset("C", 0));
    let mut seen = Vec::new();
    while o < max {
        let g = store.get_messages("C", 0, o, 32, 1 << 20, None);
        assert!(
            g.next_begin_offset > o,
            "no progress at {o}: {:?}",
            g.status
        );
        for b in &g.messages {
            let m = decode_record(b).expect("returned records are valid");
            let q = m.queue_offset() as usize;
            assert_eq!(m.body(), &vec![q as u8; 700][..]);
            seen.push(q);
        }
        o = g.next_begin_offset;
    }
    seen
}

#[test]
fn crash_with_flipped_body_byte_mid_segment_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let victim = 40; // inside the first segment, valid records follow it
    patch(
        dir.path(),
        w.phys[victim],
        w.sizes[victim] as u64 - 200,
        &[0xFF, 0x00, 0xFF],
    );
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report().clone();
    assert!(!rep.clean_shutdown);
    assert_eq!(rep.corrupt.len(), 1, "{rep:?}");
    assert_eq!(rep.corrupt[0].offset, w.phys[victim]);
    assert_eq!(rep.corrupt[0].resume_offset, w.phys[victim + 1]);
    assert!(
        rep.corrupt[0].reason.contains("CRC"),
        "{}",
        rep.corrupt[0].reason
    );
    assert_eq!(rep.truncated_bytes, 0);
    check_intact(&store, N, &[victim]);
    assert!(store.message_by_phys_offset(w.phys[victim]).is_none());
    // Writes continue densely and the hole survives a clean restart.
    let rt = runtime();
    assert_eq!(
        rt.block_on(store.put(msg("C", 0, vec![N as u8; 700], "", "")))
            .queue_offset,
        N as i64
    );
    store.shutdown().unwrap();
    drop(store);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    assert_eq!(store.quarantined().len(), 1);
    check_intact(&store, N + 1, &[victim]);
}

#[test]
fn crash_with_smashed_header_mid_segment_resyncs() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let victim = 25;
    patch(
        dir.path(),
        w.phys[victim],
        0,
        &[0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0],
    );
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.corrupt.len(), 1, "{rep:?}");
    assert_eq!(rep.corrupt[0].offset, w.phys[victim]);
    assert_eq!(rep.corrupt[0].resume_offset, w.phys[victim + 1]);
    check_intact(&store, N, &[victim]);
}

#[test]
fn crash_with_zeroed_tail_record_truncates_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let last = N - 1;
    patch(dir.path(), w.phys[last], 0, &vec![0u8; w.sizes[last]]);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(rep.corrupt.is_empty(), "{rep:?}");
    assert_eq!(rep.truncated_cq_entries, 1, "{rep:?}");
    assert_eq!(store.max_phys_offset(), w.phys[last]);
    check_intact(&store, N - 1, &[]);
    let rt = runtime();
    let r = rt.block_on(store.put(msg("C", 0, vec![last as u8; 700], "", "")));
    assert_eq!((r.queue_offset, r.phys_offset), (last as i64, w.phys[last]));
    check_intact(&store, N, &[]);
}

#[test]
fn torn_tail_record_after_crash_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let last = N - 1;
    // The header made it to disk, the rest of the record did not.
    patch(
        dir.path(),
        w.phys[last],
        100,
        &vec![0u8; w.sizes[last] - 100],
    );
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(rep.corrupt.is_empty(), "{rep:?}");
    assert_eq!(rep.truncated_bytes, w.sizes[last] as u64, "{rep:?}");
    check_intact(&store, N - 1, &[]);
}

#[test]
fn garbage_after_the_end_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let last = N - 1;
    patch(dir.path(), w.phys[last], w.sizes[last] as u64, &[0xAB; 300]);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(rep.truncated_bytes > 0, "{rep:?}");
    assert!(rep.corrupt.is_empty());
    assert_eq!(store.max_phys_offset(), w.phys[last] + w.sizes[last] as i64);
    check_intact(&store, N, &[]);
}

#[test]
fn clean_shutdown_then_truncated_segment_file_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), true);
    let last = N - 1;
    let (path, off) = segment_of(dir.path(), w.phys[last]);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(off + 50).unwrap();
    drop(f);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(
        !rep.clean_shutdown,
        "a damaged log must not be trusted: {rep:?}"
    );
    assert_eq!(rep.repaired_segments, 1);
    assert!(rep.truncated_bytes > 0);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 * 1024);
    check_intact(&store, N - 1, &[]);
}

#[test]
fn clean_shutdown_then_corrupt_tail_record_falls_back_to_scan() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), true);
    let last = N - 1;
    patch(
        dir.path(),
        w.phys[last],
        w.sizes[last] as u64 - 150,
        &[0x55; 4],
    );
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(!rep.clean_shutdown);
    assert!(rep.truncated_bytes > 0, "{rep:?}");
    check_intact(&store, N - 1, &[]);
    assert_eq!(
        store
            .get_messages("C", 0, (N - 1) as i64, 1, 1 << 20, None)
            .status,
        GetStatus::OffsetOverflowOne
    );
}

#[test]
fn corrupt_checkpoint_and_missing_queue_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), false);
    std::fs::write(dir.path().join("checkpoint"), [0x77u8; 4096]).unwrap();
    std::fs::remove_dir_all(dir.path().join("consumequeue").join("C")).unwrap();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.rebuilt_cq_entries, N as u64, "{rep:?}");
    check_intact(&store, N, &[]);
    assert_eq!(store.query_by_key("C", "k7", 5, 0, i64::MAX).len(), 1);
}

/// A queue file cut short after a clean shutdown: its lost entries come back from the log, so
/// the next message gets the next offset and survives restarts. Before, the clean checkpoint was
/// trusted, the queue's max fell to the cut, a new message reused an old offset, and a later
/// recovery dropped it as out of order (found by the `recover` fuzz target).
#[test]
fn clean_shutdown_then_short_queue_file_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), true);
    // 200 entries in files of 64: cut the fourth file (offsets 192..) after one and a bit entries.
    let file = dir
        .path()
        .join("consumequeue/C/0")
        .join(format!("{:020}", 192 * 20));
    let f = OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(26).unwrap();
    drop(f);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report().clone();
    assert_eq!(rep.repaired_cq_files, 1, "{rep:?}");
    assert!(
        !rep.clean_shutdown,
        "a short queue file must not be trusted: {rep:?}"
    );
    check_intact(&store, N, &[]);
    append_next_and_close(store);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    check_intact(&store, N + 1, &[]);
}

/// The ConsumeQueue file of `C/0` holding queue offset `offset`.
fn queue_file(dir: &Path, offset: u64) -> PathBuf {
    dir.join("consumequeue/C/0")
        .join(format!("{:020}", offset / 64 * 64 * 20))
}

/// The queue offsets `C/0` reads back from its min to its max.
fn readable(store: &MessageStore) -> Vec<usize> {
    readable_from(store, store.min_offset("C", 0))
}

/// The last ConsumeQueue file deleted after a clean shutdown. Nothing left in the files shows
/// it: the queue ended at the previous file, its last 8 messages could not be read and the next
/// put reused offset 192 (a later crash recovery would have dropped it as out of order). The
/// clean checkpoint's count of queue entries no longer matches, so the queue is rebuilt.
#[test]
fn clean_shutdown_then_last_queue_file_deleted_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), true);
    std::fs::remove_file(queue_file(dir.path(), 192)).unwrap();

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report().clone();
    assert!(rep.missing_cq_entries, "{rep:?}");
    assert!(!rep.clean_shutdown, "{rep:?}");
    check_intact(&store, N, &[]);
    append_next_and_close(store);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(
        rep.clean_shutdown && !rep.missing_cq_entries,
        "the rebuilt store closed cleanly scans again: {rep:?}"
    );
    check_intact(&store, N + 1, &[]);
}

/// Writes `at` as the checkpoint's flushed and logics offsets, as a checkpoint written while the
/// store ran (no clean fields).
fn checkpoint_at(dir: &Path, at: i64) {
    let path = dir.join("checkpoint");
    let mut ck = std::fs::read(&path).unwrap();
    for field in [24, 32, 48] {
        ck[field..field + 8].copy_from_slice(&at.to_be_bytes());
    }
    for field in [64, 72, 84, 96] {
        ck[field..field + 8].copy_from_slice(&(-1i64).to_be_bytes());
    }
    let crc = crc32fast::hash(&ck[..80]);
    ck[80..84].copy_from_slice(&crc.to_be_bytes());
    for field in [84, 96] {
        let crc = crc32fast::hash(&ck[field..field + 8]);
        ck[field + 8..field + 12].copy_from_slice(&crc.to_be_bytes());
    }
    std::fs::write(&path, ck).unwrap();
}

/// The last ConsumeQueue file deleted, then a crash whose checkpoint lies after the first
/// records of that file. The scan from the checkpoint met the queue's first record (196) past
/// the end of its files (192), recreated the file from there and left 192..195 unwritten: they
/// could not be read, and at the next open the unwritten entry at the start of the queue's last
/// file ended the queue there, dropping the later puts. Recovery now starts over from the first
/// segment and rebuilds the file whole.
#[test]
fn crash_then_last_queue_file_deleted_is_rebuilt_from_the_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    checkpoint_at(dir.path(), w.phys[196]);
    std::fs::remove_file(queue_file(dir.path(), 192)).unwrap();
    expect_rebuilt_whole(dir.path(), |_| {});
}

/// Opens a store whose queue `C/0` lost its last file: recovery must notice, rebuild it whole
/// from the log (no LOST entries) and give the next put offset N, which a clean restart keeps.
fn expect_rebuilt_whole(dir: &Path, also: impl FnOnce(&MessageStore)) {
    let store = MessageStore::open(small_config(dir)).unwrap();
    let rep = store.recovery_report().clone();
    assert!(rep.missing_cq_entries, "{rep:?}");
    assert_eq!(rep.lost_cq_entries, 0, "{rep:?}");
    check_intact(&store, N, &[]);
    also(&store);
    append_next_and_close(store);

    let store = MessageStore::open(small_config(dir)).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    check_intact(&store, N + 1, &[]);
}

/// The last ConsumeQueue file of `C/0` deleted after a crash, where `C/0` received nothing after
/// the last checkpoint the running store wrote (another queue did). The scan from that checkpoint
/// never meets a record of `C/0`, so nothing in the log or the files left shows the loss: the
/// queue ended at 192, its last 8 messages could not be read and the next put reused offset
/// 192. The checkpoint's floor of queue entries (200 for `C/0`) no longer holds, so the queues
/// are rebuilt from the first segment.
#[test]
fn crash_then_idle_queue_file_deleted_is_rebuilt_from_the_first_segment() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let w = put_n(&rt, &store, N);
    let end = w.phys[N - 1] + w.sizes[N - 1] as i64;
    // The housekeeping thread checkpoints every second; wait for one past every record of C/0.
    let ck_path = dir.path().join("checkpoint");
    let be = |b: &[u8], at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let ck = std::fs::read(&ck_path).unwrap();
        if be(&ck, 24).min(be(&ck, 48)) >= end {
            assert_eq!(be(&ck, 96), N as i64, "the floor counts every entry of C/0");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint past {end}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for i in 0..5 {
        let r = rt.block_on(store.put(msg("D", 0, vec![i as u8; 700], "TagA", "d")));
        assert_eq!(r.status, PutStatus::PutOk);
    }
    drop(store);
    assert!(dir.path().join("abort").exists());
    std::fs::remove_file(queue_file(dir.path(), 192)).unwrap();
    expect_rebuilt_whole(dir.path(), |store| assert_eq!(store.max_offset("D", 0), 5));
}

/// The `OPEN-last-queue-files-deleted` input of the `recover` fuzz target: the queue's last
/// files deleted, and every record of the queue before 197 gone with them (older segments
/// deleted, the start of the segment holding 192..197 destroyed). The scan recreated the last
/// file with its first five entries never written; the put then given offset 198 was lost at
/// the next clean open, whose extent search stopped at the first of them and zeroed the rest.
/// Those entries are now LOST, like any other destroyed record's.
#[test]
fn last_queue_files_deleted_with_their_first_records_keep_later_puts() {
    let dir = tempfile::tempdir().unwrap();
    // 198 messages: the put after them is entry 6 of the last queue file, where the old extent
    // search, which probes entries 32, 16, 8, 4, 2, 1, 0 of it, saw only unwritten ones.
    let n = 198;
    let w = write_n(dir.path(), n, false);
    std::fs::write(dir.path().join("checkpoint"), [0x77u8; 4096]).unwrap();
    let (seg, _) = segment_of(dir.path(), w.phys[192]);
    let (seg_197, at_197) = segment_of(dir.path(), w.phys[197]);
    assert_eq!(seg, seg_197, "192..197 share a segment");
    for e in std::fs::read_dir(dir.path().join("commitlog")).unwrap() {
        let path = e.unwrap().path();
        if path < seg {
            std::fs::remove_file(path).unwrap();
        }
    }
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.write_all_at(&vec![0u8; at_197 as usize], 0).unwrap();
    drop(f);
    std::fs::remove_file(queue_file(dir.path(), 128)).unwrap();
    std::fs::remove_file(queue_file(dir.path(), 192)).unwrap();

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report().clone();
    assert_eq!(rep.corrupt.len(), 1, "{rep:?}");
    assert_eq!(store.max_offset("C", 0), n as i64, "{rep:?}");
    assert_eq!(readable(&store), vec![197]);
    append_and_close(store, n);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    assert_eq!(store.max_offset("C", 0), n as i64 + 1);
    assert_eq!(readable(&store), vec![197, n]);
}

/// Garbage past the end of a cleanly closed log, where the next message ends: the open zeroes
/// it, so the messages appended next are not followed by it, and the store closed again reopens
/// without a scan. Before, the second open found the garbage right after the new tail and fell
/// back to scanning, where other damage in the segment could cut the new messages off (found by
/// the `recover` fuzz target).
#[test]
fn clean_shutdown_then_garbage_past_the_end_is_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), true);
    let end = w.phys[N - 1] + w.sizes[N - 1] as i64;
    patch(dir.path(), end, 700, &[0x5a; 300]);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.recovery_report().clean_shutdown);
    append_next_and_close(store);

    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(
        rep.clean_shutdown,
        "a cleanly closed store scanned: {rep:?}"
    );
    check_intact(&store, N + 1, &[]);
}

#[test]
fn clean_shutdown_then_mid_segment_damage_is_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), true);
    let (a, b) = (30, 120); // one body flip, one smashed header, both with valid records after
    patch(dir.path(), w.phys[a], w.sizes[a] as u64 - 200, &[0xEE]);
    patch(dir.path(), w.phys[b], 4, &[0, 0, 0, 0]);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert!(
        rep.clean_shutdown,
        "a clean open reads only the tail record: {rep:?}"
    );
    assert!(rep.corrupt.is_empty());
    let found = store.verify();
    let offsets: Vec<i64> = found.iter().map(|c| c.offset).collect();
    assert_eq!(offsets, vec![w.phys[a], w.phys[b]], "{found:?}");
    assert_eq!(found[0].resume_offset, w.phys[a + 1]);
    assert_eq!(found[1].resume_offset, w.phys[b + 1]);
    check_intact(&store, N, &[a, b]);
    assert!(
        store.verify().is_empty(),
        "quarantined ranges are not reported twice"
    );
}

#[test]
fn verify_of_a_healthy_store_finds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), true);
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    assert!(store.verify().is_empty());
    check_intact(&store, N, &[]);
}

#[test]
fn crash_with_bogus_queue_offset_in_a_crc_valid_record_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let w = write(dir.path(), false);
    let victim = 77;
    // BODYCRC covers only the body, so this record still "passes" the CRC check.
    patch(dir.path(), w.phys[victim], 20, &i64::MAX.to_be_bytes());
    let store = MessageStore::open(small_config(dir.path())).unwrap();
    let rep = store.recovery_report();
    assert_eq!(rep.corrupt.len(), 1, "{rep:?}");
    assert_eq!(rep.corrupt[0].offset, w.phys[victim]);
    assert!(
        rep.corrupt[0].reason.contains("queue offset"),
        "{}",
        rep.corrupt[0].reason
    );
    let cq_files = std::fs::read_dir(dir.path().join("consumequeue/C/0"))
        .unwrap()
        .count();
    assert!(
        cq_files <= 4,
        "no ConsumeQueue files were created for the bogus offset"
    );
    check_intact(&store, N, &[victim]);
}
