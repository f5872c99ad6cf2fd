//! The tools the model may call, their JSON schemas (sent in each request's `tools`) and
//! what they do: `install` asks the installer (unsigned, so only the policy's whitelist
//! can let it through), `send_message` asks another agent, `schedule` asks the scheduler,
//! `remember` appends to MEMORY.md. A bad call comes back to the model as an error value,
//! never as a failed task.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use b00t_proto::{Address, Name};
use ollama_rs::generation::tools::ToolInfo;
use serde_json::{json, Value};

use crate::memory;
use crate::requester::{Outcome, RequestError, Requester};

/// The datum types the installer has a skill for (`b00t.installer.<type>`).
pub(crate) const DATUM_TYPES: &[&str] = &["apt", "bash", "cli", "docker", "mcp", "stack"];

/// What a tool gives back: a value for the model, or an error `{"code", "message"}`.
pub(crate) type ToolResult = Result<Value, Value>;

/// The tools of one group.
pub(crate) struct Tools {
    pub(crate) group: Name,
    pub(crate) group_dir: PathBuf,
    pub(crate) privileged: bool,
    pub(crate) requester: Requester,
    pub(crate) timeout: Duration,
    /// One `remember` at a time, so that notes never interleave.
    pub(crate) memory: Arc<tokio::sync::Mutex<()>>,
}

impl Tools {
    /// The tool schemas for Ollama's `tools`.
    pub(crate) fn schemas(&self) -> Vec<ToolInfo> {
        let types = DATUM_TYPES.join(", ");
        let mut schedule_properties = json!({
            "text": {"type": "string", "description": "What to do then: the message the assistant will get"},
            "cron": {"type": "string", "description": "A cron expression with five fields, e.g. `0 9 * * *` for 09:00 every day"},
            "every": {"type": "string", "description": "An interval, e.g. `30m`, `2h`, `1d`"},
            "at": {"type": "string", "description": "Once, at this RFC 3339 time, e.g. `2026-12-24T18:00:00Z`"},
            "in": {"type": "string", "description": "Once, after this delay, e.g. `10m`"},
        });
        if self.privileged {
            schedule_properties["group"] = json!({"type": "string", "description": "The group to run it for (this group when absent)"});
        }
        [
            tool(
                "install",
                &format!("Ask b00t's installer to install a datum (a package, tool or service). Name it `<name>.<type>` with type one of {types}, e.g. `jq.apt`. The operator's policy decides: a refusal is final."),
                json!({
                    "type": "object",
                    "properties": {"datum": {"type": "string", "description": format!("The datum id `<name>.<type>`, type one of {types}")}},
                    "required": ["datum"],
                }),
            ),
            tool(
                "send_message",
                "Send a text message to another agent's skill and get its answer.",
                json!({
                    "type": "object",
                    "properties": {
                        "address": {"type": "string", "description": "`b00t.<agent>.<skill>`, e.g. `b00t.family.chat`"},
                        "text": {"type": "string", "description": "The message"},
                    },
                    "required": ["address", "text"],
                }),
            ),
            tool(
                "schedule",
                "Schedule a task for this group: give `text` and exactly one of `cron`, `every`, `at` or `in`.",
                json!({
                    "type": "object",
                    "properties": schedule_properties,
                    "required": ["text"],
                }),
            ),
            tool(
                "remember",
                "Add a note to this group's memory (MEMORY.md), kept for future conversations.",
                json!({
                    "type": "object",
                    "properties": {"text": {"type": "string", "description": "The note, one line or paragraph"}},
                    "required": ["text"],
                }),
            ),
        ]
        .into_iter()
        .collect()
    }

    /// Runs the tool `name` with `arguments`. `asker` is the other agent whose task this
    /// is (a message from `family` to `main`): the tools then act with its rights, not
    /// this group's (no scheduling for other groups), and every task they send says
    /// `on_behalf_of` it, which the scheduler and the installer check.
    pub(crate) async fn call(
        &self,
        name: &str,
        arguments: &Value,
        asker: Option<&str>,
    ) -> ToolResult {
        if !arguments.is_object() {
            return Err(error(
                "bad_request",
                format!("the arguments of `{name}` must be a JSON object"),
            ));
        }
        match name {
            "install" => self.install(arguments, asker).await,
            "send_message" => self.send_message(arguments, asker).await,
            "schedule" => self.schedule(arguments, asker).await,
            "remember" => self.remember(arguments).await,
            other => Err(error(
                "not_found",
                format!("there is no tool `{other}`: the tools are install, send_message, schedule and remember"),
            )),
        }
    }

    async fn install(&self, arguments: &Value, asker: Option<&str>) -> ToolResult {
        let datum = string(arguments, "datum")?;
        let types = DATUM_TYPES.join(", ");
        let valid = datum.len() <= 200
            && datum
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._+-".contains(c));
        if !valid {
            return Err(error(
                "bad_request",
                format!("`{datum}` is not a datum id: lowercase letters, digits, `.`, `_`, `+`, `-`, as `<name>.<type>`"),
            ));
        }
        let Some((base, kind)) = datum
            .rsplit_once('.')
            .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        else {
            return Err(error(
                "bad_request",
                format!("`{datum}` has no type: name the datum as `<name>.<type>` with type one of {types}, e.g. `{datum}.apt`"),
            ));
        };
        if !DATUM_TYPES.contains(&kind) {
            return Err(error(
                "bad_request",
                format!("`{datum}`: the type `{kind}` is not one the installer handles ({types}); name it `{base}.<type>`"),
            ));
        }
        let address = Address::new(name("installer"), name(kind));
        self.ask(&address, json!({"datum": datum}), asker).await
    }

