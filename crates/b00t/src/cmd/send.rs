//! `b00t send <address> [PAYLOAD]`: publish a task, show its ack and progress, print its
//! result. Exit 0 on a result, 1 on an error reply, 2 on a timeout or `undeliverable`.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use b00t_config::Home;
use b00t_proto::{Address, Channel, TaskId};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cli::SendArgs;
use crate::connect;
use crate::request::{self, Outcome, Request};
use crate::style::{colour_stderr, Paint};

pub(super) async fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let address = Address::parse(&args.address)?;
    let id = match &args.id {
        Some(id) => TaskId::parse(id).context("in `--id`")?,
        None => TaskId::fresh("cli"),
    };
    let body = body(args.payload.as_deref())?;
    let delivery = &home.config().delivery;
    let timeout = match args.timeout {
        Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Some(secs) => anyhow::bail!("`--timeout {secs}` must be a positive number of seconds"),
        None => (delivery.give_up_after() + Duration::from_secs(5)).max(Duration::from_secs(60)),
    };
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let stop = CancellationToken::new();
    let (bus, events) = connect::client(url, "cli", &home, &stop).await?;
    let (requester, _rest) = request::requester(&bus, events, &stop).await?;
    let request = Request {
        id: id.clone(),
        ..Request::new(address.clone(), "cli", body, timeout)
    };
    let json = args.json;
    let colour = colour_stderr();
    let outcome = requester
        .request(&request, |channel, reply| {
            if json {
                // A closed stdout shows up again, as an error, at the result.
                let _ = outln!("{reply}");
                return;
            }
            match channel {
                Channel::Ack => errln!(
                    "{} task `{id}` taken by {}.{}",
                    Paint::Dim.paint(colour, "ack"),
                    reply["agent"].as_str().unwrap_or("?"),
                    reply["skill"].as_str().unwrap_or("?"),
                ),
                Channel::Progress => {
                    let of = match (reply["n"].as_u64(), reply["of"].as_u64()) {
                        (Some(n), Some(of)) => format!(" ({n}/{of})"),
                        (Some(n), None) => format!(" ({n})"),
                        _ => String::new(),
                    };
                    errln!(
                        "{} {}{of}",
                        Paint::Blue.paint(colour, "progress"),
                        reply["step"].as_str().unwrap_or("")
                    );
                }
                _ => {}
            }
        })
        .await?;
    bus.close(Duration::from_millis(200)).await;
    Ok(match outcome {
        Outcome::Result(reply) => {
            if !json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&reply["body"]).unwrap_or_default()
                )?;
            }
            ExitCode::SUCCESS
        }
        Outcome::Error(reply) => {
            let code = reply["error"]["code"]
                .as_str()
                .unwrap_or("failed")
                .to_owned();
            if !json {
                errln!(
                    "{} [{code}] {}",
                    Paint::Red.paint(colour, "error:"),
                    reply["error"]["message"].as_str().unwrap_or("")
                );
            }
            if matches!(code.as_str(), "undeliverable" | "timeout") {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
        Outcome::Timeout => {
            let message = format!(
                "no result for task `{id}` on `{address}` within {:.1} s: is an agent `{}` running? `b00t agents` lists them",
                timeout.as_secs_f64(),
                address.agent()
            );
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"type": "timeout", "id": id.as_str(), "message": message})
                )?;
            } else {
                errln!("{} {message}", Paint::Red.paint(colour, "timeout:"));
            }
            ExitCode::from(2)
        }
    })
}

/// The task body from PAYLOAD: JSON if it parses, else `{"text": …}`; `-` is stdin.
fn body(payload: Option<&str>) -> anyhow::Result<Value> {
    let text = match payload {
        None => return Ok(Value::Null),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the payload from standard input (it must be UTF-8)")?;
            text
        }
        Some(text) => text.to_owned(),
    };
    Ok(serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "text": text })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_json_or_text() {
        assert_eq!(body(None).unwrap(), Value::Null);
        assert_eq!(
            body(Some("{\"a\":1}")).unwrap(),
            serde_json::json!({"a": 1})
        );
        assert_eq!(body(Some("42")).unwrap(), serde_json::json!(42));
        assert_eq!(
            body(Some("hello there")).unwrap(),
            serde_json::json!({"text": "hello there"})
        );
    }
}
