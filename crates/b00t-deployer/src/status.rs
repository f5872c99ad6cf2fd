//! What a deployment looks like once an orchestrator has it: each service's state and
//! health, each job's outcome, and the endpoints a person can open. Every executor
//! answers in these types; they become JSON result bodies as they are.

use serde::{Deserialize, Serialize};

/// The state of a deployment as its orchestrator reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployed {
    pub services: Vec<ServiceState>,
    pub jobs: Vec<JobState>,
    pub endpoints: Vec<Endpoint>,
}

/// One long-running service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceState {
    pub name: String,
    /// The orchestrator's word (`running`, `exited`, `pending`, `restarting`, `missing`).
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `None` without a health check.
    pub health: Option<String>,
    /// Running, and healthy when it has a check (or its ports answer, for direct runs).
    pub ready: bool,
    /// Restarts so far, when the orchestrator counts them.
    pub restarts: Option<u64>,
    /// What else the orchestrator said (the last error, a container id).
    pub detail: Option<String>,
}

/// One job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobState {
    pub name: String,
    /// `pending`, `waiting` (for its services), `running`, `succeeded`, `failed`.
    pub state: String,
    pub exit_code: Option<i64>,
    pub detail: Option<String>,
}

/// Where a person reaches a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub service: String,
    /// `http://127.0.0.1:18080/`, `postgresql://127.0.0.1:5432`, `tcp://…`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub protocol: String,
}

impl Endpoint {
    /// The URL for `protocol` (`http` and `https` end with `/`; anything else is
    /// `<protocol>://host:port`, `tcp` when none is known).
    pub fn new(service: &str, host: &str, port: u16, protocol: Option<&str>) -> Endpoint {
        let protocol = protocol.unwrap_or("tcp").to_owned();
        let shown = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let url = match protocol.as_str() {
            "http" | "https" => format!("{protocol}://{shown}:{port}/"),
            other => format!("{other}://{shown}:{port}"),
        };
        Endpoint {
            service: service.to_owned(),
            url,
            host: host.to_owned(),
            port,
            protocol,
        }
    }
}

impl Deployed {
    /// Every service ready and no job failed.
    pub fn all_ready(&self) -> bool {
        self.services.iter().all(|s| s.ready) && !self.jobs.iter().any(|j| j.state == "failed")
    }

    /// Every job finished (succeeded or failed).
    pub fn jobs_done(&self) -> bool {
        self.jobs
            .iter()
            .all(|j| j.state == "succeeded" || j.state == "failed")
    }
}

/// Where executors send progress lines (the agent turns each into a `progress` reply).
pub type Progress = tokio::sync::mpsc::Sender<String>;

/// Sends one progress line; a closed receiver (the task is over) is fine.
pub async fn say(progress: &Progress, line: impl Into<String>) {
    let _ = progress.send(line.into()).await;
}
