//! The direct supervisor: a [`DirectPlan`]'s processes run on this machine, supervised
//! by the runtime, for machines with no orchestrator. [`Supervisor`] is a cloneable
//! handle over one table of projects; each process has one monitor task that starts it
//! in its own process group, restarts it under its policy and ends it on `down` or
//! shutdown.
//!
//! # Layout
//! - `project.rs`: a project in the table and how it reads as [`Deployed`].
//! - `monitor.rs`: the task that owns one process (wait, start, restart, stop).
//! - `launch.rs`: finding the program, the folder, the environment, the spawn, signals.
//! - `log.rs`: the capped log files and their last lines.
//! - `probe.rs`: addresses that answer, and ports free before anything starts.
//! - `restart.rs`: the restart policy and its backoff.
//!
//! # Files
//! Under the state folder given to [`Supervisor::new`] (`<home>/state/deploy`), each
//! project has `<project>/` (0700): per process a working folder `<name>/` (0700) and
//! its log `<name>.log` (0600, rotated once to `<name>.log.1` past 10 MiB). `down`
//! removes only the processes: folders and logs stay for reading.

mod launch;
mod log;
mod monitor;
mod probe;
mod project;
mod restart;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use b00t_deploy::adapters::direct::{DirectPlan, DirectProcess};
use b00t_deploy::intent::WorkloadRole;
use b00t_deploy::DeployError;
use serde::Serialize;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::direct::launch::{create_private_dir, find_program, role_word, Launch};
use crate::direct::monitor::{Monitor, ProcessState, DOWN_GRACE, PROBE_EVERY};
use crate::direct::project::{Project, Supervised};
use crate::error::DeployerError;
use crate::status::{say, Deployed, Progress};

/// How long [`Supervisor::shutdown`] may take, all projects together.
pub const SHUTDOWN_WITHIN: Duration = Duration::from_secs(4);
/// How long `down` waits for a project's processes: the grace, then SIGKILL.
const DOWN_WAIT: Duration = DOWN_GRACE.saturating_add(Duration::from_secs(2));
/// Progress lines a project's monitors may have in flight to a slow `up`.
const EVENTS: usize = 64;

/// The supervisor of local processes: a cloneable handle; every clone sees one table.
#[derive(Clone, Debug)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `<home>/state/deploy`: one folder per project.
    state_dir: PathBuf,
    /// A child of the token given to [`Supervisor::new`], so that `shutdown` never
    /// cancels the caller's; every project's stop is a child of this one.
    stop: CancellationToken,
    /// Held while a project is started, replaced or taken down, so that those happen
    /// one at a time (never across `up`'s wait for readiness).
    changes: tokio::sync::Mutex<()>,
    /// The projects, by name: the one owner of the supervisor's state. Changed only
    /// under `changes`; read briefly by everyone (never held across an await).
    projects: Mutex<BTreeMap<String, Arc<Project>>>,
}

/// A project and its processes, as [`Supervisor::list`] shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProjectInfo {
    pub project: String,
    /// In plan order.
    pub processes: Vec<ProcessInfo>,
}

/// One supervised process, without probing it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    pub name: String,
    pub role: WorkloadRole,
    /// A service's `pending`, `running`, `restarting` or `exited`; a job's `pending`,
    /// `waiting`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// The running process's pid (also its process group), or the last one's.
    pub pid: Option<u32>,
    pub restarts: u64,
    /// Its log, which stays after `down`.
    pub log: PathBuf,
}

impl Supervisor {
    /// A supervisor keeping its projects under `state_dir`; `stop` ends every process
    /// (SIGTERM, then SIGKILL after 2.5 s) and refuses new ones.
    pub fn new(state_dir: PathBuf, stop: CancellationToken) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                state_dir,
                stop: stop.child_token(),
                changes: tokio::sync::Mutex::new(()),
                projects: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Kills the processes a runtime that died without stopping them (kill -9) left
    /// under this supervisor's folder; call it before starting anything. Returns what
    /// it killed, for the log.
    pub fn reap_orphans(&self) -> Vec<String> {
        launch::reap_orphans(&self.inner.state_dir)
    }

