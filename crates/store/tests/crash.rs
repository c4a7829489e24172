//! Crash test: the store runs in a real child process (this test binary re-executed with
//! `COURIER_CRASH_CHILD=<dir>`), appends with SYNC_FLUSH from many tasks, and is killed with
//! SIGKILL at a random moment — sometimes while it is still recovering. After every kill the
//! parent reopens the same directory in-process and proves:
//!
//! * every acknowledged record (the child prints an `ACK` line only after PutOk) is readable by
//!   `get_messages` at its queue offset and by `message_by_phys_offset`, byte-identical;
//! * every queue's offsets are dense from 0 to `max_offset`, no gaps, no duplicates, and each
//!   record appears exactly once in the whole store;
//! * every record present is complete and valid (decodes, body byte-identical to what its
//!   (round, task, seq) identity dictates) — acknowledged or not; nothing torn is visible;
//! * a physical walk of the CommitLog finds exactly the records the ConsumeQueues point to;
//! * a record verified in an earlier round is still there, unchanged, in every later round.
//!
//! The directory is reused across rounds so recovery runs on a long-lived, growing log with
//! small segments (frequent roll-overs). The parent alternates clean shutdown and plain drop.
//! Rounds: `COURIER_CRASH_ROUNDS` (default 50). Seed: `COURIER_CRASH_SEED` (printed).
//!
//! `crash_kill9_rounds_async_direct` runs the same rounds with ASYNC_FLUSH through the
//! write-behind buffer (O_DIRECT). There an acknowledged record may be lost, but only if it lay
//! past the end of the log that recovery found (the part the committer had not written yet): the
//! log loses a suffix, never a record in the middle, and everything else above still holds.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use courier_store::{
    decode_record, encode_properties, FlushDiskType, GetStatus, MessageStore, MessageToStore,
    PutStatus, StoreConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "COURIER_CRASH_CHILD";
const ROUND_ENV: &str = "COURIER_CRASH_ROUND";
const MODE_ENV: &str = "COURIER_CRASH_MODE";
const SEGMENT_SIZE: u64 = 256 * 1024;
const TOPICS: [&str; 3] = ["CrashA", "CrashB", "CrashC"];
const QUEUES: i32 = 4;
const TASKS: u32 = 16;
const HEADER: usize = 20;
const BODY_MAGIC: u32 = 0xC0DE_C4A5;
const BLANK_MAGIC: u32 = 0xCBD4_3194;
/// A child that is never killed (a parent bug) stops on its own after this long.
const CHILD_MAX_LIFETIME: Duration = Duration::from_secs(60);

/// How the child writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Sync,
    AsyncDirect,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::AsyncDirect => "async-direct",
        }
    }
    fn from_env() -> Mode {
        match std::env::var(MODE_ENV).as_deref() {
            Ok("async-direct") => Mode::AsyncDirect,
            _ => Mode::Sync,
        }
    }
}

fn config(dir: &Path, mode: Mode) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = SEGMENT_SIZE;
    match mode {
        Mode::Sync => c.flush_disk_type = FlushDiskType::SyncFlush,
        Mode::AsyncDirect => {
            c.flush_disk_type = FlushDiskType::AsyncFlush;
            c.direct_write = true;
            // Four 256 KiB chunks: the ring goes round many times per round.
            c.write_buffer_bytes = 4 * SEGMENT_SIZE;
        }
    }
    // Small CQ and index files so they roll over within a run as well.
    c.cq_entries_per_file = 2048;
    c.index_slots = 512;
    c.index_entries = 2048;
    c
}

/// Identity of a record: which child round, task and sequence number wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Id {
    round: u32,
    task: u32,
    seq: u32,
}

