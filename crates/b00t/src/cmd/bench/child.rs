//! The bus under test as a child process: `b00t up` (or `up --broker-only`) of this very
//! executable, in a fresh temporary home on a free loopback port, so that it runs alone
//! and its memory can be read from `/proc`.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use b00t_config::BrokerUrl;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use super::rss;

/// What the child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// `up --broker-only`: the embedded broker and nothing else.
    BrokerOnly,
    /// `up`: broker, journal, delivery watcher and the default agents (echo included).
    Runtime,
    /// The same with `[broker] acl = false`: what the topic rules cost.
    RuntimeWithoutRules,
}

/// A running `b00t up`. Dropping it kills the process (`kill_on_drop`), which is what
/// happens on every error path; [`BusChild::stop`] is the polite way.
pub(super) struct BusChild {
    /// Killed with SIGKILL when dropped. Declared before `_home` so that it is dropped
    /// (and killed) before the home is removed.
    process: tokio::process::Child,
    pid: u32,
    url: BrokerUrl,
    /// The child's standard output, read up to its banner, then kept open and unread until
    /// the child has exited: its last line ("b00t stopped") must not meet a closed pipe.
    stdout: Lines<BufReader<ChildStdout>>,
    /// The last lines the child wrote to standard error, filled by a drain task (so the
    /// child never blocks on a full pipe) and shown when the child fails.
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// The task filling `stderr_tail`; it ends when the child closes its standard error.
    stderr_drain: tokio::task::JoinHandle<()>,
    /// The temporary home; removed when dropped.
    _home: tempfile::TempDir,
}

/// Longest wait for the banner `b00t is up`.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Longest wait for a clean exit after SIGTERM before the child is killed.
const STOP_LIMIT: Duration = Duration::from_secs(8);
/// Lines of standard error kept for error messages.
const STDERR_TAIL_LINES: usize = 20;

impl BusChild {
    /// Starts `exe up` in `mode` and waits until it prints `b00t is up`.
    pub(super) async fn start(exe: &Path, mode: Mode) -> anyhow::Result<BusChild> {
        let what = mode.describe();
        let home = tempfile::Builder::new()
            .prefix("b00t-bench-")
            .tempdir()
            .with_context(|| format!("cannot make a temporary home for the {what}"))?;
        if mode == Mode::RuntimeWithoutRules {
            std::fs::write(home.path().join("b00t.toml"), "[broker]\nacl = false\n")
                .with_context(|| format!("cannot write the {what}'s b00t.toml"))?;
        }
        // Group agents are measured on their own (`--groups`).
        let env = [("CONTAINER_RUNTIME", "none")];
        BusChild::spawn(exe, home, &env, mode == Mode::BrokerOnly, what).await
    }

    /// Starts `exe up` in a home prepared by the caller, with extra environment.
    pub(super) async fn start_in(
        exe: &Path,
        home: tempfile::TempDir,
        env: &[(&str, &str)],
        what: &str,
    ) -> anyhow::Result<BusChild> {
        BusChild::spawn(exe, home, env, false, what).await
    }

    /// Starts `exe up --broker <list>` in `home`: a runtime on an external broker or
    /// cluster; with `standby`, `--standby` too, and it is up once it says it is standing
    /// by behind another runtime's lease.
    pub(super) async fn start_on(
        exe: &Path,
        home: tempfile::TempDir,
        list: &str,
        standby: bool,
        what: &str,
    ) -> anyhow::Result<BusChild> {
        let env = [("CONTAINER_RUNTIME", "none")];
        BusChild::spawn_with(exe, home, &env, false, Some((list, standby)), what).await
    }

    async fn spawn(
        exe: &Path,
        home: tempfile::TempDir,
        env: &[(&str, &str)],
        broker_only: bool,
        what: &str,
    ) -> anyhow::Result<BusChild> {
        BusChild::spawn_with(exe, home, env, broker_only, None, what).await
    }

