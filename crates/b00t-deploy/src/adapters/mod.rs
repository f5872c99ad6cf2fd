//! The adapters: each a pure translation of an [`Intent`] into one orchestrator's
//! manifests, plus the MCP tool calls a client could make instead. No IO here: the
//! deployer (`b00t-deployer`) hands these to the real tool.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DeployError;
use crate::intent::Intent;

pub mod compose;
pub mod direct;
pub mod kubernetes;
pub mod nomad;

/// The orchestrators b00t deploys through. The order is detection's preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orchestrator {
    Compose,
    Kubernetes,
    Nomad,
    Direct,
}

impl Orchestrator {
    pub const ALL: [Orchestrator; 4] = [
        Orchestrator::Compose,
        Orchestrator::Kubernetes,
        Orchestrator::Nomad,
        Orchestrator::Direct,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Orchestrator::Compose => "compose",
            Orchestrator::Kubernetes => "kubernetes",
            Orchestrator::Nomad => "nomad",
            Orchestrator::Direct => "direct",
        }
    }
}

impl fmt::Display for Orchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Orchestrator {
    type Err = String;

    fn from_str(s: &str) -> Result<Orchestrator, String> {
        match s {
            "compose" | "docker-compose" => Ok(Orchestrator::Compose),
            "kubernetes" | "k8s" => Ok(Orchestrator::Kubernetes),
            "nomad" => Ok(Orchestrator::Nomad),
            "direct" | "local" => Ok(Orchestrator::Direct),
            other => Err(format!(
                "unknown orchestrator `{other}`: use compose, kubernetes, nomad or direct"
            )),
        }
    }
}

/// One file of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// A file name, no folders (`compose.yaml`, `web.deployment.yaml`, `job.json`).
    pub name: String,
    pub content: String,
}

/// A call a client of an MCP server could make instead of b00t driving the tool itself
/// (the design's kubernetes-mcp `kubectl_apply`, docker-mcp's compose calls).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McpCall {
    /// The MCP server (`kubernetes`, `docker`, `nomad`).
    pub server: String,
    pub tool: String,
    pub arguments: Value,
}

/// What an adapter makes of an intent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifests {
    pub orchestrator: Orchestrator,
    /// The compose project, namespace or Nomad job id.
    pub project: String,
    pub files: Vec<Manifest>,
    pub mcp_calls: Vec<McpCall>,
    /// What the person reading the plan should know (a field kept only as a label, …).
    pub notes: Vec<String>,
}

/// Translates `intent` for `orchestrator`.
pub fn translate(intent: &Intent, orchestrator: Orchestrator) -> Result<Manifests, DeployError> {
    match orchestrator {
        Orchestrator::Compose => compose::translate(intent),
        Orchestrator::Kubernetes => kubernetes::translate(intent),
        Orchestrator::Nomad => nomad::translate(intent),
        Orchestrator::Direct => direct::translate(intent),
    }
}
