//! What `b00t up` tells a group agent it starts, in a container or as a local process:
//! one JSON document in the `B00T_AGENT` environment variable, read by
//! `b00t agent run group`. Plain data, so both sides agree on one type.

use serde::{Deserialize, Serialize};

/// The environment variable that carries an [`AgentLaunch`].
pub use crate::env::B00T_AGENT;

/// Everything a group agent needs besides the broker URL (`B00T_BROKER`) and its
/// folders (`B00T_GROUP_DIR`, `B00T_GLOBAL_DIR`, `B00T_PROJECT_DIR`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentLaunch {
    pub group: String,
    /// The main group: may schedule for other groups, sees the project read-only.
    pub privileged: bool,
    pub assistant_name: String,
    pub ollama_url: String,
    pub model: String,
    pub ollama_timeout_ms: u64,
    pub history_turns: usize,
    pub max_tool_rounds: u32,
    pub tool_timeout_ms: u64,
    pub task_timeout_ms: u64,
    pub max_output_bytes: usize,
    pub heartbeat_ms: u64,
    pub max_payload_bytes: usize,
}

impl AgentLaunch {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a launch document serializes")
    }

    /// Parses `B00T_AGENT`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<AgentLaunch, String> {
        serde_json::from_str(text).map_err(|e| {
            format!("`{B00T_AGENT}` is not a valid launch document ({e}); `b00t up` sets it when it starts a group agent")
        })
    }
}
