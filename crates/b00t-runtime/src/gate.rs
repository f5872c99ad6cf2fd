//! What the runtime decides about a message on a `/task` topic: track it for an ack,
//! answer it itself (a bad address, an unknown skill of an online agent, a bad or
//! id-less task for an agent that is offline), or leave it to the agent, which answers
//! bad input on its own addresses. Pure: no IO.

use b00t_proto::{parse_task, Address, ErrorCode, Reply};

use crate::presence::Presence;
use crate::tracked::Key;

/// The runtime's decision about one task message.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Not a b00t address: none of the runtime's business.
    Ignore,
    /// The agent is online and answers this itself.
    LeaveToAgent,
    /// Watch it for an ack; retry and dead-letter it if none comes.
    Track { key: Key, reply_to: Option<String> },
    /// A task without an id for an agent that is offline but can be started (a group):
    /// keep it, under the id the runtime gave it, as `payload`, and deliver it when the
    /// agent comes.
    Hold {
        key: Key,
        payload: Vec<u8>,
        reply_to: Option<String>,
    },
    /// The runtime answers at once with `reply` under `base`. `key` is set when the task
    /// had its sender's id, so the answer is journaled as its end.
    Answer {
        base: String,
        reply: Reply,
        key: Option<Key>,
    },
}

/// Agent and skill named in the runtime's own replies to unparsable addresses.
pub const RUNTIME_AGENT: &str = "runtime";
const BUS_SKILL: &str = "bus";

