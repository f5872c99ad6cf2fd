//! Broker throughput: one publisher connection sends small messages as fast as the client
//! allows to one subscriber connection on a fresh topic; the rate is what arrived divided
//! by the time from the first publish to the last arrival.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Bytes, Events, Qos};
use b00t_config::BrokerUrl;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Bytes of each message's payload.
pub(super) const PAYLOAD_BYTES: usize = 128;

/// The outcome of one run.
#[derive(Clone, Copy, Debug)]
pub(super) struct Throughput {
    /// Messages that reached the subscriber (at QoS 0 the broker may drop some).
    pub received: u64,
    /// Received messages per second.
    pub msgs_per_s: f64,
}

/// Longest a run may take, from the first publish.
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Once everything is published, a run ends when nothing arrives for this long (at QoS 0
/// the missing messages are not coming).
const IDLE_LIMIT: Duration = Duration::from_secs(2);
/// Longest wait for a connection or a subscription.
const SETUP_LIMIT: Duration = Duration::from_secs(5);

/// Sends `messages` messages at `qos` through the broker at `url` and counts what arrives.
pub(super) async fn measure(
    url: &BrokerUrl,
    qos: Qos,
    messages: u64,
) -> anyhow::Result<Throughput> {
    let stop = CancellationToken::new();
    let outcome = run(url, qos, messages, &stop).await;
    stop.cancel();
    outcome
}

async fn run(
    url: &BrokerUrl,
    qos: Qos,
    messages: u64,
    stop: &CancellationToken,
) -> anyhow::Result<Throughput> {
    let level = match qos {
        Qos::AtMostOnce => 0,
        Qos::AtLeastOnce => 1,
    };
    let topic = format!("bench/{:08x}/q{level}", fastrand::u32(..));
    let (subscriber, events) = connect(url, "subscriber", stop).await?;
    subscriber
        .subscribe_confirmed(&topic, qos, SETUP_LIMIT)
        .await
        .with_context(|| format!("cannot subscribe to `{topic}`"))?;
    let (publisher, _publisher_events) = connect(url, "publisher", stop).await?;

    let payload = Bytes::from(vec![b'x'; PAYLOAD_BYTES]);
    let (published_all, published_all_rx) = watch::channel(false);
    let start = Instant::now();
    let counter = tokio::spawn(count(
        events,
        topic.clone(),
        messages,
        start + RUN_LIMIT,
        published_all_rx,
    ));
    for _ in 0..messages {
        if counter.is_finished() {
            break; // the subscriber gave up (lost its connection or ran out of time)
        }
        publisher
            .publish(&topic, qos, false, payload.clone())
            .await
            .context("cannot publish")?;
    }
    let _ = published_all.send(true);
    let counted = counter
        .await
        .context("the subscriber's counting task failed")??;
    publisher.close(Duration::from_millis(500)).await;
    subscriber.close(Duration::from_millis(500)).await;

    let Some(last) = counted.last else {
        anyhow::bail!(
            "no message arrived on `{topic}` within {} s of the first publish",
            RUN_LIMIT.as_secs()
        );
    };
    let seconds = last.duration_since(start).as_secs_f64().max(1e-9);
    Ok(Throughput {
        received: counted.received,
        msgs_per_s: counted.received as f64 / seconds,
    })
}

/// What the subscriber saw.
struct Counted {
    received: u64,
    /// When the last message arrived.
    last: Option<Instant>,
}

/// Counts messages on `topic` until `expected` arrived, the deadline passed, or nothing
/// arrived for [`IDLE_LIMIT`] after the publisher finished.
async fn count(
    mut events: Events,
    topic: String,
    expected: u64,
    deadline: Instant,
    mut published_all: watch::Receiver<bool>,
) -> anyhow::Result<Counted> {
    let mut counted = Counted {
        received: 0,
        last: None,
    };
    let mut publishing = true;
    let mut idle_since = Instant::now();
    while counted.received < expected {
        let until = if publishing {
            deadline
        } else {
            deadline.min(idle_since + IDLE_LIMIT)
        };
        tokio::select! {
            changed = published_all.changed(), if publishing => {
                if changed.is_err() || *published_all.borrow() {
                    publishing = false;
                    idle_since = Instant::now();
                }
            }
            event = tokio::time::timeout_at(until, events.recv()) => match event {
                Err(_) => break,
                Ok(None) => anyhow::bail!("the subscriber's connection closed"),
                Ok(Some(BusEvent::Disconnected { error })) => {
                    anyhow::bail!("the subscriber lost its connection after {} messages: {error}", counted.received)
                }
                Ok(Some(BusEvent::Message(message))) if message.topic == topic => {
                    let now = Instant::now();
                    counted.received += 1;
                    counted.last = Some(now);
                    idle_since = now;
                }
                Ok(Some(_)) => {}
            },
        }
    }
    Ok(counted)
}

async fn connect(
    url: &BrokerUrl,
    role: &str,
    stop: &CancellationToken,
) -> anyhow::Result<(Bus, Events)> {
    let options = BusOptions::new(
        url.clone(),
        format!("b00t-bench-{role}-{:08x}", fastrand::u32(..)),
    );
    let (bus, events) = Bus::connect(options, stop);
    bus.wait_connected(SETUP_LIMIT)
        .await
        .with_context(|| format!("cannot connect the {role}"))?;
    Ok((bus, events))
}
