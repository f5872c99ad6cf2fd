//! `WireError`: everything wiring can refuse, each naming the thing and what to do.

use std::path::PathBuf;

/// Why a wire, unwire or status could not be done.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("no app `{name}`: --app takes {known}")]
    UnknownApp { name: String, known: String },
    #[error("`{app}` has no project file: drop --project to wire its user file")]
    NoProjectFile { app: String },
    #[error("this operating system has no app files in b00t's table (Linux and macOS only)")]
    UnsupportedOs,
    #[error("`{datum}` (`{}`) is not an MCP server: it has no `[[b00t.mcp.stdio]]` or `[b00t.mcp.httpstream]`", path.display())]
    NotAnMcpServer { datum: String, path: PathBuf },
    #[error("{app} starts stdio servers only, and `{server}` is a remote server (`{url}`): wire it into another app, or wrap it in a stdio bridge such as `npx mcp-remote {url}`")]
    RemoteUnsupported {
        app: String,
        server: String,
        url: String,
    },
    #[error("the argument `{arg}` of `{server}` names a variable, and {app} does not expand variables in arguments: pass --with-secrets to write its value, or leave {app} out with --app")]
    ArgNeedsExpansion {
        app: String,
        server: String,
        arg: String,
    },
    #[error("`{var}` (needed by `{server}`) is not set: export it, or wire without --with-secrets to refer to it instead of writing it")]
    SecretUnset { var: String, server: String },
    #[error("`{}` cannot be read: {message}; fix the file by hand (b00t edits only files it can parse)", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("`{}` is read-only: make it writable (`chmod u+w {}`) or leave that app out with --app; nothing was written", path.display(), path.display())]
    ReadOnly { path: PathBuf },
    #[error("`{}` already has a server `{name}` that b00t did not write: remove or rename it by hand, or pass --replace to overwrite it", path.display())]
    NotOurs { path: PathBuf, name: String },
    #[error("`{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl WireError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WireError {
        let path = path.into();
        move |source| WireError::Io { path, source }
    }
}
