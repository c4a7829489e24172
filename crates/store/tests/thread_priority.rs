//! The index builder and the prefault thread run at `background_nice`; the threads acknowledged
//! data waits for (committer, flush, allocator) keep the process's priority. The only test in its
//! binary: it reads this process's threads by name, so no other store may be open meanwhile.

use courier_store::{MessageStore, StoreConfig};

/// Nice values of this process's threads named `name`, read from /proc.
fn nice_of(name: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // the thread exited meanwhile
        };
        // "tid (comm) state ...": comm may hold spaces and parentheses, so split at the last ')'.
        let (head, rest) = stat.rsplit_once(") ").unwrap();
        if head.split_once(" (").unwrap().1 == name {
            // Fields after comm start with field 3 (state); nice is field 19.
            found.push(
                rest.split_whitespace()
                    .nth(19 - 3)
                    .unwrap()
                    .parse()
                    .unwrap(),
            );
        }
    }
    found
}

/// `nice_of(name)` once the threads have started and set their priority (or after 10 s).
fn settled_nice_of(name: &str, want: i32) -> Vec<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = nice_of(name);
        if now == [want] || std::time::Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn opportunistic_threads_run_at_the_background_nice() {
    // SAFETY: getpriority reads its integer arguments; who = 0 is the calling thread.
    let base = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.commitlog_file_size = 1 << 20;
    cfg.direct_write = true;
    let want = cfg.background_nice.max(base);
    let store = MessageStore::open(cfg.clone()).unwrap();
    assert_eq!(settled_nice_of("store-index", want), vec![want]);
    assert_eq!(settled_nice_of("store-prefault", want), vec![want]);
    for critical in ["store-commit", "store-flush", "store-alloc"] {
        assert_eq!(settled_nice_of(critical, base), vec![base], "{critical}");
    }
    store.shutdown().unwrap();
    drop(store);
    assert!(
        nice_of("store-index").is_empty(),
        "shutdown joins the threads"
    );

    cfg.background_nice = 0;
    let store = MessageStore::open(cfg).unwrap();
    assert_eq!(settled_nice_of("store-index", base), vec![base]);
    assert_eq!(settled_nice_of("store-prefault", base), vec![base]);
    store.shutdown().unwrap();
}