    async fn spawn_with(
        exe: &Path,
        home: tempfile::TempDir,
        env: &[(&str, &str)],
        broker_only: bool,
        broker: Option<(&str, bool)>,
        what: &str,
    ) -> anyhow::Result<BusChild> {
        let port = free_port().context("cannot find a free port on 127.0.0.1")?;
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(exe);
        command.arg("up").arg("--home").arg(home.path());
        match broker {
            Some((list, false)) => command.arg("--broker").arg(list),
            Some((list, true)) => command.arg("--broker").arg(list).arg("--standby"),
            None => command.arg("--listen").arg(&listen),
        };
        let banner_text = match broker {
            Some((_, true)) => "b00t is standing by",
            _ => "b00t is up",
        };
        if broker_only {
            command.arg("--broker-only");
        }
        command
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut process = command
            .spawn()
            .with_context(|| format!("cannot start the {what}: `{} up`", exe.display()))?;
        let pid = process
            .id()
            .with_context(|| format!("the {what} exited as soon as it started"))?;
        let stdout = process.stdout.take().expect("stdout is piped");
        let stderr = process.stderr.take().expect("stderr is piped");
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let stderr_drain = tokio::spawn(drain(BufReader::new(stderr).lines(), stderr_tail.clone()));
        let mut child = BusChild {
            process,
            pid,
            url: match broker {
                Some((list, _)) => BrokerUrl::parse(list).context("in the bench's broker list")?,
                None => BrokerUrl::parse(&format!("mqtt://{listen}")).expect("a valid URL"),
            },
            stdout: BufReader::new(stdout).lines(),
            stderr_tail,
            stderr_drain,
            _home: home,
        };
        let banner =
            tokio::time::timeout(START_LIMIT, wait_for_banner(&mut child.stdout, banner_text))
                .await;
        match banner {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                let status = child.process.wait().await.ok();
                // Let the drain task read the child's last words before quoting them.
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut child.stderr_drain).await;
                anyhow::bail!(
                    "the {what} exited before it was up ({}){}",
                    status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string()),
                    child.stderr_excerpt()
                );
            }
            Ok(Err(e)) => {
                return Err(e).with_context(|| format!("cannot read the output of the {what}"))
            }
            Err(_) => anyhow::bail!(
                "the {what} did not print `{banner_text}` within {} s{}",
                START_LIMIT.as_secs(),
                child.stderr_excerpt()
            ),
        }
        Ok(child)
    }

    /// Where the child's broker listens.
    /// The child's process id.
    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    pub(super) fn url(&self) -> &BrokerUrl {
        &self.url
    }

    /// The child's peak resident memory so far, in MiB (`VmHWM`); `None` where `/proc`
    /// does not tell.
    pub(super) fn peak_rss_mib(&self) -> Option<f64> {
        rss::peak_rss_mib(self.pid)
    }

    /// Kills the child with SIGKILL, as a crash would, and waits for it to be gone.
    pub(super) async fn kill(mut self) {
        let _ = self.process.kill().await;
    }

    /// Asks the child to stop (SIGTERM), waits for it, and kills it when it lingers.
    pub(super) async fn stop(mut self) {
        let asked = terminate(self.pid).await;
        if asked {
            if let Ok(Ok(_)) = tokio::time::timeout(STOP_LIMIT, self.process.wait()).await {
                return;
            }
            tracing::warn!(
                pid = self.pid,
                "the bus under test ignored SIGTERM; killing it"
            );
        }
        let _ = self.process.kill().await;
    }

    pub(super) fn stderr_excerpt(&self) -> String {
        let tail = self.stderr_tail.lock().expect("stderr tail lock");
        if tail.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!("; its last output:\n    {}", lines.join("\n    "))
    }
}

impl Mode {
    fn describe(self) -> &'static str {
        match self {
            Mode::BrokerOnly => "broker under test (`b00t up --broker-only`)",
            Mode::Runtime => "runtime under test (`b00t up`)",
            Mode::RuntimeWithoutRules => "runtime without topic rules (`[broker] acl = false`)",
        }
    }
}

/// Reads lines until one starts with `banner` (true) or the output ends (false).
async fn wait_for_banner(
    stdout: &mut Lines<BufReader<ChildStdout>>,
    banner: &str,
) -> std::io::Result<bool> {
    while let Some(line) = stdout.next_line().await? {
        if line.starts_with(banner) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Keeps the last lines of `lines` in `tail` until the stream ends.
async fn drain(
    mut lines: Lines<BufReader<tokio::process::ChildStderr>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        let mut tail = tail.lock().expect("stderr tail lock");
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// A port that was free a moment ago: bind port 0, read it back, let it go.
pub(super) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Sends SIGTERM with the system's `kill` command: the workspace forbids `unsafe`, and a
/// signal crate for this one call is not worth a dependency. False when it could not.
async fn terminate(pid: u32) -> bool {
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_child_that_dies_at_start_is_reported_with_its_last_words() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake-b00t");
        std::fs::write(
            &exe,
            "#!/bin/sh\necho 'port `1883` is in use' >&2\nexit 3\n",
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let error = match BusChild::start(&exe, Mode::BrokerOnly).await {
            Ok(_) => panic!("a child that exits at once must not count as up"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.contains("exited before it was up"), "{error}");
        assert!(error.contains("exit status: 3"), "{error}");
        assert!(error.contains("port `1883` is in use"), "{error}");
    }
}
