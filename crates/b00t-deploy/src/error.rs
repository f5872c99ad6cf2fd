//! What can be wrong with a deploy's intent or its translation. Every message names the
//! datum, field, service or variable and says what to do.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DeployError {
    /// The datum asked for is not a stack or a job, or is not in the catalog.
    #[error("{0}")]
    NotFound(String),
    /// A field of a datum that cannot be read (wrong type, bad value).
    #[error("datum `{datum}`: {message}")]
    Field { datum: String, message: String },
    /// A `docker run` argument in `docker_args` with no translation.
    #[error("datum `{datum}`: docker_args `{arg}` cannot be translated: {why}")]
    DockerArg {
        datum: String,
        arg: String,
        why: String,
    },
    /// A `${STACK:…}` reference to a stack or service that does not exist, or a `${VAR}`
    /// that is not set and has no default.
    #[error("{0}")]
    Reference(String),
    /// `requires_stacks` (or stacks in stacks) that go round in a circle.
    #[error("cycle in requires_stacks: {0}")]
    Cycle(String),
    /// What an adapter cannot express (a GPU on compose without a driver, …).
    #[error("{orchestrator}: {message}")]
    Unsupported {
        orchestrator: String,
        message: String,
    },
}