    async fn send_message(&self, arguments: &Value, asker: Option<&str>) -> ToolResult {
        let address = string(arguments, "address")?;
        let text = string(arguments, "text")?;
        let address =
            Address::parse(address.trim()).map_err(|e| error("bad_request", e.to_string()))?;
        if address.agent() == &self.group {
            return Err(error(
                "bad_request",
                format!("`{address}` is this assistant itself: answer directly instead"),
            ));
        }
        self.ask(&address, json!({"text": text}), asker).await
    }

    async fn schedule(&self, arguments: &Value, asker: Option<&str>) -> ToolResult {
        let text = string(arguments, "text")?;
        let timing: Vec<(&str, &str)> = ["cron", "every", "at", "in"]
            .into_iter()
            .filter_map(|key| match &arguments[key] {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                Value::String(s) => Some(Ok((key, s.as_str()))),
                _ => Some(Err(key)),
            })
            .collect::<Result<_, _>>()
            .map_err(|key| error("bad_request", format!("`{key}` must be a string")))?;
        let (key, when) = match timing.as_slice() {
            [one] => *one,
            [] => {
                return Err(error(
                    "bad_request",
                    "say when: give one of `cron` (e.g. `0 9 * * *`), `every` (e.g. `30m`), `at` (RFC 3339) or `in` (e.g. `10m`)",
                ))
            }
            more => {
                let keys: Vec<_> = more.iter().map(|(k, _)| format!("`{k}`")).collect();
                return Err(error(
                    "bad_request",
                    format!("give only one of `cron`, `every`, `at` or `in`, not {}", keys.join(" and ")),
                ));
            }
        };
        let group = match &arguments["group"] {
            Value::Null => self.group.clone(),
            Value::String(g) if g.trim().is_empty() || g.trim() == self.group.as_str() => self.group.clone(),
            Value::String(_) if !self.privileged => {
                return Err(error(
                    "forbidden",
                    format!("only the main group may schedule tasks for another group; leave out `group` to schedule for `{}`", self.group),
                ))
            }
            Value::String(_) if asker.is_some() => {
                return Err(error(
                    "forbidden",
                    format!(
                        "this task came from `{}`, so it cannot schedule for another group; leave out `group`",
                        asker.unwrap_or_default()
                    ),
                ))
            }
            Value::String(g) => Name::parse(g.trim()).map_err(|e| error("bad_request", format!("`group`: {e}")))?,
            _ => return Err(error("bad_request", "`group` must be a string")),
        };
        let mut body = json!({"group": group.as_str(), "text": text});
        body[key] = json!(when.trim());
        let address = Address::new(name("scheduler"), name("add"));
        self.ask(&address, body, asker).await
    }

    async fn remember(&self, arguments: &Value) -> ToolResult {
        let text = string(arguments, "text")?.to_owned();
        let _one_at_a_time = self.memory.lock().await;
        let dir = self.group_dir.clone();
        let written = tokio::task::spawn_blocking(move || memory::append(&dir, &text))
            .await
            .map_err(|e| error("failed", format!("writing the memory: {e}")))?
            .map_err(|e| error("bad_request", e))?;
        Ok(json!({"remembered": written, "file": memory::MEMORY_FILE}))
    }

    /// A task to `address`, its result body or its error as the tool's outcome.
    async fn ask(&self, address: &Address, body: Value, asker: Option<&str>) -> ToolResult {
        match self
            .requester
            .request(address, body, self.timeout, asker)
            .await
        {
            Ok(Outcome::Result(reply)) => Ok(reply["body"].clone()),
            Ok(Outcome::Error(reply)) => Err(match &reply["error"] {
                Value::Object(_) => reply["error"].clone(),
                _ => error(
                    "failed",
                    format!("`{address}` answered an error without details"),
                ),
            }),
            Err(RequestError::Timeout) => Err(error(
                "timeout",
                format!(
                    "no reply from `{address}` within {} s: the agent may be offline or busy",
                    self.timeout.as_secs_f64()
                ),
            )),
            Err(RequestError::Bus(message)) => Err(error(
                "undeliverable",
                format!("cannot reach the bus to ask `{address}`: {message}"),
            )),
            Err(RequestError::Shutdown) => Err(error("failed", "the assistant is shutting down")),
        }
    }
}

/// `name(arguments)` for a progress line: the argument that says the most, cut short.
pub(crate) fn describe(name: &str, arguments: &Value) -> String {
    let key = match name {
        "install" => "datum",
        "send_message" => "address",
        _ => "text",
    };
    let shown = match &arguments[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut cut: String = shown.chars().take(60).collect();
    if cut.len() < shown.len() {
        cut.push('…');
    }
    format!("{name}({cut})")
}

/// `{"code": code, "message": message}`.
pub(crate) fn error(code: &str, message: impl Into<String>) -> Value {
    json!({"code": code, "message": message.into()})
}

fn string<'a>(arguments: &'a Value, key: &str) -> Result<&'a str, Value> {
    match &arguments[key] {
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::String(_) => Err(error("bad_request", format!("`{key}` is empty"))),
        Value::Null => Err(error("bad_request", format!("`{key}` is missing"))),
        other => Err(error(
            "bad_request",
            format!(
                "`{key}` must be a string, not {}",
                b00t_proto::json_kind(other)
            ),
        )),
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("a built-in agent or skill name")
}

fn tool(name: &str, description: &str, parameters: Value) -> ToolInfo {
    serde_json::from_value(json!({
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }))
    .expect("a tool schema is a JSON schema object")
}
