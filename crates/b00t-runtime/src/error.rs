//! Errors of starting the runtime.

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Broker(#[from] b00t_broker::BrokerError),
    #[error(transparent)]
    Bus(#[from] b00t_bus::BusError),
    #[error(transparent)]
    Journal(#[from] b00t_journal::JournalError),
    #[error(transparent)]
    Config(#[from] b00t_config::ConfigError),
    #[error(transparent)]
    Credentials(#[from] b00t_config::CredentialError),
    #[error(transparent)]
    Agent(#[from] b00t_agents::AgentError),
    #[error(transparent)]
    Installer(#[from] b00t_installer::InstallerError),
    #[error(transparent)]
    Deployer(#[from] b00t_deployer::DeployerError),
    #[error(transparent)]
    Scheduler(#[from] b00t_scheduler::SchedulerError),
    #[error("another b00t runtime already serves `{url}` (its `b00t.runtime/status` card is online): run one `b00t up` per bus; if that runtime is gone and the broker kept a stale card, clear it with `mosquitto_pub -r -n -t b00t.runtime/status`")]
    AlreadyServed { url: String },
    #[error("agent `{agent}` did not come online within {seconds} s; see the log above")]
    AgentNotOnline { agent: String, seconds: u64 },
    #[error("Ollama URL `{url}` is not usable: {why}; set OLLAMA_BASE_URL or `[assistant] ollama_url`, e.g. `http://localhost:11434`")]
    OllamaUrl { url: String, why: String },
    #[error("cannot open the Ollama relay for containers on `{addr}`: {source}")]
    Relay {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("group agents: {0}")]
    Groups(String),
}
