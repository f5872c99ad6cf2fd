//! The installer's errors: files it reads and writes (key, policy, audit log). Errors of
//! a task are [`b00t_agents::Failure`]s with a protocol code, not these.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InstallerError {
    #[error("cannot use `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the operator key `{path}` can be read by others (mode {mode:o}): run `chmod 600 {path}`"
    )]
    KeyExposed { path: PathBuf, mode: u32 },
    #[error("the operator key `{path}` is not 64 hex digits: delete it and a new one is made on the next run (tasks signed with the old one stop verifying)")]
    KeyCorrupt { path: PathBuf },
    #[error("policy `{path}` is not valid: {message}")]
    Policy { path: PathBuf, message: String },
}