fn mix(id: Id) -> u64 {
    let mut z = ((id.round as u64) << 40) ^ ((id.task as u64) << 32) ^ id.seq as u64;
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The body a record with this identity must carry: a header naming it, then seeded noise;
/// the length varies from 20 to 1040 bytes.
fn expected_body(id: Id) -> Vec<u8> {
    let seed = mix(id);
    let len = HEADER + (seed % 1021) as usize;
    let mut b = Vec::with_capacity(len);
    for v in [BODY_MAGIC, id.round, id.task, id.seq, len as u32] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    let mut x = seed | 1;
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (len - b.len()).min(8);
        b.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    b
}

fn identity(body: &[u8]) -> Option<Id> {
    let word = |i: usize| {
        body.get(i * 4..i * 4 + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    if word(0)? != BODY_MAGIC {
        return None;
    }
    Some(Id {
        round: word(1)?,
        task: word(2)?,
        seq: word(3)?,
    })
}

fn task_target(task: u32) -> (usize, i32) {
    ((task % 3) as usize, ((task / 3) % QUEUES as u32) as i32)
}

/// Tasks with task % 4 == 3 append with put_batch, 1-4 records per call.
fn batch_len(id: Id) -> u32 {
    if id.task % 4 == 3 {
        1 + (mix(id) >> 20) as u32 % 4
    } else {
        1
    }
}

fn message(id: Id) -> MessageToStore {
    let (t, q) = task_target(id.task);
    let mut m = MessageToStore::new(TOPICS[t], q, expected_body(id));
    let key = format!("k{}-{}-{}", id.round, id.task, id.seq);
    let tag = format!("Tag{}", id.seq % 3);
    m.properties = encode_properties(&[("TAGS", &tag), ("KEYS", &key)]);
    m
}

/// Child mode: a no-op unless the parent set COURIER_CRASH_CHILD.
#[test]
#[ignore = "child process of crash_kill9_rounds; does nothing unless COURIER_CRASH_CHILD is set"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let round: u32 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    // The parent holds our stdin; when it goes away, so do we.
    std::thread::spawn(|| {
        let mut sink = [0u8; 16];
        while let Ok(n) = std::io::stdin().read(&mut sink) {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_MAX_LIFETIME);
        std::process::exit(0);
    });
    let store = match MessageStore::open(config(Path::new(&dir), Mode::from_env())) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("crash child: open failed: {e}");
            std::process::exit(2);
        }
    };
    say("READY");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("crash child: runtime: {e}");
            std::process::exit(2);
        });
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let (t, q) = task_target(task);
                let mut seq = 0u32;
                loop {
                    let first = Id { round, task, seq };
                    let n = batch_len(first);
                    let r = if task % 4 == 3 {
                        let msgs = (seq..seq + n)
                            .map(|s| {
                                message(Id {
                                    round,
                                    task,
                                    seq: s,
                                })
                            })
                            .collect();
                        store.put_batch(msgs).await
                    } else {
                        store.put(message(first)).await
                    };
                    if matches!(r.status, PutStatus::PutOk) {
                        say(&format!(
                            "ACK {round} {task} {seq} {n} {t} {q} {} {}",
                            r.queue_offset, r.phys_offset
                        ));
                    } else {
                        eprintln!("crash child: put answered {:?}", r.status);
                    }
                    seq += n;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // One write per line (shorter than PIPE_BUF), so a kill never interleaves two lines.
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    if out
        .write_all(buf.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// What the child acknowledged: `count` records starting at `first`, contiguous in one queue.
#[derive(Clone, Copy, Debug)]
struct Ack {
    first: Id,
    count: u32,
    topic: usize,
    queue: i32,
    queue_offset: i64,
    phys_offset: i64,
}

/// libtest may print its own text ("test crash_child ... ") on the same line as ours.
fn is_ready(line: &str) -> bool {
    line.ends_with("READY")
}

fn parse_ack(line: &str) -> Option<Ack> {
    let rest = &line[line.find("ACK ")? + 4..];
    let f: Vec<i64> = rest
        .split_whitespace()
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    if f.len() != 8 {
        return None;
    }
    Some(Ack {
        first: Id {
            round: f[0] as u32,
            task: f[1] as u32,
            seq: f[2] as u32,
        },
        count: f[3] as u32,
        topic: f[4] as usize,
        queue: f[5] as i32,
        queue_offset: f[6],
        phys_offset: f[7],
    })
}

/// Where a verified record lives, and a checksum of its whole stored bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placed {
    topic: usize,
    queue: i32,
    queue_offset: i64,
    phys_offset: i64,
    len: usize,
    crc: u32,
}

#[test]
fn crash_kill9_rounds() {
    crash_rounds(Mode::Sync, 50);
}

#[test]
fn crash_kill9_rounds_async_direct() {
    crash_rounds(Mode::AsyncDirect, 20);
}

fn crash_rounds(mode: Mode, default_rounds: u32) {
    let rounds: u32 = std::env::var("COURIER_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_rounds);
    let seed: u64 = std::env::var("COURIER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!(
        "crash test ({}): {rounds} rounds, seed {seed} (rerun with COURIER_CRASH_SEED={seed})",
        mode.name()
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("create a temp dir");
    let dir = tmp.path();
    let exe = std::env::current_exe().expect("find the test binary");

    let mut acked: Vec<Ack> = Vec::new();
    let mut seen: HashMap<Id, Placed> = HashMap::new();
    let mut stats = (0usize, 0usize, 0usize); // (early kills, clean shutdowns, acks lost)
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--ignored"])
            .env(CHILD_ENV, dir)
            .env(ROUND_ENV, round.to_string())
            .env(MODE_ENV, mode.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the crash child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // Only newline-terminated lines count: a line cut by the kill is not an ack.
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line.ends_with('\n') && tx.send(line.trim_end().to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });

        let early = rng.gen_bool(0.15);
        let mut lines = Vec::new();
        if early {
            // Kill during process start-up or store recovery.
            stats.0 += 1;
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..80)));
        } else {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: the child did not open the store within 30 s"
                );
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(l) if is_ready(&l) => break,
                    Ok(l) => lines.push(l),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Ok(Some(status)) = child.try_wait() {
                            panic!("round {round}: the child exited ({status}) before it was ready; its stderr is above");
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        panic!("round {round}: the child closed stdout before it was ready; its stderr is above")
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(5..250)));
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("round {round}: the child exited on its own ({status}) before the kill; its stderr is above");
        }
        child.kill().expect("SIGKILL the child");
        child.wait().expect("reap the child");
        reader.join().expect("reader thread");
        lines.extend(rx.try_iter());
        let round_acks: Vec<Ack> = lines.iter().filter_map(|l| parse_ack(l)).collect();
        acked.extend(round_acks.iter().copied());

        let store = MessageStore::open(config(dir, mode))
            .unwrap_or_else(|e| panic!("round {round}: reopen after kill -9 failed: {e}"));
        // An early kill may land before the child even created the abort marker.
        let child_opened = !early || lines.iter().any(|l| is_ready(l));
        if child_opened {
            assert!(
                !store.recovery_report().clean_shutdown,
                "round {round}: the store claims a clean shutdown after kill -9"
            );
        }
        // Nothing was deleted: the checkpoint's floor of queue entries must hold, or every
        // crash would rescan the whole log from its first segment.
        assert!(
            !store.recovery_report().missing_cq_entries,
            "round {round}: recovery after kill -9 thinks queue files are missing: {:?}",
            store.recovery_report()
        );
        // ASYNC_FLUSH may lose what lay past the recovered end, nothing before it.
        let lost_from = (mode == Mode::AsyncDirect).then(|| store.max_phys_offset());
        let lost = verify(&store, round, &acked, lost_from, &mut seen, &mut rng);
        stats.2 += lost.len();
        acked.retain(|a| !lost.contains(&a.first));
        if round % 2 == 0 {
            store
                .shutdown()
                .unwrap_or_else(|e| panic!("round {round}: clean shutdown failed: {e}"));
            stats.1 += 1;
        }
        drop(store);
    }
    eprintln!(
        "crash test ({}): {rounds} rounds ({} killed during start-up), {} acknowledged put calls kept, {} lost past the recovered end, {} records verified",
        mode.name(),
        stats.0,
        acked.len(),
        stats.2,
        seen.len()
    );
    assert!(
        !acked.is_empty(),
        "no round acknowledged a single put; the test proved nothing"
    );
}

