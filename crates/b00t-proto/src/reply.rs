//! Replies to a task: `ack`, `progress`, `result` and `error`, each carrying the task's
//! `id` and the `agent` and `skill` that answered; and the protocol's error codes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error code from the protocol's closed list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Forbidden,
    TooLarge,
    Timeout,
    Failed,
    Undeliverable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Failed => "failed",
            ErrorCode::Undeliverable => "undeliverable",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"code": …, "message": …}` inside an error reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    /// Structured detail for programs (the installer's installed/skipped/failed lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// A reply as it travels on `/ack`, `/progress`, `/result` or `/error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Reply {
    Ack {
        id: String,
        agent: String,
        skill: String,
        ts: String,
    },
    Progress {
        id: String,
        agent: String,
        skill: String,
        step: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        n: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<u64>,
        /// One line of a child process's output, when the event carries one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        ts: String,
    },
    Result {
        id: String,
        agent: String,
        skill: String,
        ok: bool,
        body: Value,
        ms: u64,
        ts: String,
    },
    Error {
        id: String,
        agent: String,
        skill: String,
        ok: bool,
        error: ErrorBody,
        ts: String,
    },
}

impl Reply {
    pub fn ack(id: &str, agent: &str, skill: &str) -> Reply {
        Reply::Ack {
            id: id.into(),
            agent: agent.into(),
            skill: skill.into(),
            ts: crate::clock::now_rfc3339(),
        }
    }

    pub fn result(id: &str, agent: &str, skill: &str, body: Value, ms: u64) -> Reply {
        Reply::Result {
            id: id.into(),
            agent: agent.into(),
            skill: skill.into(),
            ok: true,
            body,
            ms,
            ts: crate::clock::now_rfc3339(),
        }
    }

    pub fn error(id: &str, agent: &str, skill: &str, code: ErrorCode, message: String) -> Reply {
        Reply::error_with(id, agent, skill, code, message, None)
    }

    /// An error reply with structured `detail` beside the message.
    pub fn error_with(
        id: &str,
        agent: &str,
        skill: &str,
        code: ErrorCode,
        message: String,
        detail: Option<Value>,
    ) -> Reply {
        Reply::Error {
            id: id.into(),
            agent: agent.into(),
            skill: skill.into(),
            ok: false,
            error: ErrorBody {
                code,
                message,
                detail,
            },
            ts: crate::clock::now_rfc3339(),
        }
    }

    /// The channel this reply travels on.
    pub fn channel(&self) -> crate::Channel {
        match self {
            Reply::Ack { .. } => crate::Channel::Ack,
            Reply::Progress { .. } => crate::Channel::Progress,
            Reply::Result { .. } => crate::Channel::Result,
            Reply::Error { .. } => crate::Channel::Error,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a reply always serializes")
    }
}

/// The fields every reply shares, read without the rest: what the runtime needs to match a
/// reply to its task.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ReplyHead {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub agent: String,
    pub skill: String,
}

impl ReplyHead {
    pub fn parse(payload: &[u8]) -> Option<ReplyHead> {
        serde_json::from_slice(payload).ok()
    }

    /// Whether this reply ends the task (`result` or `error`).
    pub fn is_final(&self) -> bool {
        matches!(self.kind.as_str(), "result" | "error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shapes() {
        let ack: Value =
            serde_json::from_slice(&Reply::ack("t-42", "installer", "apt").to_json()).unwrap();
        assert_eq!(ack["type"], "ack");
        assert_eq!(ack["id"], "t-42");
        assert_eq!(ack["agent"], "installer");
        assert_eq!(ack["skill"], "apt");
        assert!(ack["ts"].is_string());

        let err = Reply::error(
            "t-42",
            "installer",
            "apt",
            ErrorCode::Forbidden,
            "no".into(),
        );
        let err: Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(err["ok"], false);
        assert_eq!(err["error"], json!({"code": "forbidden", "message": "no"}));

        let res: Value =
            serde_json::from_slice(&Reply::result("t", "a", "s", json!({"x": 1}), 7).to_json())
                .unwrap();
        assert_eq!(res["ok"], true);
        assert_eq!(res["ms"], 7);
        assert_eq!(res["body"], json!({"x": 1}));
    }

    #[test]
    fn head_reads_any_reply() {
        let head = ReplyHead::parse(br#"{"type":"result","id":"t","agent":"a","skill":"s","ok":true,"body":null,"extra":1}"#).unwrap();
        assert!(head.is_final());
        assert!(ReplyHead::parse(b"nope").is_none());
    }
}
