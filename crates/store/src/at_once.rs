//! Blocking work spread over a few short-lived threads: [`try_each`].
//!
//! For calls that spend their time waiting on the kernel (an `msync` per ConsumeQueue), where
//! waiting together is what saves time, not CPU. The calling thread works too, so one item, or
//! a system that refuses new threads, costs no thread at all; every item is attempted even after
//! one fails.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Calls `f` once for every item, on up to `threads` threads at once (the caller's among them),
/// and returns the first error.
pub(crate) fn try_each<T: Sync>(
    items: &[T],
    threads: usize,
    name: &str,
    f: impl Fn(&T) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let next = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let work = || {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            if let Err(e) = f(item) {
                first_error.lock().get_or_insert(e);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(items.len()) {
            let spawned = std::thread::Builder::new()
                .name(name.to_string())
                .spawn_scoped(scope, work);
            // Without a new thread, those running take its share.
            if spawned.is_err() {
                break;
            }
        }
        work();
    });
    first_error.into_inner().map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use parking_lot::{Condvar, Mutex};

    use super::try_each;

    /// Each call waits (up to 10 s) until `want` calls are inside at once, and fails if they
    /// never are: one call at a time can pass only if `want` is 1.
    struct Rendezvous {
        inside: Mutex<usize>,
        all_in: Condvar,
        want: usize,
    }

    impl Rendezvous {
        fn new(want: usize) -> Rendezvous {
            Rendezvous {
                inside: Mutex::new(0),
                all_in: Condvar::new(),
                want,
            }
        }

        fn meet(&self) -> std::io::Result<()> {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut inside = self.inside.lock();
            *inside += 1;
            self.all_in.notify_all();
            while *inside < self.want {
                if self.all_in.wait_until(&mut inside, deadline).timed_out() {
                    return Err(std::io::Error::other(format!(
                        "only {} of {} calls were inside at once",
                        *inside, self.want
                    )));
                }
            }
            Ok(())
        }
    }

    #[test]
    fn items_are_worked_on_at_once_up_to_the_thread_count() {
        let items: Vec<u32> = (0..8).collect();
        let meeting = Rendezvous::new(4);
        let calls = AtomicUsize::new(0);
        try_each(&items, 4, "test-at-once", |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            meeting.meet()
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 8);
    }

    #[test]
    fn every_item_is_tried_and_the_first_error_returned() {
        for threads in [1, 3] {
            let items: Vec<u32> = (0..10).collect();
            let seen = Mutex::new(Vec::new());
            let r = try_each(&items, threads, "test-at-once", |&i| {
                seen.lock().push(i);
                if i % 4 == 1 {
                    Err(std::io::Error::other(format!("item {i}")))
                } else {
                    Ok(())
                }
            });
            let msg = r.unwrap_err().to_string();
            assert!(
                msg == "item 1" || msg == "item 5" || msg == "item 9",
                "{msg}"
            );
            let mut seen = seen.into_inner();
            seen.sort();
            assert_eq!(seen, items, "{threads} threads");
        }
    }

    #[test]
    fn nothing_to_do_is_ok() {
        try_each(&[] as &[u32], 8, "test-at-once", |_| unreachable!()).unwrap();
    }
}
