//! `b00t bench --groups`: group agents. A runtime child in a temporary home with one
//! group, `bench`, and a fake Ollama (b00t-testkit's `fake-ollama` program, answering at
//! once, run as a child process so that the test kit stays out of this binary) in place of
//! the model:
//!
//! - **cold start**: from publishing a task for the group while its agent is down to its
//!   online card on the bus (the watcher holding the task, the supervisor creating and
//!   starting the container, the agent connecting and subscribing), then to its result;
//!   repeated after each idle stop;
//! - **warm dispatch**: chat tasks one at a time to the running agent; the round trip,
//!   and the round trip less the agent's own time in Ollama (`llm_ms` of the result):
//!   the bus, the agent and the prompt, with the model excluded.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_proto::{AgentChannel, StatusCard};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::child::BusChild;
use super::fakes::FakeProgram;

/// The group measured.
pub(super) const GROUP: &str = "bench";
/// Longest wait for any one step.
const STEP_LIMIT: Duration = Duration::from_secs(120);
/// The model the fake Ollama serves.
pub(super) const MODEL: &str = "bench-model";

/// The figures.
#[derive(Debug, Serialize)]
pub(super) struct GroupFigures {
    /// `docker` or `none`.
    pub runtime: String,
    pub cold_runs: usize,
    pub cold_online_ms_p50: f64,
    pub cold_online_ms_max: f64,
    pub cold_result_ms_p50: f64,
    pub warm_tasks: usize,
    pub warm_round_trip_ms_p50: f64,
    pub warm_round_trip_ms_p99: f64,
    pub warm_dispatch_ms_p50: f64,
    pub warm_dispatch_ms_p99: f64,
}