    /// Starts `plan`'s processes in plan order and waits until every service is ready
    /// (its ports answer on its host; without ports, once it has run 1 s) and every job
    /// has finished, or until `deadline`.
    ///
    /// The same plan already running is not started again: its status is awaited and
    /// returned. A different plan of the same project (or one whose services exited)
    /// is stopped first, and progress says so. Before anything starts, every program is
    /// found and every host port is bound once to prove it free. A failed job does not
    /// fail `up`: it is in the `jobs` of the answer, for the caller to judge. A service
    /// that exits for good before it is ready is a [`DeployerError::Tool`]; the
    /// deadline a [`DeployerError::Timeout`] naming what is not ready, with the last
    /// lines of its log. Either way the project stays (for `status` and `down`).
    pub async fn up(
        &self,
        plan: DirectPlan,
        progress: &Progress,
        deadline: Duration,
    ) -> Result<Deployed, DeployerError> {
        let until = Instant::now() + deadline;
        validate(&plan)?;
        let (project, mut events) = {
            let _changes = tokio::select! {
                changes = self.inner.changes.lock() => changes,
                () = self.inner.stop.cancelled() => return Err(DeployerError::Stopped),
            };
            if self.inner.stop.is_cancelled() {
                return Err(DeployerError::Stopped);
            }
            let programs = plan
                .processes
                .iter()
                .map(find_program)
                .collect::<Result<Vec<String>, DeployerError>>()?;
            match self.get(&plan.project) {
                Some(running) if running.plan == plan && !running.has_exited_service() => {
                    say(
                        progress,
                        format!("project `{}` already runs this plan", plan.project),
                    )
                    .await;
                    let events = running.events.subscribe();
                    (running, events)
                }
                Some(old) => {
                    let why = if old.plan == plan {
                        "has services that exited"
                    } else {
                        "runs a different plan"
                    };
                    let what = match old.processes.len() {
                        1 => "its process".to_owned(),
                        n => format!("its {n} processes"),
                    };
                    say(
                        progress,
                        format!("project `{}` {why}: stopping {what} first", plan.project),
                    )
                    .await;
                    self.take_down(&old).await;
                    self.start(plan, programs, progress).await?
                }
                None => self.start(plan, programs, progress).await?,
            }
        };
        self.wait_ready(&project, &mut events, progress, until, deadline)
            .await
    }

    /// The project's services (readiness probed now), jobs and endpoints
    /// (`tcp://127.0.0.1:<port>` for each port of a service; the caller knows the
    /// protocols and may make them again with [`crate::Endpoint::new`]).
    pub async fn status(&self, project: &str) -> Result<Deployed, DeployerError> {
        let running = self.get(project).ok_or_else(|| not_deployed(project))?;
        Ok(running.deployed(true).await)
    }

    /// Ends the project's processes (SIGTERM to each process group, SIGKILL after 5 s)
    /// and forgets the project; its folder and logs stay for reading. The answer is the
    /// final states.
    pub async fn down(&self, project: &str) -> Result<Deployed, DeployerError> {
        let _changes = self.inner.changes.lock().await;
        let running = self.get(project).ok_or_else(|| not_deployed(project))?;
        Ok(self.take_down(&running).await)
    }

    /// Every project and its processes' states.
    pub fn list(&self) -> Vec<ProjectInfo> {
        let projects: Vec<Arc<Project>> = self.table().values().cloned().collect();
        projects.iter().map(|p| p.info()).collect()
    }

