//! `b00t mcp serve`. SKELETON: being built (issue 14).

use std::process::ExitCode;

use clap::Args;

use crate::cli::{BrokerArg, HomeArg};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
}

pub(crate) async fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("b00t mcp serve is not built yet")
}
