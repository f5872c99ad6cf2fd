//! The bodies of the scheduler's skills, read field by field so that every error names
//! its field: `add` `{"group", "text", and one of "cron", "every", "at", "in"}`, `list`
//! `{}` or `{"group"}`, `remove` `{"id"}`. Unknown fields are refused.

use b00t_proto::{json_kind, Name};
use serde_json::{Map, Value};

use crate::when::WhenFields;
use crate::SchedulerError;

/// The longest `text`, in bytes.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

const ADD_EXAMPLE: &str =
    r#"{"group": "family", "text": "plan the week's meals", "cron": "0 9 * * 1"}"#;
const LIST_EXAMPLE: &str = r#"{} or {"group": "family"}"#;
const REMOVE_EXAMPLE: &str = r#"{"id": "s-1a2b3c4d"}"#;

/// An `add` request, checked except for whether the group exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddRequest {
    pub group: Name,
    pub text: String,
    pub when: WhenFields,
}

/// Reads an `add` body.
pub fn add(body: &Value) -> Result<AddRequest, SchedulerError> {
    let map = object(body, "add", ADD_EXAMPLE)?;
    known(
        map,
        "add",
        &["group", "text", "cron", "every", "at", "in"],
        ADD_EXAMPLE,
    )?;
    let group = string(map, "group", ADD_EXAMPLE)?.ok_or_else(|| missing("group", ADD_EXAMPLE))?;
    let group = group_name(&group)?;
    let text = string(map, "text", ADD_EXAMPLE)?.ok_or_else(|| missing("text", ADD_EXAMPLE))?;
    if text.trim().is_empty() {
        return Err(SchedulerError::field(
            "text",
            format!("is empty: say what the group's agent is asked each time, for example {ADD_EXAMPLE}"),
        ));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(SchedulerError::field(
            "text",
            format!(
                "is {} bytes, over the limit of {MAX_TEXT_BYTES}: keep the text short and put the rest in the group's files",
                text.len()
            ),
        ));
    }
    Ok(AddRequest {
        group,
        text,
        when: WhenFields {
            cron: string(map, "cron", ADD_EXAMPLE)?,
            every: string(map, "every", ADD_EXAMPLE)?,
            at: string(map, "at", ADD_EXAMPLE)?,
            r#in: string(map, "in", ADD_EXAMPLE)?,
        },
    })
}

/// Reads a `list` body: the group to list, if one is named.
pub fn list(body: &Value) -> Result<Option<Name>, SchedulerError> {
    if body.is_null() {
        return Ok(None);
    }
    let map = object(body, "list", LIST_EXAMPLE)?;
    known(map, "list", &["group"], LIST_EXAMPLE)?;
    string(map, "group", LIST_EXAMPLE)?
        .map(|g| group_name(&g))
        .transpose()
}

/// Reads a `remove` body: the schedule id.
pub fn remove(body: &Value) -> Result<String, SchedulerError> {
    let map = object(body, "remove", REMOVE_EXAMPLE)?;
    known(map, "remove", &["id"], REMOVE_EXAMPLE)?;
    let id = string(map, "id", REMOVE_EXAMPLE)?.ok_or_else(|| missing("id", REMOVE_EXAMPLE))?;
    if !crate::schedule::is_id(&id) {
        let shown: String = id.chars().take(40).collect();
        return Err(SchedulerError::field(
            "id",
            format!("`{shown}` is not a schedule id, which looks like `s-1a2b3c4d`; `b00t schedule list` shows them"),
        ));
    }
    Ok(id)
}

fn group_name(group: &str) -> Result<Name, SchedulerError> {
    Name::parse(group)
        .map_err(|e| SchedulerError::field("group", format!("{e}; a group is named like `family`")))
}

fn object<'a>(
    body: &'a Value,
    skill: &str,
    example: &str,
) -> Result<&'a Map<String, Value>, SchedulerError> {
    body.as_object().ok_or_else(|| {
        SchedulerError::Body(format!(
            "the `{skill}` body must be an object like {example}, not {}",
            json_kind(body)
        ))
    })
}

