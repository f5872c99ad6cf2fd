//! The body of a deploy task: `{"datum": "<stack or job>", "action": "plan|up|down|status"}`,
//! plus `signature` when the operator signed it. A plain-text task is `<datum>` (a plan)
//! or `<action> <datum>`.

use b00t_installer::sign::Signature;
use b00t_proto::{json_kind, Task, TaskSource};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a task asks of a deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The manifests; nothing changes.
    Plan,
    /// Deploy and wait for it to be ready.
    Up,
    /// Remove what `up` made.
    Down,
    /// What the orchestrator says now.
    Status,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Plan => "plan",
            Action::Up => "up",
            Action::Down => "down",
            Action::Status => "status",
        }
    }

    /// Whether it changes anything (and so must be allowed).
    pub fn changes(self) -> bool {
        matches!(self, Action::Up | Action::Down)
    }

    fn parse(word: &str) -> Option<Action> {
        match word {
            "plan" => Some(Action::Plan),
            "up" => Some(Action::Up),
            "down" => Some(Action::Down),
            "status" => Some(Action::Status),
            _ => None,
        }
    }
}

/// A parsed deploy request.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub datum: String,
    #[serde(default = "plan")]
    pub action: Action,
    #[serde(default)]
    pub signature: Option<Signature>,
}

fn plan() -> Action {
    Action::Plan
}

const SHAPE: &str =
    "{\"datum\": \"<stack or job>\", \"action\": \"plan\"|\"up\"|\"down\"|\"status\"}";

/// Reads the request out of `task`, or says what is wrong with it.
pub fn parse(task: &Task) -> Result<Request, String> {
    let request = if task.source == TaskSource::PlainText {
        let text = task.body["text"].as_str().unwrap_or("").trim();
        let words: Vec<&str> = text.split_whitespace().collect();
        let (action, datum) = match words.as_slice() {
            [datum] => (Action::Plan, *datum),
            [action, datum] => match Action::parse(action) {
                Some(action) => (action, *datum),
                None => {
                    return Err(format!(
                        "deploy task: `{}` is not an action; write `<datum>` or `plan|up|down|status <datum>`",
                        shown(action)
                    ))
                }
            },
            _ => {
                return Err(
                    "deploy task: write `<datum>` or `plan|up|down|status <datum>`, or send JSON "
                        .to_owned()
                        + SHAPE,
                )
            }
        };
        Request {
            datum: datum.to_owned(),
            action,
            signature: None,
        }
    } else {
        match &task.body {
            Value::Object(_) => serde_json::from_value(task.body.clone())
                .map_err(|e| format!("deploy task body: {e}; send {SHAPE}"))?,
            other => {
                return Err(format!(
                    "deploy task body must be an object like {SHAPE}, not {}",
                    json_kind(other)
                ))
            }
        }
    };
    check_datum(&request.datum)?;
    Ok(request)
}

fn shown(text: &str) -> String {
    text.chars()
        .take(60)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn check_datum(datum: &str) -> Result<(), String> {
    if datum.is_empty() {
        return Err("deploy task body: `datum` is empty; name a stack or job (`b00t datum list` shows them)".into());
    }
    if datum.len() > 200
        || !datum
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._+-".contains(c))
    {
        return Err(format!(
            "deploy task body: `datum` `{}` is not a datum name or id (lowercase letters, digits, `.`, `_`, `+`, `-`)",
            shown(datum)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use b00t_proto::parse_task;

    fn task(payload: &str) -> Task {
        match parse_task(payload.as_bytes(), 1 << 20) {
            Ok(t) => t,
            Err(r) => panic!("{r:?}"),
        }
    }

    #[test]
    fn reads_json_and_plain_text() {
        let r = parse(&task(
            r#"{"id":"t","body":{"datum":"starter","action":"up"}}"#,
        ))
        .unwrap();
        assert_eq!((r.datum.as_str(), r.action), ("starter", Action::Up));
        let r = parse(&task(r#"{"id":"t","body":{"datum":"starter"}}"#)).unwrap();
        assert_eq!(r.action, Action::Plan);
        let r = parse(&task("starter.stack\n")).unwrap();
        assert_eq!(
            (r.datum.as_str(), r.action),
            ("starter.stack", Action::Plan)
        );
        let r = parse(&task("down starter")).unwrap();
        assert_eq!((r.datum.as_str(), r.action), ("starter", Action::Down));
    }

    #[test]
    fn names_what_is_wrong() {
        let err = parse(&task(
            r#"{"id":"t","body":{"datum":"s","action":"deploy"}}"#,
        ))
        .unwrap_err();
        assert!(err.contains("unknown variant `deploy`"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":{"datum":"s","dry_run":true}}"#)).unwrap_err();
        assert!(err.contains("unknown field `dry_run`"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":{"datum":"../etc"}}"#)).unwrap_err();
        assert!(err.contains("not a datum name"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":"starter"}"#)).unwrap_err();
        assert!(err.contains("a string"), "{err}");
        let err = parse(&task("launch starter")).unwrap_err();
        assert!(err.contains("`launch` is not an action"), "{err}");
        let err = parse(&task("up a b c")).unwrap_err();
        assert!(err.contains("plan|up|down|status"), "{err}");
    }
}