pub(super) async fn measure(
    exe: &std::path::Path,
    runtime: &str,
    cold_runs: usize,
    warm_tasks: usize,
) -> anyhow::Result<GroupFigures> {
    let ollama = fake_ollama(exe).await?;
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-groups-")
        .tempdir()
        .context("cannot make a temporary home")?;
    std::fs::write(
        home.path().join("b00t.toml"),
        format!(
            "[agents]\necho = false\n[installer]\nenabled = false\n[containers]\nruntime = \"{runtime}\"\nidle_timeout_ms = 1000\n[assistant]\nmodel = \"{MODEL}\"\nollama_url = \"{}\"\n",
            ollama.url
        ),
    )
    .context("cannot write the bench home's b00t.toml")?;
    b00t_groups::Groups::new(home.path().join("groups"))
        .add(GROUP)
        .context("cannot make the bench group")?;
    let child = BusChild::start_in(
        exe,
        home,
        &[(b00t_config::env::CONTAINER_RUNTIME, runtime)],
        "runtime with group agents",
    )
    .await?;
    let stop = CancellationToken::new();
    let (bus, mut events) = Bus::connect(
        BusOptions::new(
            child.url().clone(),
            format!("b00t-bench-{:08x}", fastrand::u32(..)),
        ),
        &stop,
    );
    bus.wait_connected(Duration::from_secs(5)).await?;
    let reply = "b00t.bench-client.reply";
    bus.subscribe_confirmed(
        &format!("{reply}/+"),
        Qos::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await?;
    bus.subscribe_confirmed(
        &AgentChannel::Status.topic(GROUP),
        Qos::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await?;

    let mut online_ms = Vec::new();
    let mut result_ms = Vec::new();
    for run in 0..cold_runs {
        if run > 0 {
            wait_card(&mut events, false)
                .await
                .context("waiting for the group agent's idle stop")?;
        }
        let started = Instant::now();
        publish(&bus, reply, &format!("cold-{run}")).await?;
        if let Err(e) = wait_card(&mut events, true).await {
            anyhow::bail!(
                "waiting for the group agent's online card (cold run {run}): {e}{}",
                child.stderr_excerpt()
            );
        }
        online_ms.push(started.elapsed().as_secs_f64() * 1e3);
        wait_result(&mut events, &format!("cold-{run}")).await?;
        result_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if run + 1 < cold_runs {
            // The agent stops after its 1 s idle timeout; then the next cold start.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut round_trips = Vec::new();
    let mut dispatch = Vec::new();
    for n in 0..warm_tasks {
        let id = format!("warm-{n}");
        let started = Instant::now();
        publish(&bus, reply, &id).await?;
        let body = wait_result(&mut events, &id).await?;
        let total = started.elapsed().as_secs_f64() * 1e3;
        round_trips.push(total);
        let llm = body["llm_ms"].as_f64().unwrap_or(0.0);
        dispatch.push((total - llm).max(0.0));
    }
    bus.close(Duration::from_millis(200)).await;
    child.stop().await;
    Ok(GroupFigures {
        runtime: runtime.to_owned(),
        cold_runs,
        cold_online_ms_p50: percentile(&online_ms, 0.5),
        cold_online_ms_max: online_ms.iter().copied().fold(0.0, f64::max),
        cold_result_ms_p50: percentile(&result_ms, 0.5),
        warm_tasks,
        warm_round_trip_ms_p50: percentile(&round_trips, 0.5),
        warm_round_trip_ms_p99: percentile(&round_trips, 0.99),
        warm_dispatch_ms_p50: percentile(&dispatch, 0.5),
        warm_dispatch_ms_p99: percentile(&dispatch, 0.99),
    })
}

pub(super) async fn publish(bus: &Bus, reply_to: &str, id: &str) -> anyhow::Result<()> {
    let task =
        json!({"id": id, "from": "bench-client", "reply_to": reply_to, "body": {"text": "ping"}});
    bus.publish(
        &format!("b00t.{GROUP}.chat/task"),
        Qos::AtLeastOnce,
        false,
        serde_json::to_vec(&task)?,
    )
    .await?;
    Ok(())
}

/// Waits for the group's card to say online (`true`) or not.
async fn wait_card(events: &mut Events, online: bool) -> anyhow::Result<()> {
    let status = AgentChannel::Status.topic(GROUP);
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => event,
            Ok(None) => anyhow::bail!("the connection to the bus closed"),
            Err(_) => anyhow::bail!("no card within {} s", STEP_LIMIT.as_secs()),
        };
        let BusEvent::Message(message) = event else {
            continue;
        };
        if message.topic != status {
            continue;
        }
        let Some(card) = StatusCard::parse(&message.payload) else {
            continue;
        };
        let is_online = card.state == b00t_proto::AgentState::Online;
        if is_online == online {
            return Ok(());
        }
    }
}

/// Waits for the result of task `id`; its body.
pub(super) async fn wait_result(events: &mut Events, id: &str) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("no reply to `{id}` within {} s", STEP_LIMIT.as_secs()))?
            .context("the connection to the bus closed")?;
        let BusEvent::Message(message) = event else {
            continue;
        };
        let Ok(reply) = serde_json::from_slice::<Value>(&message.payload) else {
            continue;
        };
        if reply["id"] != id {
            continue;
        }
        match reply["type"].as_str() {
            Some("result") => return Ok(reply["body"].clone()),
            Some("error") => anyhow::bail!("task `{id}` failed: {}", reply["error"]),
            _ => {}
        }
    }
}

pub(super) fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    (sorted[rank.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

impl GroupFigures {
    pub(super) fn table(&self) -> String {
        format!(
            "group agents ({} runtime, fake Ollama answering at once)\n  cold start to online   p50 {:>8.1} ms   max {:>8.1} ms   ({} runs; target <= 500 ms)\n  cold start to result   p50 {:>8.1} ms\n  warm chat round trip   p50 {:>8.2} ms   p99 {:>8.2} ms   ({} tasks)\n  warm dispatch (no LLM) p50 {:>8.2} ms   p99 {:>8.2} ms   (target <= 5 ms)\n",
            self.runtime,
            self.cold_online_ms_p50,
            self.cold_online_ms_max,
            self.cold_runs,
            self.cold_result_ms_p50,
            self.warm_round_trip_ms_p50,
            self.warm_round_trip_ms_p99,
            self.warm_tasks,
            self.warm_dispatch_ms_p50,
            self.warm_dispatch_ms_p99,
        )
    }
}

/// b00t-testkit's `fake-ollama`, answering at once as model [`MODEL`].
pub(super) async fn fake_ollama(exe: &Path) -> anyhow::Result<FakeProgram> {
    FakeProgram::start(
        exe,
        "fake-ollama",
        b00t_config::env::B00T_FAKE_OLLAMA,
        &["--listen", "127.0.0.1:0", "--model", MODEL],
    )
    .await
}
