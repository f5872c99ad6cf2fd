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
    Agent(#[from] b00t_agents::AgentError),
    #[error(transparent)]
    Installer(#[from] b00t_installer::InstallerError),
    #[error("another b00t runtime already serves `{url}` (its `b00t.runtime/status` card is online): run one `b00t up` per bus; if that runtime is gone and the broker kept a stale card, clear it with `mosquitto_pub -r -n -t b00t.runtime/status`")]
    AlreadyServed { url: String },
    #[error("agent `{agent}` did not come online within {seconds} s; see the log above")]
    AgentNotOnline { agent: String, seconds: u64 },
}
