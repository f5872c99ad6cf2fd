//! The tools: their list with input schemas, and each call turned into one task on the
//! bus (`install` into a plan and, when the whitelist allows, the install). A reply the
//! agent calls an error, a timeout, or a bad argument is a tool result with `isError`.

use std::sync::Arc;
use std::time::Duration;

use b00t_bus::{Outcome, Request, Requester};
use b00t_proto::{Address, Channel, Name};
use rmcp::model::{
    CallToolResult, ContentBlock, JsonObject, ProgressNotificationParam, ProgressToken, Tool,
};
use rmcp::service::{Peer, RoleServer};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::args::{printable, Arguments, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS};
use crate::server::DatumResolver;

/// The orchestrators the deployer has a skill for.
const ORCHESTRATORS: &[&str] = &["compose", "kubernetes", "nomad", "direct"];
/// The deployer's actions.
const DEPLOY_ACTIONS: &[&str] = &["plan", "up", "down", "status"];
/// The container CI agents' skills that only read (the actions go through `send_task`,
/// signed or under `policy.toml`'s `[ci]`).
const CONTAINER_SKILLS: &[&str] = &[
    "ask", "status", "services", "health", "logs", "stats", "diagnose", "optimize",
];
/// Progress messages queued for the client; more are dropped, never the result.
const PROGRESS_QUEUE: usize = 64;
/// The wait for the runtime's agent list.
pub(crate) const AGENTS_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a tool call's progress goes: the client's `progressToken`, when it gave one.
pub(crate) struct Progress {
    pub peer: Peer<RoleServer>,
    pub token: ProgressToken,
}

/// What a tool call needs.
pub(crate) struct Context<'a> {
    pub requester: &'a Requester,
    pub resolve_datum: &'a DatumResolver,
    pub progress: Option<Progress>,
    /// Cancelled when the client cancels the call or the server stops.
    pub cancelled: CancellationToken,
}

/// Every tool, with its input schema.
pub(crate) fn list() -> Vec<Tool> {
    let timeout = json!({"type": "integer", "minimum": crate::MIN_TIMEOUT_MS, "maximum": MAX_TIMEOUT_MS,
        "description": "How long to wait for the final reply, in milliseconds"});
    vec![
        tool(
            "send_task",
            "Send a task to an agent's skill on the b00t bus and wait for its result. The result's text is the agent's reply as JSON; an error reply or no reply in time is a tool error carrying the reply. Progress replies become MCP progress notifications.",
            json!({
                "address": {"type": "string", "pattern": "^b00t\\.[a-z0-9][a-z0-9-]{0,62}\\.[a-z0-9][a-z0-9-]{0,62}$",
                    "description": "b00t.<agent>.<skill>, such as b00t.echo.echo"},
                "body": {"description": "The task's body: any JSON value the skill documents"},
                "timeout_ms": timeout,
            }),
            &["address"],
        ),
        tool(
            "agents",
            "The agents on the bus: each one's card (state, kind, skills, since, last heartbeat), as `b00t agents --json` shows them.",
            json!({}),
            &[],
        ),
        tool(
            "install",
            "Install a datum from the catalog through the installer agent. The call is unsigned, so the operator's whitelist (policy.toml) decides; the plan is asked first and shown, and a refusal names the rule. With dry_run, only the plan.",
            json!({
                "datum": {"type": "string", "description": "The datum's name or id, such as jq or jq.apt"},
                "dry_run": {"type": "boolean", "description": "Only show the plan (default false)"},
                "timeout_ms": timeout,
            }),
            &["datum"],
        ),
        tool(
            "deploy",
            "Plan, deploy, remove or ask the status of a stack or job datum through the deployer agent on an orchestrator. Unsigned: policy.toml decides whether up and down run.",
            json!({
                "datum": {"type": "string", "description": "A stack or job datum"},
                "orchestrator": {"type": "string", "enum": ORCHESTRATORS, "description": "Default compose"},
                "action": {"type": "string", "enum": DEPLOY_ACTIONS, "description": "Default plan"},
                "timeout_ms": timeout,
            }),
            &["datum"],
        ),
        tool(
            "ask_container",
            "Ask a running container's CI agent (b00t.ci-<name>): a question in plain words answered by the local model from the container's facts (skill ask), or one of its reading skills (status, services, health, logs, stats, diagnose, optimize).",
            json!({
                "container": {"type": "string", "description": "The container's agent name, with or without ci- (b00t ci list shows them)"},
                "question": {"type": "string", "description": "The question, for skill ask"},
                "skill": {"type": "string", "enum": CONTAINER_SKILLS, "description": "Default ask"},
                "timeout_ms": timeout,
            }),
            &["container"],
        ),
    ]
}

