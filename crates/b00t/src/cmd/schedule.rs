//! `b00t schedule add|list|remove`: the scheduler agent's skills over the bus, like any
//! client. The scheduler runs inside `b00t up`; without it nothing answers, and the
//! command says so. Exit 0 on a result, 1 on an error reply, 2 when nothing answered.

use std::process::ExitCode;
use std::time::Duration;

use b00t_config::Home;
use b00t_proto::{Address, Name};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::cli::{BrokerArg, HomeArg, ScheduleAddArgs, ScheduleListArgs, ScheduleRemoveArgs};
use crate::connect;
use crate::request::{self, Outcome, Request};
use crate::style::{colour_stdout, error_label, Paint};

/// How long to wait for the scheduler's answer: it answers from its own database.
const ANSWER_LIMIT: Duration = Duration::from_secs(15);

pub(super) async fn add(args: ScheduleAddArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    body.insert("group".into(), json!(args.group));
    body.insert("text".into(), json!(args.text.join(" ")));
    for (field, value) in [
        ("cron", &args.cron),
        ("every", &args.every),
        ("at", &args.at),
        ("in", &args.r#in),
    ] {
        if let Some(value) = value {
            body.insert(field.into(), json!(value));
        }
    }
    let reply = match call(&args.home, &args.broker, "add", Value::Object(body)).await? {
        Ok(body) => body,
        Err(code) => return Ok(code),
    };
    if args.json {
        outln!("{reply}")?;
    } else {
        outln!(
            "added `{}` for group `{}`: {}, next {}",
            reply["id"].as_str().unwrap_or("?"),
            reply["group"].as_str().unwrap_or("?"),
            reply["when"].as_str().unwrap_or("?"),
            reply["next"].as_str().unwrap_or("never"),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn list(args: ScheduleListArgs) -> anyhow::Result<ExitCode> {
    let body = match &args.group {
        Some(group) => json!({ "group": group }),
        None => json!({}),
    };
    let reply = match call(&args.home, &args.broker, "list", body).await? {
        Ok(body) => body,
        Err(code) => return Ok(code),
    };
    let schedules = reply["schedules"].as_array().cloned().unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&schedules)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if schedules.is_empty() {
        match &args.group {
            Some(group) => outln!("no schedules for group `{group}`")?,
            None => {
                outln!("no schedules: add one with `b00t schedule add <group> --every 1h <text>`")?
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_table(&schedules)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn remove(args: ScheduleRemoveArgs) -> anyhow::Result<ExitCode> {
    let body = json!({ "id": args.id });
    match call(&args.home, &args.broker, "remove", body).await? {
        Ok(reply) => {
            outln!("removed `{}`", reply["removed"].as_str().unwrap_or("?"))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

/// Sends `body` to `b00t.scheduler.<skill>`: the result's body, or the exit code after
/// the error was printed.
async fn call(
    home: &HomeArg,
    broker: &BrokerArg,
    skill: &str,
    body: Value,
) -> anyhow::Result<Result<Value, ExitCode>> {
    let home = Home::resolve(home.home.as_deref())?;
    let url = connect::broker_url(broker.broker.as_deref(), &home)?;
    let stop = CancellationToken::new();
    let (bus, events) = connect::client(url, "cli", &home, &stop).await?;
    let (requester, _rest) = request::requester(&bus, events, &stop).await?;
    let address = Address::new(
        Name::parse(b00t_scheduler::AGENT).expect("a valid name"),
        Name::parse(skill).expect("a valid skill name"),
    );
    let request = Request {
        ask_again_after: Duration::from_secs(1),
        ..Request::new(address, "cli", body, ANSWER_LIMIT)
    };
    let outcome = requester.request(&request, |_, _| {}).await?;
    bus.close(Duration::from_millis(200)).await;
    Ok(match outcome {
        Outcome::Result(reply) => Ok(reply["body"].clone()),
        Outcome::Error(reply) => {
            let code = reply["error"]["code"].as_str().unwrap_or("?");
            errln!(
                "{} {} ({code})",
                error_label(),
                reply["error"]["message"].as_str().unwrap_or("?"),
            );
            Err(ExitCode::from(if code == "undeliverable" { 2 } else { 1 }))
        }
        Outcome::Timeout => {
            errln!(
                "{} no answer from the scheduler within {} s: it runs inside `b00t up`; is `b00t up` running for this home (`b00t agents` lists `scheduler` when it is)?",
                error_label(),
                ANSWER_LIMIT.as_secs()
            );
            Err(ExitCode::from(2))
        }
    })
}

/// id, group, when, next, fired; then each schedule's text, dimmed.
fn print_table(schedules: &[Value]) -> Result<(), crate::out::StdoutError> {
    let colour = colour_stdout();
    let cell = |s: &Value, key: &str| match &s[key] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let headers = ["ID", "GROUP", "WHEN", "NEXT", "FIRED"];
    let keys = ["id", "group", "when", "next", "fired"];
    let rows: Vec<Vec<String>> = schedules
        .iter()
        .map(|s| keys.iter().map(|k| cell(s, k)).collect())
        .collect();
    let widths: Vec<usize> = (0..keys.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    outln!("{}", Paint::Bold.paint(colour, &line(&header)))?;
    for (row, schedule) in rows.iter().zip(schedules) {
        outln!("{}", line(row))?;
        let text: String = schedule["text"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(100)
            .collect();
        outln!("  {}", Paint::Dim.paint(colour, &text.replace('\n', " ")))?;
    }
    Ok(())
}
