//! One deployed project as the supervisor holds it: its plan, its stop, its monitors'
//! states, and how those read as a [`Deployed`] (readiness probed on demand) or as the
//! process list of [`ProjectInfo`].

use std::path::PathBuf;
use std::time::Duration;

use b00t_deploy::adapters::direct::{DirectPlan, DirectProcess};
use b00t_deploy::intent::WorkloadRole;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::direct::launch::{command_line, role_word};
use crate::direct::log::{self, TAIL_LINES};
use crate::direct::monitor::{address, Phase, ProcessState};
use crate::direct::probe;
use crate::direct::{ProcessInfo, ProjectInfo};
use crate::error::DeployerError;
use crate::status::{Deployed, Endpoint, JobState, ServiceState};

/// A service without ports is ready once it has run this long.
const READY_WITHOUT_PORTS: Duration = Duration::from_secs(1);

/// A project that was started and not yet taken down.
#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) plan: DirectPlan,
    /// `<state_dir>/<project>/`.
    pub(crate) dir: PathBuf,
    /// Cancelled by `down`, a replacing `up`, or the supervisor's stop (its parent):
    /// every monitor of the project then ends its process.
    pub(crate) stop: CancellationToken,
    /// The monitors' progress lines; `up` subscribes while it waits. Held here so that it
    /// stays open as long as the project is.
    pub(crate) events: broadcast::Sender<String>,
    /// In plan order.
    pub(crate) processes: Vec<Supervised>,
}

/// One process of a project, seen from outside its monitor.
#[derive(Debug)]
pub(crate) struct Supervised {
    pub(crate) spec: DirectProcess,
    pub(crate) log_path: PathBuf,
    /// Its monitor's state; the monitor drops the sender when it ends.
    pub(crate) state: watch::Receiver<ProcessState>,
}

impl Project {
    /// Each service's and job's state; readiness is probed now when `probe`, else every
    /// service counts as not ready (for a project that was just stopped).
    pub(crate) async fn deployed(&self, probe: bool) -> Deployed {
        let mut deployed = Deployed::default();
        for process in &self.processes {
            let state = process.state.borrow().clone();
            match process.spec.role {
                WorkloadRole::Service => {
                    let unanswered = if probe {
                        process.unanswered(&state).await
                    } else {
                        None
                    };
                    deployed
                        .services
                        .push(process.service_state(&state, unanswered));
                    for port in &process.spec.ports {
                        deployed.endpoints.push(Endpoint::new(
                            &process.spec.name,
                            probe::reach(&process.spec.host),
                            *port,
                            None,
                        ));
                    }
                }
                WorkloadRole::Job => deployed.jobs.push(process.job_state(&state)),
            }
        }
        deployed
    }

    /// A service that has exited for good (under its policy, or because it could not
    /// start): it will never be ready.
    pub(crate) fn has_exited_service(&self) -> bool {
        self.processes.iter().any(|p| {
            p.spec.role == WorkloadRole::Service && p.state.borrow().phase == Phase::Exited
        })
    }

    /// The error for the first service that exited before it was ready, if one did.
    pub(crate) fn exited_service_error(&self) -> Option<DeployerError> {
        let process = self.processes.iter().find(|p| {
            p.spec.role == WorkloadRole::Service && p.state.borrow().phase == Phase::Exited
        })?;
        let state = process.state.borrow().clone();
        let how = exit_words(&state);
        let restarts = match state.restarts {
            0 => String::new(),
            1 => " after 1 restart".to_owned(),
            n => format!(" after {n} restarts"),
        };
        let lines = last_lines(&state.tail);
        Some(DeployerError::Tool {
            command: command_line(&process.spec),
            message: format!(
                "service `{}` of project `{}` {how}{restarts} and is not restarted (restart policy {:?}){lines}; its log is {}; fix it and run up again, or down to clear the project",
                process.spec.name,
                self.plan.project,
                process.spec.restart,
                process.log_path.display()
            ),
        })
    }

    /// What is not ready, for [`DeployerError::Timeout`].
    pub(crate) fn timeout_message(&self, deployed: &Deployed, deadline: Duration) -> String {
        let mut waiting = Vec::new();
        for (process, service) in self
            .processes
            .iter()
            .filter(|p| p.spec.role == WorkloadRole::Service)
            .zip(&deployed.services)
        {
            if !service.ready {
                waiting.push(process.not_ready(&service.state, service.detail.as_deref()));
            }
        }
        for (process, job) in self
            .processes
            .iter()
            .filter(|p| p.spec.role == WorkloadRole::Job)
            .zip(&deployed.jobs)
        {
            if job.state != "succeeded" && job.state != "failed" {
                waiting.push(process.not_ready(&job.state, job.detail.as_deref()));
            }
        }
        format!(
            "project `{}` is not ready after {} s: {}; its processes keep running (status shows them, down stops them), and their logs are in {}",
            self.plan.project,
            deadline.as_secs_f64().ceil(),
            waiting.join("; "),
            self.dir.display()
        )
    }

    /// Waits until every monitor has ended, or `until`.
    pub(crate) async fn wait_stopped(&self, until: Instant) {
        for process in &self.processes {
            let mut state = process.state.clone();
            // An error is the monitor gone: as final as it gets.
            let _ = tokio::time::timeout_at(until, state.wait_for(|s| s.phase.is_final())).await;
        }
    }

