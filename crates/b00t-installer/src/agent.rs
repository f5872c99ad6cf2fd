//! The installer agent: one skill per datum type it installs (`b00t.installer.apt`,
//! `b00t.installer.mcp`, …). Each task is planned from a fresh read of the catalog and
//! the policy, judged (signed by the operator, or held to the whitelist), audited, and
//! either answered with its plan (dry run) or carried out. Two tasks for the same datum at
//! once run it once: the second waits for the first and gets its outcome.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, TaskContext};
use b00t_datums::{Catalog, Datum, DatumError, DatumType, ResolveError};
use b00t_proto::{ErrorCode, Name};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditLog, Record};
use crate::install::{self, Outcome};
use crate::once::Once;
use crate::plan::{self, Checking};
use crate::policy::Policy;
use crate::request::{self, Request};
use crate::sign::{self, OperatorKey};

/// The skills, one per datum type the installer handles.
pub const SKILLS: &[&str] = &["apt", "bash", "cli", "docker", "mcp", "stack"];

/// Where the installer reads and writes, and its limits.
#[derive(Clone, Debug)]
pub struct InstallerOptions {
    /// Catalog folders, in order.
    pub roots: Vec<PathBuf>,
    pub policy: PathBuf,
    pub audit: PathBuf,
    pub key: OperatorKey,
    pub step_timeout: Duration,
    pub check_timeout: Duration,
    pub signature_window: Duration,
}

/// The installer's agent name in `b00t up`.
pub const AGENT: &str = "installer";

impl InstallerOptions {
    /// The options of `home`: its catalog folders, policy, audit log, operator key (made
    /// on first use) and `[installer]` limits.
    pub fn for_home(home: &b00t_config::Home) -> Result<InstallerOptions, crate::InstallerError> {
        let config = &home.config().installer;
        Ok(InstallerOptions {
            roots: home.datum_roots(),
            policy: home.policy_file(),
            audit: home.audit_file(),
            key: OperatorKey::load_or_create(&home.operator_key_file())?,
            step_timeout: config.step_timeout(),
            check_timeout: config.check_timeout(),
            signature_window: config.signature_window(),
        })
    }
}

/// Builds the installer agent named `name`. `stop` ends running steps at shutdown. The
/// catalog is read once here to log, at start, every file that cannot be used (each task
/// reads it afresh and names a refused file it needs in its answer).
pub fn spec(name: Name, options: InstallerOptions, stop: CancellationToken) -> AgentSpec {
    log_problems(&Catalog::load(&options.roots));
    AgentSpec {
        name,
        kind: "installer".to_owned(),
        skills: SKILLS
            .iter()
            .map(|s| Name::parse(s).expect("a valid skill name"))
            .collect(),
        handler: Arc::new(Installer(Arc::new(Inner {
            audit: AuditLog::new(options.audit.clone()),
            options,
            replays: sign::Replays::new(),
            once: Once::new(),
            lock: tokio::sync::Mutex::new(()),
            stop,
        }))),
        skill_updates: None,
        container: None,
    }
}

/// One warning per file or folder of the catalog that cannot be used.
fn log_problems(catalog: &Catalog) {
    for problem in catalog.problems() {
        tracing::warn!("datum catalog: {problem}");
    }
}

struct Inner {
    options: InstallerOptions,
    audit: AuditLog,
    /// Signed tasks seen lately: each signature is taken once.
    replays: sign::Replays,
    /// Real runs under way, by datum: the same datum asked twice at once runs once.
    once: Once,
    /// One install at a time: package managers do not share.
    lock: tokio::sync::Mutex<()>,
    stop: CancellationToken,
}

struct Installer(Arc<Inner>);

impl Handler for Installer {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let inner = self.0.clone();
        Box::pin(async move {
            let started = Instant::now();
            let mut record = Record {
                ts: b00t_proto::clock::now_rfc3339(),
                id: ctx.task.id.to_string(),
                address: format!("b00t.{}.{}", ctx.agent, ctx.skill),
                from: ctx.task.from.clone().unwrap_or_else(|| "-".into()),
                trust: "unsigned".into(),
                verdict: "-".into(),
                ..Record::default()
            };
            let result = inner.decide(&ctx, &mut record).await;
            record.ms = started.elapsed().as_millis() as u64;
            if let Err(failure) = &result {
                record.reason.get_or_insert_with(|| failure.message.clone());
            }
            if let Err(e) = inner.audit.append(&record) {
                tracing::error!("audit log: {e}");
            }
            result
        })
    }
}

