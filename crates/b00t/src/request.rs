//! Publish one task and follow its replies until the result, an error, or the deadline:
//! what `b00t send` and `b00t agents` do. Replies come on a private `reply_to` base,
//! subscribed (and confirmed by the broker) before the task is published.

use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, Events, Qos};
use b00t_proto::{clock, Address, Channel, TaskId};
use serde_json::{json, Value};

/// A task to send.
pub struct Request {
    pub address: Address,
    pub id: TaskId,
    pub body: Value,
    pub timeout: Duration,
}

/// How a request ended.
pub enum Outcome {
    /// A `result` reply.
    Result(Value),
    /// An `error` reply.
    Error(Value),
    /// Nothing final before the deadline.
    Timeout,
}

/// Sends `request` and calls `on_reply` for each reply (ack, progress, result, error).
pub async fn send(
    bus: &Bus,
    events: &mut Events,
    request: &Request,
    mut on_reply: impl FnMut(Channel, &Value),
) -> anyhow::Result<Outcome> {
    let reply_to = format!("b00t.cli-{:08x}.reply", fastrand::u32(..));
    bus.subscribe_confirmed(
        &format!("{reply_to}/+"),
        Qos::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await?;
    let envelope = json!({
        "id": request.id.as_str(),
        "from": "cli",
        "reply_to": reply_to,
        "ts": clock::now_rfc3339(),
        "body": request.body,
    });
    bus.publish(
        &request.address.topic(Channel::Task),
        Qos::AtLeastOnce,
        false,
        serde_json::to_vec(&envelope).context("encoding the task")?,
    )
    .await?;
    let deadline = tokio::time::Instant::now() + request.timeout;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Ok(Outcome::Timeout),
            Ok(None) => anyhow::bail!(
                "the connection to the broker closed while waiting for task `{}`",
                request.id
            ),
            Ok(Some(event)) => event,
        };
        let BusEvent::Message(message) = event else {
            continue;
        };
        let Some((base, channel)) = Channel::split(&message.topic) else {
            continue;
        };
        if base != reply_to {
            continue;
        }
        let Ok(reply) = serde_json::from_slice::<Value>(&message.payload) else {
            continue;
        };
        if reply["id"] != request.id.as_str() {
            continue;
        }
        on_reply(channel, &reply);
        match channel {
            Channel::Result => return Ok(Outcome::Result(reply)),
            Channel::Error => return Ok(Outcome::Error(reply)),
            _ => {}
        }
    }
}
