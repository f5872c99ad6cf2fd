//! Child processes: a program and its arguments (never a shell string made from message
//! fields), run with a timeout, stdout and stderr streamed line by line to a callback.
//! The child leads its own process group so that a timeout kills everything it started.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A program to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

impl Program {
    pub fn new(program: &str, args: &[&str]) -> Program {
        Program {
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
            cwd: None,
        }
    }

    /// How the program reads to a person: `apt-get install -y jq`.
    pub fn display(&self) -> String {
        let mut out = self.program.clone();
        for arg in &self.args {
            out.push(' ');
            if arg.contains(char::is_whitespace) || arg.is_empty() {
                let first_line = arg.lines().next().unwrap_or("");
                if arg.contains('\n') {
                    out.push_str(&format!("'{first_line} …'"));
                } else {
                    out.push_str(&format!("'{arg}'"));
                }
            } else {
                out.push_str(arg);
            }
        }
        out
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code (`None`: killed by a signal).
    Code(Option<i32>),
    /// Ran past its timeout and was killed.
    TimedOut,
    /// Stopped by the shutdown signal.
    Cancelled,
    /// Could not be started.
    NotStarted(String),
}

/// The end of a run: how it exited and the last lines it printed.
#[derive(Clone, Debug)]
pub struct Finished {
    pub exit: Exit,
    pub tail: Vec<String>,
    /// Everything printed, up to [`KEEP`] bytes (for version checks).
    pub output: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(Some(0))
    }

    /// `exited with 100: E: Unable to locate package nope`.
    pub fn describe(&self, what: &str, timeout: Duration) -> String {
        let how = match &self.exit {
            Exit::Code(Some(code)) => format!("`{what}` exited with {code}"),
            Exit::Code(None) => format!("`{what}` was killed by a signal"),
            Exit::TimedOut => format!(
                "`{what}` ran longer than {} s and was killed; raise [installer] step_timeout_ms in b00t.toml if it needs longer",
                timeout.as_secs()
            ),
            Exit::Cancelled => format!("`{what}` was stopped by shutdown"),
            Exit::NotStarted(e) => return format!("`{what}` could not start: {e}"),
        };
        match self.tail.last() {
            Some(_) => format!("{how}: {}", self.tail.join(" | ")),
            None => how,
        }
    }
}

/// Output kept whole for a check; longer output keeps its start.
pub const KEEP: usize = 64 * 1024;
/// Lines of output kept for an error message.
const TAIL: usize = 5;
/// Longest line passed on; longer ones are cut.
const LINE: usize = 400;
/// Lines queued between a child's output and whoever reads them. A full queue waits (and
/// so, through its pipe, does the child) rather than holding more: lines are never lost.
pub const LINES_QUEUE: usize = 256;

/// Runs `program` to its end, its timeout, or `stop`. Each line it prints goes to `lines`
/// (when given) as it comes; the reader must drain `lines` while this runs.
pub async fn run(
    program: &Program,
    timeout: Duration,
    stop: &CancellationToken,
    lines: Option<mpsc::Sender<String>>,
) -> Finished {
    let mut command = Command::new(&program.program);
    command
        .args(&program.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    command.env("PATH", crate::env::search_path());
    for (k, v) in &program.env {
        command.env(k, v);
    }
    if let Some(cwd) = &program.cwd {
        command.current_dir(cwd);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Finished {
                exit: Exit::NotStarted(e.to_string()),
                tail: Vec::new(),
                output: String::new(),
            }
        }
    };
    let pid = child.id();
    let (tx, mut rx) = mpsc::channel::<String>(LINES_QUEUE);
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(err, tx.clone()));
    }
    drop(tx);
    let mut output = String::new();
    let mut tail: Vec<String> = Vec::new();
    let mut take = |line: &str| {
        if output.len() < KEEP {
            output.push_str(line);
            output.push('\n');
        }
        if !line.trim().is_empty() {
            if tail.len() == TAIL {
                tail.remove(0);
            }
            tail.push(line.to_owned());
        }
    };
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut open = true;
    let exit = loop {
        tokio::select! {
            line = rx.recv(), if open => match line {
                Some(line) => {
                    take(&line);
                    if let Some(lines) = &lines {
                        let _ = lines.send(line).await;
                    }
                }
                None => open = false,
            },
            status = child.wait(), if !open => {
                break Exit::Code(status.ok().and_then(|s| s.code()));
            }
            () = &mut deadline => {
                kill_group(pid).await;
                let _ = child.kill().await;
                break Exit::TimedOut;
            }
            () = stop.cancelled() => {
                kill_group(pid).await;
                let _ = child.kill().await;
                break Exit::Cancelled;
            }
        }
    };
    while let Ok(line) = rx.try_recv() {
        take(&line);
        if let Some(lines) = &lines {
            let _ = lines.send(line).await;
        }
    }
    Finished { exit, tail, output }
}

async fn pump(stream: impl AsyncRead + Unpin, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                // apt and curl redraw with carriage returns: keep the last state.
                let text = text.trim_end_matches(['\n', '\r']);
                let text = text.rsplit('\r').next().unwrap_or(text);
                let mut line: String = text.chars().take(LINE).collect();
                if text.len() > line.len() {
                    line.push('…');
                }
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Ends a timed-out child's whole process group (scripts start children of their own).
async fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    for signal in ["-TERM", "-KILL"] {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        if signal == "-TERM" {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bash(script: &str) -> Program {
        Program::new("bash", &["-c", script])
    }

    #[tokio::test]
    async fn streams_lines_from_both_streams_and_reports_the_code() {
        let (tx, mut rx) = mpsc::channel(LINES_QUEUE);
        let stop = CancellationToken::new();
        let done = run(
            &bash("echo one; echo two >&2; exit 3"),
            Duration::from_secs(10),
            &stop,
            Some(tx),
        )
        .await;
        assert_eq!(done.exit, Exit::Code(Some(3)));
        let mut seen = Vec::new();
        while let Ok(line) = rx.try_recv() {
            seen.push(line);
        }
        seen.sort();
        assert_eq!(seen, ["one", "two"]);
        assert!(done
            .describe("x", Duration::from_secs(1))
            .contains("exited with 3"));
    }

    #[tokio::test]
    async fn a_slow_reader_holds_the_child_back_and_loses_no_line() {
        // Far more lines than the queues hold, read one at a time with a pause: the child
        // waits on its pipe instead of the runner holding them.
        let count = LINES_QUEUE * 8;
        let (tx, mut rx) = mpsc::channel(1);
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(line) = rx.recv().await {
                if seen.len() % 256 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                seen.push(line);
            }
            seen
        });
        let stop = CancellationToken::new();
        let done = run(
            &bash(&format!("seq 1 {count}")),
            Duration::from_secs(60),
            &stop,
            Some(tx),
        )
        .await;
        assert_eq!(done.exit, Exit::Code(Some(0)));
        let seen = reader.await.unwrap();
        let expected: Vec<String> = (1..=count).map(|n| n.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let stop = CancellationToken::new();
        let done = run(&bash(&script), Duration::from_millis(300), &stop, None).await;
        assert_eq!(done.exit, Exit::TimedOut);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[tokio::test]
    async fn a_missing_program_is_reported() {
        let stop = CancellationToken::new();
        let done = run(
            &Program::new("no-such-program-b00t", &[]),
            Duration::from_secs(1),
            &stop,
            None,
        )
        .await;
        assert!(matches!(done.exit, Exit::NotStarted(_)));
        assert!(done
            .describe("no-such-program-b00t", Duration::from_secs(1))
            .contains("could not start"));
    }
}
