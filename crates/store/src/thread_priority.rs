//! The scheduling priority of the store's opportunistic threads.
//!
//! The index builder and the prefault thread do work nobody waits for: `query_by_key` catches
//! the index up itself before it searches, and a page the prefault thread has not reached yet is
//! faulted in by the put path. At the default priority, each time one of them wakes (thousands
//! of times a second under load) the scheduler may preempt a connection worker or a producer on
//! the same CPU to run it; on a two-CPU machine that stalls the send path while the other CPU
//! idles. At a high nice value they still get every idle cycle, and the fair scheduler still gives
//! them a small share when every CPU is busy, so they fall behind under overload but never stop.
//!
//! Threads that acknowledged data waits for (the committer, the flush and group-commit threads,
//! the segment allocator) keep the process's priority.
//!
//! Linux keeps a nice value per thread; raising it needs no privilege.

/// Lowers the calling thread's priority to `nice` (1..=19); 0 leaves it alone. A refusal only
/// costs throughput, so it is logged, not returned.
pub(crate) fn lower_current_thread(nice: i32) {
    if nice <= 0 {
        return;
    }
    let nice = nice.min(19);
    // SAFETY: gettid and setpriority only read their integer arguments.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if rc != 0 {
        tracing::debug!(
            nice,
            error = %std::io::Error::last_os_error(),
            "could not lower a store thread's priority"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's nice value.
    fn my_nice() -> i32 {
        // SAFETY: getpriority reads its integer arguments; who = 0 is the calling thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn lowers_only_the_calling_thread() {
        let mine = my_nice();
        if mine >= 7 {
            eprintln!("the tests already run at nice {mine}: nothing to lower to 7");
            return;
        }
        let low = std::thread::spawn(|| {
            lower_current_thread(7);
            let seven = my_nice();
            // Out-of-range values are clamped, and 0 changes nothing.
            lower_current_thread(40);
            let clamped = my_nice();
            lower_current_thread(0);
            (seven, clamped, my_nice())
        });
        assert_eq!(low.join().unwrap(), (7, 19, 19));
        assert_eq!(my_nice(), mine, "the spawning thread keeps its priority");
    }
}
