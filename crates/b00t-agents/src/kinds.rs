//! Built-in agent kinds that `b00t agent run <kind>` can start. `echo` is the bus's ping:
//! its result is `{"echo": <body>, "seq": <tasks executed by this process>}`.

use std::sync::Arc;

use b00t_proto::Name;
use serde_json::json;

use crate::{AgentError, AgentSpec, Handler, HandlerFuture, TaskContext};

/// The kinds this build knows.
pub const KINDS: &[&str] = &["echo"];

/// Builds a built-in agent of `kind` named `name`.
pub fn builtin(kind: &str, name: Name) -> Result<AgentSpec, AgentError> {
    match kind {
        "echo" => Ok(echo(name)),
        _ => Err(AgentError::UnknownKind {
            kind: kind.to_owned(),
            known: KINDS
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The echo agent: one skill, `echo`.
pub fn echo(name: Name) -> AgentSpec {
    AgentSpec {
        name,
        kind: "echo".to_owned(),
        skills: vec![Name::parse("echo").expect("a valid name")],
        handler: Arc::new(Echo),
        skill_updates: None,
        container: None,
    }
}

struct Echo;

impl Handler for Echo {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let body = json!({ "echo": ctx.task.body, "seq": ctx.seq });
        Box::pin(async move { Ok(body) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kind_lists_the_known() {
        let err = builtin("nope", Name::parse("x").unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "unknown agent kind `nope`: the kinds are `echo`");
    }
}