    /// Ends every project's processes within [`SHUTDOWN_WITHIN`] and refuses new ones;
    /// the stop token given to `new` does the same, without the wait.
    pub async fn shutdown(&self) {
        let until = Instant::now() + SHUTDOWN_WITHIN;
        self.inner.stop.cancel();
        // A change in progress sees the stop and ends soon; never wait past `until`.
        let _changes = tokio::time::timeout_at(until, self.inner.changes.lock())
            .await
            .ok();
        let projects: Vec<Arc<Project>> =
            std::mem::take(&mut *self.table()).into_values().collect();
        for project in &projects {
            project.wait_stopped(until).await;
        }
        if !projects.is_empty() {
            tracing::info!("direct supervisor: stopped {} projects", projects.len());
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Project>>> {
        self.inner
            .projects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, project: &str) -> Option<Arc<Project>> {
        self.table().get(project).cloned()
    }

    /// Checks the ports, makes the folders and logs, starts a monitor per process and
    /// puts the project in the table; the receiver gets the monitors' progress lines.
    /// Called under `changes`.
    async fn start(
        &self,
        plan: DirectPlan,
        programs: Vec<String>,
        progress: &Progress,
    ) -> Result<(Arc<Project>, broadcast::Receiver<String>), DeployerError> {
        check_ports(&plan)?;
        let dir = self.inner.state_dir.join(&plan.project);
        create_private_dir(&dir)?;
        let launches = plan
            .processes
            .iter()
            .zip(programs)
            .map(|(spec, program)| Launch::prepare(&dir, spec, program))
            .collect::<Result<Vec<Launch>, DeployerError>>()?;
        if self.inner.stop.is_cancelled() {
            return Err(DeployerError::Stopped);
        }
        say(
            progress,
            format!(
                "project `{}`: starting {} processes, logs in {}",
                plan.project,
                plan.processes.len(),
                dir.display()
            ),
        )
        .await;
        let stop = self.inner.stop.child_token();
        let (events, receiver) = broadcast::channel(EVENTS);
        let mut processes = Vec::with_capacity(launches.len());
        for (spec, launch) in plan.processes.iter().zip(launches) {
            let (state, watched) = watch::channel(ProcessState::pending());
            processes.push(Supervised {
                spec: spec.clone(),
                log_path: launch.log_path.clone(),
                state: watched,
            });
            let monitor = Monitor {
                spec: spec.clone(),
                launch,
                state,
                events: events.clone(),
                stop: stop.clone(),
                shutdown: self.inner.stop.clone(),
            };
            tokio::spawn(monitor.run());
        }
        let project = Arc::new(Project {
            dir,
            stop,
            events,
            processes,
            plan,
        });
        self.table()
            .insert(project.plan.project.clone(), project.clone());
        Ok((project, receiver))
    }

    /// Takes `project` out of the table and ends its processes; the final states.
    /// Called under `changes`.
    async fn take_down(&self, project: &Arc<Project>) -> Deployed {
        {
            let mut table = self.table();
            if table
                .get(&project.plan.project)
                .is_some_and(|p| Arc::ptr_eq(p, project))
            {
                table.remove(&project.plan.project);
            }
        }
        project.stop.cancel();
        project.wait_stopped(Instant::now() + DOWN_WAIT).await;
        tracing::info!(
            "direct supervisor: project `{}` is down; its logs stay in {}",
            project.plan.project,
            project.dir.display()
        );
        project.deployed(false).await
    }

    /// Passes the monitors' progress on and probes readiness every 200 ms until every
    /// service is ready and every job done, a service exits for good, or `until`.
    async fn wait_ready(
        &self,
        project: &Project,
        events: &mut broadcast::Receiver<String>,
        progress: &Progress,
        until: Instant,
        deadline: Duration,
    ) -> Result<Deployed, DeployerError> {
        let mut said_ready: Vec<String> = Vec::new();
        let mut next_check = Instant::now();
        let mut events_open = true;
        loop {
            tokio::select! {
                biased;
                () = self.inner.stop.cancelled() => return Err(DeployerError::Stopped),
                () = project.stop.cancelled() => {
                    return Err(DeployerError::NotDeployed(format!(
                        "project `{}` was taken down or replaced while up waited for it; run up again if it should run",
                        project.plan.project
                    )));
                }
                line = events.recv(), if events_open => match line {
                    Ok(line) => say(progress, line).await,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!("up of `{}` missed {missed} progress lines", project.plan.project);
                    }
                    Err(broadcast::error::RecvError::Closed) => events_open = false,
                },
                () = tokio::time::sleep_until(next_check) => {
                    let deployed = project.deployed(true).await;
                    for service in deployed.services.iter().filter(|s| s.ready) {
                        if !said_ready.contains(&service.name) {
                            said_ready.push(service.name.clone());
                            say(progress, format!("service `{}` is ready", service.name)).await;
                        }
                    }
                    let error = project.exited_service_error();
                    let done = deployed.services.iter().all(|s| s.ready) && deployed.jobs_done();
                    if error.is_some() || done || Instant::now() >= until {
                        while let Ok(line) = events.try_recv() {
                            say(progress, line).await;
                        }
                    }
                    if let Some(error) = error {
                        return Err(error);
                    }
                    if done {
                        return Ok(deployed);
                    }
                    if Instant::now() >= until {
                        return Err(DeployerError::Timeout(project.timeout_message(&deployed, deadline)));
                    }
                    next_check = (Instant::now() + PROBE_EVERY).min(until);
                }
            }
        }
    }
}

fn not_deployed(project: &str) -> DeployerError {
    DeployerError::NotDeployed(format!(
        "project `{project}` is not running under the direct supervisor; deploy it with up first"
    ))
}

fn plan_error(message: String) -> DeployerError {
    DeployerError::Intent(DeployError::Unsupported {
        orchestrator: "direct".into(),
        message,
    })
}

/// A name that is one plain path component: letters, digits, `.`, `_`, `-`, not
/// starting with `.` or `-`.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Names that make folders, unique process names, no port 0.
fn validate(plan: &DirectPlan) -> Result<(), DeployerError> {
    if !plain_name(&plan.project) {
        return Err(plan_error(format!(
            "project `{}` cannot be a folder name: use letters, digits, `.`, `_` and `-`",
            plan.project
        )));
    }
    for (i, process) in plan.processes.iter().enumerate() {
        let role = role_word(process.role);
        if !plain_name(&process.name) {
            return Err(plan_error(format!(
                "{role} `{}` of project `{}` cannot be a folder name: use letters, digits, `.`, `_` and `-`",
                process.name, plan.project
            )));
        }
        if plan.processes[..i].iter().any(|p| p.name == process.name) {
            return Err(plan_error(format!(
                "project `{}` has two processes called `{}`: give each workload its own name",
                plan.project, process.name
            )));
        }
        if process.ports.contains(&0) {
            return Err(plan_error(format!(
                "{role} `{}` has host port 0, which a local process cannot be reached on: give it a fixed port in the datum's -p",
                process.name
            )));
        }
    }
    Ok(())
}

/// Every host port of every process: not used twice in the plan, and free now.
fn check_ports(plan: &DirectPlan) -> Result<(), DeployerError> {
    let taken = |process: &DirectProcess, port: u16, message: String| DeployerError::PortTaken {
        port,
        host: process.host.clone(),
        service: process.name.clone(),
        message,
    };
    for (i, process) in plan.processes.iter().enumerate() {
        for port in &process.ports {
            let twice = plan.processes[..i].iter().find(|other| {
                other.ports.contains(port)
                    && (probe::reach(&other.host) == probe::reach(&process.host)
                        || wildcard(&other.host)
                        || wildcard(&process.host))
            });
            if let Some(other) = twice {
                return Err(taken(
                    process,
                    *port,
                    format!(
                        "`{}` of the same project uses it too; give each its own port in the datum's -p",
                        other.name
                    ),
                ));
            }
        }
    }
    for process in &plan.processes {
        for port in &process.ports {
            probe::check_free(&process.host, *port)
                .map_err(|message| taken(process, *port, message))?;
        }
    }
    Ok(())
}

fn wildcard(host: &str) -> bool {
    matches!(
        host.trim_start_matches('[').trim_end_matches(']'),
        "" | "0.0.0.0" | "::"
    )
}

#[cfg(test)]
mod tests {
    use b00t_deploy::intent::Restart;

