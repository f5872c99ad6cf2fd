//! Scheduler errors: a bad field of a request (naming the field, with an example), a
//! stored row that no longer reads, a refused replica, and the journal's own errors.

use b00t_agents::Failure;
use b00t_proto::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A field of a schedule request is missing or wrong; `message` says how to fix it.
    #[error("field `{field}`: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    /// A body that is not the object a skill takes.
    #[error("{0}")]
    Body(String),
    #[error("stored schedule `{id}` cannot be read ({problem}); remove it with `b00t schedule remove {id}`")]
    Stored { id: String, problem: String },
    /// A replicated schedule (a standby's input from the bus) that is not taken.
    #[error("schedule replica on `{topic}` refused: {problem}")]
    Replica { topic: String, problem: String },
    #[error(transparent)]
    Journal(#[from] b00t_journal::JournalError),
    #[error("the schedule store's thread stopped: {0}")]
    Blocking(String),
}

impl SchedulerError {
    pub(crate) fn field(field: &'static str, message: impl Into<String>) -> SchedulerError {
        SchedulerError::Field {
            field,
            message: message.into(),
        }
    }

    /// The error reply a task gets for this error.
    pub fn failure(&self) -> Failure {
        let code = match self {
            SchedulerError::Field { .. } | SchedulerError::Body(_) => ErrorCode::BadRequest,
            _ => ErrorCode::Failed,
        };
        Failure::new(code, self.to_string())
    }
}