fn tool(
    name: &'static str,
    description: &'static str,
    properties: Value,
    required: &[&str],
) -> Tool {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), properties);
    schema.insert("required".into(), json!(required));
    schema.insert("additionalProperties".into(), json!(false));
    Tool::new(name, description, Arc::new(schema))
}

/// Runs tool `name`; `None` when there is no such tool.
pub(crate) async fn call(
    name: &str,
    arguments: Option<JsonObject>,
    context: Context<'_>,
) -> Option<CallToolResult> {
    let outcome = match name {
        "send_task" => send_task(arguments, &context).await,
        "agents" => agents(arguments, &context).await,
        "install" => install(arguments, &context).await,
        "deploy" => deploy(arguments, &context).await,
        "ask_container" => ask_container(arguments, &context).await,
        _ => return None,
    };
    Some(match outcome {
        Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(text) => CallToolResult::error(vec![ContentBlock::text(text)]),
    })
}

/// A tool's answer: the text of a success, or of a tool error.
type Answer = Result<String, String>;

async fn send_task(arguments: Option<JsonObject>, context: &Context<'_>) -> Answer {
    let args = Arguments::new("send_task", arguments, &["address", "body", "timeout_ms"])?;
    let address = args.address()?;
    let body = args.body()?;
    let timeout = args.timeout(DEFAULT_TIMEOUT_MS)?;
    let outcome = ask(context, address.clone(), body, timeout).await?;
    final_reply(&address, timeout, outcome)
}

async fn agents(arguments: Option<JsonObject>, context: &Context<'_>) -> Answer {
    Arguments::new("agents", arguments, &[])?;
    let cards = agent_cards(context.requester, &context.cancelled).await?;
    Ok(Value::Array(cards).to_string())
}

/// The agent cards, from the runtime (`b00t.runtime.agents`).
pub(crate) async fn agent_cards(
    requester: &Requester,
    cancelled: &CancellationToken,
) -> Result<Vec<Value>, String> {
    let address = Address::parse("b00t.runtime.agents").expect("a valid address");
    let request = Request {
        ask_again_after: Duration::from_secs(1),
        ..Request::new(address, "mcp", Value::Null, AGENTS_TIMEOUT)
    };
    let outcome = tokio::select! {
        outcome = requester.request(&request, |_, _| {}) => outcome.map_err(|e| format!("the bus failed: {e}"))?,
        () = cancelled.cancelled() => return Err("cancelled".to_owned()),
    };
    match outcome {
        Outcome::Result(reply) => Ok(reply["body"]["agents"]
            .as_array()
            .cloned()
            .unwrap_or_default()),
        Outcome::Error(reply) => Err(reply.to_string()),
        Outcome::Timeout => Err(format!(
            "no runtime answered on `b00t.runtime.agents` within {} ms: start it with `b00t up`",
            AGENTS_TIMEOUT.as_millis()
        )),
    }
}

async fn install(arguments: Option<JsonObject>, context: &Context<'_>) -> Answer {
    let args = Arguments::new("install", arguments, &["datum", "dry_run", "timeout_ms"])?;
    let datum = args.text("datum")?;
    let dry_run = args.flag("dry_run")?;
    let timeout = args.timeout(MAX_TIMEOUT_MS)?;
    let target = (context.resolve_datum)(&datum)?;
    // The plan first: the installer checks the machine and the whitelist.
    let body = json!({"datum": target.datum, "dry_run": true});
    let plan = ask(context, target.address.clone(), body, timeout).await?;
    let plan = final_reply(&target.address, timeout, plan)?;
    let plan_reply: Value = serde_json::from_str(&plan).unwrap_or(Value::Null);
    let verdict = &plan_reply["body"];
    if dry_run {
        return Ok(plan);
    }
    let blocked = verdict["blocked"].as_array().is_some_and(|b| !b.is_empty());
    if verdict["allowed"] == false || blocked {
        return Err(json!({
            "type": "refused",
            "message": format!(
                "`{}` was not installed: {}",
                target.datum,
                verdict["reason"].as_str().unwrap_or("the plan is blocked")
            ),
            "plan": verdict,
        })
        .to_string());
    }
    let todo = verdict["plan"]["nodes"].as_array().map_or(0, |nodes| {
        nodes.iter().filter(|n| n["state"] != "ok").count()
    });
    if todo == 0 {
        return Ok(json!({"type": "result", "message": format!("`{}` is already installed: nothing to do", target.datum), "plan": verdict}).to_string());
    }
    let body = json!({"datum": target.datum, "dry_run": false});
    let outcome = ask(context, target.address.clone(), body, timeout).await?;
    final_reply(&target.address, timeout, outcome)
}

