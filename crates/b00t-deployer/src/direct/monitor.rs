//! The task that owns one supervised process: it waits for the process's `wait_for`
//! addresses, starts it, watches it exit, applies the restart policy with its backoff,
//! and on its project's stop ends the whole process group (SIGTERM, SIGKILL after the
//! grace). It publishes the process's state on a `watch` and progress lines on a
//! `broadcast`; nothing else starts, signals or reaps the process.

use std::time::Duration;

use b00t_deploy::adapters::direct::{DirectProcess, WaitAddr};
use b00t_deploy::intent::WorkloadRole;
use rustix::process::Signal;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::direct::launch::{self, role_word, Launch, Started};
use crate::direct::log::{self, TAIL_LINES};
use crate::direct::probe;
use crate::direct::restart::{self, Backoff};

/// Between SIGTERM and SIGKILL on `down`.
pub(crate) const DOWN_GRACE: Duration = Duration::from_secs(5);
/// Between SIGTERM and SIGKILL on shutdown (all of it must fit in 4 s).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_millis(2500);
/// How long a process may take to go after SIGKILL before the monitor gives up on it.
const KILL_WAIT: Duration = Duration::from_millis(500);
/// How long the log pumps may go on after the process group is gone.
const PUMP_DRAIN: Duration = Duration::from_millis(500);
/// Between two probes of a `wait_for` address.
pub(crate) const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Where a process is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not started yet.
    Pending,
    /// Waiting for this address to answer before it starts.
    Waiting(WaitAddr),
    Running,
    /// Exited; starts again after the backoff.
    Restarting,
    /// Exited for good under its policy, or could not start (final).
    Exited,
    /// Stopped by `down`, a replacing `up` or shutdown (final).
    Stopped,
}

impl Phase {
    /// The monitor has ended: nothing will change any more.
    pub(crate) fn is_final(&self) -> bool {
        matches!(self, Phase::Exited | Phase::Stopped)
    }
}

/// What the monitor publishes about its process.
#[derive(Clone, Debug)]
pub(crate) struct ProcessState {
    pub(crate) phase: Phase,
    /// The running child's pid (its process group), or the last one's.
    pub(crate) pid: Option<u32>,
    /// When the running child started.
    pub(crate) running_since: Option<Instant>,
    pub(crate) restarts: u64,
    /// The last exit code (128 + signal when a signal ended it).
    pub(crate) last_exit: Option<i64>,
    /// Why it is where it is (`restart 2 in 400 ms`, `cannot start …`).
    pub(crate) detail: Option<String>,
    /// The last lines of its log when it last exited.
    pub(crate) tail: Vec<String>,
}

impl ProcessState {
    pub(crate) fn pending() -> ProcessState {
        ProcessState {
            phase: Phase::Pending,
            pid: None,
            running_since: None,
            restarts: 0,
            last_exit: None,
            detail: None,
            tail: Vec::new(),
        }
    }
}

/// One process's supervision, consumed by [`Monitor::run`].
#[derive(Debug)]
pub(crate) struct Monitor {
    pub(crate) spec: DirectProcess,
    pub(crate) launch: Launch,
    /// The process's state; this monitor is its only sender and drops it when it ends,
    /// after sending a final phase.
    pub(crate) state: watch::Sender<ProcessState>,
    /// Progress lines for whoever runs `up` on the project now; a line sent while nobody
    /// listens is dropped.
    pub(crate) events: broadcast::Sender<String>,
    /// The project's stop (cancelled by `down`, a replacing `up`, or the supervisor's
    /// stop, whose child it is): the process is ended and never restarted.
    pub(crate) stop: CancellationToken,
    /// The supervisor's own stop: once cancelled, the grace is [`SHUTDOWN_GRACE`].
    pub(crate) shutdown: CancellationToken,
}

/// How the wait for a running child ended.
enum Outcome {
    Exited(i64),
    Stopped,
}

