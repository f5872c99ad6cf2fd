//! One module per command; `run` dispatches.

mod acl;
mod agent_group;
mod agent_run;
mod agents;
mod audit;
mod bench;
pub(crate) mod bridge;
pub(crate) mod chat;
mod ci;
mod config;
mod datum;
mod deploy;
mod deployments;
mod group;
mod image;
mod install;
pub(crate) mod mcp;
mod orchestrator;
mod policy;
mod schedule;
mod send;
mod skills;
mod status;
mod tail;
mod up;

use std::process::ExitCode;

use crate::cli::{AclCommand, AgentCommand, CiCommand, Cli, Command, DatumCommand, PolicyCommand};

pub(crate) async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(args).await,
        Command::Send(args) => send::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Agents(args) => agents::run(args).await,
        Command::Agent(AgentCommand::Run(args)) => agent_run::run(args).await,
        Command::Config(args) => config::run(args),
        Command::Datum(DatumCommand::List(args)) => datum::list(args),
        Command::Datum(DatumCommand::Show(args)) => datum::show(args),
        Command::Datum(DatumCommand::Deps(args)) => datum::deps(args),
        Command::Install(args) => install::run(args).await,
        Command::Deploy(args) => deploy::deploy(args).await,
        Command::Undeploy(args) => deploy::undeploy(args).await,
        Command::Deployments(args) => deployments::run(args),
        Command::Orchestrator(crate::cli::OrchestratorCommand::List(args)) => {
            orchestrator::list(args).await
        }
        Command::Status(args) => status::run(args).await,
        Command::Policy(PolicyCommand::Allow(args)) => policy::allow(args),
        Command::Policy(PolicyCommand::Deny(args)) => policy::deny(args),
        Command::Policy(PolicyCommand::List(args)) => policy::list(args),
        Command::Policy(PolicyCommand::Check(args)) => policy::check(args),
        Command::Audit(args) => audit::run(args),
        Command::Acl(AclCommand::Export(args)) => acl::export(args),
        Command::Ci(CiCommand::List(args)) => ci::list(args).await,
        Command::Ci(CiCommand::Ask(args)) => ci::ask(args).await,
        Command::Ci(CiCommand::Restart(args)) => ci::act(args, "restart").await,
        Command::Ci(CiCommand::Stop(args)) => ci::act(args, "stop").await,
        Command::Ci(CiCommand::Start(args)) => ci::act(args, "start").await,
        Command::Bench(args) => bench::run(args).await,
        Command::Schedule(crate::cli::ScheduleCommand::Add(args)) => schedule::add(args).await,
        Command::Schedule(crate::cli::ScheduleCommand::List(args)) => schedule::list(args).await,
        Command::Schedule(crate::cli::ScheduleCommand::Remove(args)) => {
            schedule::remove(args).await
        }
        Command::Group(crate::cli::GroupCommand::Add(args)) => group::add(args),
        Command::Group(crate::cli::GroupCommand::List(args)) => group::list(args),
        Command::Group(crate::cli::GroupCommand::Remove(args)) => group::remove(args),
        Command::Skills(crate::cli::SkillsCommand::List(args)) => skills::list(args),
        Command::Chat(args) => chat::run(args).await,
        Command::Bridge(command) => bridge::run(command).await,
        Command::Mcp(command) => mcp::run(command).await,
        Command::Image(crate::cli::ImageCommand::Build(args)) => image::build(args).await,
        Command::Image(crate::cli::ImageCommand::Status(args)) => image::status(args).await,
    }
}
