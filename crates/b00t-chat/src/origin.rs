//! The task a chat message becomes and where its answer goes. The body is the group
//! agent's `{"text": …}` plus `chat`: the platform, the chat, the sender and the message
//! (the agent reads only `text` and ignores the rest). The same body, kept in the journal,
//! says after a restart where the answer goes.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where a chat message came from: what the answer needs to find its way back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `telegram`.
    pub platform: String,
    /// The platform's chat id (a number on Telegram).
    pub chat_id: Value,
    pub sender: Sender,
    /// The message to answer.
    pub message_id: Value,
    /// The thread or forum topic, where the platform has one.
    #[serde(default)]
    pub thread_id: Option<Value>,
}

/// Who wrote the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub id: Value,
    pub name: String,
}

/// The task body for `text` from `origin`.
pub fn task_body(text: &str, origin: &Origin) -> Value {
    json!({"text": text, "chat": origin})
}

/// The origin kept in a task body, if it has one.
pub fn origin_of(body: &Value) -> Option<Origin> {
    serde_json::from_value(body.get("chat")?.clone()).ok()
}

/// The chat's text for a final reply: the result's `text`, or a short sentence saying
/// what went wrong (the error's code and message, never more).
pub fn answer_text(agent: &str, reply: &Value) -> String {
    if reply.get("type").and_then(Value::as_str) == Some("error") {
        let message = reply["error"]["message"].as_str().unwrap_or("no message");
        let code = reply["error"]["code"].as_str().unwrap_or("failed");
        return format!(
            "Sorry, `{agent}` could not answer ({code}): {}",
            shorten(message, 400)
        );
    }
    match reply["body"]["text"].as_str() {
        Some(text) if !text.trim().is_empty() => text.to_owned(),
        _ => format!("`{agent}` answered without any text."),
    }
}

/// Whether an error reply says to send the task again later: the agent stopped while it
/// worked on it (a group agent answers `failed`, "… is shutting down: send the task again
/// when it is back"). The protocol has no code for it, so the message is read.
pub fn retry_later(reply: &Value) -> bool {
    reply["error"]["code"].as_str() == Some("failed")
        && reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("is shutting down") && m.contains("send the task again"))
}

/// `text` cut to `max` characters with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_carries_its_origin_back() {
        let origin = Origin {
            platform: "telegram".into(),
            chat_id: json!(-100123),
            sender: Sender {
                id: json!(42),
                name: "Ann".into(),
            },
            message_id: json!(7),
            thread_id: None,
        };
        let body = task_body("hi", &origin);
        assert_eq!(body["text"], "hi");
        assert_eq!(body["chat"]["sender"]["name"], "Ann");
        assert_eq!(origin_of(&body), Some(origin));
        assert_eq!(origin_of(&json!({"text": "x"})), None);
    }

    #[test]
    fn answers_are_the_text_or_what_went_wrong() {
        let result = json!({"type": "result", "body": {"text": "hello"}});
        assert_eq!(answer_text("family", &result), "hello");
        let error = json!({"type": "error", "error": {"code": "failed", "message": "Ollama is not reachable"}});
        assert_eq!(
            answer_text("family", &error),
            "Sorry, `family` could not answer (failed): Ollama is not reachable"
        );
        let empty = json!({"type": "result", "body": {}});
        assert!(answer_text("family", &empty).contains("without any text"));
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert!(!retry_later(&error));
        let stopping = json!({"type": "error", "error": {"code": "failed",
            "message": "the assistant of group `family` is shutting down: send the task again when it is back"}});
        assert!(retry_later(&stopping));
    }
}