    use super::*;

    fn process(name: &str, ports: &[u16]) -> DirectProcess {
        DirectProcess {
            name: name.into(),
            role: WorkloadRole::Service,
            program: "sh".into(),
            args: vec![],
            env: BTreeMap::new(),
            host: "127.0.0.1".into(),
            ports: ports.to_vec(),
            restart: Restart::No,
            wait_for: vec![],
        }
    }

    fn plan(project: &str, processes: Vec<DirectProcess>) -> DirectPlan {
        DirectPlan {
            project: project.into(),
            processes,
        }
    }

    #[test]
    fn names_must_be_plain_folder_names_and_processes_unique() {
        assert!(validate(&plan("web-1.x_y", vec![process("a", &[80])])).is_ok());
        for bad in ["", "..", ".hidden", "a/b", "-x", "a b"] {
            let e = validate(&plan(bad, vec![])).unwrap_err().to_string();
            assert!(e.contains("cannot be a folder name"), "{bad}: {e}");
            let e = validate(&plan("p", vec![process(bad, &[])]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("cannot be a folder name"), "{bad}: {e}");
        }
        let e = validate(&plan("p", vec![process("a", &[]), process("a", &[])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("two processes called `a`"), "{e}");
        let e = validate(&plan("p", vec![process("a", &[0])]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("host port 0"), "{e}");
    }

    #[test]
    fn a_port_used_twice_in_the_plan_is_taken() {
        let mut wild = process("b", &[40_001]);
        wild.host = "0.0.0.0".into();
        let e = check_ports(&plan("p", vec![process("a", &[40_001]), wild])).unwrap_err();
        match e {
            DeployerError::PortTaken {
                port,
                service,
                message,
                ..
            } => {
                assert_eq!((port, service.as_str()), (40_001, "b"));
                assert!(message.contains("`a` of the same project"), "{message}");
            }
            other => panic!("{other}"),
        }
    }
}
