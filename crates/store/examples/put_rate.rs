//! Quick put/read throughput probe for the store (the full benchmark is `courier bench store`).
//!
//! `cargo run --release -p courier-store --example put_rate -- DIR COUNT BODY_BYTES async|sync TASKS`
//!
//! Environment: `PREFAULT_WINDOW=BYTES` overrides `StoreConfig::prefault_window` (0 = off),
//! `NO_INDEX=1` disables the IndexFile, `UNIQUE_KEYS=1` gives every message its own UNIQ_KEY
//! (as producers do; the default is one KEYS value shared by all, so one index slot), `FLUSH_MS` sets the async flush interval, `BATCH=N` makes
//! every call a `put_batch` of N records (COUNT stays the number of records), `DIRECT=1`
//! turns `StoreConfig::direct_write` on (ASYNC_FLUSH through the O_DIRECT write-behind buffer,
//! as the broker writes; the store's default copies into the mapped segments).
//! Prints the whole process's CPU time (every thread: put path, prefault, flush, index) per MB,
//! and each of the store's own threads' CPU time per put once they have caught up.

use std::sync::Arc;
use std::time::Instant;

use courier_store::{
    encode_properties, FlushDiskType, MessageStore, MessageToStore, PutStatus, StoreConfig,
};

/// CPU time of `clock` (this thread's or the whole process's) in nanoseconds.
fn cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn thread_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu_ns() -> u64 {
    cpu_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time (ns, from `/proc/self/task/*/schedstat`) of each of this process's `store-*`
/// threads, by name, summed over threads of one name.
fn store_threads_cpu() -> Vec<(String, u64)> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let name = name.trim();
        if !name.starts_with("store-") {
            continue;
        }
        let ns = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        *by_name.entry(name.to_string()).or_insert(0) += ns;
    }
    by_name.into_iter().collect()
}

/// A numeric environment setting, if present and valid.
fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/tmp/put_rate".into());
    let count: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let size: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);
    let sync = args.get(4).map(|s| s == "sync").unwrap_or(false);
    let tasks: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1);
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = StoreConfig::new(&dir);
    if sync {
        cfg.flush_disk_type = FlushDiskType::SyncFlush;
    }
    if let Some(ms) = env_num("FLUSH_MS") {
        cfg.flush_interval = std::time::Duration::from_millis(ms);
    }
    if let Some(w) = env_num("PREFAULT_WINDOW") {
        cfg.prefault_window = w;
    }
    if std::env::var("DIRECT").is_ok() {
        cfg.direct_write = true;
    }
    let batch: usize = env_num("BATCH").unwrap_or(1).max(1);
    let unique_keys = std::env::var("UNIQUE_KEYS").is_ok();
    if std::env::var("NO_INDEX").is_ok() {
        cfg.message_index_enable = false;
    }
    let store = Arc::new(MessageStore::open(cfg).expect("open store"));
    // One task runs on the calling thread so its CPU time per put can be reported.
    let rt = if tasks == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    };
    let cpu0 = thread_cpu_ns();
    let proc0 = process_cpu_ns();
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let props = encode_properties(&[("TAGS", "TagA"), ("KEYS", "k")]);
    let t0 = Instant::now();
    rt.block_on(async {
        let mut hs = Vec::new();
        for t in 0..tasks {
            let store = Arc::clone(&store);
            let body = body.clone();
            let props = props.clone();
            hs.push(tokio::spawn(async move {
                for n in 0..count / tasks / batch {
                    let make = |k: usize| {
                        let mut m = MessageToStore::new("BenchTopic", (t % 4) as i32, body.clone());
                        m.properties = if unique_keys {
                            // As a producer sends them: 32 hex digits, unique per message.
                            let id = ((t * count + n * batch + k) as u128) << 40 | 0x7F00_0001;
                            encode_properties(&[
                                ("TAGS", "TagA"),
                                ("UNIQ_KEY", &format!("{id:032X}")),
                            ])
                        } else {
                            props.clone()
                        };
                        m
                    };
                    let r = if batch == 1 {
                        store.put(make(0)).await
                    } else {
                        store.put_batch((0..batch).map(make).collect()).await
                    };
                    assert_eq!(r.status, PutStatus::PutOk);
                }
            }));
        }
        for h in hs {
            h.await.expect("task");
        }
    });
    let el = t0.elapsed().as_secs_f64();
    // The index thread catches up in the background: let it finish before counting (once idle
    // it still wakes on a timer, so "finished" is under 1 ms of CPU in 200 ms).
    let index_cpu = |threads: &[(String, u64)]| {
        threads
            .iter()
            .find(|(n, _)| n == "store-index")
            .map_or(0, |t| t.1)
    };
    let mut last = store_threads_cpu();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = store_threads_cpu();
        let settled = index_cpu(&now).saturating_sub(index_cpu(&last)) < 1_000_000;
        last = now;
        if settled {
            break;
        }
    }
    let per_thread: Vec<String> = last
        .iter()
        .map(|(name, ns)| format!("{name} {:.0} ns", *ns as f64 / count as f64))
        .collect();
    println!("store threads' CPU per put: {}", per_thread.join(", "));
    if tasks == 1 {
        println!(
            "put path CPU on the calling thread: {:.0} ns/put",
            (thread_cpu_ns() - cpu0) as f64 / count as f64
        );
    }
    let bytes = store.max_phys_offset() as f64;
    let proc_cpu = process_cpu_ns() - proc0;
    println!(
        "process CPU: {:.3} s = {:.0} us per MB of records (all threads)",
        proc_cpu as f64 / 1e9,
        proc_cpu as f64 / 1e3 / (bytes / 1e6)
    );
    println!(
        "puts: {count} x {size} B, {} tasks, {}: {:.0} puts/s, {:.1} MB/s of records",
        tasks,
        if sync { "SYNC_FLUSH" } else { "ASYNC_FLUSH" },
        count as f64 / el,
        bytes / el / 1e6
    );
    let rss_anon = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    println!("RssAnon after the puts: {rss_anon} kB");
    let t1 = Instant::now();
    let mut read = 0usize;
    for q in 0..4 {
        let mut o = store.min_offset("BenchTopic", q);
        loop {
            let g = store.get_messages("BenchTopic", q, o, 32, 1 << 20, None);
            if g.messages.is_empty() {
                break;
            }
            read += g.messages.iter().map(|b| b.len()).sum::<usize>();
            o = g.next_begin_offset;
        }
    }
    let el = t1.elapsed().as_secs_f64();
    println!("reads: {:.2} GB/s ({read} bytes)", read as f64 / el / 1e9);
    store.shutdown().expect("shutdown");
    let t2 = Instant::now();
    drop(store);
    let mut cfg = StoreConfig::new(&dir);
    cfg.flush_disk_type = FlushDiskType::AsyncFlush;
    let s = MessageStore::open(cfg).expect("reopen");
    println!(
        "clean reopen: {:?} (report {:?})",
        t2.elapsed(),
        s.recovery_report().elapsed
    );
    s.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
