//! The task envelope: parsing a `/task` payload (JSON object or plain text) into a
//! [`Task`], or into a [`Rejection`] that says which error code to answer with and why.

use serde_json::{Map, Value};

use crate::id::TaskId;
use crate::reply::ErrorCode;
use crate::topic::valid_reply_base;

/// A task as received on `b00t.<agent>.<skill>/task`.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id: TaskId,
    /// Where the id came from; a task whose id the receiver made up gets no retries.
    pub source: TaskSource,
    pub from: Option<String>,
    /// Set by an agent that asks because another agent asked it (`main`'s assistant
    /// acting on a message from `family`): whose request it really is. It can only
    /// lower what `from` may do; agents that check rights (the scheduler) honour it.
    pub on_behalf_of: Option<String>,
    pub reply_to: Option<String>,
    pub ts: Option<String>,
    pub body: Value,
}

impl Task {
    /// A task to send, with the sender's own `id` (so it is retried and de-duplicated)
    /// and `ts` now. [`Task::to_envelope`] makes its payload: nobody builds one by hand.
    pub fn outgoing(id: TaskId, from: Option<&str>, reply_to: Option<&str>, body: Value) -> Task {
        Task {
            id,
            source: TaskSource::Json,
            from: from.map(str::to_owned),
            on_behalf_of: None,
            reply_to: reply_to.map(str::to_owned),
            ts: Some(crate::clock::now_rfc3339()),
            body,
        }
    }

    /// The same task, asked on behalf of `requester` (see [`Task::on_behalf_of`]).
    pub fn on_behalf_of(mut self, requester: Option<&str>) -> Task {
        self.on_behalf_of = requester.map(str::to_owned);
        self
    }

    /// The task as a JSON envelope with its id: how the runtime keeps a task that came
    /// without one (plain text, say) for an agent that is starting, so that it is
    /// journaled, retried and executed once like any other.
    pub fn to_envelope(&self) -> Vec<u8> {
        let mut envelope = serde_json::Map::new();
        envelope.insert("id".into(), Value::String(self.id.to_string()));
        for (key, value) in [
            ("from", &self.from),
            ("on_behalf_of", &self.on_behalf_of),
            ("reply_to", &self.reply_to),
            ("ts", &self.ts),
        ] {
            if let Some(value) = value {
                envelope.insert(key.into(), Value::String(value.clone()));
            }
        }
        envelope.insert("body".into(), self.body.clone());
        serde_json::to_vec(&Value::Object(envelope)).expect("a JSON value serializes")
    }
}

/// How the task's id came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSource {
    /// A JSON envelope that named its `id`.
    Json,
    /// A JSON envelope without an `id`: the receiver gave it one.
    JsonWithoutId,
    /// A payload that does not start with `{`: the body is `{"text": …}`.
    PlainText,
}

impl TaskSource {
    /// Whether the sender chose the id, so that acks, retries and de-duplication apply.
    pub fn id_is_senders(self) -> bool {
        matches!(self, TaskSource::Json)
    }
}

/// A payload that is not a valid task, with what is known of it to route the error.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    /// The task's own id when it could be read, else a fresh one.
    pub id: TaskId,
    /// The task's `reply_to` when it could be read.
    pub reply_to: Option<String>,
}

/// Parses a `/task` payload. `max_payload` is the configured size limit in bytes.
pub fn parse_task(payload: &[u8], max_payload: usize) -> Result<Task, Rejection> {
    let reject = |code, message: String| Rejection {
        code,
        message,
        id: TaskId::fresh("b00t"),
        reply_to: None,
    };
    if payload.len() > max_payload {
        return Err(reject(
            ErrorCode::TooLarge,
            format!(
                "payload is {} bytes, over the limit of {max_payload} bytes: send less, or raise `[broker] max_payload_bytes` in b00t.toml",
                payload.len()
            ),
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| {
        reject(
            ErrorCode::BadRequest,
            format!(
                "payload is not UTF-8 (invalid byte at offset {}): send a UTF-8 JSON object or text",
                e.valid_up_to()
            ),
        )
    })?;
    if !text.trim_start().starts_with('{') {
        if text.trim().is_empty() {
            return Err(reject(
                ErrorCode::BadRequest,
                "payload is empty: send a JSON object such as {\"id\":\"t-1\",\"body\":{}} or plain text".into(),
            ));
        }
        return Ok(Task {
            id: TaskId::fresh("txt"),
            source: TaskSource::PlainText,
            from: None,
            on_behalf_of: None,
            reply_to: None,
            ts: None,
            body: serde_json::json!({ "text": text }),
        });
    }
    let object: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
        reject(
            ErrorCode::BadRequest,
            format!(
                "invalid JSON at line {} column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            ),
        )
    })?;
    envelope(object)
}

fn envelope(mut object: Map<String, Value>) -> Result<Task, Rejection> {
    // Read the routing fields first, so that a rejection of any other field reaches the
    // sender's own reply topic under the sender's own id.
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(TaskId::parse(&s).map_err(|e| Rejection {
            code: ErrorCode::BadRequest,
            message: e.to_string(),
            id: TaskId::fresh("b00t"),
            reply_to: reply_to_if_valid(&object),
        })?),
        Some(other) => {
            return Err(Rejection {
                code: ErrorCode::BadRequest,
                message: format!(
                    "field `id` must be a string, got {}: for example \"id\": \"t-42\"",
                    json_kind(&other)
                ),
                id: TaskId::fresh("b00t"),
                reply_to: reply_to_if_valid(&object),
            })
        }
    };
    let reply_to = reply_to_if_valid(&object);
    let (source, id) = match id {
        Some(id) => (TaskSource::Json, id),
        None => (TaskSource::JsonWithoutId, TaskId::fresh("b00t")),
    };
    let reject = |message: String| Rejection {
        code: ErrorCode::BadRequest,
        message,
        id: id.clone(),
        reply_to: reply_to.clone(),
    };
    if let Some(value) = object.get("reply_to") {
        if !value.is_null() && reply_to.is_none() {
            return Err(reject(match value {
                Value::String(s) => format!(
                    "field `reply_to` is `{s}`, not a topic base: no `+`, `#`, NUL or leading `$`, at most 512 bytes"
                ),
                other => format!("field `reply_to` must be a string, got {}", json_kind(other)),
            }));
        }
    }
    let from = optional_string(&object, "from").map_err(reject)?;
    let on_behalf_of = optional_string(&object, "on_behalf_of").map_err(reject)?;
    let ts = optional_string(&object, "ts").map_err(reject)?;
    let body = object.remove("body").unwrap_or(Value::Null);
    Ok(Task {
        id,
        source,
        from,
        on_behalf_of,
        reply_to,
        ts,
        body,
    })
}

