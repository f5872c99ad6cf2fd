//! `[containers]` and `[assistant]`: how group agents run (in Docker or as local
//! processes, within which limits) and which Ollama model answers them. The environment
//! variables `CONTAINER_RUNTIME`, `OLLAMA_BASE_URL` and `OLLAMA_MODEL` override the file,
//! as NanoClaw and BabyBot users expect.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env;

/// `[containers]`: the group agents' containers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContainersConfig {
    /// `docker`, `none` (local processes) or `auto` (docker when an engine answers).
    pub runtime: String,
    /// The agent image; `b00t up` builds it when it is missing or older than the binary.
    /// Empty means `b00t-agent:<version>`.
    pub image: String,
    /// Containers running at once; other groups wait their turn, in order.
    pub max_concurrent: usize,
    /// A container with no task for this long is stopped (it starts again on demand).
    pub idle_timeout_ms: u64,
    /// The longest one task may run in a container before it is answered `timeout`.
    pub task_timeout_ms: u64,
    /// Largest reply text a group agent sends, and the container log's size cap.
    pub max_output_bytes: usize,
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    /// Size of the container's private `/tmp` (tmpfs).
    pub tmp_mb: u64,
    /// Port of the broker listener that containers reach on the Docker bridge's gateway
    /// address (with per-agent credentials). 0: a free port, kept across restarts.
    pub broker_port: u16,
}

/// `[assistant]`: the model behind every group agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssistantConfig {
    /// The assistant's name, in its system prompt.
    pub name: String,
    /// Ollama's base URL (`OLLAMA_BASE_URL` overrides).
    pub ollama_url: String,
    /// The model (`OLLAMA_MODEL` overrides; a group's `group.toml` may pick another).
    pub model: String,
    /// Longest wait for one answer from Ollama.
    pub ollama_timeout_ms: u64,
    /// Turns of conversation kept per group.
    pub history_turns: usize,
    /// Tool-calling rounds allowed per task.
    pub max_tool_rounds: u32,
    /// How long a tool (install, send_message, schedule) waits for the other agent.
    pub tool_timeout_ms: u64,
}

impl Default for ContainersConfig {
    fn default() -> Self {
        ContainersConfig {
            runtime: "auto".into(),
            image: String::new(),
            max_concurrent: 5,
            idle_timeout_ms: 1_800_000,
            task_timeout_ms: 300_000,
            max_output_bytes: 64 * 1024,
            memory_mb: 512,
            cpus: 1.0,
            pids: 256,
            tmp_mb: 64,
            broker_port: 0,
        }
    }
}

impl Default for AssistantConfig {
    fn default() -> Self {
        AssistantConfig {
            name: "b00t".into(),
            ollama_url: "http://localhost:11434".into(),
            model: "llama3.2".into(),
            ollama_timeout_ms: 120_000,
            history_turns: 20,
            max_tool_rounds: 8,
            tool_timeout_ms: 120_000,
        }
    }
}

impl ContainersConfig {
    /// `CONTAINER_RUNTIME`, else `[containers] runtime`.
    pub fn runtime_setting(&self) -> String {
        env::var(env::CONTAINER_RUNTIME).unwrap_or_else(|| self.runtime.clone())
    }

    /// The agent image's tag.
    pub fn image_tag(&self) -> String {
        if self.image.is_empty() {
            format!("b00t-agent:{}", env!("CARGO_PKG_VERSION"))
        } else {
            self.image.clone()
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn task_timeout(&self) -> Duration {
        Duration::from_millis(self.task_timeout_ms)
    }

    pub(crate) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !["docker", "none", "auto"].contains(&self.runtime.as_str()) {
            return Some(("containers.runtime", "must be `docker`, `none` or `auto`"));
        }
        if !(1..=256).contains(&self.max_concurrent) {
            return Some(("containers.max_concurrent", "must be from 1 to 256"));
        }
        if !(1_000..=604_800_000).contains(&self.idle_timeout_ms) {
            return Some((
                "containers.idle_timeout_ms",
                "must be from 1000 to 604800000 (one week)",
            ));
        }
        if !(1_000..=86_400_000).contains(&self.task_timeout_ms) {
            return Some((
                "containers.task_timeout_ms",
                "must be from 1000 to 86400000 (one day)",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_output_bytes) {
            return Some((
                "containers.max_output_bytes",
                "must be from 1024 to 67108864 (64 MiB)",
            ));
        }
        if !(16..=1_048_576).contains(&self.memory_mb) {
            return Some(("containers.memory_mb", "must be from 16 to 1048576"));
        }
        if !(self.cpus > 0.0 && self.cpus <= 1024.0) {
            return Some(("containers.cpus", "must be more than 0 and at most 1024"));
        }
        if !(8..=1_000_000).contains(&self.pids) {
            return Some(("containers.pids", "must be from 8 to 1000000"));
        }
        if !(1..=65_536).contains(&self.tmp_mb) {
            return Some(("containers.tmp_mb", "must be from 1 to 65536"));
        }
        if self.image.chars().any(|c| c.is_whitespace()) {
            return Some((
                "containers.image",
                "must be an image reference such as `b00t-agent:dev`, without spaces",
            ));
        }
        None
    }
}

impl AssistantConfig {
    /// `OLLAMA_BASE_URL`, else `[assistant] ollama_url`.
    pub fn ollama_url(&self) -> String {
        env::var(env::OLLAMA_BASE_URL).unwrap_or_else(|| self.ollama_url.clone())
    }

    /// `OLLAMA_MODEL`, else `[assistant] model`.
    pub fn model(&self) -> String {
        env::var(env::OLLAMA_MODEL).unwrap_or_else(|| self.model.clone())
    }

    pub fn ollama_timeout(&self) -> Duration {
        Duration::from_millis(self.ollama_timeout_ms)
    }

    pub fn tool_timeout(&self) -> Duration {
        Duration::from_millis(self.tool_timeout_ms)
    }

    pub(crate) fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return Some(("assistant.name", "must be 1 to 64 characters"));
        }
        if !(self.ollama_url.starts_with("http://") || self.ollama_url.starts_with("https://")) {
            return Some((
                "assistant.ollama_url",
                "must be an http:// or https:// URL such as `http://localhost:11434`",
            ));
        }
        if self.model.trim().is_empty() {
            return Some(("assistant.model", "must name a model, such as `llama3.2`"));
        }
        if !(1_000..=3_600_000).contains(&self.ollama_timeout_ms) {
            return Some((
                "assistant.ollama_timeout_ms",
                "must be from 1000 to 3600000 (one hour)",
            ));
        }
        if !(1..=1000).contains(&self.history_turns) {
            return Some(("assistant.history_turns", "must be from 1 to 1000"));
        }
        if !(1..=64).contains(&self.max_tool_rounds) {
            return Some(("assistant.max_tool_rounds", "must be from 1 to 64"));
        }
        if !(1_000..=86_400_000).contains(&self.tool_timeout_ms) {
            return Some((
                "assistant.tool_timeout_ms",
                "must be from 1000 to 86400000 (one day)",
            ));
        }
        None
    }
}