fn known(
    map: &Map<String, Value>,
    skill: &str,
    fields: &[&str],
    example: &str,
) -> Result<(), SchedulerError> {
    match map.keys().find(|k| !fields.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) => {
            let shown: String = unknown.chars().take(40).collect();
            Err(SchedulerError::Body(format!(
                "unknown field `{shown}` in the `{skill}` body: its fields are {}; for example {example}",
                fields
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

fn string(
    map: &Map<String, Value>,
    field: &'static str,
    example: &str,
) -> Result<Option<String>, SchedulerError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(SchedulerError::field(
            field,
            format!(
                "must be a string, got {}; for example {example}",
                json_kind(other)
            ),
        )),
    }
}

fn missing(field: &'static str, example: &str) -> SchedulerError {
    SchedulerError::field(field, format!("is missing; for example {example}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_good_bodies() {
        let r = add(&json!({"group": "family", "text": "hi", "in": "10m"})).unwrap();
        assert_eq!(r.group.as_str(), "family");
        assert_eq!(r.text, "hi");
        assert_eq!(r.when.r#in.as_deref(), Some("10m"));
        assert_eq!(list(&Value::Null).unwrap(), None);
        assert_eq!(list(&json!({})).unwrap(), None);
        assert_eq!(
            list(&json!({"group": "main"})).unwrap(),
            Some(Name::parse("main").unwrap())
        );
        assert_eq!(remove(&json!({"id": "s-0123abcd"})).unwrap(), "s-0123abcd");
    }

    /// Each bad body and what its message must contain.
    #[test]
    fn errors_name_the_field() {
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        let cases: Vec<(Result<(), SchedulerError>, &str)> = vec![
            (add(&json!("hi")).map(drop), "the `add` body must be an object like {\"group\""),
            (add(&json!({"group": "family", "text": "x", "evry": "1m"})).map(drop), "unknown field `evry` in the `add` body: its fields are `group`, `text`, `cron`, `every`, `at`, `in`"),
            (add(&json!({"text": "x", "every": "1m"})).map(drop), "field `group`: is missing; for example"),
            (add(&json!({"group": "Family", "text": "x"})).map(drop), "field `group`: name `Family` must start with a lowercase letter"),
            (add(&json!({"group": "../etc", "text": "x"})).map(drop), "field `group`: name `../etc`"),
            (add(&json!({"group": "family", "every": "1m"})).map(drop), "field `text`: is missing"),
            (add(&json!({"group": "family", "text": "  ", "every": "1m"})).map(drop), "field `text`: is empty"),
            (add(&json!({"group": "family", "text": big, "every": "1m"})).map(drop), "field `text`: is 8193 bytes, over the limit of 8192"),
            (add(&json!({"group": "family", "text": "x", "every": 60})).map(drop), "field `every`: must be a string, got a number"),
            (list(&json!({"group": 1})).map(drop), "field `group`: must be a string"),
            (list(&json!({"grop": "x"})).map(drop), "unknown field `grop` in the `list` body"),
            (remove(&json!({})).map(drop), "field `id`: is missing; for example {\"id\": \"s-1a2b3c4d\"}"),
            (remove(&json!({"id": "t-1"})).map(drop), "field `id`: `t-1` is not a schedule id"),
            (remove(&json!(["s-0123abcd"])).map(drop), "the `remove` body must be an object like {\"id\": \"s-1a2b3c4d\"}, not an array"),
        ];
        for (result, needle) in cases {
            let err = result.unwrap_err();
            assert!(
                matches!(err.failure().code, b00t_proto::ErrorCode::BadRequest),
                "{err}"
            );
            let err = err.to_string();
            assert!(err.contains(needle), "\n got: {err}\nwant: {needle}");
        }
    }
}