async fn deploy(arguments: Option<JsonObject>, context: &Context<'_>) -> Answer {
    let args = Arguments::new(
        "deploy",
        arguments,
        &["datum", "orchestrator", "action", "timeout_ms"],
    )?;
    let datum = args.text("datum")?;
    let orchestrator = args.name("orchestrator", Some("compose"), ORCHESTRATORS)?;
    let action = args.name("action", Some("plan"), DEPLOY_ACTIONS)?;
    let timeout = args.timeout(MAX_TIMEOUT_MS)?;
    let address = Address::new(Name::parse("deployer").expect("a valid name"), orchestrator);
    let body = json!({"datum": datum, "action": action.as_str()});
    let outcome = ask(context, address.clone(), body, timeout).await?;
    final_reply(&address, timeout, outcome)
}

async fn ask_container(arguments: Option<JsonObject>, context: &Context<'_>) -> Answer {
    let args = Arguments::new(
        "ask_container",
        arguments,
        &["container", "question", "skill", "timeout_ms"],
    )?;
    let container = args.text("container")?;
    let agent = if container.starts_with("ci-") {
        container.clone()
    } else {
        format!("ci-{container}")
    };
    let agent = Name::parse(&agent).map_err(|e| {
        format!(
            "`container` `{}` is not a container agent's name ({e}); `b00t ci list` or the `agents` tool names them (`ci-web`)",
            printable(&container)
        )
    })?;
    let skill = args.name("skill", Some("ask"), CONTAINER_SKILLS)?;
    let question = args.optional_text("question")?;
    let body = match (skill.as_str(), question) {
        ("ask", Some(question)) => json!({ "text": question }),
        ("ask", None) => {
            return Err("`ask_container` with skill `ask` needs the argument `question`".to_owned())
        }
        (_, Some(_)) => {
            return Err(format!(
                "`question` goes with skill `ask` only; skill `{}` takes none",
                skill.as_str()
            ))
        }
        (_, None) => json!({}),
    };
    let timeout = args.timeout(120_000)?;
    let address = Address::new(agent, skill);
    let outcome = ask(context, address.clone(), body, timeout).await?;
    final_reply(&address, timeout, outcome)
}

/// Asks `address` once, forwarding acks and progress as MCP progress notifications.
async fn ask(
    context: &Context<'_>,
    address: Address,
    body: Value,
    timeout: Duration,
) -> Result<Outcome, String> {
    let request = Request::new(address.clone(), "mcp", body, timeout);
    let (steps, mut queued) = mpsc::channel::<String>(PROGRESS_QUEUE);
    let asking = async move {
        let steps = steps;
        context
            .requester
            .request(&request, |channel, reply| {
                let step = match channel {
                    Channel::Ack => format!("acknowledged by `{address}`"),
                    Channel::Progress => reply["step"]
                        .as_str()
                        .map_or_else(|| reply["body"].to_string(), str::to_owned),
                    _ => return,
                };
                // A full queue drops a step: the client is slower than the agent.
                let _ = steps.try_send(step);
            })
            .await
    };
    let forwarding = async {
        let mut count = 0u32;
        while let Some(step) = queued.recv().await {
            count += 1;
            if let Some(progress) = &context.progress {
                let mut params =
                    ProgressNotificationParam::new(progress.token.clone(), f64::from(count));
                params.message = Some(step);
                if let Err(e) = progress.peer.notify_progress(params).await {
                    tracing::debug!("a progress notification was not sent: {e}");
                }
            }
        }
    };
    let both = async { tokio::join!(asking, forwarding).0 };
    tokio::select! {
        outcome = both => outcome.map_err(|e| format!("the bus failed: {e}; is `b00t up` running?")),
        () = context.cancelled.cancelled() => Err("cancelled before the agent answered".to_owned()),
    }
}

/// The tool's answer for how a request ended: the reply JSON, as a success or an error.
fn final_reply(address: &Address, timeout: Duration, outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Result(reply) => Ok(reply.to_string()),
        Outcome::Error(reply) => Err(reply.to_string()),
        Outcome::Timeout => Err(json!({
            "type": "timeout",
            "message": format!(
                "no result from `{address}` within {} ms: is the agent running (the `agents` tool lists them)? A longer `timeout_ms` waits longer",
                timeout.as_millis()
            ),
        })
        .to_string()),
    }
}
