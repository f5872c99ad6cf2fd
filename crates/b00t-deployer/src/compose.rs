//! The compose executor: Docker Compose does the work. `up` writes the adapter's
//! `compose.yaml` under `<state>/deploy/compose/<project>/`, makes its images present
//! (`images.rs`), checks its published ports are free, runs
//! `docker-compose -p <project> -f <file> up -d --remove-orphans`, then follows the
//! project's containers (the engine's list by the `com.docker.compose.project` label)
//! until every service is running and healthy and every job has exited. `down` is
//! `docker-compose … down -v --remove-orphans`: containers, networks and named volumes
//! go. A stack with `[b00t.stack] compose_path` runs that file as it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use b00t_container::{Docker, Facts};
use b00t_deploy::{Intent, Manifests, WorkloadRole};
use b00t_installer::runner::{self, Program};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::DeployerError;
use crate::status::{say, Deployed, Endpoint, JobState, Progress, ServiceState};

/// The label Docker Compose puts on a project's containers.
const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";
const ONEOFF_LABEL: &str = "com.docker.compose.oneoff";
/// How often `up` looks at the containers while it waits.
const POLL: Duration = Duration::from_millis(300);

/// Docker Compose for one home.
#[derive(Clone, Debug)]
pub struct Compose {
    /// `docker-compose`.
    pub program: String,
    /// `<state>/deploy`.
    pub dir: PathBuf,
    pub stop: CancellationToken,
}

impl Compose {
    pub fn new(deploy_dir: &Path, stop: CancellationToken) -> Compose {
        Compose {
            program: "docker-compose".to_owned(),
            dir: deploy_dir.to_owned(),
            stop,
        }
    }

    /// Where the project's compose file goes.
    pub fn project_dir(&self, project: &str) -> PathBuf {
        self.dir.join("compose").join(project)
    }

    /// Writes the manifests (or picks `compose_path`) and returns the compose file.
    pub fn write(&self, intent: &Intent, manifests: &Manifests) -> Result<PathBuf, DeployerError> {
        if let Some(path) = &intent.compose_path {
            return Ok(path.clone());
        }
        let dir = self.project_dir(&manifests.project);
        b00t_config::home::private_dir(&self.dir.join("compose"))
            .and_then(|()| b00t_config::home::private_dir(&dir))
            .map_err(|e| DeployerError::io("create", &dir, e))?;
        let mut file = None;
        for manifest in &manifests.files {
            let path = dir.join(&manifest.name);
            b00t_config::home::write_private_file(&path, manifest.content.as_bytes())
                .map_err(|e| DeployerError::io("write", &path, e))?;
            file.get_or_insert(path);
        }
        file.ok_or_else(|| DeployerError::Tool {
            command: "compose".to_owned(),
            message: "the compose adapter made no file".to_owned(),
        })
    }

    /// Brings the project up and waits until `deadline` for it to be ready.
    pub async fn up(
        &self,
        docker: &Docker,
        intent: &Intent,
        file: &Path,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let project = intent.project.as_str();
        let running = self.containers(docker, project).await?;
        if running.iter().all(|c| !c.running) {
            for workload in &intent.workloads {
                for port in &workload.ports {
                    let Some(host_port) = port.host.filter(|p| *p != 0) else {
                        continue;
                    };
                    let host = port.host_ip.as_deref().unwrap_or("0.0.0.0");
                    crate::ports::check_free(host, host_port).map_err(|message| {
                        DeployerError::PortTaken {
                            port: host_port,
                            host: host.to_owned(),
                            service: workload.name.clone(),
                            message: format!(
                                "{message}; stop what listens there or change the datum's `-p`, then deploy again"
                            ),
                        }
                    })?;
                }
            }
        }
        let program = self.command(project, file, &["up", "-d", "--remove-orphans"]);
        say(progress, format!("run {}", program.display())).await;
        self.run(&program, progress, deadline).await?;
        self.wait_ready(docker, intent, progress, deadline).await
    }

