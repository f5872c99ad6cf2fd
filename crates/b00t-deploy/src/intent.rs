//! The intent of a deploy, read from datums: the workloads (long-running services and
//! run-to-completion jobs) of a stack or a job, flattened into one deployment, with their
//! images, commands, environment, ports, volumes, health checks, restart policies,
//! resources, waits and orchestration hints.
//!
//! Strings may still hold references (`${STACK:…}`, `${VAR}`): adapters resolve them with
//! `refs.rs`, since what a service's host is depends on the orchestrator.
//!
//! Datum fields read here (all under `[b00t]`, unknown ones tolerated):
//! - stack: `members`, `[b00t.stack]` (`project`, `namespace`, `compose_path`),
//!   `[b00t.services]` (`<name> = { port, protocol, member }`), `[b00t.env]`;
//! - job: `[b00t.container]` (`image`, `command`, `args`), `[b00t.env]`,
//!   `[b00t.dependencies]` (`requires_stacks`, `wait_for_services = ["web:8080"]`),
//!   `[b00t.resources]` (`cpu`, `memory`, `gpu_count`, `gpu_type`),
//!   `[b00t.orchestration]` (hints, kept as labels or annotations; `queue` names a
//!   Kueue queue);
//! - docker: `image`, `docker_args`, `[b00t.env]`, and for what those cannot say:
//!   `[b00t.container]` (`command`, `args`), `[b00t.dependencies]`, `[b00t.resources]`,
//!   `[b00t.build]` (`base = "busybox-static"`: b00t builds the image from the host's
//!   static busybox when the engine lacks it), `[b00t.local]` (`command`, `args`: how a
//!   direct run starts it as a local process).

use std::collections::BTreeMap;
use std::path::PathBuf;

use b00t_datums::DatumId;
use serde::{Deserialize, Serialize};

/// Whether the deploy is a stack (services that keep running) or a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentKind {
    Stack,
    Job,
}

/// One deployment: what `b00t deploy <datum>` brings up and `undeploy` removes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Intent {
    /// The stack or job asked for.
    pub datum: DatumId,
    pub kind: IntentKind,
    /// The compose project, Kubernetes namespace and Nomad job id: a DNS label
    /// (`[b00t.stack] project` or `namespace`, else the datum's name).
    pub project: String,
    /// Every stack in this deployment (the datum and the stacks it requires or contains),
    /// dependencies first; references name them.
    pub stacks: Vec<String>,
    /// Long-running services and jobs, in dependency order (what a workload waits for
    /// comes before it), ties by name.
    pub workloads: Vec<Workload>,
    /// cli, apt, bash and mcp members, installed through the installer before anything
    /// starts, in member order.
    pub installs: Vec<DatumId>,
    /// `[b00t.stack] compose_path`: an existing compose file (absolute, inside the catalog
    /// folder) that the compose adapter uses as is.
    pub compose_path: Option<PathBuf>,
    /// Notes for the person reading a plan (a dependency without a health check, …).
    pub notes: Vec<String>,
}

/// What a workload is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadRole {
    /// Keeps running: a Deployment and a Service, a compose service, a Nomad service job
    /// group, a supervised process.
    Service,
    /// Runs to completion: a Kubernetes Job, a compose service with `restart: "no"`, a
    /// Nomad batch group.
    Job,
}

