//! Fuzz target `recover`: opening a damaged store. A small store is written once per process
//! (three CommitLog segments, the queues of two topics, index files and a checkpoint), once shut
//! down cleanly and once dropped as after a crash. Each input picks one of the two, then patches
//! bytes, truncates files and deletes files, and the store is opened over the result.
//!
//! What must hold: opening may fail, but never panics. Once open, every queue reads from its
//! minimum to its maximum offset without panicking, and a key lookup works. A new put that
//! reports PUT_OK reads back at the queue offset it was given. After a clean shutdown the store
//! opens again and still holds that put: recovery converges instead of leaving a store that
//! only opens once.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use courier_store::{
    decode_record, encode_properties, GetStatus, MessageStore, MessageToStore, PutStatus,
    StoreConfig,
};
use libfuzzer_sys::fuzz_target;

/// The queues the template writes: topic and queue count.
const QUEUES: [(&str, i32); 2] = [("F0", 2), ("F1", 2)];

/// Small files, as the store's own corruption tests use, so that a few hundred messages span
/// several segments, queue files and index files.
fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = 64 * 1024;
    c.cq_entries_per_file = 64;
    c.index_slots = 64;
    c.index_entries = 256;
    c.max_message_size = 16 * 1024;
    // tmpfs reports its own usage; keep the disk-space guards out of the way.
    c.disk_space_warning_level_ratio = 100;
    c.disk_max_used_space_ratio = 100;
    c
}

fn message(topic: &str, queue: i32, i: usize) -> MessageToStore {
    let mut m = MessageToStore::new(topic, queue, vec![i as u8; 300 + i % 200]);
    let (tag, keys) = (format!("Tag{}", i % 3), format!("k{i} shared"));
    m.properties = encode_properties(&[("TAGS", &tag), ("KEYS", &keys)]);
    m
}

/// A fresh directory under tmpfs when there is one: every input writes a few hundred KiB.
fn scratch() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!(
        "courier-store-fuzz-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

/// Every file under `dir`, by path relative to it.
fn read_tree(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(rel))
        .expect("read template dir")
        .map(|e| e.expect("template dir entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            read_tree(dir, &r, out);
        } else {
            out.push((
                r.clone(),
                std::fs::read(dir.join(&r)).expect("read template file"),
            ));
        }
    }
}

/// The files of a store holding 240 messages, shut down cleanly or dropped as if it crashed.
fn build(clean: bool) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = scratch();
    let store = MessageStore::open(config(&dir)).expect("open template store");
    for i in 0..240 {
        let (topic, queues) = QUEUES[i % QUEUES.len()];
        let r = runtime().block_on(store.put(message(topic, i as i32 % queues, i)));
        assert_eq!(r.status, PutStatus::PutOk, "template put");
    }
    if clean {
        store.shutdown().expect("template shutdown");
    }
    drop(store);
    let mut files = Vec::new();
    read_tree(&dir, Path::new(""), &mut files);
    let _ = std::fs::remove_dir_all(&dir);
    files
}

fn template(crashed: bool) -> &'static [(PathBuf, Vec<u8>)] {
    static CLEAN: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    static CRASHED: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    if crashed {
        CRASHED.get_or_init(|| build(false))
    } else {
        CLEAN.get_or_init(|| build(true))
    }
}

/// Applies the input's damage to a copy of the template: a sequence of
/// `[op, file, ...]` where op 0–1 patches up to 32 bytes at a 16-bit offset, op 2 truncates
/// and op 3 deletes the file. `None` marks a deleted file.
fn damage(data: &[u8], files: &mut [(PathBuf, Option<Vec<u8>>)]) {
    let mut it = data.iter().copied();
    while let (Some(op), Some(f)) = (it.next(), it.next()) {
        let Some(bytes) = files[f as usize % files.len()].1.as_mut() else {
            continue;
        };
        match op % 4 {
            0 | 1 => {
                let off = u16::from_le_bytes([it.next().unwrap_or(0), it.next().unwrap_or(0)]);
                let len = 1 + it.next().unwrap_or(0) as usize % 32;
                let patch: Vec<u8> = it.by_ref().take(len).collect();
                if bytes.is_empty() {
                    continue;
                }
                let at = off as usize % bytes.len();
                let n = patch.len().min(bytes.len() - at);
                bytes[at..at + n].copy_from_slice(&patch[..n]);
            }
            2 => {
                let keep = u16::from_le_bytes([it.next().unwrap_or(0), it.next().unwrap_or(0)]);
                let keep = keep as usize % (bytes.len() + 1);
                bytes.truncate(keep);
            }
            _ => files[f as usize % files.len()].1 = None,
        }
    }
}

