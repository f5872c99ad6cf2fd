//! `b00t agents`: who is on the bus. Asks the runtime (`b00t.runtime.agents`), which
//! knows last heartbeats and which online cards are stale (silent for two heartbeat
//! periods, not yet marked offline); with no runtime answering, reads the retained cards.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use b00t_bus::{BusEvent, Qos};
use b00t_config::Home;
use b00t_proto::{Address, AgentChannel, StatusCard};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cli::AgentsArgs;
use crate::connect;
use crate::request::{self, Outcome, Request};
use crate::style::{colour_stdout, Paint};

pub(super) async fn run(args: AgentsArgs) -> anyhow::Result<ExitCode> {
    let agents = list(args.home.home.as_deref(), args.broker.broker.as_deref()).await?;
    if args.json {
        outln!("{}", Value::Array(agents))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&agents)?;
    Ok(ExitCode::SUCCESS)
}

/// The agents on the bus, as the runtime knows them (or their retained cards).
pub(super) async fn list(
    home: Option<&std::path::Path>,
    broker: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let home = Home::resolve(home)?;
    let url = connect::broker_url(broker, &home)?;
    let stop = CancellationToken::new();
    let (bus, events) = connect::client(url, "agents", &home, &stop).await?;
    let (requester, mut events) = request::requester(&bus, events, &stop).await?;
    let request = Request {
        ask_again_after: Duration::from_secs(1),
        ..Request::new(
            Address::parse("b00t.runtime.agents").expect("a valid address"),
            "cli",
            Value::Null,
            Duration::from_secs(3),
        )
    };
    let agents = match requester.request(&request, |_, _| {}).await? {
        Outcome::Result(reply) => reply["body"]["agents"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        Outcome::Error(_) | Outcome::Timeout => {
            errln!("note: no runtime answered on `b00t.runtime.agents`; showing retained status cards without heartbeats");
            retained_cards(&bus, &mut events).await?
        }
    };
    bus.close(Duration::from_millis(200)).await;
    Ok(agents)
}

async fn retained_cards(
    bus: &b00t_bus::Bus,
    events: &mut b00t_bus::Events,
) -> anyhow::Result<Vec<Value>> {
    bus.subscribe_confirmed("+/status", Qos::AtLeastOnce, Duration::from_secs(5))
        .await?;
    let mut cards = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let BusEvent::Message(m) = event {
            if let (Some((agent, AgentChannel::Status)), Some(card)) =
                (AgentChannel::split(&m.topic), StatusCard::parse(&m.payload))
            {
                cards.insert(agent.to_owned(), serde_json::to_value(card)?);
            }
        }
    }
    Ok(cards.into_values().collect())
}

/// The state column: `online (stale, 2.4 s silent)` for a stale card, and the reason of
/// a card the runtime marked offline.
fn state_shown(agent: &Value) -> String {
    let state = crate::printable::printable(agent["state"].as_str().unwrap_or("?")).into_owned();
    if agent["stale"].as_bool() == Some(true) {
        let ago = agent["last_heartbeat_ago_ms"].as_u64().unwrap_or(0);
        return format!("{state} (stale, {:.1} s silent)", ago as f64 / 1000.0);
    }
    match (agent["marked_by"].as_str(), agent["reason"].as_str()) {
        (Some(by), Some(reason)) => format!(
            "{state} ({}: {})",
            crate::printable::printable(by),
            crate::printable::printable(reason)
        ),
        _ => state,
    }
}

fn print_table(agents: &[Value]) -> Result<(), crate::out::StdoutError> {
    if agents.is_empty() {
        return outln!("no agents have been seen on this bus");
    }
    let colour = colour_stdout();
    let rows: Vec<[String; 6]> = agents
        .iter()
        .map(|a| {
            let skills = a["skills"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            // Cards come from the bus: what they say is shown escaped.
            let shown = |v: &Value, missing: &str| {
                crate::printable::printable(v.as_str().unwrap_or(missing)).into_owned()
            };
            [
                shown(&a["agent"], "?"),
                state_shown(a),
                shown(&a["kind"], ""),
                crate::printable::printable(&skills).into_owned(),
                shown(&a["since"], ""),
                shown(&a["last_heartbeat"], "-"),
            ]
        })
        .collect();
    let header = [
        "AGENT",
        "STATE",
        "KIND",
        "SKILLS",
        "SINCE",
        "LAST HEARTBEAT",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 6]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    outln!("{}", Paint::Bold.paint(colour, &line(header)))?;
    for r in &rows {
        let state = if r[1] == "online" {
            Paint::Green
        } else if r[1].starts_with("online") {
            Paint::Yellow
        } else {
            Paint::Red
        };
        let text = line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
        outln!("{}", text.replacen(&r[1], &state.paint(colour, &r[1]), 1))?;
    }
    Ok(())
}
