//! `b00t bench --ci`: the container CI agents on the local engine. A runtime child in a
//! temporary home whose `[ci] label` takes in only this run's containers (Debian's static
//! busybox on scratch, built locally), then:
//!
//! - **start to online**: from the moment the engine started a container (its
//!   `StartedAt`, the time of its start event) to its agent's online card on the bus (the
//!   event, the facts, the agent's connection and card);
//! - **`status` round trip**: one task at a time to a running container's agent;
//! - **memory**: the runtime's resident memory with `--ci-watched` containers watched,
//!   less the same runtime's before any container.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Outcome, Qos, Request, Requester};
use b00t_container::testing::{
    ensure_busybox_image, run_test_container, TestContainer, TestContainerSpec,
};
use b00t_proto::{Address, AgentChannel, AgentState, StatusCard};
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::child::BusChild;

/// Longest wait for one card.
const CARD_LIMIT: Duration = Duration::from_secs(30);
/// Containers started one at a time for the start-to-online figure.
const TIMED_STARTS: usize = 10;
/// `status` tasks one at a time.
const STATUS_TASKS: usize = 50;

/// The figures.
#[derive(Debug, Serialize)]
pub(super) struct CiFigures {
    pub ci_start_to_online_ms_p50: f64,
    pub ci_start_to_online_ms_max: f64,
    pub ci_status_ms_p50: f64,
    pub ci_status_ms_p99: f64,
    pub ci_containers_watched: usize,
    pub ci_idle_rss_mib: Option<f64>,
    pub ci_watched_rss_mib: Option<f64>,
}

impl CiFigures {
    pub(super) fn table(&self) -> String {
        let delta = match (self.ci_idle_rss_mib, self.ci_watched_rss_mib) {
            (Some(idle), Some(watched)) => format!("{:+.1} MiB", watched - idle),
            _ => "not measured".to_owned(),
        };
        format!(
            "container CI agents (local engine, busybox containers)\n  start to online card   p50 {:>8.1} ms   max {:>8.1} ms   ({TIMED_STARTS} starts; target p50 <= 100 ms)\n  status round trip      p50 {:>8.2} ms   p99 {:>8.2} ms   ({STATUS_TASKS} tasks; target p50 <= 20 ms)\n  memory, {} watched    {delta} over the idle runtime (target <= +20 MiB)\n",
            self.ci_start_to_online_ms_p50,
            self.ci_start_to_online_ms_max,
            self.ci_status_ms_p50,
            self.ci_status_ms_p99,
            self.ci_containers_watched,
        )
    }
}

