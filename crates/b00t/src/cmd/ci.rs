//! `b00t ci list`: the container CI agents and the containers they answer for, from the
//! runtime's presence table (or the retained cards): agent, container, short id, image
//! and state; `--json` prints one object per agent. `b00t ci ask <container> <question>`
//! and `b00t ci restart|stop|start <container>` find the container's agent in that list
//! and send it the task through the bus like `b00t send`; the actions are signed with the
//! operator key, as `b00t install` signs. Exit 0 on a result, 1 on an error reply (or an
//! answer the model could not give), 2 on a timeout or `undeliverable`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use b00t_config::Home;
use b00t_installer::OperatorKey;
use b00t_proto::{Address, Name};
use serde_json::{json, Value};

use crate::cli::{AgentsArgs, BrokerArg, CiActionArgs, CiAskArgs, HomeArg};
use crate::request::{self, Outcome};

pub(super) async fn list(args: AgentsArgs) -> anyhow::Result<ExitCode> {
    let agents =
        super::agents::list(args.home.home.as_deref(), args.broker.broker.as_deref()).await?;
    let ci: Vec<&Value> = agents
        .iter()
        .filter(|a| a["kind"] == b00t_runtime::ci::KIND)
        .collect();
    if args.json {
        for agent in ci {
            let container = &agent["container"];
            outln!(
                "{}",
                serde_json::json!({
                    "agent": agent["agent"],
                    "state": agent["state"],
                    "container": container["name"],
                    "id": container["id"],
                    "image": container["image"],
                })
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if ci.is_empty() {
        outln!("no container CI agents: no container is running, or `[ci] enabled = false`, or no Docker engine answers `b00t up`")?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| crate::printable::printable(v.as_str().unwrap_or("-")).into_owned();
    let rows: Vec<[String; 5]> = ci
        .iter()
        .map(|a| {
            let c = &a["container"];
            let id = text(&c["id"]);
            [
                text(&a["agent"]),
                text(&c["name"]),
                id.chars().take(12).collect(),
                text(&c["image"]),
                text(&a["state"]),
            ]
        })
        .collect();
    let header = ["AGENT", "CONTAINER", "ID", "IMAGE", "STATE"];
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 4 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out
    };
    outln!("{}", line(header))?;
    for r in &rows {
        outln!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn ask(args: CiAskArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let timeout = match args.timeout {
        Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        Some(secs) => anyhow::bail!("`--timeout {secs}` must be a positive number of seconds"),
        None => home.config().assistant.ollama_timeout() + Duration::from_secs(30),
    };
    let agent = agent_of(&args.home, &args.broker, &args.container).await?;
    let body = json!({"text": args.question.join(" ")});
    let outcome = send(
        &home,
        &args.broker,
        &agent,
        "ask",
        Body::Plain(body),
        timeout,
        args.json,
    )
    .await?;
    let Outcome::Result(reply) = outcome else {
        return failed(outcome, &agent, "ask", timeout, args.json);
    };
    let body = &reply["body"];
    if args.json {
        outln!("{body}")?;
    }
    match body["text"].as_str() {
        Some(text) => {
            if !args.json {
                outln!("{text}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if !args.json {
                errln!(
                    "{} the model did not answer: {}\nhint: `b00t ci ask --json` prints the facts the agent gathered all the same",
                    crate::style::error_label(),
                    body["error"].as_str().unwrap_or("no reason given")
                );
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// `restart`, `stop` or `start`, signed with the operator key.
pub(super) async fn act(args: CiActionArgs, action: &str) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let key = OperatorKey::load_or_create(&home.operator_key_file())?;
    let agent = agent_of(&args.home, &args.broker, &args.container).await?;
    let mut body = json!({});
    if let Some(grace) = args.grace.filter(|_| action != "start") {
        body["grace_s"] = json!(grace);
    }
    let timeout = Duration::from_secs(60 + args.grace.unwrap_or(10));
    let body = Body::Signed(body, &key);
    let outcome = send(
        &home,
        &args.broker,
        &agent,
        action,
        body,
        timeout,
        args.json,
    )
    .await?;
    let Outcome::Result(reply) = outcome else {
        return failed(outcome, &agent, action, timeout, args.json);
    };
    let body = &reply["body"];
    if args.json {
        outln!("{body}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let after = &body["after"];
    let done = match action {
        "restart" => "restarted",
        "stop" => "stopped",
        _ => "started",
    };
    outln!(
        "{done} `{}`: now {}{}",
        body["container"]["name"]
            .as_str()
            .unwrap_or(&args.container),
        after["state"].as_str().unwrap_or("?"),
        after["started_at"]
            .as_str()
            .filter(|_| after["running"] == true)
            .map(|at| format!(", started {at}"))
            .unwrap_or_default()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The agent that answers for `container`, from the agents' list.
async fn agent_of(home: &HomeArg, broker: &BrokerArg, container: &str) -> anyhow::Result<String> {
    let agents = super::agents::list(home.home.as_deref(), broker.broker.as_deref()).await?;
    resolve(&agents, container)
}

/// The container CI agent among `agents` for `container`: the container's name, the
/// agent's name (`ci-web`, or `web` for `ci-web`), or the start of the container's id
/// (at least 4 hex digits, naming one container).
fn resolve(agents: &[Value], container: &str) -> anyhow::Result<String> {
    let ci: Vec<&Value> = agents
        .iter()
        .filter(|a| a["kind"] == b00t_runtime::ci::KIND)
        .collect();
    let agent = |a: &Value| a["agent"].as_str().unwrap_or_default().to_owned();
    let by = |test: &dyn Fn(&Value) -> bool| {
        ci.iter()
            .copied()
            .filter(|a| test(a))
            .map(agent)
            .collect::<Vec<_>>()
    };
    let candidates = [
        by(&|a| a["container"]["name"] == container),
        by(&|a| a["agent"] == container || a["agent"] == format!("ci-{container}").as_str()),
        if container.len() >= 4 && container.chars().all(|c| c.is_ascii_hexdigit()) {
            by(&|a| {
                a["container"]["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(container))
            })
        } else {
            Vec::new()
        },
    ];
    for found in candidates {
        match found.as_slice() {
            [] => continue,
            [one] => return Ok(one.clone()),
            many => anyhow::bail!(
                "`{container}` names more than one container CI agent ({}): give the container's full name",
                many.join(", ")
            ),
        }
    }
    let mut names: Vec<String> = ci
        .iter()
        .filter_map(|a| a["container"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    if names.is_empty() {
        anyhow::bail!("no container CI agent answers for `{container}`: there are none on the bus (is `b00t up` running, with a Docker engine and `[ci] enabled`?)");
    }
    anyhow::bail!(
        "no container CI agent answers for `{container}`; the containers with agents: {} (`b00t ci list` shows them)",
        names.join(", ")
    )
}

/// A task's body, as sent or signed by the operator for the task's address and id.
enum Body<'k> {
    Plain(Value),
    Signed(Value, &'k OperatorKey),
}

/// Sends `body` to `b00t.<agent>.<skill>` and follows its replies (progress on stderr
/// unless `json`) to the outcome, which the caller prints.
async fn send(
    home: &Home,
    broker: &BrokerArg,
    agent: &str,
    skill: &str,
    body: Body<'_>,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<Outcome> {
    let address = Address::new(
        Name::parse(agent).with_context(|| format!("the agent name `{agent}`"))?,
        Name::parse(skill).expect("a valid skill name"),
    );
    let (body, key) = match body {
        Body::Plain(body) => (body, None),
        Body::Signed(body, key) => (body, Some(key)),
    };
    request::ask_once(
        home,
        broker.broker.as_deref(),
        "ci",
        request::Ask {
            address,
            body,
            key,
            timeout,
        },
        |channel, reply| {
            if !json {
                request::show_progress(channel, reply);
            }
        },
    )
    .await
}

/// An error reply or no reply, said once; the exit code `b00t send` would give.
fn failed(
    outcome: Outcome,
    agent: &str,
    skill: &str,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    request::exit_on(
        outcome,
        || {
            format!(
                "no answer from `b00t.{agent}.{skill}` within {:.1} s: is the container's agent online? `b00t ci list` shows them",
                timeout.as_secs_f64()
            )
        },
        json,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<Value> {
        let ci = |agent: &str, name: &str, id: &str| {
            json!({"agent": agent, "kind": "container-ci", "state": "online",
                   "container": {"id": id, "name": name, "image": "busybox"}})
        };
        vec![
            ci("ci-web", "web", "abcdef0123"),
            ci("ci-web-2", "Web_2", "abc99"),
            ci("ci-db", "db", "fedcba"),
            json!({"agent": "echo", "kind": "echo", "state": "online"}),
        ]
    }

    fn check(container: &str, expected: Result<&str, &str>) {
        match (resolve(&agents(), container), expected) {
            (Ok(agent), Ok(want)) => assert_eq!(agent, want, "{container}"),
            (Err(e), Err(needle)) => {
                let e = e.to_string();
                assert!(e.contains(needle), "{container}: {e}");
            }
            (got, want) => panic!("{container}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn containers_resolve_to_their_agents() {
        check("web", Ok("ci-web"));
        check("Web_2", Ok("ci-web-2"));
        check("ci-db", Ok("ci-db"));
        check("web-2", Ok("ci-web-2"));
        check("fedc", Ok("ci-db"));
        check("abcd", Ok("ci-web"));
        check("abc", Err("no container CI agent answers for `abc`"));
        check("echo", Err("the containers with agents: Web_2, db, web"));
        check("abc9", Ok("ci-web-2"));
        let same_prefix = [
            json!({"agent": "ci-a", "kind": "container-ci", "container": {"id": "1234aa", "name": "a"}}),
            json!({"agent": "ci-b", "kind": "container-ci", "container": {"id": "1234bb", "name": "b"}}),
        ];
        let e = resolve(&same_prefix, "1234").unwrap_err().to_string();
        assert!(
            e.contains("more than one") && e.contains("ci-a, ci-b"),
            "{e}"
        );
        let e = resolve(&[], "web").unwrap_err().to_string();
        assert!(e.contains("there are none on the bus"), "{e}");
    }
}
