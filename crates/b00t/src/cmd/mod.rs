//! One module per command; `run` dispatches.

mod agent_run;
mod agents;
mod bench;
mod config;
mod send;
mod tail;
mod up;

use std::process::ExitCode;

use crate::cli::{AgentCommand, Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Agents(args) => agents::run(args).await,
        Command::Agent(AgentCommand::Run(args)) => agent_run::run(args).await,
        Command::Config(args) => config::run(args),
        Command::Bench(args) => bench::run(args).await,
    }
}
