//! Process signals for the long-running subcommands: the first SIGINT or SIGTERM cancels the
//! shutdown token (graceful: stop accepting, drain, flush, write the clean-shutdown checkpoint);
//! a second one exits at once with status 130, for an operator who does not want to wait.
//!
//! Invariant: the handlers are installed before the servers start, so a signal that arrives
//! during startup is never lost (it only cancels the token, which the servers check on start).

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Installs the SIGINT/SIGTERM handlers; must be called inside the runtime.
pub fn install(shutdown: CancellationToken) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let name = |is_int: bool| if is_int { "SIGINT" } else { "SIGTERM" };
        let first = tokio::select! {
            _ = int.recv() => true,
            _ = term.recv() => false,
        };
        tracing::info!(
            signal = name(first),
            "shutting down gracefully; send the signal again to exit at once"
        );
        eprintln!(
            "{} received: shutting down gracefully (again to force exit)",
            name(first)
        );
        shutdown.cancel();
        let second = tokio::select! {
            _ = int.recv() => true,
            _ = term.recv() => false,
        };
        eprintln!(
            "{} received again: exiting without a clean shutdown; the next start recovers the data",
            name(second)
        );
        std::process::exit(130);
    });
    Ok(())
}
