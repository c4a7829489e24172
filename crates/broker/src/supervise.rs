//! Keeps the broker's background services running through a bug: the delay-level scheduler,
//! the transaction check-back, name server registration, offset persistence and the idle-client
//! scan each run as a loop on a tokio task, and a panic in one would otherwise end that task
//! silently while the broker went on serving without it (delayed messages never delivered, the
//! broker dropped from routes after 120 s). As RocketMQ's service threads catch what their loop
//! throws and go on, a panicking service here is logged at error level, counted
//! (`BrokerStats::service_restarts`) and started again after a pause.
//!
//! A service that returns on its own is not restarted: some return at once by design (no name
//! server to register with).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use courier_remoting::connection::panic_message;
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::context::BrokerStats;

/// Pause before a panicked service starts again: a service that panics at once is not restarted
/// in a tight loop, and one second is short beside every service's own period.
pub(crate) const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs the service `start` makes until it returns or `stop` is cancelled, starting it again
/// after each panic; `restarts` counts the panics.
pub(crate) async fn supervise<F, Fut>(
    name: &'static str,
    stop: CancellationToken,
    restarts: &AtomicU64,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let Err(panic) = AssertUnwindSafe(start()).catch_unwind().await else {
            return;
        };
        BrokerStats::add(restarts, 1);
        tracing::error!(
            service = name,
            panic = panic_message(panic.as_ref()),
            "background service panicked; starting it again in {} s",
            RESTART_PAUSE.as_secs()
        );
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RESTART_PAUSE) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    /// A service that panics twice, then finishes: started three times, two panics counted.
    #[tokio::test(start_paused = true)]
    async fn a_panicking_service_is_started_again() {
        let restarts = AtomicU64::new(0);
        let starts = Arc::new(AtomicU64::new(0));
        let s = starts.clone();
        supervise("test", CancellationToken::new(), &restarts, move || {
            let n = s.fetch_add(1, Ordering::Relaxed);
            async move {
                if n < 2 {
                    panic!("service bug {n}");
                }
            }
        })
        .await;
        assert_eq!(starts.load(Ordering::Relaxed), 3);
        assert_eq!(restarts.load(Ordering::Relaxed), 2);
    }

    /// Once stopped, a panicked service is not started again.
    #[tokio::test(start_paused = true)]
    async fn a_stopped_service_is_not_started_again() {
        let restarts = AtomicU64::new(0);
        let starts = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (s, st) = (starts.clone(), stop.clone());
        supervise("test", stop, &restarts, move || {
            s.fetch_add(1, Ordering::Relaxed);
            st.cancel();
            async { panic!("service bug") }
        })
        .await;
        assert_eq!(starts.load(Ordering::Relaxed), 1);
        assert_eq!(restarts.load(Ordering::Relaxed), 1);
    }
}
