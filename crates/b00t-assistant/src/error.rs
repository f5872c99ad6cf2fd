//! Errors of building a group assistant, each naming the group and the setting to fix.

use std::path::PathBuf;

/// Why [`crate::spec`] could not build the agent.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("the folder of group `{group}` is missing at `{}`: create the group with `b00t group add {group}`", path.display())]
    NoGroupDir { group: String, path: PathBuf },
    #[error("the Ollama URL `{url}` is not usable: {reason}; set OLLAMA_BASE_URL to something like `http://localhost:11434`")]
    OllamaUrl { url: String, reason: String },
    #[error(
        "the Ollama model for group `{group}` is empty: set OLLAMA_MODEL, for example `llama3.2`"
    )]
    NoModel { group: String },
    #[error("the tools' bus client id `{client_id}` must be `b00t-tools-{group}` (the broker binds it to the group's identity)")]
    ClientId { client_id: String, group: String },
    #[error("`{setting}` of group `{group}` must be above zero")]
    Zero {
        group: String,
        setting: &'static str,
    },
    #[error("cannot make the HTTP client for Ollama at `{url}`: {message}")]
    HttpClient { url: String, message: String },
    #[error("watching the skills of group `{group}`: {source}")]
    Watch {
        group: String,
        source: b00t_skills::SkillError,
    },
}
