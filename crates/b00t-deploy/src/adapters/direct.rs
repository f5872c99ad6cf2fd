//! The direct adapter: for machines with no orchestrator, each workload becomes a local
//! process that `b00t-deployer`'s supervisor runs (restart policy, logs under the state
//! folder, ports on localhost). The plan is [`DirectPlan`]; its manifest is that plan as
//! JSON (`direct.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::adapters::Manifests;
use crate::error::DeployError;
use crate::intent::{Intent, Restart, WorkloadRole};

/// The processes of one deployment, in start order (what a process waits for first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectPlan {
    pub project: String,
    pub processes: Vec<DirectProcess>,
}

/// One local process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectProcess {
    pub name: String,
    pub role: WorkloadRole,
    /// A program (a path, or a name looked up on PATH) and its arguments, every reference
    /// resolved: never a shell string built by b00t.
    pub program: String,
    pub args: Vec<String>,
    /// Exactly the environment the process gets, with `PATH` and `HOME` from the
    /// supervisor's own when the datum does not set them.
    pub env: BTreeMap<String, String>,
    /// The address it listens on (`127.0.0.1`).
    pub host: String,
    /// The host ports it listens on (each `-p <host>:<container>` of the datum), probed
    /// for readiness.
    pub ports: Vec<u16>,
    pub restart: Restart,
    /// Addresses that must accept a TCP connection before it starts.
    pub wait_for: Vec<WaitAddr>,
}

/// `host:port` to wait for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitAddr {
    /// The workload it is.
    pub service: String,
    pub host: String,
    pub port: u16,
}

/// The plan for `intent`.
pub fn plan(intent: &Intent) -> Result<DirectPlan, DeployError> {
    let _ = intent;
    todo!("direct::plan")
}

/// Translates `intent` into [`DirectPlan`] as `direct.json`.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let _ = plan(intent)?;
    todo!("direct adapter")
}
