//! The crate's one error type. Each message names the thing (image tag, container,
//! path, library) and says what to do next.

use std::path::PathBuf;

/// Everything that can go wrong building the agent image or running a group agent.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("cannot reach the Docker engine at `{host}` ({message}): start Docker, or set CONTAINER_RUNTIME=none to run group agents as local processes")]
    Unreachable { host: String, message: String },

    #[error("`CONTAINER_RUNTIME` is `{value}`: use `docker`, `none` or `auto`")]
    RuntimeSetting { value: String },

    #[error("the Docker engine refused to {action}: {message}")]
    Engine { action: String, message: String },

    #[error("the Docker engine has no {what} `{name}`")]
    NotFound { what: &'static str, name: String },

    #[error("no container `{name}`: `docker ps -a` lists them")]
    NoSuchContainer { name: String },

    #[error("the container `{name}` is not running: `docker start {name}` starts it")]
    NotRunning { name: String },

    #[error("`{tag}` is not a valid image tag: {problem}")]
    InvalidTag { tag: String, problem: &'static str },

    #[error("building `{tag}` failed at `{step}`: {message}")]
    Build {
        tag: String,
        step: String,
        message: String,
    },

    #[error("building `{tag}` was stopped by shutdown")]
    Cancelled { tag: String },

    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("the build context `{}` has no `Dockerfile`: add one (see container/README.md) or remove the folder to use the built-in one", path.display())]
    NoDockerfile { path: PathBuf },

    #[error("`ldd {}` failed: {message}", binary.display())]
    Ldd { binary: PathBuf, message: String },

    #[error("`{}` needs `{library}`, which `ldd` cannot find: install it, or build a statically linked binary", binary.display())]
    MissingLibrary { binary: PathBuf, library: String },

    #[error("`{}` cannot be mounted into a group container: {problem}", path.display())]
    Mount { path: PathBuf, problem: String },

    #[error("the container spec for group `{group}` has a bad `{field}`: {problem}")]
    Spec {
        group: String,
        field: &'static str,
        problem: String,
    },

    #[error("cannot start the local agent `{}` for group `{group}`: {source}", program.display())]
    Spawn {
        group: String,
        program: PathBuf,
        source: std::io::Error,
    },
}

impl ContainerError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ContainerError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn engine(action: impl Into<String>, error: &bollard::errors::Error) -> Self {
        ContainerError::Engine {
            action: action.into(),
            message: engine_message(error),
        }
    }

    pub(crate) fn spec(group: &str, field: &'static str, problem: impl Into<String>) -> Self {
        ContainerError::Spec {
            group: group.to_owned(),
            field,
            problem: problem.into(),
        }
    }
}

/// The engine's own words for an error, without bollard's wrapping.
pub(crate) fn engine_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// Whether the engine answered 404 (no such container or image).
pub(crate) fn is_not_found(error: &bollard::errors::Error) -> bool {
    matches!(
        error,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
