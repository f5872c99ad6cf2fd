//! The actions `restart`, `stop` and `start`, the only skills that change a container.
//! One runs when the operator signed the task (with the home's operator key, as `b00t
//! install` signs; `b00t ci restart <container>` does) or, unsigned, when policy.toml's
//! `[ci]` table allows the action on that container; deny by default. Every decision,
//! allowed or refused, is a `ci-action` line in `state/audit.jsonl`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use b00t_agents::{Failure, TaskContext};
use b00t_container::{ContainerError, Docker, Facts};
use b00t_installer::audit::{ActionRecord, AuditLog};
use b00t_installer::policy::Policy;
use b00t_installer::sign::{self, OperatorKey, Replays, Signature};
use b00t_proto::ErrorCode;
use serde_json::{json, Value};

/// What the actions are judged by, shared by every container CI agent of a runtime.
#[derive(Debug)]
pub struct ActionGate {
    /// `<home>/policy.toml`, read afresh for every unsigned action.
    policy: PathBuf,
    /// `<home>/state/operator.key`, read for every signed action.
    operator_key: PathBuf,
    /// How far a signature's `ts` may be from now (`[installer] signature_window_ms`).
    signature_window: Duration,
    audit: AuditLog,
    /// Signed actions seen lately, for every agent: a signature is taken once, even by
    /// an agent made again for the same container.
    replays: Replays,
}

/// Seconds a `restart` or `stop` waits for the process to exit before SIGKILL, unless
/// the body says (`grace_s`); Docker's own default.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// The longest `grace_s`.
const MAX_GRACE_S: u64 = 300;

/// Which action a skill is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Restart,
    Stop,
    Start,
}

impl Action {
    pub(super) fn of_skill(skill: &str) -> Option<Action> {
        match skill {
            "restart" => Some(Action::Restart),
            "stop" => Some(Action::Stop),
            "start" => Some(Action::Start),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }
}

/// An action's body, read.
#[derive(Debug, PartialEq)]
struct Request {
    signature: Option<Signature>,
    grace: Duration,
}

impl ActionGate {
    pub fn new(
        policy: PathBuf,
        audit: PathBuf,
        operator_key: PathBuf,
        signature_window: Duration,
    ) -> ActionGate {
        ActionGate {
            policy,
            operator_key,
            signature_window,
            audit: AuditLog::new(audit),
            replays: Replays::new(),
        }
    }

    /// Judges `action` on container `id` for the task in `ctx`, carries it out when
    /// allowed, and audits the decision.
    pub(super) async fn act(
        &self,
        ctx: &TaskContext,
        docker: &Docker,
        id: &str,
        action: Action,
    ) -> Result<Value, Failure> {
        let started = Instant::now();
        let mut record = ActionRecord {
            ts: b00t_proto::clock::now_rfc3339(),
            id: ctx.task.id.to_string(),
            address: format!("b00t.{}.{}", ctx.agent, ctx.skill),
            from: ctx.task.from.clone().unwrap_or_else(|| "-".into()),
            trust: "unsigned".into(),
            action: action.name().into(),
            container_id: id.to_owned(),
            verdict: "-".into(),
            outcome: "invalid".into(),
            ..ActionRecord::default()
        };
        let result = self.decide(ctx, docker, id, action, &mut record).await;
        record.ms = started.elapsed().as_millis() as u64;
        if let Err(failure) = &result {
            record.reason.get_or_insert_with(|| failure.message.clone());
        }
        if let Err(e) = self.audit.append_action(&record) {
            tracing::error!("audit log: {e}");
        }
        result
    }

    async fn decide(
        &self,
        ctx: &TaskContext,
        docker: &Docker,
        id: &str,
        action: Action,
        record: &mut ActionRecord,
    ) -> Result<Value, Failure> {
        let before = b00t_container::facts(docker, id).await.map_err(|e| {
            record.outcome = "failed".into();
            failure(e)
        })?;
        record.container = before.name.clone();
        let request = parse(&ctx.task.body, action).inspect_err(|failure| {
            if failure.code == ErrorCode::Forbidden {
                record.trust = "bad-signature".into();
                record.verdict = "forbidden".into();
                record.outcome = "refused".into();
            }
        })?;
        let reason = self.judge(ctx, &request, action, &before.name, record)?;
        record.verdict = "allowed".into();
        record.reason = Some(reason.clone());
        let done = match action {
            Action::Restart => b00t_container::restart(docker, id, request.grace).await,
            Action::Stop => b00t_container::stop_container(docker, id, request.grace).await,
            Action::Start => b00t_container::start(docker, id).await,
        };
        if let Err(e) = done {
            record.outcome = "failed".into();
            record.reason = Some(format!("{reason}; then: {e}"));
            return Err(failure(e));
        }
        record.outcome = "done".into();
        let after = b00t_container::facts(docker, id).await.ok();
        Ok(json!({
            "action": action.name(),
            "container": {"id": before.id, "name": before.name, "image": before.image},
            "trust": record.trust,
            "reason": reason,
            "before": summary(&before),
            "after": after.as_ref().map(summary),
        }))
    }

