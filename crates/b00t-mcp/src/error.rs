//! [`McpError`]: what can stop the server itself (a transport that fails); a tool's own
//! failures are tool results with `isError`, never this.

/// Why serving stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The MCP session could not start (the client's `initialize` failed or stdio closed).
    #[error("the MCP session over {transport} did not start: {detail}")]
    Start {
        transport: &'static str,
        detail: String,
    },
    /// The HTTP listener failed.
    #[error("the MCP HTTP listener on `{address}` failed: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}
