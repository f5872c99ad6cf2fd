//! Writing to stdout and stderr without panicking: `println!` panics when the reader of
//! a pipe has gone (`b00t agents | head -1`). `outln!` returns the write's outcome, a
//! closed stdout as [`StdoutClosed`], which `main` turns into a quiet exit 0; `errln!`
//! ignores failures (there is nowhere left to report them).

use std::fmt;
use std::io::{self, Write};

/// Writes a line to stdout: `outln!("{x}")?`.
macro_rules! outln {
    () => {
        $crate::out::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stdout without a newline: `out!("{x}")?`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::stdout(format_args!($($arg)*))
    };
}

/// Writes a line to stderr, ignoring failures.
macro_rules! errln {
    () => {
        $crate::out::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes to stderr without a newline (a prompt), ignoring failures.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::out::stderr(format_args!($($arg)*))
    };
}

/// Stdout failed: the reader went away (a broken pipe) or another error.
#[derive(Debug)]
pub(crate) enum StdoutError {
    /// The reader of the pipe went away: the command ends quietly.
    Closed,
    Other(io::Error),
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StdoutError::Closed => f.write_str("stdout was closed"),
            StdoutError::Other(e) => write!(f, "cannot write to stdout: {e}"),
        }
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StdoutError::Closed => None,
            StdoutError::Other(e) => Some(e),
        }
    }
}

impl From<io::Error> for StdoutError {
    fn from(e: io::Error) -> StdoutError {
        if e.kind() == io::ErrorKind::BrokenPipe {
            StdoutError::Closed
        } else {
            StdoutError::Other(e)
        }
    }
}

/// Whether `error` is, or was caused by, a closed stdout.
pub(crate) fn is_closed_stdout(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| matches!(e.downcast_ref::<StdoutError>(), Some(StdoutError::Closed)))
}

#[doc(hidden)]
pub(crate) fn stdout(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()?;
    Ok(())
}

#[doc(hidden)]
pub(crate) fn stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// A `tracing` writer for stderr that drops what it cannot write (a closed pipe, EIO):
/// logging must never stop the process, least of all while it shuts down.
pub(crate) struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_pipe_is_quiet() {
        let closed: StdoutError = io::Error::from(io::ErrorKind::BrokenPipe).into();
        let full: StdoutError = io::Error::other("disk full").into();
        assert!(is_closed_stdout(
            &anyhow::Error::from(closed).context("listing")
        ));
        assert!(!is_closed_stdout(&anyhow::Error::from(full)));
        // A broken pipe to the broker is an error like any other.
        let socket = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(!is_closed_stdout(&socket));
    }
}
