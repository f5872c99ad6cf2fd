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
    #[error("another b00t runtime (`{holder}`, epoch {epoch}) took the lease of `{url}`, so this one stopped: two must never act at once; start it again and it stands by")]
    LeaseLost {
        url: String,
        holder: String,
        epoch: u64,
    },
    #[error("`--standby` needs a broker both runtimes reach: give `--broker mqtt://HOST:PORT[,mqtt://HOST2:PORT2]` or `[broker] url` (an embedded broker dies with its machine, so nothing could take over from it)")]
    StandbyNeedsBroker,
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