/// Checks the reopened store; returns the first ids of acknowledged puts that were lost (only
/// allowed, with `lost_from`, for puts wholly at or past that log offset).
fn verify(
    store: &MessageStore,
    round: u32,
    acked: &[Ack],
    lost_from: Option<i64>,
    seen: &mut HashMap<Id, Placed>,
    rng: &mut StdRng,
) -> Vec<Id> {
    let mut present: HashMap<Id, Placed> = HashMap::new();
    let mut by_phys: HashMap<i64, Id> = HashMap::new();
    let mut cq_entries = 0usize;
    for (ti, topic) in TOPICS.iter().enumerate() {
        for q in 0..QUEUES {
            let min = store.min_offset(topic, q);
            let max = store.max_offset(topic, q);
            assert_eq!(
                min, 0,
                "round {round}: {topic}/{q} lost its head (min offset {min})"
            );
            let mut offset = 0i64;
            while offset < max {
                let r = store.get_messages(topic, q, offset, 64, u32::MAX, None);
                assert!(
                    matches!(r.status, GetStatus::Found) && !r.messages.is_empty(),
                    "round {round}: {topic}/{q} offset {offset} < max {max} is not readable: {:?}",
                    r.status
                );
                for bytes in &r.messages {
                    let rec = decode_record(bytes).unwrap_or_else(|e| {
                        panic!(
                            "round {round}: {topic}/{q} offset {offset}: undecodable record: {e:?}"
                        )
                    });
                    assert_eq!(
                        rec.topic(),
                        *topic,
                        "round {round}: wrong topic at {topic}/{q}@{offset}"
                    );
                    assert_eq!(
                        rec.queue_id(),
                        q,
                        "round {round}: wrong queue at {topic}/{q}@{offset}"
                    );
                    assert_eq!(
                        rec.queue_offset(),
                        offset,
                        "round {round}: {topic}/{q} is not dense: record at position {offset} says {}",
                        rec.queue_offset()
                    );
                    let id = identity(rec.body()).unwrap_or_else(|| {
                        panic!(
                            "round {round}: {topic}/{q}@{offset} holds a body the test never wrote"
                        )
                    });
                    let placed = Placed {
                        topic: ti,
                        queue: q,
                        queue_offset: offset,
                        phys_offset: rec.phys_offset(),
                        len: bytes.len(),
                        crc: crc32fast::hash(bytes),
                    };
                    match seen.get(&id) {
                        // Verified in an earlier round: must be the very same bytes in the same place.
                        Some(old) => assert_eq!(
                            *old, placed,
                            "round {round}: record {id:?} changed since it was verified"
                        ),
                        None => {
                            assert!(
                                rec.body() == expected_body(id).as_slice(),
                                "round {round}: record {id:?} at {topic}/{q}@{offset} has a torn or wrong body"
                            );
                            assert_eq!(
                                task_target(id.task),
                                (ti, q),
                                "round {round}: {id:?} in the wrong queue"
                            );
                        }
                    }
                    assert!(
                        present.insert(id, placed).is_none(),
                        "round {round}: record {id:?} appears twice (second at {topic}/{q}@{offset})"
                    );
                    assert!(
                        by_phys.insert(placed.phys_offset, id).is_none(),
                        "round {round}: two queue entries point at phys offset {}",
                        placed.phys_offset
                    );
                    offset += 1;
                    cq_entries += 1;
                }
                assert_eq!(
                    r.next_begin_offset, offset,
                    "round {round}: next_begin_offset skips entries"
                );
            }
        }
    }

    // Nothing verified before may disappear.
    for (id, old) in seen.iter() {
        assert!(
            present.contains_key(id),
            "round {round}: record {id:?} (verified earlier at {old:?}) is gone"
        );
    }

    // Every acknowledged record is there, where the ack said, byte-identical (or, with
    // `lost_from`, it and the rest of its put lay past the recovered end).
    let mut lost = Vec::new();
    for a in acked {
        let mut phys = a.phys_offset;
        for i in 0..a.count {
            let id = Id {
                seq: a.first.seq + i,
                ..a.first
            };
            let Some(p) = present.get(&id) else {
                let past_end = lost_from.is_some_and(|end| phys >= end);
                assert!(
                    past_end,
                    "round {round}: acknowledged record {id:?} ({a:?}) is missing"
                );
                for j in i + 1..a.count {
                    let later = Id {
                        seq: a.first.seq + j,
                        ..a.first
                    };
                    assert!(
                        !present.contains_key(&later),
                        "round {round}: {later:?} survived but {id:?} before it was lost"
                    );
                }
                lost.push(a.first);
                break;
            };
            assert_eq!(
                (p.topic, p.queue, p.queue_offset, p.phys_offset),
                (a.topic, a.queue, a.queue_offset + i as i64, phys),
                "round {round}: acknowledged record {id:?} is not where the ack put it"
            );
            phys += p.len as i64;
        }
    }

    // A physical walk of the CommitLog sees exactly the records the queues point to.
    let mut off = store.min_phys_offset();
    let end = store.max_phys_offset();
    let mut walked = 0usize;
    while off < end {
        match store.message_by_phys_offset(off) {
            Some(bytes) if bytes.len() >= 8 && bytes[4..8] == BLANK_MAGIC.to_be_bytes() => {
                off = (off / SEGMENT_SIZE as i64 + 1) * SEGMENT_SIZE as i64;
            }
            Some(bytes) => {
                let rec = decode_record(&bytes).unwrap_or_else(|e| {
                    panic!("round {round}: CommitLog record at {off} does not decode: {e:?}")
                });
                assert_eq!(
                    rec.phys_offset(),
                    off,
                    "round {round}: record at {off} names another offset"
                );
                let id = by_phys.get(&off).unwrap_or_else(|| {
                    panic!("round {round}: CommitLog record at {off} is in no ConsumeQueue")
                });
                assert_eq!(
                    crc32fast::hash(&bytes),
                    present[id].crc,
                    "round {round}: record at {off} reads differently by offset than by queue"
                );
                walked += 1;
                assert!(!bytes.is_empty(), "round {round}: empty record at {off}");
                off += bytes.len() as i64;
            }
            // The rest of a segment after its blank record.
            None => off = (off / SEGMENT_SIZE as i64 + 1) * SEGMENT_SIZE as i64,
        }
    }
    assert_eq!(
        walked, cq_entries,
        "round {round}: the CommitLog holds {walked} records but the queues index {cq_entries}"
    );
    assert!(
        store.message_by_phys_offset(end).is_none(),
        "round {round}: a record is readable at max_phys_offset {end}, past the recovered end"
    );

    // Keys written by the child are found through the rebuilt IndexFiles (a sample per round).
    let ids: Vec<Id> = present.keys().copied().collect();
    for _ in 0..ids.len().min(16) {
        let id = ids[rng.gen_range(0..ids.len())];
        let (t, _) = task_target(id.task);
        let key = format!("k{}-{}-{}", id.round, id.task, id.seq);
        let hits = store.query_by_key(TOPICS[t], &key, 8, 0, i64::MAX);
        assert!(
            hits.iter()
                .any(|h| decode_record(h).ok().and_then(|r| identity(r.body())) == Some(id)),
            "round {round}: key {key} of a present record is not found in the index"
        );
    }

    *seen = present;
    lost
}
