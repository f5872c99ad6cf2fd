//! `b00t mcp wire|unwire|status`. SKELETON: being built (issue 14).

use std::process::ExitCode;

use clap::Args;

use crate::cli::HomeArg;

#[derive(Debug, Args)]
pub(crate) struct WireArgs {
    #[command(flatten)]
    pub home: HomeArg,
}

#[derive(Debug, Args)]
pub(crate) struct UnwireArgs {
    #[command(flatten)]
    pub home: HomeArg,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub home: HomeArg,
}

pub(crate) async fn wire(_args: WireArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("b00t mcp wire is not built yet")
}

pub(crate) async fn unwire(_args: UnwireArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("b00t mcp unwire is not built yet")
}

pub(crate) async fn status(_args: StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("b00t mcp status is not built yet")
}
