//! Every tool argument a client sends, checked before anything reaches the bus: the client
//! is not trusted. Each refusal names the argument and says what to send instead.

use std::time::Duration;

use b00t_proto::{Address, Name};
use serde_json::{Map, Value};

/// The largest `body` accepted, as JSON (the embedded broker's default payload limit is
/// larger; a task this big is already more than any skill documents).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The shortest wait a `timeout_ms` may ask for.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// The longest wait a `timeout_ms` may ask for (10 minutes).
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// The wait when `timeout_ms` is left out.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest string argument other than `body` (a datum, a question).
const MAX_TEXT_BYTES: usize = 16 * 1024;

/// A tool's arguments, read one by one; unknown ones are refused.
pub(crate) struct Arguments {
    tool: &'static str,
    values: Map<String, Value>,
}

impl Arguments {
    /// `values` for `tool`, refusing any argument not in `known`.
    pub(crate) fn new(
        tool: &'static str,
        values: Option<Map<String, Value>>,
        known: &[&str],
    ) -> Result<Arguments, String> {
        let values = values.unwrap_or_default();
        if let Some(unknown) = values.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!(
                "`{tool}` has no argument `{}`; it takes {}",
                printable(unknown),
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(Arguments { tool, values })
    }

    /// A required string argument, at most 16 KiB.
    pub(crate) fn text(&self, name: &str) -> Result<String, String> {
        self.optional_text(name)?
            .ok_or_else(|| format!("`{}` needs the argument `{name}`, a string", self.tool))
    }

    /// An optional string argument, at most 16 KiB.
    pub(crate) fn optional_text(&self, name: &str) -> Result<Option<String>, String> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() > MAX_TEXT_BYTES => Err(format!(
                "`{name}` is {} bytes; send at most {MAX_TEXT_BYTES}",
                s.len()
            )),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(format!("`{name}` is empty; send a non-blank string"))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("`{name}` must be a string, not {}", kind_of(other))),
        }
    }

    /// An optional boolean argument.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, String> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!(
                "`{name}` must be true or false, not {}",
                kind_of(other)
            )),
        }
    }

    /// `address`: a bus address `b00t.<agent>.<skill>`.
    pub(crate) fn address(&self) -> Result<Address, String> {
        let text = self.text("address")?;
        Address::parse(&text).map_err(|e| {
            format!(
                "`address` `{}` is not a bus address ({e}); send `b00t.<agent>.<skill>`, such as `b00t.echo.echo`",
                printable(&text)
            )
        })
    }

    /// `body`: any JSON value (null when left out), at most [`MAX_BODY_BYTES`] as JSON.
    pub(crate) fn body(&self) -> Result<Value, String> {
        let body = self.values.get("body").cloned().unwrap_or(Value::Null);
        let size = serde_json::to_vec(&body).map_or(usize::MAX, |b| b.len());
        if size > MAX_BODY_BYTES {
            return Err(format!(
                "`body` is {size} bytes as JSON; send at most {MAX_BODY_BYTES}"
            ));
        }
        Ok(body)
    }

    /// `timeout_ms`: an integer from [`MIN_TIMEOUT_MS`] to [`MAX_TIMEOUT_MS`], or `default`.
    pub(crate) fn timeout(&self, default: u64) -> Result<Duration, String> {
        let ms = match self.values.get("timeout_ms") {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                format!("`timeout_ms` {n} must be a whole number of milliseconds from {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS}")
            })?,
            Some(other) => {
                return Err(format!(
                    "`timeout_ms` must be a number of milliseconds, not {}",
                    kind_of(other)
                ))
            }
        };
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&ms) {
            return Err(format!(
                "`timeout_ms` {ms} is out of bounds; send from {MIN_TIMEOUT_MS} to {MAX_TIMEOUT_MS}"
            ));
        }
        Ok(Duration::from_millis(ms))
    }

    /// A name argument (`[a-z0-9][a-z0-9-]{0,62}`), one of `choices` when given.
    pub(crate) fn name(
        &self,
        name: &str,
        default: Option<&str>,
        choices: &[&str],
    ) -> Result<Name, String> {
        let text = match (self.optional_text(name)?, default) {
            (Some(text), _) => text,
            (None, Some(default)) => default.to_owned(),
            (None, None) => return Err(format!("`{}` needs the argument `{name}`", self.tool)),
        };
        if !choices.is_empty() && !choices.contains(&text.as_str()) {
            return Err(format!(
                "`{name}` `{}` is not one of {}",
                printable(&text),
                choices.join(", ")
            ));
        }
        Name::parse(&text).map_err(|e| {
            format!(
                "`{name}` `{}` is not a name ({e}); send lowercase letters, digits and `-`",
                printable(&text)
            )
        })
    }
}

