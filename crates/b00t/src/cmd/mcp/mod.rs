//! `b00t mcp wire|unwire|status|serve`: MCP servers from the catalog wired into the apps
//! people use (`wire.rs`), and the bus as an MCP server (`serve.rs`).

mod serve;
mod wire;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum McpCommand {
    /// Write MCP servers from the catalog into the apps' config files.
    ///
    /// Example: `b00t mcp wire github --app vscode --project .`
    Wire(wire::WireArgs),
    /// Remove servers b00t wired from the apps' config files.
    Unwire(wire::UnwireArgs),
    /// Which servers are wired where, and whether each entry still matches its datum.
    Status(wire::StatusArgs),
    /// Serve the bus as an MCP server: over stdio, or streamable HTTP on loopback.
    ///
    /// Example: `b00t mcp serve`, or `b00t mcp serve --http 127.0.0.1:8791`
    Serve(serve::ServeArgs),
}

impl McpCommand {
    /// `serve` runs until stopped.
    pub(crate) fn is_long_running(&self) -> bool {
        matches!(self, McpCommand::Serve(_))
    }
}

pub(crate) async fn run(command: McpCommand) -> anyhow::Result<ExitCode> {
    match command {
        McpCommand::Wire(args) => wire::wire(args).await,
        McpCommand::Unwire(args) => wire::unwire(args).await,
        McpCommand::Status(args) => wire::status(args).await,
        McpCommand::Serve(args) => serve::run(args).await,
    }
}
