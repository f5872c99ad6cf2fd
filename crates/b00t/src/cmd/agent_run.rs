//! `b00t agent run <kind> --name <name>`: one agent as its own process, the same host
//! loop as inside `b00t up`. This is how an agent runs in a container or elsewhere.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use b00t_agents::{kinds, HostOptions, Ledger};
use b00t_config::Home;
use b00t_journal::Journal;
use b00t_proto::Name;

use crate::cli::AgentRunArgs;
use crate::{connect, shutdown};

pub async fn run(args: AgentRunArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let name = Name::parse(&args.name).context("in `--name`")?;
    let stop = shutdown::on_signal();
    let config = home.config();
    let mut heartbeat = config.agents.heartbeat();
    let mut max_payload = config.broker.max_payload_bytes;
    let spec = match args.kind.as_str() {
        "group" => {
            let (spec, launch) = super::agent_group::spec(&name, &url, &stop)?;
            heartbeat = Duration::from_millis(launch.heartbeat_ms);
            max_payload = launch.max_payload_bytes;
            spec
        }
        "installer" => b00t_installer::spec(
            name.clone(),
            b00t_installer::InstallerOptions::for_home(&home)?,
            stop.clone(),
        ),
        kind => kinds::builtin(kind, name.clone())
            .map_err(|e| anyhow::anyhow!("{e}, `installer`, `group`"))?,
    };
    let journal = match &args.state {
        Some(dir) => {
            fs_create(dir)?;
            Some(Journal::open(&dir.join("journal.db"))?)
        }
        None => None,
    };
    let ledger = match &journal {
        Some(journal) => Ledger::journaled(name.as_str(), journal)?,
        None => Ledger::in_memory(name.as_str()),
    };
    let options = HostOptions {
        url: url.clone(),
        max_payload,
        packet_limit: (max_payload * 4).max(config.broker.packet_limit()),
        heartbeat,
        ledger: Arc::new(ledger),
        drain: Duration::from_secs(3),
    };
    tracing::info!(agent = %name, kind = %args.kind, %url, "starting agent");
    b00t_agents::run(spec, options, stop).await?;
    if let Some(journal) = journal {
        journal.close().await;
    }
    Ok(ExitCode::SUCCESS)
}

fn fs_create(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state folder `{}`", dir.display()))
}
