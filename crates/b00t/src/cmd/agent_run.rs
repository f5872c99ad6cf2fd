//! `b00t agent run <kind> --name <name>`: one agent as its own process, the same host
//! loop as inside `b00t up`. This is how an agent runs in a container or elsewhere.
//! It first reads the name's retained status card and refuses to start beside an agent
//! of the same name that is online: the two would share one MQTT client id and knock
//! each other off the broker for ever.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use b00t_agents::{kinds, HostOptions, Ledger};
use b00t_bus::{BusEvent, Qos};
use b00t_config::{BrokerUrl, Home};
use b00t_journal::Journal;
use b00t_proto::{AgentChannel, AgentState, Name, StatusCard};
use tokio_util::sync::CancellationToken;

use crate::cli::AgentRunArgs;
use crate::exit::{self, Refusal};
use crate::{connect, shutdown};

/// How long the retained card of an agent with the same name is given to arrive.
const CARD_WAIT: Duration = Duration::from_millis(400);
/// How long the check waits for the broker before starting without it.
const PROBE_CONNECT: Duration = Duration::from_secs(3);

pub(super) async fn run(args: AgentRunArgs) -> anyhow::Result<ExitCode> {
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
    // After the kind is known good, before anything is opened or connected.
    refuse_if_online(&url, &name).await?;
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

/// Fails with [`exit::NAME_TAKEN`] when `b00t.<name>/status` holds an online card. An
/// unreachable broker is no reason to refuse: the host waits for it, as always.
async fn refuse_if_online(url: &BrokerUrl, name: &Name) -> anyhow::Result<()> {
    match online_card(url, name).await {
        Ok(Some(card)) => Err(Refusal {
            code: exit::NAME_TAKEN,
            message: taken_message(&card),
        }
        .into()),
        Ok(None) => Ok(()),
        Err(e) => {
            tracing::warn!(agent = %name, error = %e, "cannot check whether an agent with this name is online; starting anyway");
            Ok(())
        }
    }
}

/// The retained card of `name` when it says online, read with a throwaway client id.
pub(super) async fn online_card(
    url: &BrokerUrl,
    name: &Name,
) -> anyhow::Result<Option<StatusCard>> {
    let stop = CancellationToken::new();
    // Not the agent's own id (that would evict the other), but one a guarded listener
    // accepts with this agent's credentials: `b00t-agent-<name>-…`.
    let options = b00t_bus::BusOptions::new(
        url.clone(),
        format!("b00t-agent-{name}-probe-{:08x}", fastrand::u32(..)),
    );
    let (bus, mut events) = b00t_bus::Bus::connect(options, &stop);
    let found = async {
        bus.wait_connected(PROBE_CONNECT).await?;
        let topic = AgentChannel::Status.topic(name.as_str());
        bus.subscribe_confirmed(&topic, Qos::AtLeastOnce, PROBE_CONNECT)
            .await?;
        let deadline = tokio::time::Instant::now() + CARD_WAIT;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            let BusEvent::Message(message) = event else {
                continue;
            };
            if message.topic != topic {
                continue;
            }
            // The retained card comes first; one is enough.
            return Ok(
                StatusCard::parse(&message.payload).filter(|c| c.state == AgentState::Online)
            );
        }
        anyhow::Ok(None)
    }
    .await;
    bus.close(Duration::from_millis(200)).await;
    stop.cancel();
    found
}

/// "agent `echo` is already online (pid 4242 on host h, since …); stop it or pick
/// another --name".
fn taken_message(card: &StatusCard) -> String {
    let mut place = Vec::new();
    match (card.pid, card.host.as_deref()) {
        (Some(pid), Some(host)) => place.push(format!("pid {pid} on host {host}")),
        (Some(pid), None) => place.push(format!("pid {pid}")),
        (None, Some(host)) => place.push(format!("on host {host}")),
        (None, None) => {}
    }
    if !card.since.is_empty() {
        place.push(format!("since {}", card.since));
    }
    let place = if place.is_empty() {
        String::new()
    } else {
        format!(" ({})", place.join(", "))
    };
    format!(
        "agent `{agent}` is already online{place}; stop it or pick another --name\n  \
         hint: if it is gone and the broker kept a stale card, clear it with \
         `mosquitto_pub -r -n -t {topic}`",
        agent = card.agent,
        topic = AgentChannel::Status.topic(&card.agent),
    )
}

fn fs_create(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the state folder `{}`", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(host: Option<&str>, pid: Option<u32>, since: &str) -> StatusCard {
        StatusCard {
            state: AgentState::Online,
            agent: "echo".into(),
            skills: vec!["echo".into()],
            kind: "echo".into(),
            since: since.into(),
            heartbeat_ms: None,
            host: host.map(str::to_owned),
            pid,
            reason: None,
            marked_by: None,
            container: None,
        }
    }

    #[test]
    fn the_refusal_says_where_the_other_runs() {
        for (card, expected) in [
            (
                card(Some("h"), Some(4242), "2026-12-01T10:00:00Z"),
                "agent `echo` is already online (pid 4242 on host h, since 2026-12-01T10:00:00Z); stop it or pick another --name",
            ),
            (
                card(None, None, "2026-12-01T10:00:00Z"),
                "agent `echo` is already online (since 2026-12-01T10:00:00Z); stop it or pick another --name",
            ),
            (
                card(None, None, ""),
                "agent `echo` is already online; stop it or pick another --name",
            ),
        ] {
            let message = taken_message(&card);
            let (first, hint) = message.split_once('\n').expect("a hint line");
            assert_eq!(first, expected);
            assert_eq!(
                hint,
                "  hint: if it is gone and the broker kept a stale card, clear it with `mosquitto_pub -r -n -t b00t.echo/status`"
            );
        }
    }
}
