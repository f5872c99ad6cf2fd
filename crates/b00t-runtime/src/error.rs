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
    #[error("agent `{agent}` did not come online within {seconds} s; see the log above")]
    AgentNotOnline { agent: String, seconds: u64 },
}
