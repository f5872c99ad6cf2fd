//! Errors of loading a home's configuration; each names the file or the value.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The state folder could not be made, or made private (mode 0700).
    #[error("cannot make the state folder `{path}` private (mode 700): {source}; check `[state] dir` and who owns that folder")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("`{path}`: `{key}` {problem}")]
    Value {
        path: PathBuf,
        key: &'static str,
        problem: String,
    },
    #[error(
        "broker URL `{url}` {problem}: use `mqtt://HOST:PORT`, for example `mqtt://127.0.0.1:1883`"
    )]
    BrokerUrl { url: String, problem: String },
    #[error("broker URL `{url}`, number {position} in the list, {problem}: give each broker as `mqtt://HOST:PORT`, separated by commas, for example `mqtt://127.0.0.1:11883,mqtt://127.0.0.1:12883`")]
    BrokerList {
        url: String,
        position: usize,
        problem: String,
    },
    #[error("home `{path}` is not a folder: pass `--home DIR` or set B00T_HOME")]
    NoHome { path: PathBuf },
    #[error("cannot find the current directory: {0}; pass `--home DIR`")]
    CurrentDir(std::io::Error),
}