pub(super) async fn measure(exe: &std::path::Path, watched: usize) -> anyhow::Result<CiFigures> {
    let docker = b00t_container::connect()
        .await
        .context("`b00t bench --ci` needs a Docker engine")?;
    let image = ensure_busybox_image(&docker)
        .await
        .context("building the busybox image the CI bench runs")?;
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-ci-")
        .tempdir()
        .context("cannot make a temporary home")?;
    std::fs::write(
        home.path().join("b00t.toml"),
        format!("[agents]\necho = false\n[ci]\nenabled = true\nlabel = \"b00t.bench={run}\"\n"),
    )?;
    let runtime = BusChild::start_in(
        exe,
        home,
        &[("CONTAINER_RUNTIME", "none")],
        "runtime with CI agents",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = super::rss::rss_mib(runtime.pid());

    let stop = CancellationToken::new();
    let (bus, events) = Bus::connect(
        BusOptions::new(runtime.url().clone(), format!("b00t-bench-ci-{run}")),
        &stop,
    );
    bus.wait_connected(Duration::from_secs(5)).await?;
    let (requester, mut events) = Requester::open(
        bus.clone(),
        events,
        format!("b00t.bench-ci-{run}.reply"),
        "bench",
        Duration::from_secs(5),
        &stop,
    )
    .await?;
    bus.subscribe_confirmed("+/status", Qos::AtLeastOnce, Duration::from_secs(5))
        .await?;
    let _ = image;

    let spec = |n: usize| {
        let mut spec = TestContainerSpec::new(&format!("bench-ci-{run}-{n}"), &["sleep", "3600"]);
        spec.labels.insert("b00t.bench".to_owned(), run.clone());
        spec
    };
    let mut containers: Vec<TestContainer> = Vec::new();
    let mut online: HashSet<String> = HashSet::new();
    let mut starts_ms = Vec::new();
    for n in 0..TIMED_STARTS {
        let container = run_test_container(&docker, &spec(n)).await?;
        let agent = b00t_ci::agent_name(&container.name, &container.id);
        wait_online(&mut events, &mut online, |seen| seen.contains(&agent)).await?;
        let online_at = chrono::Utc::now();
        // From the moment the engine says it started the container (its `StartedAt`,
        // the time of its start event; same machine, same clock) to the card.
        let facts = b00t_container::facts(&docker, &container.id).await?;
        if let Some(started) = facts
            .started_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let ms = (online_at - started.with_timezone(&chrono::Utc)).num_microseconds();
            starts_ms.push(ms.unwrap_or(0) as f64 / 1000.0);
        }
        containers.push(container);
    }

    let agent = b00t_ci::agent_name(&containers[0].name, &containers[0].id);
    let address = Address::parse(&format!("b00t.{agent}.status")).context("a CI address")?;
    let mut status_ms = Vec::new();
    for _ in 0..STATUS_TASKS {
        let request = Request::new(address.clone(), "ci", json!({}), Duration::from_secs(10));
        let sent = Instant::now();
        match requester.request(&request, |_, _| {}).await? {
            Outcome::Result(_) => status_ms.push(sent.elapsed().as_secs_f64() * 1000.0),
            other => anyhow::bail!("`status` of `{agent}` did not answer: {other:?}"),
        }
    }

    let mut n = TIMED_STARTS;
    while containers.len() < watched {
        let batch: Vec<_> = (0..10.min(watched - containers.len()))
            .map(|i| spec(n + i))
            .collect();
        n += batch.len();
        for spec in &batch {
            containers.push(run_test_container(&docker, spec).await?);
        }
    }
    let wanted = containers.len();
    wait_online(&mut events, &mut online, |seen| seen.len() >= wanted).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = super::rss::rss_mib(runtime.pid());

    for container in containers {
        let _ = b00t_container::remove(&docker, &container.id).await;
        // Removed already: its guard has nothing left to do.
        std::mem::forget(container);
    }
    bus.close(Duration::from_millis(200)).await;
    stop.cancel();
    runtime.stop().await;
    Ok(CiFigures {
        ci_start_to_online_ms_p50: percentile(&mut starts_ms, 0.5),
        ci_start_to_online_ms_max: starts_ms.iter().copied().fold(0.0, f64::max),
        ci_status_ms_p50: percentile(&mut status_ms, 0.5),
        ci_status_ms_p99: percentile(&mut status_ms, 0.99),
        ci_containers_watched: wanted,
        ci_idle_rss_mib: idle,
        ci_watched_rss_mib: loaded,
    })
}

/// Reads cards until `done` says enough CI agents are online.
async fn wait_online(
    events: &mut Events,
    online: &mut HashSet<String>,
    done: impl Fn(&HashSet<String>) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + CARD_LIMIT;
    while !done(online) {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .context("a container CI agent's card did not come in time")?;
        let Some(BusEvent::Message(m)) = event else {
            continue;
        };
        if let (Some((agent, AgentChannel::Status)), Some(card)) =
            (AgentChannel::split(&m.topic), StatusCard::parse(&m.payload))
        {
            if card.state == AgentState::Online && card.kind == "container-ci" {
                online.insert(agent.to_owned());
            }
        }
    }
    Ok(())
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