/// Reads every queue of the template's topics end to end and looks a key up.
fn read_everything(store: &MessageStore) {
    for (topic, queues) in QUEUES {
        for q in 0..queues {
            let mut off = store.min_offset(topic, q);
            for _ in 0..512 {
                let r = store.get_messages(topic, q, off, 32, 1 << 20, None);
                for m in &r.messages {
                    let _ = decode_record(m);
                }
                if r.next_begin_offset <= off {
                    break;
                }
                off = r.next_begin_offset;
            }
        }
        let _ = store.query_by_key(topic, "shared", 64, 0, i64::MAX);
    }
}

/// Triage output: the offsets of the queue the target puts to, and what recovery reported.
fn describe(when: &str, store: &MessageStore) {
    eprintln!(
        "{when}: F0/0 offsets {}..{}, report {:?}",
        store.min_offset("F0", 0),
        store.max_offset("F0", 0),
        store.recovery_report()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let mut files: Vec<(PathBuf, Option<Vec<u8>>)> = template(mode & 1 == 1)
        .iter()
        .map(|(p, b)| (p.clone(), Some(b.clone())))
        .collect();
    damage(data, &mut files);
    // Triage aid: `COURIER_FUZZ_DEBUG=1 cargo +nightly fuzz run recover <artifact>` prints which
    // files the input damaged.
    if std::env::var_os("COURIER_FUZZ_DEBUG").is_some() {
        let template = template(mode & 1 == 1);
        for ((rel, now), (_, was)) in files.iter().zip(template) {
            match now {
                None => eprintln!("deleted   {}", rel.display()),
                Some(b) if b.len() != was.len() => {
                    eprintln!("truncated {} {} -> {}", rel.display(), was.len(), b.len())
                }
                Some(b) if b != was => {
                    let first = b.iter().zip(was).position(|(x, y)| x != y).unwrap_or(0);
                    eprintln!("patched   {} from byte {first}", rel.display())
                }
                _ => {}
            }
        }
    }

    let dir = scratch();
    for (rel, bytes) in &files {
        if let Some(bytes) = bytes {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("file under dir")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write damaged file");
        }
    }

    if let Ok(store) = MessageStore::open(config(&dir)) {
        read_everything(&store);
        let debug = std::env::var_os("COURIER_FUZZ_DEBUG").is_some();
        if debug {
            describe("opened", &store);
        }
        let put = runtime().block_on(store.put(message("F0", 0, 7)));
        if debug {
            eprintln!(
                "put: {:?} at queue offset {}, phys {}",
                put.status, put.queue_offset, put.phys_offset
            );
        }
        let stored = put.status == PutStatus::PutOk;
        if stored {
            let got = store.get_messages("F0", 0, put.queue_offset, 1, 1 << 20, None);
            assert_eq!(
                got.status,
                GetStatus::Found,
                "a PUT_OK message must be readable"
            );
            let rec = decode_record(&got.messages[0]).expect("the new record decodes");
            assert_eq!(rec.body(), &message("F0", 0, 7).body[..]);
        }
        store
            .shutdown()
            .expect("a recovered store must shut down cleanly");
        drop(store);

        if debug {
            let abort = dir.join("abort").exists();
            let segs: Vec<String> = std::fs::read_dir(dir.join("commitlog"))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| {
                            format!(
                                "{}:{}",
                                e.file_name().to_string_lossy(),
                                e.metadata().map(|m| m.len()).unwrap_or(0)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ck = std::fs::read(dir.join("checkpoint")).unwrap_or_default();
            let at = |i: usize| {
                ck.get(i..i + 8)
                    .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
            };
            eprintln!(
                "after shutdown: abort {abort}, segments {segs:?}, checkpoint flushed {:?} logics {:?} index {:?} clean end {:?} tail {:?}",
                at(24), at(48), at(56), at(64), at(72)
            );
            if let Some(end) = at(64).filter(|e| *e >= 0) {
                let seg = end / (64 * 1024) * (64 * 1024);
                let bytes = std::fs::read(dir.join("commitlog").join(format!("{seg:020}")))
                    .unwrap_or_default();
                let from = (end - seg) as usize;
                eprintln!("bytes after the end: {:02x?}", bytes.get(from..from + 16));
            }
        }
        let again = MessageStore::open(config(&dir))
            .expect("a store shut down cleanly after recovery must open again");
        if debug {
            describe("reopened", &again);
        }
        if stored {
            let got = again.get_messages("F0", 0, put.queue_offset, 1, 1 << 20, None);
            assert_eq!(
                got.status,
                GetStatus::Found,
                "the put survives a clean restart"
            );
        }
        read_everything(&again);
        let _ = again.shutdown();
    }
    let _ = std::fs::remove_dir_all(&dir);
});