    /// Whether the task may run `action` on the container `name`: the reason it may, or
    /// `forbidden` naming the rule and how the operator approves it.
    fn judge(
        &self,
        ctx: &TaskContext,
        request: &Request,
        action: Action,
        name: &str,
        record: &mut ActionRecord,
    ) -> Result<String, Failure> {
        let mut refuse = |trust: &str, message: String| {
            record.trust = trust.into();
            record.verdict = "forbidden".into();
            record.outcome = "refused".into();
            Failure::new(ErrorCode::Forbidden, message)
        };
        if let Some(signature) = &request.signature {
            let key = OperatorKey::load(&self.operator_key).map_err(|e| {
                refuse(
                    "bad-signature",
                    format!("the signature cannot be checked: {e}"),
                )
            })?;
            sign::check_task(
                &key,
                &self.replays,
                &record.address,
                &ctx.task,
                signature,
                self.signature_window,
            )
            .map_err(|message| refuse("bad-signature", message))?;
            record.trust = "operator".into();
            return Ok("signed by the operator".into());
        }
        let policy = Policy::load(&self.policy).map_err(|e| {
            refuse(
                "unsigned",
                format!("{e}; unsigned actions are refused until it loads"),
            )
        })?;
        let verdict = policy.judge_ci(action.name(), name);
        if !verdict.allowed {
            let why = verdict.reasons.into_iter().next().unwrap_or_default();
            return Err(refuse("unsigned", why));
        }
        record.trust = "policy".into();
        Ok(verdict.reasons.join("; "))
    }
}

/// Reads an action's body: null, `{}`, or an object with `grace_s` (restart and stop) and
/// `signature`; a plain-text task's `text` is allowed and means nothing.
fn parse(body: &Value, action: Action) -> Result<Request, Failure> {
    let bad = |why: String| Failure::new(ErrorCode::BadRequest, why);
    let map = match body {
        Value::Null => {
            return Ok(Request {
                signature: None,
                grace: DEFAULT_GRACE,
            })
        }
        Value::Object(map) => map,
        other => {
            return Err(bad(format!(
                "the body of `{}` must be an object such as {{\"grace_s\": 10}}, got {other}",
                action.name()
            )))
        }
    };
    let mut request = Request {
        signature: None,
        grace: DEFAULT_GRACE,
    };
    for (key, value) in map {
        match key.as_str() {
            sign::FIELD => {
                request.signature = Some(serde_json::from_value(value.clone()).map_err(|e| {
                    Failure::new(
                        ErrorCode::Forbidden,
                        sign::SignatureError::Malformed(e.to_string()).to_string(),
                    )
                })?)
            }
            "grace_s" if action != Action::Start => {
                let seconds = value
                    .as_u64()
                    .filter(|s| *s <= MAX_GRACE_S)
                    .ok_or_else(|| {
                        bad(format!(
                            "`grace_s` must be whole seconds from 0 to {MAX_GRACE_S}, got {value}"
                        ))
                    })?;
                request.grace = Duration::from_secs(seconds);
            }
            "text" => {}
            other => {
                let takes = if action == Action::Start {
                    "`signature`"
                } else {
                    "`grace_s` and `signature`"
                };
                return Err(bad(format!(
                    "`{}` takes {takes}, not `{other}`",
                    action.name()
                )));
            }
        }
    }
    Ok(request)
}

/// The container's state around an action.
fn summary(facts: &Facts) -> Value {
    json!({
        "state": facts.state,
        "running": facts.running,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "restart_count": facts.restart_count,
    })
}

/// An engine error as a task's error: a container that is gone is `not_found`.
fn failure(e: ContainerError) -> Failure {
    match e {
        ContainerError::NoSuchContainer { .. } => Failure::new(ErrorCode::NotFound, e.to_string()),
        other => Failure::new(ErrorCode::Failed, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_or_refused_with_the_reason() {
        let ok = |body: Value, action| parse(&body, action).unwrap();
        assert_eq!(ok(Value::Null, Action::Restart).grace, DEFAULT_GRACE);
        assert_eq!(ok(json!({}), Action::Stop).grace, DEFAULT_GRACE);
        assert_eq!(
            ok(json!({"grace_s": 0}), Action::Stop).grace,
            Duration::ZERO
        );
        assert_eq!(ok(json!({"text": "please"}), Action::Start).signature, None);
        let signed = ok(
            json!({"signature": {"ts": 5, "hmac": "ab"}}),
            Action::Restart,
        );
        assert_eq!(
            signed.signature,
            Some(Signature {
                ts: 5,
                hmac: "ab".into()
            })
        );
        for (body, action, code, needle) in [
            (
                json!(3),
                Action::Restart,
                ErrorCode::BadRequest,
                "must be an object",
            ),
            (
                json!({"grace_s": 301}),
                Action::Stop,
                ErrorCode::BadRequest,
                "from 0 to 300",
            ),
            (
                json!({"grace_s": "1"}),
                Action::Stop,
                ErrorCode::BadRequest,
                "whole seconds",
            ),
            (
                json!({"grace_s": 1}),
                Action::Start,
                ErrorCode::BadRequest,
                "`start` takes `signature`, not `grace_s`",
            ),
            (
                json!({"force": true}),
                Action::Restart,
                ErrorCode::BadRequest,
                "not `force`",
            ),
            (
                json!({"signature": "x"}),
                Action::Restart,
                ErrorCode::Forbidden,
                "malformed",
            ),
        ] {
            let failure = parse(&body, action).unwrap_err();
            assert_eq!(failure.code, code, "{body}");
            assert!(
                failure.message.contains(needle),
                "{body}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn skills_name_actions() {
        for action in [Action::Restart, Action::Stop, Action::Start] {
            assert_eq!(Action::of_skill(action.name()), Some(action));
        }
        assert_eq!(Action::of_skill("status"), None);
    }
}
