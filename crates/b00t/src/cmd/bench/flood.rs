//! The flood: `--flood N` tasks published to the echo agent as fast as one client can,
//! none waiting for another, on a fresh `b00t up`, whose peak memory (VmHWM) is read
//! after the last result: the runtime's memory must stay bounded however fast tasks come.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{Channel, Task, TaskId};
use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a flood did.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flood {
    pub tasks: u64,
    /// Results that reached the flooding client (a subscriber that lags more than the
    /// broker keeps for it loses some; the journal has them all).
    pub results: u64,
    pub seconds: f64,
}

/// Longest a flood may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Once everything is published, the flood ends when no result comes for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(5);
const SETUP_LIMIT: Duration = Duration::from_secs(5);

/// Publishes `tasks` echo tasks at QoS 1 through `url`, then counts their results.
pub(super) async fn run(url: &BrokerUrl, tasks: u64) -> anyhow::Result<Flood> {
    let stop = CancellationToken::new();
    let run = format!("{:08x}", fastrand::u32(..));
    let options = BusOptions::new(url.clone(), format!("b00t-bench-flood-{run}"));
    let (bus, mut events) = Bus::connect(options, &stop);
    bus.wait_connected(SETUP_LIMIT)
        .await
        .context("cannot connect the flooding client")?;
    let base = format!("b00t.flood-{run}.reply");
    bus.subscribe_confirmed(&format!("{base}/result"), Qos::AtLeastOnce, SETUP_LIMIT)
        .await
        .context("cannot subscribe to the flood's results")?;
    let start = Instant::now();
    let publisher = {
        let bus = bus.clone();
        let base = base.clone();
        tokio::spawn(async move {
            for n in 0..tasks {
                let id = TaskId::parse(&format!("flood-{run}-{n}")).expect("a valid id");
                let task = Task::outgoing(id, Some("bench"), Some(&base), json!({ "n": n }));
                bus.publish(
                    "b00t.echo.echo/task",
                    Qos::AtLeastOnce,
                    false,
                    task.to_envelope(),
                )
                .await?;
            }
            Ok::<(), b00t_bus::BusError>(())
        })
    };
    let result_topic = format!("{base}/{}", Channel::Result.as_str());
    let mut results = 0;
    let mut last = Instant::now();
    let deadline = start + RUN_LIMIT;
    while results < tasks && Instant::now() < deadline {
        let published = publisher.is_finished();
        let wait = if published {
            IDLE_LIMIT.saturating_sub(last.elapsed())
        } else {
            Duration::from_millis(500)
        };
        if published && wait.is_zero() {
            break;
        }
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some(BusEvent::Message(m))) if m.topic == result_topic => {
                results += 1;
                last = Instant::now();
            }
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break,
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    publisher.abort();
    bus.close(Duration::from_millis(500)).await;
    stop.cancel();
    Ok(Flood {
        tasks,
        results,
        seconds,
    })
}