    pub(crate) fn info(&self) -> ProjectInfo {
        ProjectInfo {
            project: self.plan.project.clone(),
            processes: self
                .processes
                .iter()
                .map(|p| {
                    let state = p.state.borrow().clone();
                    let word = match p.spec.role {
                        WorkloadRole::Service => service_word(&state.phase),
                        WorkloadRole::Job => job_word(&state),
                    };
                    ProcessInfo {
                        name: p.spec.name.clone(),
                        role: p.spec.role,
                        state: word.to_owned(),
                        pid: state.pid,
                        restarts: state.restarts,
                        log: p.log_path.clone(),
                    }
                })
                .collect(),
        }
    }
}

impl Supervised {
    /// The ports that do not answer on a running service (`Some(empty)`: ready), or
    /// `None` when it is not ready for another reason (not running, or running less than
    /// [`READY_WITHOUT_PORTS`] without ports).
    async fn unanswered(&self, state: &ProcessState) -> Option<Vec<u16>> {
        if state.phase != Phase::Running {
            return None;
        }
        if self.spec.ports.is_empty() {
            let since = state.running_since?;
            return (since.elapsed() >= READY_WITHOUT_PORTS).then(Vec::new);
        }
        let mut unanswered = Vec::new();
        for port in &self.spec.ports {
            if !probe::answers(&self.spec.host, *port).await {
                unanswered.push(*port);
            }
        }
        Some(unanswered)
    }

    fn service_state(&self, state: &ProcessState, unanswered: Option<Vec<u16>>) -> ServiceState {
        let log = self.log_path.display();
        let ready = unanswered.as_ref().is_some_and(Vec::is_empty);
        let detail = match &state.phase {
            Phase::Pending => None,
            Phase::Waiting(_) => state.detail.clone(),
            Phase::Running => {
                let pid = state.pid.map(|p| format!("pid {p}; ")).unwrap_or_default();
                let silent = match &unanswered {
                    Some(ports) if !ports.is_empty() => {
                        let at: Vec<String> = ports
                            .iter()
                            .map(|port| address(probe::reach(&self.spec.host), *port))
                            .collect();
                        format!("{} does not answer yet; ", at.join(", "))
                    }
                    _ => String::new(),
                };
                Some(format!("{pid}{silent}log {log}"))
            }
            Phase::Restarting => Some(format!(
                "{}; log {log}",
                state.detail.as_deref().unwrap_or("restarting")
            )),
            Phase::Exited => Some(format!(
                "{}{}; log {log}",
                exit_words(state),
                last_lines(&state.tail)
            )),
            Phase::Stopped => Some(format!(
                "stopped{}; its log stays at {log}",
                state
                    .last_exit
                    .map(|code| format!(" (exit {code})"))
                    .unwrap_or_default()
            )),
        };
        ServiceState {
            name: self.spec.name.clone(),
            state: service_word(&state.phase).to_owned(),
            health: None,
            ready,
            restarts: Some(state.restarts),
            detail,
        }
    }

    fn job_state(&self, state: &ProcessState) -> JobState {
        let log = self.log_path.display();
        let word = job_word(state);
        let detail = match (&state.phase, word) {
            (Phase::Pending, _) => None,
            (Phase::Waiting(_), _) => state.detail.clone(),
            (Phase::Running, _) => Some(format!(
                "{}log {log}",
                state.pid.map(|p| format!("pid {p}; ")).unwrap_or_default()
            )),
            (Phase::Restarting, _) => Some(format!(
                "{}{}; log {log}",
                state.detail.as_deref().unwrap_or("restarting"),
                last_lines(&state.tail)
            )),
            (Phase::Exited, "succeeded") => Some(format!("log {log}")),
            (Phase::Exited, _) => Some(format!(
                "{}{}; log {log}",
                exit_words(state),
                last_lines(&state.tail)
            )),
            (Phase::Stopped, _) => Some(format!(
                "stopped before it finished; its log stays at {log}"
            )),
        };
        JobState {
            name: self.spec.name.clone(),
            state: word.to_owned(),
            exit_code: match state.phase {
                Phase::Exited | Phase::Stopped | Phase::Restarting => state.last_exit,
                _ => None,
            },
            detail,
        }
    }

    /// `service `web` is running (127.0.0.1:8080 does not answer yet; …), last lines: …`.
    fn not_ready(&self, word: &str, detail: Option<&str>) -> String {
        let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
        let lines = last_lines(&log::tail(&self.log_path, TAIL_LINES));
        format!(
            "{} `{}` is {word}{detail}{lines}",
            role_word(self.spec.role),
            self.spec.name
        )
    }
}

/// `running`, `restarting`, `exited` or `pending`.
fn service_word(phase: &Phase) -> &'static str {
    match phase {
        Phase::Pending | Phase::Waiting(_) => "pending",
        Phase::Running => "running",
        Phase::Restarting => "restarting",
        Phase::Exited | Phase::Stopped => "exited",
    }
}

/// `pending`, `waiting`, `running`, `succeeded` or `failed`.
fn job_word(state: &ProcessState) -> &'static str {
    match state.phase {
        Phase::Pending | Phase::Restarting => "pending",
        Phase::Waiting(_) => "waiting",
        Phase::Running => "running",
        Phase::Exited if state.last_exit == Some(0) => "succeeded",
        Phase::Exited | Phase::Stopped => "failed",
    }
}

/// `exited with 3`, or why it could not start.
fn exit_words(state: &ProcessState) -> String {
    match (&state.detail, state.last_exit) {
        (Some(detail), _) => detail.clone(),
        (None, Some(code)) => format!("exited with {code}"),
        (None, None) => "exited".to_owned(),
    }
}

/// `: last lines: a | b`, or nothing.
fn last_lines(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": last lines: {}", tail.join(" | "))
    }
}
