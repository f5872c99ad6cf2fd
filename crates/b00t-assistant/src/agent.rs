//! The group assistant as an [`AgentSpec`]: [`spec`] checks the options, loads the
//! history, starts watching `.skills/`, and returns an agent whose handler answers each
//! task with the model, running the tools it asks for (at most `max_tool_rounds` rounds),
//! within the task timeout.

use std::path::PathBuf;
use std::sync::Arc;

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, TaskContext};
use b00t_proto::{json_kind, ErrorCode, Name};
use ollama_rs::generation::chat::ChatMessage;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::history::{History, Turn};
use crate::llm::Llm;
use crate::prompt::{system_prompt, PromptParts};
use crate::requester::Requester;
use crate::skills::{self, SKILLS_DIR};
use crate::tools::{self, Tools};
use crate::{AssistantError, AssistantOptions};

/// The kind on a group agent's presence card.
pub const KIND: &str = "assistant";

/// Builds the agent of `options.group`. Must be called inside a tokio runtime (it starts
/// the `.skills/` watch, which ends with `shutdown`). The skills are `chat` plus one per
/// valid skill in `<group_dir>/.skills/`, updated live through the spec's
/// `skill_updates`.
pub fn spec(
    options: AssistantOptions,
    shutdown: CancellationToken,
) -> Result<AgentSpec, AssistantError> {
    let group = options.group.clone();
    check(&options)?;
    let llm = Llm::new(&options.ollama_url, &options.model, options.ollama_timeout).map_err(
        |e| match e {
            AssistantError::NoModel { .. } => AssistantError::NoModel {
                group: group.to_string(),
            },
            other => other,
        },
    )?;
    let skills_dir = options.group_dir.join(SKILLS_DIR);
    let updates = skills::watch_names(&group, skills_dir.clone(), shutdown.child_token())?;
    let initial = updates.borrow().clone();
    let history = History::load(&options.group_dir, options.history_turns);
    let tools = Tools {
        group: group.clone(),
        group_dir: options.group_dir.clone(),
        privileged: options.privileged,
        requester: Requester::new(options.bus.clone(), group.clone(), shutdown.clone()),
        timeout: options.tool_timeout,
        memory: Arc::new(tokio::sync::Mutex::new(())),
    };
    let inner = Inner {
        llm,
        history: Arc::new(history),
        tools,
        skills_dir,
        shutdown,
        last_turn: std::sync::Mutex::new(None),
        options,
    };
    Ok(
        AgentSpec::new(group, KIND, initial, Arc::new(Assistant(Arc::new(inner))))
            .with_skill_updates(updates),
    )
}

fn check(options: &AssistantOptions) -> Result<(), AssistantError> {
    let group = options.group.to_string();
    if !options.group_dir.is_dir() {
        return Err(AssistantError::NoGroupDir {
            group,
            path: options.group_dir.clone(),
        });
    }
    if options.bus.client_id != format!("b00t-tools-{group}") {
        return Err(AssistantError::ClientId {
            client_id: options.bus.client_id.clone(),
            group,
        });
    }
    let zero = |setting| AssistantError::Zero {
        group: group.clone(),
        setting,
    };
    if options.ollama_timeout.is_zero() {
        return Err(zero("ollama_timeout"));
    }
    if options.task_timeout.is_zero() {
        return Err(zero("task_timeout"));
    }
    if options.tool_timeout.is_zero() {
        return Err(zero("tool_timeout"));
    }
    if options.max_output_bytes == 0 {
        return Err(zero("max_output_bytes"));
    }
    Ok(())
}

struct Assistant(Arc<Inner>);

struct Inner {
    options: AssistantOptions,
    llm: Llm,
    history: Arc<History>,
    tools: Tools,
    skills_dir: PathBuf,
    /// The agent's stop: a task in progress ends with a `failed` reply.
    shutdown: CancellationToken,
    /// One conversation, one turn at a time, in the order tasks came: each task waits for
    /// the one before it (its receiver) and releases the next when it ends.
    last_turn: std::sync::Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
}

impl Handler for Assistant {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let inner = self.0.clone();
        // Called in the order tasks arrive: take a place in the line now.
        let (done, mine) = tokio::sync::oneshot::channel::<()>();
        let before = inner.last_turn.lock().expect("turn lock").replace(mine);
        Box::pin(async move {
            let _done = done;
            let limit = inner.options.task_timeout;
            tokio::select! {
                _ = inner.shutdown.cancelled() => Err(Failure::new(
                    ErrorCode::Failed,
                    format!("the assistant of group `{}` is shutting down: send the task again when it is back", ctx.agent),
                )),
                outcome = async {
                    if let Some(before) = before {
                        // Err: the task before ended (its sender dropped), as it should.
                        let _ = before.await;
                    }
                    tokio::time::timeout(limit, inner.answer(&ctx)).await
                } => match outcome {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Failure::new(
                        ErrorCode::Timeout,
                        format!(
                            "the assistant of group `{}` did not finish task `{}` within {} s: ask something simpler, or raise the task timeout",
                            ctx.agent, ctx.task.id, limit.as_secs_f64()
                        ),
                    )),
                },
            }
        })
    }
}

