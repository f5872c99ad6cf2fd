//! What the engine says about one container, as plain data: the facts the container CI
//! agents report, analyze and hand to the model. Filled by `observe` from bollard's
//! types; nothing here talks to the engine.

use std::collections::BTreeMap;

use serde::Serialize;

/// A container as listed: enough to name its agent and decide whether it is in scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The full id (64 hex digits).
    pub id: String,
    /// The name without Docker's leading `/`.
    pub name: String,
    pub image: String,
    /// `running`, `exited`, `restarting`, …
    pub state: String,
    pub labels: BTreeMap<String, String>,
}

/// One change the engine reported for a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerEvent {
    pub id: String,
    /// The name, without `/`, when the event carried it.
    pub name: Option<String>,
    /// Docker's action: `create`, `start`, `die`, `oom`, `kill`, `stop`, `restart`,
    /// `destroy`, `health_status: healthy`, `health_status: unhealthy`, `rename`, ….
    pub action: String,
    /// The exit code of a `die`, when the event carried one.
    pub exit_code: Option<i64>,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
}

/// The result of one health probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub exit_code: Option<i64>,
    /// What the probe printed, cut to a few hundred bytes.
    pub output: String,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// The engine's health check state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy` or `none`.
    pub status: String,
    pub failing_streak: i64,
    /// The last probes, oldest first.
    pub log: Vec<Probe>,
}

/// A port of the container, published on the host or not (ordered by port, protocol,
/// then host binding).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Port {
    pub private: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
}

/// A mount, summarized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountSummary {
    /// `bind`, `volume`, `tmpfs`, …
    pub kind: String,
    pub source: String,
    pub destination: String,
    pub read_write: bool,
}

/// What `inspect` says about a container.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Facts {
    pub id: String,
    pub name: String,
    pub image: String,
    /// The image's id (`sha256:…`).
    pub image_id: String,
    pub state: String,
    pub running: bool,
    pub restarting: bool,
    pub oom_killed: bool,
    /// The last exit code; `None` while running and before the first run.
    pub exit_code: Option<i64>,
    /// The engine's error when it could not start the process (`exec: "x": executable
    /// file not found in $PATH`), when there is one.
    pub error: Option<String>,
    /// RFC 3339; Docker's zero time becomes `None`.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: i64,
    /// The restart policy's name (`no`, `always`, `on-failure`, `unless-stopped`).
    pub restart_policy: String,
    pub health: Option<Health>,
    /// Whether the image or the container defines a health check.
    pub has_healthcheck: bool,
    pub ports: Vec<Port>,
    pub networks: Vec<String>,
    pub mounts: Vec<MountSummary>,
    pub labels: BTreeMap<String, String>,
    /// The user the process runs as (`""` is root).
    pub user: String,
    pub privileged: bool,
    pub read_only_rootfs: bool,
    /// The memory limit in bytes; `None` when unlimited.
    pub memory_limit: Option<i64>,
    pub pids_limit: Option<i64>,
    /// The image's size in bytes, when the engine knows it.
    pub image_size: Option<i64>,
    /// The container's main process id on the host (0 when not running).
    pub pid: i64,
}

/// One process of the container, from the engine's `top`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Process {
    pub pid: String,
    pub user: String,
    /// The whole command line.
    pub command: String,
}

/// One stats sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// CPU use since the previous sample, as a percentage of one CPU × the CPUs online.
    pub cpu_percent: f64,
    pub memory_used: u64,
    pub memory_limit: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

/// Which stream a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub stream: Stream,
    /// RFC 3339 with nanoseconds, as the engine timestamps it.
    pub ts: Option<String>,
    pub text: String,
}

/// A TCP socket listening inside the container's network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listening {
    pub port: u16,
    /// `0.0.0.0`, `127.0.0.1`, `::`, …
    pub address: String,
}

impl From<Facts> for Listed {
    /// What the list would say of a container inspected on its own (a start event's).
    fn from(facts: Facts) -> Listed {
        Listed {
            id: facts.id,
            name: facts.name,
            image: facts.image,
            state: facts.state,
            labels: facts.labels,
        }
    }
}
