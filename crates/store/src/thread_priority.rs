//! The scheduling class of the store's opportunistic threads.
//!
//! The index builder and the prefault thread do work nobody waits for: `query_by_key` catches
//! the index up itself before it searches, and a page the prefault thread has not reached yet is
//! faulted in by the put path. They run under `SCHED_IDLE`, for two reasons measured on a
//! two-CPU machine with the producer beside the broker (docs/broker.md, session 6):
//! - at the default priority each of their wake-ups (thousands a second under load) could
//!   preempt a connection worker or the producer on its CPU while the other CPU idled;
//! - the scheduler places a woken thread on an idle CPU if it finds one, and a CPU running only
//!   `SCHED_IDLE` threads counts as idle. At a mere high nice value the CPU running the index
//!   builder counted as busy, so a producer woken by a send response was put on the broker
//!   worker's CPU instead, and the two took turns on one CPU while the index builder had the other.
//!
//! `SCHED_IDLE` is not strict idle priority on Linux: such a thread still gets a small share of a
//! CPU every busy thread wants, so it falls behind under overload but never stops.
//!
//! Threads that acknowledged data waits for (the committer, the flush and group-commit threads,
//! the segment allocator) keep the process's scheduling.
//!
//! Linux keeps the scheduling policy per thread; moving to `SCHED_IDLE` needs no privilege.

/// Moves the calling thread to `SCHED_IDLE`. A refusal only costs throughput, so it is logged,
/// not returned.
pub(crate) fn make_current_thread_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not move a store thread to SCHED_IDLE"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy.
    fn my_policy() -> i32 {
        // SAFETY: pid 0 is the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn moves_only_the_calling_thread() {
        let mine = my_policy();
        if mine == libc::SCHED_IDLE {
            eprintln!("the tests already run under SCHED_IDLE: nothing to show");
            return;
        }
        let idle = std::thread::spawn(|| {
            make_current_thread_idle();
            my_policy()
        });
        assert_eq!(idle.join().unwrap(), libc::SCHED_IDLE);
        assert_eq!(my_policy(), mine, "the spawning thread keeps its class");
    }
}
