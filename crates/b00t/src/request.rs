//! The CLI's requester: b00t-bus's [`Requester`] on a reply base of its own (as the
//! operator `b00t.operator/reply/<2 hex>`, which only the operator may read and only the
//! agents it asks may answer on; anonymously `b00t.cli-<2 hex>.reply`), which `send`,
//! `agents` and `chat` ask through. It follows
//! the replies until the result, an error or the deadline, and asks again with the same
//! id when it hears nothing.

use std::time::Duration;

use b00t_bus::{Bus, Events, Qos, Requester};
use tokio_util::sync::CancellationToken;

pub(crate) use b00t_bus::{Outcome, Request};

/// Opens a requester on `bus`: its replies' subscription is confirmed before this
/// returns. Also returns the connection's other events.
pub(crate) async fn requester(
    bus: &Bus,
    events: Events,
    stop: &CancellationToken,
) -> anyhow::Result<(Requester, Events)> {
    // One of 256 bases: the broker keeps every filter it was ever given, so a fresh
    // base per command would grow it for good. Two commands that share a base each
    // take only the replies to their own task ids.
    let slot = fastrand::u8(..);
    let (reply_base, from) = if crate::connect::is_operator(bus) {
        (format!("b00t.operator/reply/{slot:02x}"), "operator")
    } else {
        (format!("b00t.cli-{slot:02x}.reply"), "cli")
    };
    // On a list (a cluster), at QoS 0 within 20 s: a NATS cluster that lost a node
    // refuses new QoS 1 subscriptions on every node for tens of seconds (each refusal
    // after 5 s), while a QoS 0 one needs no JetStream consumer; a reply this short-lived
    // client misses it asks for again with the same id. On one broker, QoS 1 within 5 s.
    let on_a_list = bus.url().contains(',');
    let (qos, limit) = if on_a_list {
        (Qos::AtMostOnce, Duration::from_secs(20))
    } else {
        (Qos::AtLeastOnce, Duration::from_secs(5))
    };
    Ok(Requester::open_at(bus.clone(), events, reply_base, from, limit, qos, stop).await?)
}

/// How a command that asked an agent ends on anything but a result: an error reply is
/// printed (`[code] message`, or the reply as JSON) and exits 1, or 2 for `timeout` and
/// `undeliverable`; no answer prints `on_timeout()` and exits 2.
pub(crate) fn exit_on(
    outcome: Outcome,
    on_timeout: impl FnOnce() -> String,
    json: bool,
) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match outcome {
        Outcome::Result(_) => Ok(ExitCode::SUCCESS),
        Outcome::Error(reply) => {
            let code = reply["error"]["code"]
                .as_str()
                .unwrap_or("failed")
                .to_owned();
            if json {
                outln!("{reply}")?;
            } else {
                errln!(
                    "{} [{code}] {}",
                    crate::style::error_label(),
                    reply["error"]["message"].as_str().unwrap_or("")
                );
            }
            Ok(ExitCode::from(
                if matches!(code.as_str(), "undeliverable" | "timeout") {
                    2
                } else {
                    1
                },
            ))
        }
        Outcome::Timeout => {
            let message = on_timeout();
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"type": "timeout", "message": message})
                )?;
            } else {
                errln!("{} {message}", crate::style::error_label());
            }
            Ok(ExitCode::from(2))
        }
    }
}

/// One task a command asks once: to `address`, with `body` signed with `key` (for the
/// address and the task's own id) when given, waiting up to `timeout`.
pub(crate) struct Ask<'k> {
    pub address: b00t_proto::Address,
    pub body: serde_json::Value,
    pub key: Option<&'k b00t_installer::OperatorKey>,
    pub timeout: Duration,
}

/// Connects as `client` (the operator, when the home's credentials allow), publishes
/// `ask`, hands each reply to `on_reply`, and returns how it ended. `b00t ci` actions
/// and `b00t deploy` ask so.
pub(crate) async fn ask_once(
    home: &b00t_config::Home,
    broker: Option<&str>,
    client: &str,
    ask: Ask<'_>,
    on_reply: impl FnMut(b00t_proto::Channel, &serde_json::Value),
) -> anyhow::Result<Outcome> {
    let url = crate::connect::broker_url(broker, home)?;
    let stop = CancellationToken::new();
    let (bus, events) = crate::connect::client(url, client, home, &stop).await?;
    let (requester, _rest) = requester(&bus, events, &stop).await?;
    let id = b00t_proto::TaskId::fresh("cli");
    let body = match ask.key {
        Some(key) => key.sign(
            &ask.address.to_string(),
            id.as_str(),
            b00t_installer::sign::now_ms(),
            &ask.body,
        ),
        None => ask.body,
    };
    let request = Request {
        id,
        ..Request::new(ask.address, "cli", body, ask.timeout)
    };
    let outcome = requester.request(&request, on_reply).await?;
    bus.close(Duration::from_millis(200)).await;
    Ok(outcome)
}

/// The `on_reply` of a readable command: each progress step on stderr, dimmed.
pub(crate) fn show_progress(channel: b00t_proto::Channel, reply: &serde_json::Value) {
    if channel == b00t_proto::Channel::Progress {
        let colour = crate::style::colour_stderr();
        errln!(
            "{}",
            crate::style::Paint::Dim.paint(colour, reply["step"].as_str().unwrap_or(""))
        );
    }
}