/// One service or job.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    /// Its name in the deployment (a DNS label): the service's key in `[b00t.services]`,
    /// else the datum's name.
    pub name: String,
    /// The stack it belongs to (for references), or the job's own name.
    pub stack: String,
    /// The datum it comes from.
    pub datum: DatumId,
    pub role: WorkloadRole,
    pub image: String,
    /// `[b00t.build] base`: how b00t makes the image when the engine lacks it
    /// (`busybox-static`), or `None` (the image must be local or pullable).
    pub build: Option<String>,
    /// The entrypoint override (`--entrypoint`, or `[b00t.container] command`); empty
    /// keeps the image's.
    pub command: Vec<String>,
    /// The arguments (`[b00t.container] args`, or the command's own); empty keeps the
    /// image's.
    pub args: Vec<String>,
    /// `-e` / `--env` of `docker_args` over `[b00t.env]` over the stack's `[b00t.env]`.
    pub env: BTreeMap<String, String>,
    pub ports: Vec<Port>,
    pub volumes: Vec<Volume>,
    pub health: Option<Health>,
    pub restart: Restart,
    pub resources: Resources,
    /// `-l` / `--label` of `docker_args`.
    pub labels: BTreeMap<String, String>,
    /// `[b00t.orchestration]`: kept as labels or annotations, never enforced.
    pub hints: BTreeMap<String, String>,
    /// `wait_for_services`: what must answer before it starts.
    pub wait_for: Vec<Wait>,
    /// `[b00t.local]`: the program and arguments of a direct run (else `command` and
    /// `args`).
    pub local: Option<Vec<String>>,
    /// `-w` / `--workdir`.
    pub workdir: Option<String>,
    /// `-u` / `--user`.
    pub user: Option<String>,
    /// `-h` / `--hostname`: the container's own host name (not how others reach it,
    /// which is `name`).
    pub hostname: Option<String>,
    /// `--read-only`: the root file system is mounted read-only (volumes stay writable).
    pub read_only: bool,
    /// `[b00t.services]` protocol of its first port (`http`, `postgresql`, …), for
    /// endpoint URLs.
    pub protocol: Option<String>,
}

/// A port the workload listens on, and where it is published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Inside the container (or the process's own port for a direct run).
    pub container: u16,
    /// Published on the host: `Some(0)` asks for any free port, `None` publishes nothing.
    pub host: Option<u16>,
    /// The host address it is published on (`-p 127.0.0.1:8080:80`).
    pub host_ip: Option<String>,
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// A volume or bind mount (`-v`, `--mount`, `--tmpfs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: VolumeSource,
    pub target: String,
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum VolumeSource {
    /// A named volume the orchestrator owns (and `down` removes).
    Named(String),
    /// A host path.
    Bind(String),
    /// A tmpfs.
    Tmpfs,
}

/// A health check (`--health-cmd` and its timings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub test: HealthTest,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub start_period_ms: Option<u64>,
}

/// How a health check runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum HealthTest {
    /// `--health-cmd "…"`: one string for the image's shell (`CMD-SHELL`).
    Shell(String),
    /// A program and its arguments (`CMD`).
    Exec(Vec<String>),
}

/// `--restart`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", content = "max_retries", rename_all = "kebab-case")]
pub enum Restart {
    No,
    Always,
    UnlessStopped,
    /// With the most restarts, if given.
    OnFailure(Option<u32>),
}

/// `[b00t.resources]` and `--cpus`, `-m`/`--memory`, `--gpus`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Cores (`0.5`).
    pub cpu: Option<f64>,
    /// Bytes.
    pub memory: Option<u64>,
    pub gpu_count: Option<u32>,
    /// `nvidia-tesla-t4`, `a100`, …: a node selector or constraint where the orchestrator
    /// has one.
    pub gpu_type: Option<String>,
}

/// One entry of `wait_for_services`: `web:8080`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wait {
    pub service: String,
    pub port: u16,
}

impl Intent {
    /// The workload called `name`.
    pub fn workload(&self, name: &str) -> Option<&Workload> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// The long-running services.
    pub fn services(&self) -> impl Iterator<Item = &Workload> {
        self.workloads
            .iter()
            .filter(|w| w.role == WorkloadRole::Service)
    }

    /// The jobs.
    pub fn jobs(&self) -> impl Iterator<Item = &Workload> {
        self.workloads
            .iter()
            .filter(|w| w.role == WorkloadRole::Job)
    }
}