fn reply_to_if_valid(object: &Map<String, Value>) -> Option<String> {
    match object.get("reply_to") {
        Some(Value::String(s)) if valid_reply_base(s) => Some(s.clone()),
        _ => None,
    }
}

fn optional_string(object: &Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!(
            "field `{field}` must be a string, got {}",
            json_kind(other)
        )),
    }
}

/// How a JSON value's type reads in an error message: "a string", "an array", "null".
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json appends " at line L column C"; the message states the position itself.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: usize = 1024;

    fn ok(payload: &str) -> Task {
        parse_task(payload.as_bytes(), MAX).unwrap()
    }

    fn rejected(payload: &[u8]) -> Rejection {
        parse_task(payload, MAX).unwrap_err()
    }

    #[test]
    fn full_envelope() {
        let t = ok(
            r#"{"id":"t-42","from":"cli","reply_to":"b00t.cli-7f3a.reply","ts":"2026-11-20T10:00:00Z","body":{"datum":"jq"}}"#,
        );
        assert_eq!(t.id.as_str(), "t-42");
        assert_eq!(t.source, TaskSource::Json);
        assert_eq!(t.from.as_deref(), Some("cli"));
        assert_eq!(t.reply_to.as_deref(), Some("b00t.cli-7f3a.reply"));
        assert_eq!(t.body, json!({"datum": "jq"}));
    }

    #[test]
    fn missing_id_gets_a_fresh_one() {
        let t = ok(r#"{"body": 1}"#);
        assert_eq!(t.source, TaskSource::JsonWithoutId);
        assert!(!t.source.id_is_senders());
        assert_eq!(t.body, json!(1));
    }

    #[test]
    fn plain_text() {
        let t = ok("hello world");
        assert_eq!(t.source, TaskSource::PlainText);
        assert_eq!(t.body, json!({"text": "hello world"}));
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        let cases: [(&[u8], ErrorCode, &str); 7] = [
            (
                b"{\"id\": ",
                ErrorCode::BadRequest,
                "invalid JSON at line 1",
            ),
            (b"\xff\xfe", ErrorCode::BadRequest, "not UTF-8"),
            (
                b"{\"id\": 5}",
                ErrorCode::BadRequest,
                "field `id` must be a string",
            ),
            (
                b"{\"id\": \"a b\"}",
                ErrorCode::BadRequest,
                "field `id` must be 1 to 128",
            ),
            (
                b"{\"id\":\"x\",\"reply_to\": 3}",
                ErrorCode::BadRequest,
                "field `reply_to` must be a string",
            ),
            (
                b"{\"id\":\"x\",\"from\": []}",
                ErrorCode::BadRequest,
                "field `from` must be a string, got an array",
            ),
            (b"   ", ErrorCode::BadRequest, "payload is empty"),
        ];
        for (payload, code, needle) in cases {
            let r = rejected(payload);
            assert_eq!(r.code, code, "{payload:?}");
            assert!(r.message.contains(needle), "{payload:?}: {}", r.message);
        }
    }

    #[test]
    fn rejection_keeps_routing_fields() {
        let r = rejected(br#"{"id":"t-1","reply_to":"r/1","ts":5}"#);
        assert_eq!(r.id.as_str(), "t-1");
        assert_eq!(r.reply_to.as_deref(), Some("r/1"));
        let r = rejected(br#"{"id":7,"reply_to":"r/1"}"#);
        assert_eq!(r.reply_to.as_deref(), Some("r/1"));
    }

    #[test]
    fn too_large() {
        let big = vec![b'a'; MAX + 1];
        let r = rejected(&big);
        assert_eq!(r.code, ErrorCode::TooLarge);
        assert!(r.message.contains("1025 bytes"), "{}", r.message);
    }

    #[test]
    fn a_plain_text_task_becomes_an_envelope_that_parses_back_with_its_id() {
        let task = parse_task(b"hello there", 1024).unwrap();
        let again = parse_task(&task.to_envelope(), 1024).unwrap();
        assert_eq!(again.id, task.id);
        assert_eq!(again.source, TaskSource::Json);
        assert_eq!(again.body, serde_json::json!({"text": "hello there"}));
        let task = parse_task(
            br#"{"from":"x","reply_to":"b00t.x.reply","body":[1]}"#,
            1024,
        )
        .unwrap();
        let again = parse_task(&task.to_envelope(), 1024).unwrap();
        assert_eq!(
            (again.from.as_deref(), again.reply_to.as_deref()),
            (Some("x"), Some("b00t.x.reply"))
        );
        assert_eq!(again.body, serde_json::json!([1]));
    }
}