/// The other agent whose request a task is, by its verified `from`: `None` for the
/// group itself, the operator and its CLI, the scheduler and the runtime (their tasks
/// carry this group's own rights); any other sender, another group or a chat bridge,
/// is asking for itself.
fn asker<'a>(from: Option<&'a str>, group: &str) -> Option<&'a str> {
    const OWN_RIGHTS: [&str; 4] = ["operator", "cli", "scheduler", "runtime"];
    from.filter(|f| *f != group && !OWN_RIGHTS.contains(f))
}

impl Inner {
    async fn answer(&self, ctx: &TaskContext) -> Result<Value, Failure> {
        let text = task_text(&ctx.task.body)?;
        let mut messages = vec![ChatMessage::system(self.prompt(&ctx.skill).await?)];
        for turn in self.history.snapshot() {
            messages.push(ChatMessage::user(turn.user));
            messages.push(ChatMessage::assistant(turn.assistant));
        }
        messages.push(ChatMessage::user(text.clone()));

        let schemas = self.tools.schemas();
        let max = self.options.max_tool_rounds;
        let mut calls_made: Vec<Value> = Vec::new();
        let mut rounds = 0u32;
        // Time spent waiting for the model, reported so that the rest (the bus, the
        // prompt, the tools) can be measured on its own.
        let mut llm_time = std::time::Duration::ZERO;
        let reply = loop {
            let offer_tools = rounds < max;
            let tools = if offer_tools {
                schemas.clone()
            } else {
                Vec::new()
            };
            let asked = std::time::Instant::now();
            let message = self.llm.chat(messages.clone(), tools).await?;
            llm_time += asked.elapsed();
            if message.tool_calls.is_empty() {
                break message.content;
            }
            if !offer_tools {
                return Err(Failure::new(
                    ErrorCode::Failed,
                    format!(
                        "the model `{}` still asked for tools after {max} rounds of tool calls: ask something simpler, or raise `[assistant] max_tool_rounds`",
                        self.llm.model()
                    ),
                )
                .with_detail(json!({"tool_calls": calls_made})));
            }
            rounds += 1;
            messages.push(message.clone());
            for call in &message.tool_calls {
                let name = call.function.name.as_str();
                let arguments = arguments_object(&call.function.arguments);
                ctx.progress
                    .step(
                        &format!("calling {}", tools::describe(name, &arguments)),
                        Some(u64::from(rounds)),
                        Some(u64::from(max)),
                    )
                    .await;
                let asker = asker(ctx.task.from.as_deref(), ctx.agent.as_str());
                let outcome = self.tools.call(name, &arguments, asker).await;
                let (record, for_model) = match &outcome {
                    Ok(result) => (
                        json!({"name": name, "arguments": arguments, "ok": true, "result": result}),
                        json!({"ok": true, "result": result}),
                    ),
                    Err(error) => (
                        json!({"name": name, "arguments": arguments, "ok": false, "error": error}),
                        json!({"ok": false, "error": error}),
                    ),
                };
                tracing::info!(agent = %ctx.agent, task = %ctx.task.id, tool = name, ok = outcome.is_ok(), "tool call");
                calls_made.push(record);
                messages.push(ChatMessage::tool(for_model.to_string()));
            }
            if rounds == max {
                messages.push(ChatMessage::system(format!(
                    "The limit of {max} rounds of tool calls is reached: answer the user now, without tools."
                )));
            }
        };

        let (reply, truncated) = cut(reply, self.options.max_output_bytes);
        let turn = Turn {
            ts: b00t_proto::clock::now_rfc3339(),
            user: text,
            assistant: reply.clone(),
        };
        let history = self.history.clone();
        match tokio::task::spawn_blocking(move || history.push(turn)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(agent = %ctx.agent, "{e}"),
            Err(e) => tracing::warn!(agent = %ctx.agent, "saving the history failed: {e}"),
        }
        let mut body = json!({
            "text": reply,
            "model": self.llm.model(),
            "llm_ms": (llm_time.as_secs_f64() * 1e6).round() / 1e3,
            "tool_calls": calls_made,
        });
        if truncated {
            body["truncated"] = json!(true);
        }
        Ok(body)
    }