    /// Follows the project until every service is ready and every job has ended, or
    /// `deadline`; says each change.
    async fn wait_ready(
        &self,
        docker: &Docker,
        intent: &Intent,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let mut told: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let deployed = self.status(docker, intent).await?;
            for service in &deployed.services {
                let now = match &service.health {
                    Some(health) => format!("{} ({health})", service.state),
                    None => service.state.clone(),
                };
                if told.get(&service.name) != Some(&now) {
                    say(progress, format!("service {}: {now}", service.name)).await;
                    told.insert(service.name.clone(), now);
                }
            }
            for job in &deployed.jobs {
                let now = match job.exit_code {
                    Some(code) if job.state != "running" => format!("{} (exit {code})", job.state),
                    _ => job.state.clone(),
                };
                if told.get(&job.name) != Some(&now) {
                    say(progress, format!("job {}: {now}", job.name)).await;
                    told.insert(job.name.clone(), now);
                }
            }
            let settled = deployed.services.iter().all(|s| s.ready) && deployed.jobs_done();
            if settled || Instant::now() >= deadline {
                return Ok(deployed);
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = self.stop.cancelled() => return Err(DeployerError::Stopped),
            }
        }
    }

    /// What the engine says of the project's containers, as services and jobs.
    pub async fn status(
        &self,
        docker: &Docker,
        intent: &Intent,
    ) -> Result<Deployed, DeployerError> {
        let containers = self.containers(docker, &intent.project).await?;
        let by_service: BTreeMap<&str, &Facts> = containers
            .iter()
            .filter_map(|c| c.labels.get(SERVICE_LABEL).map(|s| (s.as_str(), c)))
            .collect();
        let mut deployed = Deployed::default();
        let mut names: Vec<(String, WorkloadRole, Option<String>)> = intent
            .workloads
            .iter()
            .map(|w| (w.name.clone(), w.role, w.protocol.clone()))
            .collect();
        if names.is_empty() {
            // A compose file used as is: whatever services it made.
            names = by_service
                .keys()
                .map(|s| ((*s).to_owned(), WorkloadRole::Service, None))
                .collect();
        }
        for (name, role, protocol) in names {
            let facts = by_service.get(name.as_str()).copied();
            match role {
                WorkloadRole::Service => {
                    deployed.services.push(service_state(&name, facts));
                    if let Some(facts) = facts {
                        deployed
                            .endpoints
                            .extend(endpoints(&name, facts, protocol.as_deref()));
                    }
                }
                WorkloadRole::Job => deployed.jobs.push(job_state(&name, facts)),
            }
        }
        Ok(deployed)
    }

    /// Takes the project down: containers, networks and named volumes.
    pub async fn down(
        &self,
        docker: &Docker,
        intent: &Intent,
        file: &Path,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let program = self.command(
            &intent.project,
            file,
            &["down", "-v", "--remove-orphans", "-t", "5"],
        );
        say(progress, format!("run {}", program.display())).await;
        self.run(&program, progress, deadline).await?;
        let left = self.containers(docker, &intent.project).await?;
        if !left.is_empty() {
            let names: Vec<&str> = left.iter().map(|c| c.name.as_str()).collect();
            return Err(DeployerError::Tool {
                command: program.display(),
                message: format!(
                    "containers of project `{}` are still there: {}; remove them with `docker rm -f`",
                    intent.project,
                    names.join(", ")
                ),
            });
        }
        self.status(docker, intent).await
    }

    fn command(&self, project: &str, file: &Path, args: &[&str]) -> Program {
        let mut all = vec![
            "-p".to_owned(),
            project.to_owned(),
            "-f".to_owned(),
            file.display().to_string(),
        ];
        if let Some(dir) = file.parent() {
            all.push("--project-directory".to_owned());
            all.push(dir.display().to_string());
        }
        all.extend(args.iter().map(|a| (*a).to_owned()));
        Program {
            program: self.program.clone(),
            args: all,
            env: Vec::new(),
            cwd: None,
        }
    }

    async fn run(
        &self,
        program: &Program,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<(), DeployerError> {
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        let (lines, mut rx) = mpsc::channel(runner::LINES_QUEUE);
        let running = runner::run(program, timeout, &self.stop, Some(lines));
        tokio::pin!(running);
        let finished = loop {
            tokio::select! {
                finished = &mut running => break finished,
                Some(line) = rx.recv() => say(progress, line).await,
            }
        };
        while let Ok(line) = rx.try_recv() {
            say(progress, line).await;
        }
        if finished.exit == runner::Exit::Cancelled {
            return Err(DeployerError::Stopped);
        }
        if !finished.success() {
            return Err(DeployerError::Tool {
                command: program.display(),
                message: finished.describe(&self.program, timeout),
            });
        }
        Ok(())
    }

    /// The project's containers (one-off `run` containers left out), with their facts.
    async fn containers(
        &self,
        docker: &Docker,
        project: &str,
    ) -> Result<Vec<Facts>, DeployerError> {
        let engine = |e: b00t_container::ContainerError| DeployerError::Api {
            api: "docker".to_owned(),
            message: e.to_string(),
        };
        let listed = b00t_container::list_containers(docker, true)
            .await
            .map_err(engine)?;
        let mut out = Vec::new();
        for container in listed {
            if container.labels.get(PROJECT_LABEL).map(String::as_str) != Some(project)
                || container
                    .labels
                    .get(ONEOFF_LABEL)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                continue;
            }
            match b00t_container::facts(docker, &container.id).await {
                Ok(facts) => out.push(facts),
                // Removed between the list and the look: not there.
                Err(e) if e.to_string().contains("No such container") => {}
                Err(e) => return Err(engine(e)),
            }
        }
        Ok(out)
    }
}

