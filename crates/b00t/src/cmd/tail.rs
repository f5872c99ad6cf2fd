//! `b00t tail [FILTER]`: a live view of the bus, one line per message, coloured by
//! channel; `--json` for one raw JSON object per line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use b00t_bus::{BusEvent, Message, Qos};
use b00t_config::Home;
use b00t_proto::{clock, AgentChannel, Channel};
use serde_json::{json, Value};

use crate::cli::TailArgs;
use crate::printable::printable;
use crate::style::{colour_stdout, Paint};
use crate::{connect, shutdown};

pub(super) async fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    let stop = shutdown::on_signal();
    let (bus, mut events) = connect::client(url, "tail", &home, &stop).await?;
    bus.subscribe_confirmed(&args.filter, Qos::AtLeastOnce, Duration::from_secs(5))
        .await?;
    let colour = colour_stdout();
    let mut seen = 0u64;
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            event = events.recv() => match event { Some(e) => e, None => break },
        };
        let BusEvent::Message(message) = event else {
            continue;
        };
        let line = if args.json {
            json_line(&message)
        } else {
            readable_line(&message, colour)
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break; // the reader went away (`| head`)
        }
        seen += 1;
        if args.count.is_some_and(|n| seen >= n) {
            break;
        }
    }
    bus.close(Duration::from_millis(200)).await;
    Ok(ExitCode::SUCCESS)
}

fn json_line(message: &Message) -> String {
    let payload = match std::str::from_utf8(&message.payload) {
        Ok(text) => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        Err(_) => Value::Null,
    };
    json!({
        "ts": clock::now_rfc3339(),
        "topic": message.topic,
        "retain": message.retain,
        "bytes": message.payload.len(),
        "payload": payload,
    })
    .to_string()
}

fn readable_line(message: &Message, colour: bool) -> String {
    let now = clock::now_rfc3339();
    let time = now.get(11..23).unwrap_or(&now);
    let paint = match (
        Channel::split(&message.topic),
        AgentChannel::split(&message.topic),
    ) {
        (_, Some((_, AgentChannel::Status))) => Paint::Yellow,
        (_, Some((_, AgentChannel::Heartbeat))) => Paint::Dim,
        (Some((_, Channel::Task)), _) => Paint::Cyan,
        (Some((_, Channel::Ack)), _) => Paint::Dim,
        (Some((_, Channel::Progress)), _) => Paint::Blue,
        (Some((_, Channel::Result)), _) => Paint::Green,
        (Some((_, Channel::Error)), _) => Paint::Red,
        (Some((_, Channel::Dead)), _) => Paint::Magenta,
        (None, None) => Paint::Bold,
    };
    let retained = if message.retain { " (retained)" } else { "" };
    format!(
        "{} {}{retained} {}",
        Paint::Dim.paint(colour, time),
        paint.paint(colour, &printable(&message.topic)),
        printable(&summary(&message.payload))
    )
}

/// The payload on one line: compact JSON or text, cut at 240 characters.
fn summary(payload: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(payload) else {
        return format!("<{} bytes, not UTF-8>", payload.len());
    };
    let one_line = match serde_json::from_str::<Value>(text) {
        Ok(v) => v.to_string(),
        Err(_) => text.to_owned(),
    };
    if one_line.chars().count() > 240 {
        let cut: String = one_line.chars().take(240).collect();
        format!("{cut}… ({} bytes)", payload.len())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(summary(b"{ \"a\" : 1 }"), "{\"a\":1}");
        assert_eq!(printable(&summary(b"hi\nthere")), "hi\\nthere");
        assert_eq!(
            printable(&summary("{\"t\":\"\u{202e}x\"}".as_bytes())),
            "{\"t\":\"\\u{202e}x\"}"
        );
        assert_eq!(summary(b"\xff"), "<1 bytes, not UTF-8>");
        assert!(summary(&[b'a'; 500]).ends_with("(500 bytes)"));
    }
}