/// The JSON kind of `value`, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` as it is safe to echo back: control characters escaped, cut at 80 characters.
pub(crate) fn printable(text: &str) -> String {
    let mut shown: String = text.chars().take(80).flat_map(char::escape_debug).collect();
    if text.chars().count() > 80 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(value: Value, known: &[&str]) -> Result<Arguments, String> {
        Arguments::new("send_task", value.as_object().cloned(), known)
    }

    #[test]
    fn an_address_is_checked_by_the_protocol_grammar() {
        let ok = args(json!({"address": "b00t.echo.echo"}), &["address"]).unwrap();
        assert_eq!(ok.address().unwrap().to_string(), "b00t.echo.echo");
        for bad in [
            "b00t.echo",
            "b00t.ec/ho.echo",
            "b00t.+.echo",
            "x.echo.echo",
            "b00t.Echo.echo",
        ] {
            let a = args(json!({ "address": bad }), &["address"]).unwrap();
            let error = a.address().unwrap_err();
            assert!(error.contains("b00t.<agent>.<skill>"), "{bad}: {error}");
        }
        let missing = args(json!({}), &["address"])
            .unwrap()
            .address()
            .unwrap_err();
        assert!(
            missing.contains("needs the argument `address`"),
            "{missing}"
        );
        let number = args(json!({"address": 7}), &["address"])
            .unwrap()
            .address()
            .unwrap_err();
        assert!(
            number.contains("must be a string, not a number"),
            "{number}"
        );
    }

    #[test]
    fn unknown_arguments_are_refused_by_name() {
        let error = args(
            json!({"address": "b00t.echo.echo", "sudo": true}),
            &["address"],
        )
        .err()
        .unwrap();
        assert!(
            error.contains("no argument `sudo`") && error.contains("`address`"),
            "{error}"
        );
    }

    #[test]
    fn a_body_over_the_limit_is_refused() {
        let big = "x".repeat(MAX_BODY_BYTES);
        let error = args(json!({ "body": big }), &["body"])
            .unwrap()
            .body()
            .unwrap_err();
        assert!(error.contains("send at most"), "{error}");
        let null = args(json!({}), &["body"]).unwrap().body().unwrap();
        assert_eq!(null, Value::Null);
    }

    #[test]
    fn timeouts_stay_in_bounds() {
        let t = |v: Value| {
            args(json!({ "timeout_ms": v }), &["timeout_ms"])
                .unwrap()
                .timeout(5_000)
        };
        assert_eq!(t(json!(1500)).unwrap(), Duration::from_millis(1500));
        assert_eq!(t(Value::Null).unwrap(), Duration::from_millis(5_000));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(MAX_TIMEOUT_MS + 1),
            json!("10"),
        ] {
            assert!(t(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked_against_their_choices() {
        let a = args(json!({"orchestrator": "swarm"}), &["orchestrator"]).unwrap();
        let error = a
            .name("orchestrator", Some("compose"), &["compose", "direct"])
            .unwrap_err();
        assert!(error.contains("not one of compose, direct"), "{error}");
        let d = args(json!({}), &["orchestrator"]).unwrap();
        assert_eq!(
            d.name("orchestrator", Some("compose"), &[])
                .unwrap()
                .as_str(),
            "compose"
        );
    }

    #[test]
    fn echoed_text_is_escaped_and_cut() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert!(printable(&"y".repeat(200)).ends_with('…'));
    }
}