fn fail(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure::new(code, message)
}

impl Inner {
    async fn decide(&self, ctx: &TaskContext, record: &mut Record) -> Result<Value, Failure> {
        let request = match request::parse(&ctx.task) {
            Ok(r) => r,
            Err(message) => {
                record.outcome = "invalid".into();
                return Err(fail(ErrorCode::BadRequest, message));
            }
        };
        record.datum = request.datum.clone();
        record.dry_run = request.dry_run;
        let trusted = self.trust(ctx, &request, record)?;
        let skill = ctx.skill.as_str();
        let roots = self.options.roots.clone();
        let catalog = tokio::task::spawn_blocking(move || Catalog::load(&roots))
            .await
            .map_err(|e| {
                fail(
                    ErrorCode::Failed,
                    format!("reading the catalog failed: {e}"),
                )
            })?;
        let datum = match catalog.find(&request.datum, Some(&DatumType::parse(skill))) {
            Ok(d) => d,
            Err(e) => {
                record.outcome = "invalid".into();
                // A file that is there but was refused is not "not found": it needs fixing.
                let code = match e {
                    DatumError::Refused { .. } => ErrorCode::Failed,
                    _ => ErrorCode::NotFound,
                };
                return Err(fail(code, e.to_string()));
            }
        };
        if datum.kind.as_str() != skill {
            record.outcome = "invalid".into();
            return Err(fail(
                ErrorCode::BadRequest,
                format!(
                    "datum `{}` has type `{}`: send the task to b00t.installer.{}",
                    datum.id, datum.kind, datum.kind
                ),
            ));
        }
        record.datum = datum.id.to_string();
        if !request.wire.is_empty() {
            if skill != "mcp" {
                record.outcome = "invalid".into();
                return Err(fail(
                    ErrorCode::BadRequest,
                    "`wire` is for MCP servers: send it to b00t.installer.mcp",
                ));
            }
            crate::wire::check_apps(&request.wire).map_err(|message| {
                record.outcome = "invalid".into();
                fail(ErrorCode::BadRequest, message)
            })?;
        }
        let env = crate::env::InstallEnv;
        let checking = Checking {
            env: &env,
            timeout: self.options.check_timeout,
            stop: &self.stop,
        };
        let mut plan = plan::plan(&catalog, &datum.id, request.deps, &checking)
            .await
            .map_err(|e| {
                record.outcome = "invalid".into();
                match e {
                    ResolveError::Missing { .. } | ResolveError::NotInCatalog { .. } => {
                        fail(ErrorCode::NotFound, e.to_string())
                    }
                    ResolveError::Cycle { .. } | ResolveError::Refused { .. } => {
                        fail(ErrorCode::Failed, e.to_string())
                    }
                }
            })?;
        record.plan = plan.summary();
        let refusal = if trusted {
            None
        } else {
            let policy = Policy::load(&self.options.policy).map_err(|e| {
                record.outcome = "refused".into();
                fail(ErrorCode::Failed, e.to_string())
            })?;
            plan.judge(&policy, &catalog)
        };
        record.verdict = if refusal.is_some() {
            "forbidden"
        } else {
            "allowed"
        }
        .into();
        record.reason = refusal.clone();
        let blocked = plan.blocked();
        if request.dry_run {
            record.outcome = "planned".into();
            let wiring = (!request.wire.is_empty() && refusal.is_none()).then(|| {
                self.wire(datum, &request.wire, true)
                    .unwrap_or_else(|e| json!({"error": e}))
            });
            return Ok(json!({
                "wire": wiring,
                "datum": datum.id,
                "dry_run": true,
                "trust": record.trust,
                "allowed": refusal.is_none(),
                "reason": refusal,
                "blocked": blocked,
                "needs_confirmation": plan.needs_confirmation(),
                "plan": plan,
            }));
        }
        if let Some(refusal) = refusal {
            record.outcome = "refused".into();
            return Err(fail(ErrorCode::Forbidden, refusal));
        }
        if !blocked.is_empty() {
            record.outcome = "failed".into();
            return Err(fail(
                ErrorCode::Failed,
                format!("cannot install `{}`: {}", datum.id, blocked.join("; ")),
            ));
        }
        let key = format!("{}:{}", datum.id, request.deps);
        let result = self
            .once
            .run(ctx, &key, "installing the same datum", async {
                let (_turn, plan) = match self.lock.try_lock() {
                    Ok(guard) => (guard, plan),
                    Err(_) => {
                        ctx.progress
                            .step("queued behind another install", None, None)
                            .await;
                        let guard = self.lock.lock().await;
                        // Another install ran meanwhile: look again before acting.
                        let fresh = plan::plan(&catalog, &datum.id, request.deps, &checking)
                            .await
                            .map_err(|e| fail(ErrorCode::Failed, e.to_string()))?;
                        (guard, fresh)
                    }
                };
                let outcome = install::execute(
                    &plan,
                    &catalog,
                    &checking,
                    self.options.step_timeout,
                    &ctx.progress,
                )
                .await;
                finish(&datum.id.to_string(), &plan, outcome)
            })
            .await;
        let (outcome, lists) = match &result {
            Ok(body) => ("installed", body.clone()),
            Err(f) => ("failed", f.detail.clone().unwrap_or(Value::Null)),
        };
        record.outcome = outcome.into();
        record.installed = Outcome::ids(lists["installed"].as_array().map_or(&[], |v| v));
        record.skipped = Outcome::ids(lists["skipped"].as_array().map_or(&[], |v| v));
        record.failed = Outcome::ids(lists["failed"].as_array().map_or(&[], |v| v));
        if let Some(first) = lists["shared_with"].as_str() {
            record.reason = Some(format!("ran once, by task `{first}`"));
        }
        let mut body = result?;
        if !request.wire.is_empty() {
            let wired = match self.wire(datum, &request.wire, false) {
                Ok(wired) => wired,
                Err(e) => {
                    // The install stands (the audit lists it); the wiring did not happen.
                    let message = format!("`{}` is installed, but wiring it failed: {e}", datum.id);
                    record.outcome = "wire-failed".into();
                    record.reason = Some(message.clone());
                    return Err(fail(ErrorCode::Failed, message));
                }
            };
            record.wired = wired["wired"]
                .as_array()
                .map_or(&[][..], |v| v)
                .iter()
                .map(|w| {
                    format!(
                        "{}:{}",
                        w["app"].as_str().unwrap_or("?"),
                        w["file"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            body["wire"] = wired;
        }
        Ok(body)
    }

    /// Wires an installed MCP datum into `apps` (their user files), recorded in the home's
    /// state folder, the one holding the audit log.
    fn wire(&self, datum: &Datum, apps: &[String], dry_run: bool) -> Result<Value, String> {
        let state = self
            .options
            .audit
            .parent()
            .ok_or("the audit log has no folder")?;
        let places = crate::wire::places()?;
        crate::wire::wire(datum, apps, &places, state, dry_run)
    }

    /// Checks a task's signature; `Ok(true)` when the operator signed it.
    fn trust(
        &self,
        ctx: &TaskContext,
        request: &Request,
        record: &mut Record,
    ) -> Result<bool, Failure> {
        let Some(signature) = &request.signature else {
            return Ok(false);
        };
        let checked = sign::check_task(
            &self.options.key,
            &self.replays,
            &record.address,
            &ctx.task,
            signature,
            self.options.signature_window,
        );
        if let Err(message) = checked {
            record.trust = "bad-signature".into();
            record.verdict = "forbidden".into();
            record.outcome = "refused".into();
            return Err(fail(ErrorCode::Forbidden, message));
        }
        record.trust = "operator".into();
        Ok(true)
    }
}

fn finish(id: &str, plan: &plan::Plan, outcome: Outcome) -> Result<Value, Failure> {
    let body = json!({
        "datum": id,
        "installed": outcome.installed,
        "skipped": outcome.skipped,
        "failed": outcome.failed,
        "plan": plan.summary(),
    });
    if outcome.failed.is_empty() {
        return Ok(body);
    }
    let first = &outcome.failed[0];
    let message = format!(
        "installing `{id}` failed at `{}`: {}",
        first["id"].as_str().unwrap_or("?"),
        first["error"].as_str().unwrap_or("?")
    );
    Err(fail(ErrorCode::Failed, message).with_detail(body))
}
