//! The test kit's stand-in programs (`fake-ollama`, `fake-telegram`) as child processes
//! on free loopback ports, so that the test kit stays out of this binary. Each prints its
//! URL first; a [`FakeProgram`] keeps its stdin and the rest of its stdout for the
//! programs that take and give lines. Dropping one kills the process (`kill_on_drop`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};

/// Longest wait for a fake to print its URL.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A running stand-in.
pub(super) struct FakeProgram {
    _process: tokio::process::Child,
    pub url: String,
    /// Its stdin, for the programs that read lines.
    pub stdin: Option<ChildStdin>,
    /// Its stdout after the URL.
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl FakeProgram {
    /// Runs `$<variable>` when set, else `name` next to `exe` (where `cargo build
    /// --workspace` puts both), with `args`, and reads the URL it prints first.
    pub(super) async fn start(
        exe: &Path,
        name: &str,
        variable: &str,
        args: &[&str],
    ) -> anyhow::Result<FakeProgram> {
        let program = match b00t_config::env::var(variable) {
            Some(path) => PathBuf::from(path),
            None => exe.with_file_name(name),
        };
        anyhow::ensure!(
            program.is_file(),
            "the bench runs the stand-in `{}`, which does not exist: build it with `cargo build --release -p b00t-testkit --bin {name}`, or set `{variable}` to its path",
            program.display(),
        );
        let mut process = tokio::process::Command::new(&program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run the stand-in `{}`", program.display()))?;
        let stdout = process
            .stdout
            .take()
            .with_context(|| format!("no stdout from `{name}`"))?;
        let mut stderr = process
            .stderr
            .take()
            .with_context(|| format!("no stderr from `{name}`"))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_LIMIT, lines.next_line()).await;
        let url = match first {
            Ok(Ok(Some(line))) if line.trim().starts_with("http://") => line.trim().to_owned(),
            _ => {
                let _ = process.start_kill();
                let mut said = String::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), stderr.read_to_string(&mut said))
                        .await;
                anyhow::bail!(
                    "the stand-in `{}` did not print its URL within {} s{}",
                    program.display(),
                    START_LIMIT.as_secs(),
                    if said.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", said.trim())
                    }
                );
            }
        };
        // It logs a line and then little; reading stderr to its end keeps the pipe open.
        tokio::spawn(async move {
            let mut rest = Vec::new();
            let _ = stderr.read_to_end(&mut rest).await;
        });
        let stdin = process.stdin.take();
        Ok(FakeProgram {
            _process: process,
            url,
            stdin,
            lines,
        })
    }
}