/// Judges a payload published on `<base>/task`.
///
/// `launchable` says whether an agent that is offline can be started on demand.
pub fn judge(
    base: &str,
    payload: &[u8],
    max_payload: usize,
    presence: &Presence,
    launchable: &dyn Fn(&str) -> bool,
) -> Verdict {
    let parsed = parse_task(payload, max_payload);
    let address = match Address::parse(base) {
        Ok(address) => address,
        Err(e) if base.starts_with("b00t.") => {
            let (id, reply_to) = match &parsed {
                Ok(task) => (task.id.clone(), task.reply_to.clone()),
                Err(r) => (r.id.clone(), r.reply_to.clone()),
            };
            return Verdict::Answer {
                base: reply_to.unwrap_or_else(|| base.to_owned()),
                reply: Reply::error(
                    id.as_str(),
                    RUNTIME_AGENT,
                    BUS_SKILL,
                    ErrorCode::BadRequest,
                    e.to_string(),
                ),
                key: None,
            };
        }
        Err(_) => return Verdict::Ignore,
    };
    let agent = address.agent().as_str();
    let skill = address.skill().as_str();
    let online_skills = presence.online_skills(agent);
    if let Some(skills) = &online_skills {
        if !skills.iter().any(|s| s == skill) {
            let (id, reply_to, senders) = match &parsed {
                Ok(t) => (t.id.clone(), t.reply_to.clone(), t.source.id_is_senders()),
                Err(r) => (r.id.clone(), r.reply_to.clone(), false),
            };
            let message = format!(
                "agent `{agent}` has no skill `{skill}`; its skills: {}",
                if skills.is_empty() {
                    "none".to_owned()
                } else {
                    skills.join(", ")
                }
            );
            return Verdict::Answer {
                base: reply_to.unwrap_or_else(|| address.to_string()),
                reply: Reply::error(id.as_str(), agent, skill, ErrorCode::NotFound, message),
                key: senders.then(|| Key::new(address.to_string(), id.to_string())),
            };
        }
    }
    let online = online_skills.is_some();
    match parsed {
        Err(_) if online => Verdict::LeaveToAgent,
        Err(rejection) => Verdict::Answer {
            base: rejection.reply_to.unwrap_or_else(|| address.to_string()),
            reply: Reply::error(rejection.id.as_str(), agent, skill, rejection.code, rejection.message),
            key: None,
        },
        Ok(task) if task.source.id_is_senders() => Verdict::Track {
            key: Key::new(address.to_string(), task.id.to_string()),
            reply_to: task.reply_to,
        },
        Ok(_) if online => Verdict::LeaveToAgent,
        Ok(task) if launchable(agent) => Verdict::Hold {
            key: Key::new(address.to_string(), task.id.to_string()),
            payload: task.to_envelope(),
            reply_to: task.reply_to,
        },
        Ok(task) => Verdict::Answer {
            base: task.reply_to.unwrap_or_else(|| address.to_string()),
            reply: Reply::error(
                task.id.as_str(),
                agent,
                skill,
                ErrorCode::Undeliverable,
                format!(
                    "agent `{agent}` is not online and the task has no `id`, so the bus cannot retry it: start the agent, or give the task an `id` to have it delivered when the agent comes"
                ),
            ),
            key: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use b00t_proto::{AgentState, StatusCard};

    fn presence() -> Presence {
        let p = Presence::default();
        p.card(StatusCard {
            state: AgentState::Online,
            agent: "echo".into(),
            skills: vec!["echo".into()],
            kind: "echo".into(),
            since: String::new(),
            heartbeat_ms: None,
            host: None,
            pid: None,
            reason: None,
            marked_by: None,
            container: None,
        });
        p
    }

    /// Renders a verdict as one line, for `check`.
    fn render(v: &Verdict) -> String {
        match v {
            Verdict::Ignore => "ignore".into(),
            Verdict::LeaveToAgent => "agent".into(),
            Verdict::Track { key, reply_to } => {
                format!("track {} {} reply_to={reply_to:?}", key.address, key.id)
            }
            Verdict::Hold {
                key,
                payload,
                reply_to,
            } => {
                let task = b00t_proto::parse_task(payload, 1024).expect("a held task parses");
                format!(
                    "hold {} id={} body={} reply_to={reply_to:?}",
                    key.address,
                    task.id.as_str() == key.id,
                    task.body
                )
            }
            Verdict::Answer { base, reply, key } => {
                let Reply::Error { error, .. } = reply else {
                    panic!("answers are errors")
                };
                format!(
                    "answer {base} {} {} journaled={}",
                    error.code,
                    error.message,
                    key.is_some()
                )
            }
        }
    }

    fn check(base: &str, payload: &str, expected: &str) {
        let got = render(&judge(base, payload.as_bytes(), 1024, &presence(), &|a| {
            a == "family"
        }));
        assert!(
            got.starts_with(expected),
            "{base} {payload}\n got: {got}\nwant: {expected}"
        );
    }

    #[test]
    fn verdicts() {
        check(
            "b00t.echo.echo",
            r#"{"id":"t"}"#,
            "track b00t.echo.echo t reply_to=None",
        );
        check(
            "b00t.late.echo",
            r#"{"id":"t","reply_to":"r"}"#,
            "track b00t.late.echo t reply_to=Some(\"r\")",
        );
        check("b00t.echo.echo", "hello", "agent");
        check("b00t.echo.echo", "{bad", "agent");
        check(
            "b00t.late.echo",
            "{bad",
            "answer b00t.late.echo bad_request invalid JSON",
        );
        check(
            "b00t.late.echo",
            "hello",
            "answer b00t.late.echo undeliverable agent `late` is not online",
        );
        check(
            "b00t.echo.nope",
            r#"{"id":"t","reply_to":"r"}"#,
            "answer r not_found agent `echo` has no skill `nope`; its skills: echo journaled=true",
        );
        check(
            "b00t.Echo.echo",
            r#"{"id":"t"}"#,
            "answer b00t.Echo.echo bad_request address `b00t.Echo.echo`: agent",
        );
        check("other/thing", "x", "ignore");
        // A group that can be started keeps its tasks, with or without an id.
        check(
            "b00t.family.chat",
            "hello",
            "hold b00t.family.chat id=true body={\"text\":\"hello\"} reply_to=None",
        );
        check(
            "b00t.family.chat",
            r#"{"reply_to":"r","body":{"text":"hi"}}"#,
            "hold b00t.family.chat id=true body={\"text\":\"hi\"} reply_to=Some(\"r\")",
        );
        check(
            "b00t.family.chat",
            r#"{"id":"t"}"#,
            "track b00t.family.chat t reply_to=None",
        );
        check(
            "b00t.family.chat",
            "{bad",
            "answer b00t.family.chat bad_request invalid JSON",
        );
    }
}