impl Monitor {
    /// Supervises the process until it is done under its policy or stopped.
    pub(crate) async fn run(self) {
        if !self.wait_for_addresses().await {
            self.finish(Phase::Stopped, Some("stopped before it started".into()));
            return;
        }
        let mut backoff = Backoff::new();
        let mut restarts: u64 = 0;
        loop {
            if self.stop.is_cancelled() {
                self.finish(Phase::Stopped, None);
                return;
            }
            let started = match self.launch.spawn() {
                Ok(started) => started,
                Err(e) => {
                    let why = format!("cannot start `{}`: {e}", self.launch.program);
                    self.launch.mark(&why);
                    self.say(format!("{}: {why}", self.who()));
                    self.finish(Phase::Exited, Some(why));
                    return;
                }
            };
            let pid = started.pid;
            self.launch.mark(&format!(
                "started `{}` (pid {pid})",
                launch::command_line(&self.spec)
            ));
            let since = Instant::now();
            self.state.send_modify(|s| {
                s.phase = Phase::Running;
                s.pid = Some(pid);
                s.running_since = Some(since);
                s.detail = None;
            });
            self.say(match restarts {
                0 => format!(
                    "{} started (pid {pid}, log {})",
                    self.who(),
                    self.launch.log_path.display()
                ),
                n => format!("{} started again (pid {pid}, restart {n})", self.who()),
            });
            let code = match self.watch(started).await {
                Outcome::Stopped => {
                    self.finish(Phase::Stopped, None);
                    return;
                }
                Outcome::Exited(code) => code,
            };
            self.launch.mark(&format!("exited with {code}"));
            let tail = log::tail(&self.launch.log_path, TAIL_LINES);
            if restart::restarts(self.spec.role, self.spec.restart, code, restarts)
                && !self.stop.is_cancelled()
            {
                let delay = backoff.after_run(since.elapsed());
                restarts += 1;
                let why = format!(
                    "exited with {code}; restart {restarts} in {} ms",
                    delay.as_millis()
                );
                self.say(format!("{} {why}", self.who()));
                self.state.send_modify(|s| {
                    s.phase = Phase::Restarting;
                    s.running_since = None;
                    s.last_exit = Some(code);
                    s.detail = Some(why);
                    s.tail = tail;
                });
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = self.stop.cancelled() => {
                        self.finish(Phase::Stopped, None);
                        return;
                    }
                }
                self.state.send_modify(|s| s.restarts = restarts);
                continue;
            }
            let line = match (self.spec.role, code) {
                (WorkloadRole::Job, 0) => format!("{} succeeded", self.who()),
                (WorkloadRole::Job, code) => {
                    format!("{} failed with exit code {code}", self.who())
                }
                (_, code) => format!("{} exited with {code}", self.who()),
            };
            self.say(line);
            self.state.send_modify(|s| {
                s.last_exit = Some(code);
                s.tail = tail;
            });
            self.finish(Phase::Exited, None);
            return;
        }
    }

    /// `job `check``.
    fn who(&self) -> String {
        format!("{} `{}`", role_word(self.spec.role), self.spec.name)
    }

    fn say(&self, line: String) {
        let _ = self.events.send(line);
    }

    /// Publishes a final phase (the sender goes when the monitor returns).
    fn finish(&self, phase: Phase, detail: Option<String>) {
        self.state.send_modify(|s| {
            s.phase = phase;
            s.running_since = None;
            if detail.is_some() {
                s.detail = detail;
            }
        });
    }

    /// Waits until each `wait_for` address answers; `false` when stopped first.
    async fn wait_for_addresses(&self) -> bool {
        for addr in &self.spec.wait_for {
            let at = address(&addr.host, addr.port);
            self.say(format!("{} waits for {} at {at}", self.who(), addr.service));
            self.state.send_modify(|s| {
                s.phase = Phase::Waiting(addr.clone());
                s.detail = Some(format!("waits for {} at {at}", addr.service));
            });
            loop {
                if self.stop.is_cancelled() {
                    return false;
                }
                if probe::answers(&addr.host, addr.port).await {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(PROBE_EVERY) => {}
                    () = self.stop.cancelled() => return false,
                }
            }
            self.say(format!("{}: {} at {at} answered", self.who(), addr.service));
        }
        self.state.send_modify(|s| s.detail = None);
        true
    }

    /// Waits for the child's exit or the stop; either way its whole group is gone after.
    async fn watch(&self, mut started: Started) -> Outcome {
        let pid = started.pid;
        let outcome = tokio::select! {
            status = started.child.wait() => Outcome::Exited(match status {
                Ok(status) => launch::exit_code(status),
                Err(e) => {
                    tracing::warn!("cannot wait for {} (pid {pid}): {e}", self.who());
                    -1
                }
            }),
            () = self.stop.cancelled() => {
                let code = self.end(&mut started).await;
                self.state.send_modify(|s| s.last_exit = code);
                self.launch.mark(&match code {
                    Some(code) => format!("stopped (exit {code})"),
                    None => format!("stopped, but pid {pid} did not exit after SIGKILL"),
                });
                Outcome::Stopped
            }
        };
        // Whatever the leader left behind in its group goes with it.
        launch::signal_group(pid, Signal::KILL);
        for mut pump in started.pumps {
            if tokio::time::timeout(PUMP_DRAIN, &mut pump).await.is_err() {
                // Something outside the group holds the pipe: stop copying it.
                pump.abort();
            }
        }
        outcome
    }

    /// SIGTERM to the group, SIGKILL after the grace (shortened when shutdown comes
    /// meanwhile); the exit code, or `None` when it would not go.
    async fn end(&self, started: &mut Started) -> Option<i64> {
        let pid = started.pid;
        launch::signal_group(pid, Signal::TERM);
        let now = Instant::now();
        let grace = if self.shutdown.is_cancelled() {
            SHUTDOWN_GRACE
        } else {
            DOWN_GRACE
        };
        let mut until = now + grace;
        let mut shutdown_seen = self.shutdown.is_cancelled();
        loop {
            tokio::select! {
                status = started.child.wait() => {
                    return status.ok().map(launch::exit_code);
                }
                () = tokio::time::sleep_until(until) => break,
                () = self.shutdown.cancelled(), if !shutdown_seen => {
                    shutdown_seen = true;
                    until = until.min(Instant::now() + SHUTDOWN_GRACE);
                }
            }
        }
        launch::signal_group(pid, Signal::KILL);
        let _ = started.child.start_kill();
        match tokio::time::timeout(KILL_WAIT, started.child.wait()).await {
            Ok(status) => status.ok().map(launch::exit_code),
            Err(_) => None,
        }
    }
}

/// `127.0.0.1:8080`, `[::1]:8080`.
pub(crate) fn address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
