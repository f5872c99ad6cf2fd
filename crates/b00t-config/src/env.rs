//! Every environment variable b00t reads, named in one place.

/// The home folder, when `--home` is not given.
pub const B00T_HOME: &str = "B00T_HOME";
/// The broker URL for client commands and agents, when `--broker` is not given.
pub const B00T_BROKER: &str = "B00T_BROKER";
/// A `tracing` filter for the logs, such as `info` or `b00t_runtime=debug`.
pub const B00T_LOG: &str = "B00T_LOG";
/// Set (to anything) to turn colours off, as <https://no-color.org> asks.
pub const NO_COLOR: &str = "NO_COLOR";

/// Reads a variable, treating an empty value as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
/// Where group agents run: `docker`, `none` (local processes) or `auto`.
pub const CONTAINER_RUNTIME: &str = "CONTAINER_RUNTIME";
/// Ollama's base URL for group agents, such as `http://localhost:11434`.
pub const OLLAMA_BASE_URL: &str = "OLLAMA_BASE_URL";
/// The Ollama model group agents use, such as `llama3.2`.
pub const OLLAMA_MODEL: &str = "OLLAMA_MODEL";
