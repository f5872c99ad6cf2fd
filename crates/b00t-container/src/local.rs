//! The `none` runtime: a group agent as a local child process, for machines without
//! Docker. It runs the container's command with b00t's own binary
//! (`<b00t> agent run group --name <group>`), the same environment, and the host folders
//! in place of the `/workspace` paths ([`crate::workspace_env`]). There is no isolation
//! and no resource limit: only the output kept is capped.
//!
//! The child leads its own process group (`process_group(0)`), so that stopping it ends
//! everything it started: SIGTERM to the group, SIGKILL after the grace. A monitor task
//! owns the child and publishes its exit code; dropping the [`LocalAgent`] kills the
//! group. The child's stdin is a pipe this handle holds: if b00t dies, the agent reads
//! end-of-file there.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{ChildStdin, Command};
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::ContainerError;
use crate::spec::{workspace_env, GroupContainer, MountKind, GROUP_TARGET};

/// Lines of output kept for [`LocalAgent::logs_tail`].
const KEEP_LINES: usize = 200;
/// Longest line kept; longer ones are cut.
const LINE_CHARS: usize = 1000;

/// A running (or exited) local group agent.
#[derive(Debug)]
pub struct LocalAgent {
    group: String,
    pid: u32,
    /// Sent once by the monitor task when the child has exited; the code (128 + signal
    /// when killed by one).
    exit: watch::Receiver<Option<i64>>,
    /// The last lines the child printed; the pump tasks write, `logs_tail` reads.
    tail: Arc<Mutex<Tail>>,
    /// Dropping this cancels the monitor's token: it kills the process group.
    _kill_on_drop: DropGuard,
    /// The child's stdin; dropped with this handle, so a child can see its parent go.
    _stdin: Option<ChildStdin>,
}

#[derive(Debug, Default)]
struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
    cap_bytes: usize,
}