fn service_state(name: &str, facts: Option<&Facts>) -> ServiceState {
    let Some(facts) = facts else {
        return ServiceState {
            name: name.to_owned(),
            state: "missing".to_owned(),
            health: None,
            ready: false,
            restarts: None,
            detail: None,
        };
    };
    let health = facts
        .health
        .as_ref()
        .map(|h| h.status.clone())
        .filter(|s| s != "none");
    ServiceState {
        name: name.to_owned(),
        state: facts.state.clone(),
        ready: facts.running && health.as_deref().is_none_or(|h| h == "healthy"),
        health,
        restarts: u64::try_from(facts.restart_count).ok(),
        detail: facts
            .error
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| Some(format!("container {}", facts.name))),
    }
}

fn job_state(name: &str, facts: Option<&Facts>) -> JobState {
    let Some(facts) = facts else {
        return JobState {
            name: name.to_owned(),
            state: "pending".to_owned(),
            exit_code: None,
            detail: None,
        };
    };
    let state = if facts.running || facts.restarting {
        "running"
    } else if facts.state == "created" {
        "pending"
    } else {
        match facts.exit_code {
            Some(0) => "succeeded",
            Some(_) => "failed",
            None => "pending",
        }
    };
    JobState {
        name: name.to_owned(),
        state: state.to_owned(),
        exit_code: if state == "succeeded" || state == "failed" {
            facts.exit_code
        } else {
            None
        },
        detail: facts
            .error
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| Some(format!("container {}", facts.name))),
    }
}

/// The published ports of a service's container, each once (the engine lists the IPv4
/// and IPv6 bindings of one port apart).
fn endpoints(name: &str, facts: &Facts, protocol: Option<&str>) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for port in &facts.ports {
        let Some(host_port) = port.host_port else {
            continue;
        };
        let host = match port.host_ip.as_deref() {
            None | Some("") | Some("0.0.0.0") | Some("::") => "127.0.0.1",
            Some(ip) => ip,
        };
        let protocol = protocol.or(Some(port.protocol.as_str()).filter(|p| *p != "tcp"));
        if out.iter().any(|e| e.port == host_port) {
            continue;
        }
        out.push(Endpoint::new(name, host, host_port, protocol));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_project_and_file() {
        let compose = Compose::new(Path::new("/s/deploy"), CancellationToken::new());
        let program = compose.command(
            "starter",
            Path::new("/s/deploy/compose/starter/compose.yaml"),
            &["up", "-d"],
        );
        assert_eq!(
            program.display(),
            "docker-compose -p starter -f /s/deploy/compose/starter/compose.yaml --project-directory /s/deploy/compose/starter up -d"
        );
    }
}
