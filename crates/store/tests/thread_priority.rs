//! The index builder and the prefault thread run under SCHED_IDLE (`background_idle`); the
//! threads acknowledged data waits for (committer, flush, allocator) keep the process's
//! scheduling. The only test in its binary: it reads this process's threads by name, so no other
//! store may be open meanwhile.

use std::time::{Duration, Instant};

use courier_store::{MessageStore, StoreConfig};

/// Scheduling policies of this process's threads named `name`, read from /proc.
fn policies_of(name: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // the thread exited meanwhile
        };
        // "tid (comm) state ...": comm may hold spaces and parentheses, so split at the last ')'.
        let (head, rest) = stat.rsplit_once(") ").unwrap();
        if head.split_once(" (").unwrap().1 == name {
            // Fields after comm start with field 3 (state); the policy is field 41.
            found.push(
                rest.split_whitespace()
                    .nth(41 - 3)
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
    }
    found
}

/// `policies_of(name)` once the thread has started and set its class (or after 10 s).
fn settled(name: &str, want: i32) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = policies_of(name);
        if now == [want] || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn opportunistic_threads_run_in_the_idle_class() {
    // What the store's threads inherit from the thread that opens it.
    // SAFETY: pid 0 is the calling thread.
    let base = unsafe { libc::sched_getscheduler(0) };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.commitlog_file_size = 1 << 20;
    cfg.direct_write = true;
    assert!(cfg.background_idle, "on by default");
    let store = MessageStore::open(cfg.clone()).unwrap();
    assert_eq!(settled("store-index", libc::SCHED_IDLE), [libc::SCHED_IDLE]);
    assert_eq!(
        settled("store-prefault", libc::SCHED_IDLE),
        [libc::SCHED_IDLE]
    );
    for critical in ["store-commit", "store-flush", "store-alloc"] {
        assert_eq!(settled(critical, base), [base], "{critical}");
    }
    store.shutdown().unwrap();
    drop(store);
    assert!(
        policies_of("store-index").is_empty(),
        "shutdown joins the threads"
    );

    cfg.background_idle = false;
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(settled("store-index", base), [base]);
    assert_eq!(settled("store-prefault", base), [base]);
    store.shutdown().unwrap();
}
