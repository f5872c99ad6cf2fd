//! [`AssistantOptions`]: everything a group assistant is given (its group and folders,
//! Ollama's URL and model, its limits, and how its tools reach the bus), with the same
//! defaults as `[assistant]` in `b00t.toml`.

use std::path::PathBuf;
use std::time::Duration;

use b00t_bus::BusOptions;
use b00t_proto::Name;

/// What one group assistant is given.
#[derive(Clone)]
pub struct AssistantOptions {
    /// The group, and the agent's name on the bus.
    pub group: Name,
    /// `groups/<group>/` (`/workspace/group` in a container): MEMORY.md, history, `.skills/`.
    pub group_dir: PathBuf,
    /// `groups/global/`, whose MEMORY.md every group reads; `None` when not mounted.
    pub global_dir: Option<PathBuf>,
    /// The main group: may schedule tasks for other groups.
    pub privileged: bool,
    /// The assistant's name, in its system prompt.
    pub assistant_name: String,
    /// Ollama's base URL, e.g. `http://localhost:11434`.
    pub ollama_url: String,
    pub model: String,
    /// Longest wait for one `/api/chat` answer.
    pub ollama_timeout: Duration,
    /// Longest a whole chat task may take, tool rounds included; then `timeout`.
    pub task_timeout: Duration,
    /// Turns (a user message and the reply) kept in the history.
    pub history_turns: usize,
    /// Rounds of tool calls allowed per task.
    pub max_tool_rounds: u32,
    /// The reply text is cut to this many bytes, with a note saying so.
    pub max_output_bytes: usize,
    /// The tools' own connection; its client id must be `b00t-tools-<group>`.
    pub bus: BusOptions,
    /// How long a tool waits for another agent's reply.
    pub tool_timeout: Duration,
}

impl AssistantOptions {
    /// Options with b00t's defaults (`[assistant]` in `b00t.toml`): Ollama at
    /// `http://localhost:11434` with `llama3.2`, 20 turns, 8 tool rounds, a 120 s Ollama
    /// and tool timeout, a 300 s task timeout, 64 KiB replies; the tools connect to `bus`'s
    /// URL as `b00t-tools-<group>`. The main group is privileged.
    pub fn new(group: Name, group_dir: PathBuf, bus: BusOptions) -> AssistantOptions {
        let mut bus = bus;
        bus.client_id = tools_client_id(&group);
        AssistantOptions {
            privileged: group.as_str() == "main",
            group,
            group_dir,
            global_dir: None,
            assistant_name: "b00t".to_owned(),
            ollama_url: "http://localhost:11434".to_owned(),
            model: "llama3.2".to_owned(),
            ollama_timeout: Duration::from_secs(120),
            task_timeout: Duration::from_secs(300),
            history_turns: 20,
            max_tool_rounds: 8,
            max_output_bytes: 64 * 1024,
            bus,
            tool_timeout: Duration::from_secs(120),
        }
    }
}

/// By hand: the broker URL may carry a password, which only its `Display` hides.
impl std::fmt::Debug for AssistantOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantOptions")
            .field("group", &self.group)
            .field("group_dir", &self.group_dir)
            .field("global_dir", &self.global_dir)
            .field("privileged", &self.privileged)
            .field("assistant_name", &self.assistant_name)
            .field(
                "ollama_url",
                &crate::llm::without_credentials(&self.ollama_url),
            )
            .field("model", &self.model)
            .field("ollama_timeout", &self.ollama_timeout)
            .field("task_timeout", &self.task_timeout)
            .field("history_turns", &self.history_turns)
            .field("max_tool_rounds", &self.max_tool_rounds)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("bus_url", &self.bus.url.to_string())
            .field("bus_client_id", &self.bus.client_id)
            .field("tool_timeout", &self.tool_timeout)
            .finish()
    }
}

/// `b00t-tools-<group>`: the client id of a group's tool connection. Not under
/// `b00t-agent-`, where `b00t-agent-<group>-tools` would be group `<group>-tools`'s.
fn tools_client_id(group: &Name) -> String {
    format!("b00t-tools-{group}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_no_password_in_debug() {
        let url = b00t_config::BrokerUrl::parse("mqtt://family:s3cret@172.17.0.1:1884").unwrap();
        let mut options = AssistantOptions::new(
            Name::parse("main").unwrap(),
            PathBuf::from("/workspace/group"),
            BusOptions::new(url, "ignored"),
        );
        options.ollama_url = "http://family:0ll4m4@host.docker.internal:4000".into();
        assert!(options.privileged);
        assert_eq!(options.bus.client_id, "b00t-tools-main");
        assert_eq!((options.history_turns, options.max_tool_rounds), (20, 8));
        let shown = format!("{options:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("0ll4m4"), "{shown}");
        assert!(
            shown.contains("http://host.docker.internal:4000"),
            "{shown}"
        );
        assert!(
            shown.contains("mqtt://family:***@172.17.0.1:1884"),
            "{shown}"
        );
    }
}
