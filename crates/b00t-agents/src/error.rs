//! Errors of building or hosting an agent.

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("unknown agent kind `{kind}`: the kinds are {known}")]
    UnknownKind { kind: String, known: String },
    #[error("agent name {0}")]
    Name(#[from] b00t_proto::NameError),
    #[error(transparent)]
    Bus(#[from] b00t_bus::BusError),
    #[error(transparent)]
    Journal(#[from] b00t_journal::JournalError),
}