impl LocalAgent {
    /// Starts `program` (b00t's binary: `std::env::current_exe()`) with `spec.command`,
    /// `spec.env` plus the host workspace paths, in the group folder.
    pub fn spawn(program: &Path, spec: &GroupContainer) -> Result<LocalAgent, ContainerError> {
        spec.validate()?;
        let spawn_error = |source| ContainerError::Spawn {
            group: spec.group.clone(),
            program: program.to_owned(),
            source,
        };
        let mut command = Command::new(program);
        command
            .args(&spec.command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        for (key, value) in &spec.env {
            command.env(key, value);
        }
        for (key, value) in workspace_env(&spec.mounts, false) {
            if !spec.env.iter().any(|(k, _)| *k == key) {
                command.env(key, value);
            }
        }
        if let Some(group_dir) = spec
            .mounts
            .iter()
            .find(|m| m.kind == MountKind::Bind && m.target == GROUP_TARGET)
        {
            command.current_dir(&group_dir.host);
        }
        let mut child = command.spawn().map_err(spawn_error)?;
        let Some(pid) = child.id() else {
            return Err(spawn_error(std::io::Error::other(
                "the child exited before it could be watched",
            )));
        };

        let tail = Arc::new(Mutex::new(Tail {
            cap_bytes: usize::try_from(spec.limits.log_max_bytes).unwrap_or(usize::MAX),
            ..Tail::default()
        }));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, tail.clone(), spec.group.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, tail.clone(), spec.group.clone()));
        }
        let stdin = child.stdin.take();

        let (exit_tx, exit) = watch::channel(None);
        let kill = CancellationToken::new();
        let killed = kill.clone();
        let group = spec.group.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                () = killed.cancelled() => {
                    signal_group(pid, Signal::KILL);
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // Whatever the leader left behind in its group goes with it.
            signal_group(pid, Signal::KILL);
            let code = match status {
                Ok(status) => status
                    .code()
                    .map(i64::from)
                    .or_else(|| status.signal().map(|s| 128 + i64::from(s)))
                    .unwrap_or(-1),
                Err(e) => {
                    tracing::warn!("cannot wait for the local agent of group `{group}`: {e}");
                    -1
                }
            };
            let _ = exit_tx.send(Some(code));
        });

        Ok(LocalAgent {
            group: spec.group.clone(),
            pid,
            exit,
            tail,
            _kill_on_drop: kill.drop_guard(),
            _stdin: stdin,
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit code, once it has exited.
    pub fn exit_code(&self) -> Option<i64> {
        *self.exit.borrow()
    }

    /// Waits for the exit and returns the code (128 + signal when killed by one).
    pub async fn wait_exit(&self) -> Result<i64, ContainerError> {
        let mut exit = self.exit.clone();
        let code = exit
            .wait_for(Option::is_some)
            .await
            .map(|code| code.unwrap_or(-1))
            .unwrap_or(-1);
        Ok(code)
    }

    /// SIGTERM to the whole group, SIGKILL after `grace`; returns the exit code.
    pub async fn stop(&self, grace: Duration) -> Result<i64, ContainerError> {
        if let Some(code) = self.exit_code() {
            return Ok(code);
        }
        signal_group(self.pid, Signal::TERM);
        match tokio::time::timeout(grace, self.wait_exit()).await {
            Ok(code) => code,
            Err(_) => {
                signal_group(self.pid, Signal::KILL);
                self.wait_exit().await
            }
        }
    }

    /// The last `lines` lines printed (stdout and stderr, interleaved as they came).
    pub fn logs_tail(&self, lines: usize) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let skip = tail.lines.len().saturating_sub(lines);
        let mut out = String::new();
        for line in tail.lines.iter().skip(skip) {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Where `program` would be looked for when none is given: this binary.
    pub fn current_program() -> Result<PathBuf, ContainerError> {
        std::env::current_exe()
            .map_err(|e| ContainerError::io("find the running binary", "/proc/self/exe", e))
    }
}

fn signal_group(pid: u32, signal: Signal) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    // ESRCH: the group is already gone.
    let _ = kill_process_group(pid, signal);
}

async fn pump(stream: impl AsyncRead + Unpin, tail: Arc<Mutex<Tail>>, group: String) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let text = text.trim_end_matches(['\n', '\r']);
                let mut line: String = text.chars().take(LINE_CHARS).collect();
                if line.len() < text.len() {
                    line.push('…');
                }
                tracing::debug!(target: "b00t_container::agent", "{group}: {line}");
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                tail.bytes += line.len() + 1;
                tail.lines.push_back(line);
                while tail.lines.len() > KEEP_LINES
                    || (tail.bytes > tail.cap_bytes && tail.lines.len() > 1)
                {
                    if let Some(old) = tail.lines.pop_front() {
                        tail.bytes -= old.len() + 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::spec::{Mount, GLOBAL_DIR_ENV, GROUP_DIR_ENV};

    fn sh_spec(script: &str, group_dir: &Path) -> GroupContainer {
        let mut spec = GroupContainer::for_group("test", "family", "b00t-agent:1").unwrap();
        spec.command = vec!["-c".into(), script.into()];
        spec.env = vec![("GREETING".into(), "hello".into())];
        spec.mounts = vec![
            Mount {
                host: group_dir.to_owned(),
                target: GROUP_TARGET.into(),
                read_only: false,
                kind: MountKind::Bind,
            },
            Mount {
                host: group_dir.join("g"),
                target: crate::spec::GLOBAL_TARGET.into(),
                read_only: true,
                kind: MountKind::Bind,
            },
        ];
        spec
    }

    #[tokio::test]
    async fn it_runs_in_the_group_folder_with_host_paths_and_reports_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let spec = sh_spec(
            &format!(
                "echo \"$GREETING ${GROUP_DIR_ENV} ${GLOBAL_DIR_ENV}\"; pwd; echo oops >&2; exit 3"
            ),
            dir.path(),
        );
        let agent = LocalAgent::spawn(Path::new("/bin/sh"), &spec).unwrap();
        assert_eq!(agent.wait_exit().await.unwrap(), 3);
        assert_eq!(agent.exit_code(), Some(3));
        // The pumps may trail the exit by a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while agent.logs_tail(10).lines().count() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let logs = agent.logs_tail(10);
        let d = dir.path().display();
        assert!(logs.contains(&format!("hello {d} {d}/g")), "{logs}");
        assert!(logs.contains(&format!("{d}\n")), "{logs}");
        assert!(logs.contains("oops"), "{logs}");
        assert_eq!(agent.logs_tail(1).lines().count(), 1);
    }

    #[tokio::test]
    async fn stop_ends_the_whole_group_with_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let spec = sh_spec(
            &format!("(sleep 2; touch {}) & sleep 30", marker.display()),
            dir.path(),
        );
        let agent = LocalAgent::spawn(Path::new("/bin/sh"), &spec).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let code = agent.stop(Duration::from_secs(5)).await.unwrap();
        assert_eq!(code, 128 + 15, "killed by SIGTERM");
        assert!(started.elapsed() < Duration::from_secs(4));
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "a grandchild outlived stop");
    }

    #[tokio::test]
    async fn stop_kills_after_the_grace_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let spec = sh_spec("trap '' TERM; while :; do sleep 0.1; done", dir.path());
        let agent = LocalAgent::spawn(Path::new("/bin/sh"), &spec).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let code = agent.stop(Duration::from_millis(500)).await.unwrap();
        assert_eq!(code, 128 + 9, "killed by SIGKILL");
        assert!(started.elapsed() >= Duration::from_millis(500));
    }

    #[tokio::test]
    async fn dropping_the_handle_kills_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("late");
        let spec = sh_spec(&format!("sleep 1; touch {}", marker.display()), dir.path());
        let agent = LocalAgent::spawn(Path::new("/bin/sh"), &spec).unwrap();
        let pid = agent.pid();
        drop(agent);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!marker.exists(), "the agent outlived its handle");
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    }

    fn is_zombie(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_naming_it_and_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let spec = sh_spec("true", dir.path());
        let e = LocalAgent::spawn(Path::new("/no/such/b00t"), &spec)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/b00t") && e.contains("`family`"), "{e}");
    }
}
