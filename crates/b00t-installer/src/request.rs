//! The body of an install task: `{"datum": "<name or id>", "dry_run": false, "deps": true}`,
//! plus `signature` when the operator signed it. A plain-text task names the datum.

use b00t_proto::{json_kind, Task, TaskSource};
use serde::Deserialize;
use serde_json::Value;

use crate::sign::Signature;

/// A parsed install request.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub datum: String,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "yes")]
    pub deps: bool,
    #[serde(default)]
    pub signature: Option<Signature>,
    /// `mcp` tasks: the apps to wire the server into once installed (`["cursor", "zed"]`).
    #[serde(default)]
    pub wire: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Reads the request out of `task`, or says what is wrong with it.
pub fn parse(task: &Task) -> Result<Request, String> {
    let request = if task.source == TaskSource::PlainText {
        let text = task.body["text"].as_str().unwrap_or("").trim();
        Request {
            datum: text.to_owned(),
            dry_run: false,
            deps: true,
            signature: None,
            wire: Vec::new(),
        }
    } else {
        match &task.body {
            Value::Object(_) => serde_json::from_value(task.body.clone()).map_err(|e| {
                format!(
                    "install task body: {e}; send {{\"datum\": \"<name or id>\", \"dry_run\": false, \"deps\": true}}"
                )
            })?,
            other => {
                return Err(format!(
                    "install task body must be an object like {{\"datum\": \"jq\"}}, not {}",
                    json_kind(other)
                ))
            }
        }
    };
    check_datum(&request.datum)?;
    Ok(request)
}

fn check_datum(datum: &str) -> Result<(), String> {
    if datum.is_empty() {
        return Err("install task body: `datum` is empty; name a datum, e.g. {\"datum\": \"jq\"} (`b00t datum list` shows them)".into());
    }
    if datum.len() > 200
        || !datum
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._+-".contains(c))
    {
        let shown: String = datum.chars().take(60).collect();
        return Err(format!(
            "install task body: `datum` `{shown}` is not a datum name or id (lowercase letters, digits, `.`, `_`, `+`, `-`)"
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
        let r = parse(&task(r#"{"id":"t","body":{"datum":"jq","dry_run":true}}"#)).unwrap();
        assert_eq!((r.datum.as_str(), r.dry_run, r.deps), ("jq", true, true));
        let r = parse(&task("jq.apt\n")).unwrap();
        assert_eq!((r.datum.as_str(), r.dry_run), ("jq.apt", false));
        assert!(r.wire.is_empty());
        let r = parse(&task(
            r#"{"id":"t","body":{"datum":"github","wire":["cursor","zed"]}}"#,
        ))
        .unwrap();
        assert_eq!(r.wire, ["cursor", "zed"]);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = parse(&task(r#"{"id":"t","body":{"datum":"jq","dryrun":true}}"#)).unwrap_err();
        assert!(err.contains("unknown field `dryrun`"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":{"datum":"jq","deps":"yes"}}"#)).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":{"datum":"../etc"}}"#)).unwrap_err();
        assert!(err.contains("not a datum name"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":["jq"]}"#)).unwrap_err();
        assert!(err.contains("an array"), "{err}");
        let err = parse(&task(r#"{"id":"t","body":{}}"#)).unwrap_err();
        assert!(err.contains("missing field `datum`"), "{err}");
    }
}