    /// The system prompt for a task on `skill`, from the files as they are now.
    async fn prompt(&self, skill: &Name) -> Result<String, Failure> {
        let skills_dir = self.skills_dir.clone();
        let group_dir = self.options.group_dir.clone();
        let global_dir = self.options.global_dir.clone();
        let assistant_name = self.options.assistant_name.clone();
        let group = self.options.group.clone();
        let privileged = self.options.privileged;
        let skill = skill.clone();
        let built = tokio::task::spawn_blocking(move || {
            let all = skills::load(&skills_dir);
            let current = if skill.as_str() == skills::CHAT {
                None
            } else {
                match all.iter().find(|s| s.name == skill) {
                    Some(found) => Some(found),
                    None => {
                        return Err(Failure::new(
                            ErrorCode::NotFound,
                            format!(
                                "the skill `{skill}` is no longer in group `{group}` (`{}`): it was removed; use `b00t.{group}.chat`",
                                skills_dir.display()
                            ),
                        ))
                    }
                }
            };
            Ok(system_prompt(&PromptParts {
                assistant_name: &assistant_name,
                group: &group,
                privileged,
                group_dir: &group_dir,
                global_dir: global_dir.as_deref(),
                skills: &all,
                current,
            }))
        })
        .await;
        match built {
            Ok(prompt) => prompt,
            Err(e) => Err(Failure::new(
                ErrorCode::Failed,
                format!("building the prompt failed: {e}"),
            )),
        }
    }
}

/// The `text` of a chat task's body.
fn task_text(body: &Value) -> Result<String, Failure> {
    let bad = |message: String| Failure::new(ErrorCode::BadRequest, message);
    let Value::Object(object) = body else {
        return Err(bad(format!(
            "the body of a chat task must be an object like {{\"text\": \"hello\"}} (or plain text), not {}",
            json_kind(body)
        )));
    };
    match object.get("text") {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.clone()),
        Some(Value::String(_)) => Err(bad(
            "field `text` is empty: say something, e.g. {\"text\": \"hello\"}".to_owned(),
        )),
        None | Some(Value::Null) => Err(bad(
            "field `text` is missing: send {\"text\": \"hello\"}".to_owned()
        )),
        Some(other) => Err(bad(format!(
            "field `text` must be a string, not {}",
            json_kind(other)
        ))),
    }
}

/// Tool arguments as an object: some models send them as a JSON string.
fn arguments_object(arguments: &Value) -> Value {
    match arguments {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| arguments.clone()),
        Value::Null => json!({}),
        other => other.clone(),
    }
}

/// `text` cut to `max` bytes (on a character boundary) with a note, and whether it was.
fn cut(text: String, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let note = format!("\n[the reply was cut at {max} bytes]");
    let mut end = max.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{note}", &text[..end]), true)
}

#[cfg(test)]
mod tests {

    #[test]
    fn another_agents_task_is_its_request() {
        assert_eq!(asker(Some("family"), "main"), Some("family"));
        assert_eq!(asker(Some("telegram:42"), "main"), Some("telegram:42"));
        for own in [
            None,
            Some("main"),
            Some("operator"),
            Some("cli"),
            Some("scheduler"),
        ] {
            assert_eq!(asker(own, "main"), None, "{own:?}");
        }
    }

    use super::*;

    #[test]
    fn task_bodies_are_checked() {
        assert_eq!(task_text(&json!({"text": "hi"})).unwrap(), "hi");
        for (body, needle) in [
            (json!({}), "field `text` is missing"),
            (
                json!({"text": 5}),
                "field `text` must be a string, not a number",
            ),
            (json!({"text": "  "}), "field `text` is empty"),
            (json!("hi"), "must be an object"),
        ] {
            let failure = task_text(&body).unwrap_err();
            assert_eq!(failure.code, ErrorCode::BadRequest);
            assert!(
                failure.message.contains(needle),
                "{body}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn long_replies_are_cut_with_a_note() {
        assert_eq!(cut("short".into(), 100), ("short".to_owned(), false));
        let (text, cut_) = cut("é".repeat(100), 60);
        assert!(cut_);
        assert!(text.len() <= 60, "{}", text.len());
        assert!(text.ends_with("[the reply was cut at 60 bytes]"));
    }

    #[test]
    fn string_arguments_are_parsed() {
        assert_eq!(
            arguments_object(&json!("{\"datum\":\"jq.apt\"}")),
            json!({"datum": "jq.apt"})
        );
        assert_eq!(arguments_object(&json!(null)), json!({}));
        assert_eq!(arguments_object(&json!("nonsense")), json!("nonsense"));
    }
}
