//! The one stop signal of a long-running command: SIGINT (Ctrl-C) or SIGTERM cancel the
//! returned token; every loop selects on it. Stopping is bounded: a second signal, or
//! [`FORCE_AFTER`] without the command having ended, exits the process at once with
//! 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long a command has to stop after the first signal before the process exits anyway.
pub(crate) const FORCE_AFTER: Duration = Duration::from_millis(4_800);

/// Files a forced exit removes, since no destructor or clean-up code runs then.
static REMOVE_ON_FORCED_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` if the process is forced to exit (`up`'s `state/broker.url`, so that
/// clients do not look for a bus that is gone).
pub(crate) fn remove_on_forced_exit(path: PathBuf) {
    if let Ok(mut paths) = REMOVE_ON_FORCED_EXIT.lock() {
        paths.push(path);
    }
}

/// A token cancelled on the first SIGINT or SIGTERM.
pub(crate) fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    // Handlers are installed now, before the command starts its work, so that no signal
    // falls between the call and the task's first poll.
    let mut signals = Signals::install();
    tokio::spawn(async move {
        let first = signals.next().await;
        tracing::info!(
            "stop signal received ({}); stopping (a second signal exits at once)",
            first.name()
        );
        cancel.cancel();
        let code = tokio::select! {
            second = signals.next() => {
                tracing::warn!("second stop signal ({}); exiting now", second.name());
                second.exit_code()
            }
            _ = tokio::time::sleep(FORCE_AFTER) => {
                tracing::warn!(
                    "still stopping {} ms after the signal; exiting now",
                    FORCE_AFTER.as_millis()
                );
                first.exit_code()
            }
        };
        // No destructors run: whatever was still stopping is abandoned, as on SIGKILL,
        // but state/up.lock is released by the kernel all the same.
        if let Ok(paths) = REMOVE_ON_FORCED_EXIT.lock() {
            for path in paths.iter() {
                let _ = std::fs::remove_file(path);
            }
        }
        std::process::exit(code);
    });
    token
}

/// Which signal arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// The shell's convention: 128 + the signal's number.
    fn exit_code(self) -> i32 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    async fn next(&mut self) -> Stop {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            // No handler, or `None` (the runtime is going away): no signal will come.
            let received = match signal {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            };
            if !received {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            _ = recv(&mut self.interrupt) => Stop::Interrupt,
            _ = recv(&mut self.terminate) => Stop::Terminate,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Signals {
        Signals
    }

    async fn next(&mut self) -> Stop {
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupt
    }
}
