//! What a container's exit code means: the shell's conventions (126, 127), Docker's own
//! (125), and 128 + n for a process killed by signal n (Linux numbering), with the usual
//! cause of the common ones (137: the OOM killer or `docker kill`).

use serde::Serialize;

/// What kind of ending an exit code is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// 0.
    Success,
    /// The program itself reported a failure (1, 2, and codes it chose).
    Failure,
    /// Docker could not run the container at all (125).
    Engine,
    /// The command was found but could not be executed (126).
    NotExecutable,
    /// The command was not found (127).
    NotFound,
    /// The process was killed by a signal (128 + n).
    Signal,
    /// A code outside what a process can return (below 0, above 255), or 255, the
    /// catch-all of `exit(-1)`.
    OutOfRange,
}

/// An exit code explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExitMeaning {
    pub code: i64,
    pub kind: ExitKind,
    /// The signal's name (`SIGKILL`), for 128 + n.
    pub signal: Option<&'static str>,
    /// One sentence for a person.
    pub summary: String,
}

impl ExitMeaning {
    /// Whether the code says something went wrong (a stop on request by `SIGTERM` or
    /// `SIGINT` does not).
    pub fn is_failure(&self) -> bool {
        match self.kind {
            ExitKind::Success => false,
            ExitKind::Signal => !matches!(self.signal, Some("SIGTERM" | "SIGINT")),
            _ => true,
        }
    }
}

/// What `code` means.
pub fn meaning(code: i64) -> ExitMeaning {
    let (kind, signal, summary) = match code {
        0 => (ExitKind::Success, None, "exited normally".to_owned()),
        1 => (
            ExitKind::Failure,
            None,
            "the program failed (a general error: its logs say why)".to_owned(),
        ),
        2 => (
            ExitKind::Failure,
            None,
            "the program failed, often from a misused command or wrong arguments (a shell builtin's usage error)".to_owned(),
        ),
        125 => (
            ExitKind::Engine,
            None,
            "Docker could not run the container (a bad `docker run` flag, or the engine failed); the container's command never ran".to_owned(),
        ),
        126 => (
            ExitKind::NotExecutable,
            None,
            "the command was found but cannot be executed: a permission problem, or a file that is not a program (check its mode and its `#!` line)".to_owned(),
        ),
        127 => (
            ExitKind::NotFound,
            None,
            "the command was not found: a typo in the entrypoint or command, a missing binary, or a script whose interpreter is not in the image".to_owned(),
        ),
        255 => (
            ExitKind::OutOfRange,
            None,
            "exit status 255: the program exited with `-1` or an out-of-range status (often an SSH or runtime error)".to_owned(),
        ),
        129..=192 => {
            let number = code - 128;
            let name = signal_name(number);
            let signal_text = name.map_or_else(|| format!("signal {number}"), str::to_owned);
            let summary = match name {
                Some("SIGKILL") => "killed by SIGKILL: often the kernel's OOM killer (memory limit reached), `docker kill`, or `docker stop` after its timeout".to_owned(),
                Some("SIGSEGV") => "crashed with SIGSEGV (segmentation fault): a bug in the program or a native library, or a binary built for another libc or CPU".to_owned(),
                Some("SIGTERM") => "stopped by SIGTERM: usually `docker stop` or an orchestrator asking it to stop".to_owned(),
                Some("SIGINT") => "stopped by SIGINT (Ctrl-C)".to_owned(),
                Some("SIGABRT") => "aborted with SIGABRT: the program called `abort()`, often a failed assertion or a detected memory corruption".to_owned(),
                Some("SIGHUP") => "killed by SIGHUP: its terminal or session went away".to_owned(),
                Some("SIGBUS") => "crashed with SIGBUS: a bad memory access, often a truncated memory-mapped file or a full `/dev/shm`".to_owned(),
                Some("SIGILL") => "crashed with SIGILL: an illegal instruction, often a binary built for a newer CPU".to_owned(),
                Some("SIGFPE") => "crashed with SIGFPE: an arithmetic error such as a division by zero".to_owned(),
                Some("SIGPIPE") => "killed by SIGPIPE: it wrote to a pipe or socket nobody reads".to_owned(),
                _ => format!("killed by {signal_text}"),
            };
            (ExitKind::Signal, name, summary)
        }
        3..=124 | 128 | 193..=254 => (
            ExitKind::Failure,
            None,
            format!("the program failed with its own exit status {code}: its logs or documentation say what it means"),
        ),
        _ => (
            ExitKind::OutOfRange,
            None,
            format!("exit code {code} is outside 0 to 255: the engine could not report a real exit status"),
        ),
    };
    ExitMeaning {
        code,
        kind,
        signal,
        summary,
    }
}

/// Linux's name for signal `number`.
pub fn signal_name(number: i64) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    let index = usize::try_from(number.checked_sub(1)?).ok()?;
    NAMES.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: i64, kind: ExitKind, signal: Option<&str>, says: &str, failure: bool) {
        let meaning = meaning(code);
        assert_eq!(meaning.code, code);
        assert_eq!(meaning.kind, kind, "{code}");
        assert_eq!(meaning.signal, signal, "{code}");
        assert!(
            meaning.summary.contains(says),
            "{code}: {}",
            meaning.summary
        );
        assert_eq!(meaning.is_failure(), failure, "{code}");
    }

    #[test]
    fn codes_and_their_meanings() {
        use ExitKind::*;
        check(0, Success, None, "normally", false);
        check(1, Failure, None, "general error", true);
        check(2, Failure, None, "arguments", true);
        check(3, Failure, None, "exit status 3", true);
        check(125, Engine, None, "Docker could not run", true);
        check(126, NotExecutable, None, "cannot be executed", true);
        check(127, NotFound, None, "not found", true);
        check(128, Failure, None, "exit status 128", true);
        check(129, Signal, Some("SIGHUP"), "SIGHUP", true);
        check(130, Signal, Some("SIGINT"), "Ctrl-C", false);
        check(134, Signal, Some("SIGABRT"), "abort()", true);
        check(137, Signal, Some("SIGKILL"), "OOM killer", true);
        check(139, Signal, Some("SIGSEGV"), "segmentation fault", true);
        check(141, Signal, Some("SIGPIPE"), "pipe", true);
        check(143, Signal, Some("SIGTERM"), "docker stop", false);
        check(138, Signal, Some("SIGUSR1"), "killed by SIGUSR1", true);
        check(159, Signal, Some("SIGSYS"), "SIGSYS", true);
        check(162, Signal, None, "signal 34", true);
        check(200, Failure, None, "exit status 200", true);
        check(255, OutOfRange, None, "255", true);
        check(256, OutOfRange, None, "outside 0 to 255", true);
        check(-1, OutOfRange, None, "outside 0 to 255", true);
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(15), Some("SIGTERM"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(32), None);
        assert_eq!(signal_name(i64::MIN), None);
    }

    #[test]
    fn serializes_for_the_bus() {
        let json = serde_json::to_value(meaning(137)).unwrap();
        assert_eq!(json["kind"], "signal");
        assert_eq!(json["signal"], "SIGKILL");
    }
}
