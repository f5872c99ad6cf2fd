//! What can go wrong carrying out a deploy. Each message names the orchestrator, tool,
//! service, image or port and says what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DeployerError {
    /// The intent or its translation is wrong (b00t-deploy's error).
    #[error(transparent)]
    Intent(#[from] b00t_deploy::DeployError),
    /// The orchestrator cannot be used here, and why (no context, no engine, no address).
    #[error("{orchestrator} is not available: {why}")]
    NotAvailable { orchestrator: String, why: String },
    /// A tool ran and failed (`docker-compose up` exited 1 …), with its last output lines.
    #[error("`{command}` failed: {message}")]
    Tool { command: String, message: String },
    /// An HTTP API answered with an error or could not be reached.
    #[error("{api}: {message}")]
    Api { api: String, message: String },
    /// An image that is not on the engine and could not be pulled or built.
    #[error("image `{image}` of service `{service}`: {message}")]
    Image {
        image: String,
        service: String,
        message: String,
    },
    /// A host port that something else already listens on.
    #[error("port {port} on {host} for service `{service}` is already taken: {message}")]
    PortTaken {
        port: u16,
        host: String,
        service: String,
        message: String,
    },
    /// Services not ready (or a job not finished) within the deadline.
    #[error("{0}")]
    Timeout(String),
    /// A deployment that does not exist.
    #[error("{0}")]
    NotDeployed(String),
    /// A file under the state folder.
    #[error("{what} {path}: {source}; check the state folder's permissions and free space")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Shutdown came first.
    #[error("stopped: b00t is shutting down")]
    Stopped,
}

impl DeployerError {
    pub fn io(
        what: &'static str,
        path: impl AsRef<std::path::Path>,
        source: std::io::Error,
    ) -> Self {
        DeployerError::Io {
            what,
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
