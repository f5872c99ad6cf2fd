//! Helpers of the unit tests: a FIFO where a file should be, and a call that must return
//! rather than block on it.

use std::path::Path;
use std::time::Duration;

/// Makes a FIFO at `path`.
pub(crate) fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// The outcome of `call`, which must return within ten seconds although `fifo` has no
/// other end; when it does not, the FIFO is opened at both ends to let it go, and the test
/// fails.
pub(crate) fn without_blocking_on<T: Send + 'static>(
    fifo: &Path,
    call: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(call()));
    match outcome.recv_timeout(Duration::from_secs(10)) {
        Ok(outcome) => outcome,
        Err(_) => {
            drop(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(fifo),
            );
            panic!("blocked on the FIFO `{}`", fifo.display());
        }
    }
}
