//! The deployer agent: one skill per orchestrator (`b00t.deployer.compose`,
//! `.kubernetes`, `.nomad`, `.direct`). Each task reads the catalog afresh, makes the
//! intent and the orchestrator's manifests, and then:
//! - `plan` answers them and changes nothing (anyone may plan);
//! - `status` answers what the orchestrator says now (anyone may ask);
//! - `up` and `down` run only when the operator signed the task, or when policy.toml
//!   allows every datum the deploy runs or installs (the installer's rules, members
//!   included). `up` installs cli/apt/mcp members through the installer, then hands the
//!   manifests to the orchestrator and waits for every service to be ready and every job
//!   to end; its result holds the endpoints. `down` removes what `up` made.
//!
//! Every decision goes to the audit log. The same task twice runs once (the agent host's
//! ledger); two tasks for the same project at once run once (`Once`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, TaskContext};
use b00t_bus::BusOptions;
use b00t_datums::{Catalog, DatumId};
use b00t_deploy::refs::Vars;
use b00t_deploy::{DeployError, Intent, Manifests, Orchestrator};
use b00t_installer::audit::{AuditLog, DeployRecord};
use b00t_installer::once::Once;
use b00t_installer::policy::Policy;
use b00t_installer::sign::{self, OperatorKey, Replays};
use b00t_proto::{ErrorCode, Name};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compose::Compose;
use crate::direct::Supervisor;
use crate::error::DeployerError;
use crate::installs::MemberInstaller;
use crate::records::{Record, Records};
use crate::request::{self, Action, Request};
use crate::status::{Deployed, Endpoint, Progress};

/// The deployer's agent name in `b00t up`.
pub const AGENT: &str = "deployer";

/// The skills: one per orchestrator.
pub const SKILLS: &[&str] = &["compose", "kubernetes", "nomad", "direct"];

/// How long a pull of one image may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// Where the deployer reads and writes, and its limits.
#[derive(Clone, Debug)]
pub struct DeployerOptions {
    /// Catalog folders, in order.
    pub roots: Vec<PathBuf>,
    pub policy: PathBuf,
    pub audit: PathBuf,
    pub key: OperatorKey,
    pub signature_window: Duration,
    /// `<state>/deploy`.
    pub deploy_dir: PathBuf,
    pub up_timeout: Duration,
    /// Nomad's address and token (`[deploy] nomad_addr`, `NOMAD_ADDR`, `NOMAD_TOKEN`).
    pub nomad_addr: Option<String>,
    pub nomad_token: Option<String>,
    /// `[deploy] kube_context`; `None`: kubectl's current one.
    pub kube_context: Option<String>,
    /// The connection members are installed over; `None`: a deploy with members that
    /// need installing fails saying so.
    pub installs: Option<BusOptions>,
}

impl DeployerOptions {
    /// The options of `home`, with member installs over `installs`.
    pub fn for_home(
        home: &b00t_config::Home,
        installs: Option<BusOptions>,
    ) -> Result<DeployerOptions, DeployerError> {
        let config = home.config();
        let key = OperatorKey::load_or_create(&home.operator_key_file()).map_err(|e| {
            DeployerError::io(
                "read",
                home.operator_key_file(),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        Ok(DeployerOptions {
            roots: home.datum_roots(),
            policy: home.policy_file(),
            audit: home.audit_file(),
            key,
            signature_window: config.installer.signature_window(),
            deploy_dir: home.deploy_dir(),
            up_timeout: config.deploy.up_timeout(),
            nomad_addr: nonempty(&config.deploy.nomad_addr)
                .or_else(|| b00t_config::env::var(b00t_config::env::NOMAD_ADDR)),
            nomad_token: b00t_config::env::var(b00t_config::env::NOMAD_TOKEN),
            kube_context: nonempty(&config.deploy.kube_context),
            installs,
        })
    }
}

/// Builds the deployer agent named `name`. `stop` ends running deploys and the direct
/// runs' processes at shutdown.
pub fn spec(name: Name, options: DeployerOptions, stop: CancellationToken) -> AgentSpec {
    let installs = options
        .installs
        .clone()
        .map(|bus| MemberInstaller::new(bus, stop.clone()));
    let inner = Arc::new(Inner {
        audit: AuditLog::new(options.audit.clone()),
        records: Records::new(&options.deploy_dir),
        compose: Compose::new(&options.deploy_dir, stop.clone()),
        direct: Supervisor::new(options.deploy_dir.join("direct"), stop.clone()),
        installs,
        options,
        replays: Replays::new(),
        once: Once::new(),
        stop,
    });
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(inner.clone().restore_direct());
    }
    AgentSpec {
        name,
        kind: "deployer".to_owned(),
        skills: SKILLS
            .iter()
            .map(|s| Name::parse(s).expect("a valid skill name"))
            .collect(),
        handler: Arc::new(Deployer(inner)),
        skill_updates: None,
        container: None,
    }
}

struct Inner {
    options: DeployerOptions,
    audit: AuditLog,
    records: Records,
    compose: Compose,
    direct: Supervisor,
    installs: Option<MemberInstaller>,
    replays: Replays,
    once: Once,
    stop: CancellationToken,
}

struct Deployer(Arc<Inner>);

impl Handler for Deployer {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let inner = self.0.clone();
        Box::pin(async move {
            let started = StdInstant::now();
            let mut record = DeployRecord {
                ts: b00t_proto::clock::now_rfc3339(),
                id: ctx.task.id.to_string(),
                address: format!("b00t.{}.{}", ctx.agent, ctx.skill),
                from: ctx.task.from.clone().unwrap_or_else(|| "-".into()),
                trust: "unsigned".into(),
                orchestrator: ctx.skill.to_string(),
                verdict: "-".into(),
                outcome: "invalid".into(),
                ..DeployRecord::default()
            };
            let result = inner.decide(&ctx, &mut record).await;
            record.ms = started.elapsed().as_millis() as u64;
            if let Err(failure) = &result {
                record.reason.get_or_insert_with(|| failure.message.clone());
            }
            if let Err(e) = inner.audit.append_deploy(&record) {
                tracing::error!("audit log: {e}");
            }
            result
        })
    }
}

fn fail(code: ErrorCode, message: impl Into<String>) -> Failure {
    Failure::new(code, message)
}

/// The protocol's code for what went wrong.
fn failure(e: &DeployerError) -> Failure {
    let code = match e {
        DeployerError::Intent(DeployError::NotFound(_)) | DeployerError::NotDeployed(_) => {
            ErrorCode::NotFound
        }
        DeployerError::Timeout(_) => ErrorCode::Timeout,
        _ => ErrorCode::Failed,
    };
    fail(code, e.to_string())
}

impl Inner {
    async fn decide(&self, ctx: &TaskContext, record: &mut DeployRecord) -> Result<Value, Failure> {
        let request = request::parse(&ctx.task).map_err(|m| fail(ErrorCode::BadRequest, m))?;
        record.datum = request.datum.clone();
        record.action = request.action.as_str().to_owned();
        let orchestrator: Orchestrator = ctx
            .skill
            .as_str()
            .parse()
            .map_err(|m: String| fail(ErrorCode::BadRequest, m))?;
        let trusted = self.trust(ctx, &request, record)?;
        let roots = self.options.roots.clone();
        let catalog = tokio::task::spawn_blocking(move || Catalog::load(&roots))
            .await
            .map_err(|e| {
                fail(
                    ErrorCode::Failed,
                    format!("reading the catalog failed: {e}"),
                )
            })?;
        let vars = Vars::from_env();
        let intent = Intent::from_catalog(&catalog, &request.datum, &vars)
            .map_err(|e| failure(&DeployerError::Intent(e)))?;
        record.datum = intent.datum.to_string();
        record.project = intent.project.clone();
        let manifests = b00t_deploy::translate(&intent, orchestrator)
            .map_err(|e| failure(&DeployerError::Intent(e)))?;
        let nodes = nodes(&intent);
        record.nodes = nodes.iter().map(ToString::to_string).collect();
        let refusal = if trusted {
            None
        } else {
            self.judge(&catalog, &nodes)?
        };
        if request.action.changes() || request.action == Action::Plan {
            record.verdict = if refusal.is_some() {
                "forbidden"
            } else {
                "allowed"
            }
            .into();
            record.reason = refusal.clone();
        }
        let head = json!({
            "datum": intent.datum,
            "orchestrator": orchestrator,
            "project": intent.project,
            "action": request.action.as_str(),
            "trust": record.trust,
        });
        match request.action {
            Action::Plan => {
                record.outcome = "planned".into();
                let mut body = head;
                body["allowed"] = json!(refusal.is_none());
                body["reason"] = json!(refusal);
                body["installs"] = json!(intent.installs);
                body["services"] = json!(intent.services().map(|w| &w.name).collect::<Vec<_>>());
                body["jobs"] = json!(intent.jobs().map(|w| &w.name).collect::<Vec<_>>());
                body["manifests"] = json!(manifests.files);
                body["mcp_calls"] = json!(manifests.mcp_calls);
                body["notes"] = json!(intent
                    .notes
                    .iter()
                    .chain(&manifests.notes)
                    .collect::<Vec<_>>());
                Ok(body)
            }
            Action::Status => {
                let deployed = self
                    .status(orchestrator, &intent, &manifests)
                    .await
                    .map_err(|e| failure(&e))?;
                record.outcome = "status".into();
                let mut body = head;
                body["deployed"] = json!(self
                    .records
                    .get(orchestrator, &intent.project)
                    .ok()
                    .flatten()
                    .is_some());
                merge(&mut body, &deployed);
                Ok(body)
            }
            Action::Up | Action::Down => {
                if let Some(refusal) = refusal {
                    record.outcome = "refused".into();
                    return Err(fail(ErrorCode::Forbidden, refusal));
                }
                let key = format!("{orchestrator}:{}", intent.project);
                let doing = format!("deploying `{}` through {orchestrator}", intent.project);
                let action = request.action;
                // Boxed with its `Send` spelled out: rustc cannot prove it for an async
                // block borrowing across `Once::run` (rust-lang/rust#102211).
                let work: std::pin::Pin<
                    Box<dyn std::future::Future<Output = Result<Value, Failure>> + Send + '_>,
                > = Box::pin(self.act(
                    ctx,
                    action,
                    orchestrator,
                    &intent,
                    &manifests,
                    trusted,
                    head,
                ));
                let result = self.once.run(ctx, &key, &doing, work).await;
                self.finish(action, result, record)
            }
        }
    }

    /// Runs `up` or `down` with progress, and makes the body of its reply.
    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        ctx: &TaskContext,
        action: Action,
        orchestrator: Orchestrator,
        intent: &Intent,
        manifests: &Manifests,
        trusted: bool,
        head: Value,
    ) -> Result<Value, Failure> {
        let (progress, forwarding) = forward(ctx);
        let outcome = match action {
            Action::Up => {
                self.up(ctx, orchestrator, intent, manifests, trusted, &progress)
                    .await
            }
            _ => self.down(orchestrator, intent, manifests, &progress).await,
        };
        drop(progress);
        let _ = forwarding.await;
        let mut body = head;
        match outcome {
            Ok(deployed) => {
                merge(&mut body, &deployed);
                settle(action, intent, body, self.options.up_timeout)
            }
            Err(e) => Err(failure(&e)),
        }
    }

    /// The result of `up` or `down` as the protocol says, and its audit outcome.
    fn finish(
        &self,
        action: Action,
        result: Result<Value, Failure>,
        record: &mut DeployRecord,
    ) -> Result<Value, Failure> {
        match &result {
            Ok(body) => {
                record.outcome = if action == Action::Up {
                    "deployed"
                } else {
                    "removed"
                }
                .into();
                record.endpoints = body["endpoints"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(|e| e["url"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(first) = body["shared_with"].as_str() {
                    record.reason = Some(format!("ran once, by task `{first}`"));
                }
            }
            Err(_) => record.outcome = "failed".into(),
        }
        result
    }
}

impl Inner {
    /// Starts again the direct deployments the records hold (their processes ended with
    /// the runtime that ran them), each from a fresh read of its datum; one that cannot
    /// come back is logged and its record says `stopped`.
    async fn restore_direct(self: Arc<Self>) {
        let direct = self.direct.clone();
        if let Ok(killed) = tokio::task::spawn_blocking(move || direct.reap_orphans()).await {
            for orphan in killed {
                tracing::warn!("killed a direct process a killed runtime left behind: {orphan}");
            }
        }
        let (records, _) = self.records.list();
        for mut record in records
            .into_iter()
            .filter(|r| r.orchestrator == Orchestrator::Direct)
        {
            if self.stop.is_cancelled() {
                return;
            }
            let roots = self.options.roots.clone();
            let catalog = match tokio::task::spawn_blocking(move || Catalog::load(&roots)).await {
                Ok(catalog) => catalog,
                Err(_) => return,
            };
            let restored = async {
                let intent = Intent::from_catalog(&catalog, &record.datum, &Vars::from_env())?;
                let plan = b00t_deploy::adapters::direct::plan(&intent)?;
                let (progress, mut lines) = mpsc::channel::<String>(64);
                let project = intent.project.clone();
                let logging = tokio::spawn(async move {
                    while let Some(line) = lines.recv().await {
                        tracing::info!(project = %project, "restore: {line}");
                    }
                });
                let up = self
                    .direct
                    .up(plan, &progress, self.options.up_timeout)
                    .await;
                drop(progress);
                let _ = logging.await;
                up.map(|deployed| with_protocols(deployed, &intent))
            };
            match restored.await {
                Ok(deployed) => {
                    tracing::info!(datum = %record.datum, "direct deployment started again");
                    record.state = if deployed.all_ready() {
                        "ready"
                    } else {
                        "not-ready"
                    }
                    .into();
                    record.endpoints = deployed.endpoints;
                }
                Err(e) => {
                    tracing::warn!(datum = %record.datum, "direct deployment not started again: {e}");
                    record.state = "stopped".into();
                }
            }
            if let Err(e) = self.records.put(&record) {
                tracing::warn!("deployment record: {e}");
            }
        }
    }

    /// Checks a task's signature; `Ok(true)` when the operator signed it.
    fn trust(
        &self,
        ctx: &TaskContext,
        request: &Request,
        record: &mut DeployRecord,
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

    /// The first datum of `nodes` that policy.toml does not let an unsigned task deploy
    /// or install, with the rule; `None` when all pass.
    fn judge(&self, catalog: &Catalog, nodes: &[DatumId]) -> Result<Option<String>, Failure> {
        let policy = Policy::load(&self.options.policy)
            .map_err(|e| fail(ErrorCode::Failed, e.to_string()))?;
        for id in nodes {
            let Some(datum) = catalog.get(id) else {
                return Ok(Some(format!("datum `{id}` is not in the catalog")));
            };
            let verdict = policy.judge(datum);
            if !verdict.allowed {
                let why = verdict.reasons.join("; ");
                return Ok(Some(format!(
                    "an unsigned deploy may not run `{id}`: {why}; the operator can deploy it signed with `b00t deploy`"
                )));
            }
        }
        Ok(None)
    }

    async fn up(
        &self,
        ctx: &TaskContext,
        orchestrator: Orchestrator,
        intent: &Intent,
        manifests: &Manifests,
        trusted: bool,
        progress: &Progress,
    ) -> Result<Deployed, DeployerError> {
        let deadline = Instant::now() + self.options.up_timeout;
        for member in &intent.installs {
            let Some(installs) = &self.installs else {
                return Err(DeployerError::NotAvailable {
                    orchestrator: orchestrator.to_string(),
                    why: format!(
                        "member `{member}` must be installed first and this deployer has no bus connection to the installer"
                    ),
                });
            };
            let key = trusted.then_some(&self.options.key);
            installs
                .install(member, key, progress, deadline)
                .await
                .map_err(|why| DeployerError::Tool {
                    command: format!("b00t.installer.{} {member}", member.kind()),
                    message: why,
                })?;
        }
        let deployed = match orchestrator {
            Orchestrator::Compose => {
                let docker = engine(orchestrator).await?;
                crate::images::ensure(&docker, intent, progress, PULL_TIMEOUT, &self.stop).await?;
                let file = self.compose.write(intent, manifests)?;
                self.compose
                    .up(&docker, intent, &file, progress, deadline)
                    .await?
            }
            Orchestrator::Direct => {
                let plan = b00t_deploy::adapters::direct::plan(intent)?;
                let deployed = self
                    .direct
                    .up(
                        plan,
                        progress,
                        deadline.saturating_duration_since(Instant::now()),
                    )
                    .await?;
                with_protocols(deployed, intent)
            }
            Orchestrator::Kubernetes => {
                let dir = self
                    .options
                    .deploy_dir
                    .join("kubernetes")
                    .join(&intent.project);
                crate::kubectl::Kubectl::new(self.options.kube_context.clone(), self.stop.clone())
                    .up(manifests, &dir, progress, deadline)
                    .await?
            }
            Orchestrator::Nomad => {
                let nomad = self.nomad(orchestrator)?;
                with_protocols(
                    boxed(nomad.up(manifests, progress, deadline)).await?,
                    intent,
                )
            }
        };
        let record = Record {
            datum: intent.datum.to_string(),
            orchestrator,
            project: intent.project.clone(),
            deployed_at: b00t_proto::clock::now_rfc3339(),
            task: ctx.task.id.to_string(),
            from: ctx.task.from.clone().unwrap_or_else(|| "-".into()),
            state: if deployed.all_ready() && deployed.jobs_done() {
                "ready"
            } else {
                "not-ready"
            }
            .to_owned(),
            services: intent.services().map(|w| w.name.clone()).collect(),
            jobs: intent.jobs().map(|w| w.name.clone()).collect(),
            endpoints: deployed.endpoints.clone(),
            manifests: manifests
                .files
                .iter()
                .map(|f| {
                    self.options
                        .deploy_dir
                        .join(orchestrator.as_str())
                        .join(&intent.project)
                        .join(&f.name)
                })
                .collect(),
        };
        self.records.put(&record)?;
        Ok(deployed)
    }

    async fn down(
        &self,
        orchestrator: Orchestrator,
        intent: &Intent,
        manifests: &Manifests,
        progress: &Progress,
    ) -> Result<Deployed, DeployerError> {
        let deadline = Instant::now() + self.options.up_timeout;
        let deployed = match orchestrator {
            Orchestrator::Compose => {
                let docker = engine(orchestrator).await?;
                let file = self.compose.write(intent, manifests)?;
                self.compose
                    .down(&docker, intent, &file, progress, deadline)
                    .await?
            }
            Orchestrator::Direct => self.direct.down(&intent.project).await?,
            Orchestrator::Kubernetes => {
                crate::kubectl::Kubectl::new(self.options.kube_context.clone(), self.stop.clone())
                    .down(&intent.project, progress, deadline)
                    .await?
            }
            Orchestrator::Nomad => {
                let nomad = self.nomad(orchestrator)?;
                boxed(nomad.down(&intent.project, progress)).await?
            }
        };
        self.records.remove(orchestrator, &intent.project)?;
        Ok(deployed)
    }

    /// What the orchestrator says now; nothing deployed is an empty answer.
    async fn status(
        &self,
        orchestrator: Orchestrator,
        intent: &Intent,
        _manifests: &Manifests,
    ) -> Result<Deployed, DeployerError> {
        let found = match orchestrator {
            Orchestrator::Compose => {
                let docker = engine(orchestrator).await?;
                self.compose.status(&docker, intent).await
            }
            Orchestrator::Direct => self.direct.status(&intent.project).await,
            Orchestrator::Kubernetes => {
                crate::kubectl::Kubectl::new(self.options.kube_context.clone(), self.stop.clone())
                    .status(&intent.project)
                    .await
            }
            Orchestrator::Nomad => {
                let nomad = self.nomad(orchestrator)?;
                boxed(nomad.status(&intent.project)).await
            }
        };
        match found {
            Ok(deployed) => Ok(with_protocols(deployed, intent)),
            Err(DeployerError::NotDeployed(_)) => Ok(Deployed::default()),
            Err(e) => Err(e),
        }
    }

    fn nomad(
        &self,
        orchestrator: Orchestrator,
    ) -> Result<crate::nomad::NomadClient, DeployerError> {
        let Some(addr) = &self.options.nomad_addr else {
            return Err(DeployerError::NotAvailable {
                orchestrator: orchestrator.to_string(),
                why: "no Nomad address: set NOMAD_ADDR (e.g. http://127.0.0.1:4646) or [deploy] nomad_addr in b00t.toml, or see the job JSON with `b00t deploy <datum> --orchestrator nomad --dry-run`".to_owned(),
            });
        };
        crate::nomad::NomadClient::new(addr, self.options.nomad_token.clone())
    }
}

/// A future behind a box that says it is `Send`: rustc cannot prove that for some
/// futures borrowed across the handler's own (rust-lang/rust#102211); boxed here, it
/// checks each where its lifetimes are known.
fn boxed<'a, T>(
    future: impl std::future::Future<Output = T> + Send + 'a,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>> {
    Box::pin(future)
}

/// The local engine, or why compose cannot run.
async fn engine(orchestrator: Orchestrator) -> Result<b00t_container::Docker, DeployerError> {
    b00t_container::connect_within(Duration::from_secs(5))
        .await
        .map_err(|e| DeployerError::NotAvailable {
            orchestrator: orchestrator.to_string(),
            why: format!("no Docker engine answers: {e}"),
        })
}

/// Every datum a deploy runs or installs: the stack or job, its workloads' datums, its
/// members to install; each once, in that order.
fn nodes(intent: &Intent) -> Vec<DatumId> {
    let mut nodes = vec![intent.datum.clone()];
    for id in intent
        .workloads
        .iter()
        .map(|w| &w.datum)
        .chain(&intent.installs)
    {
        if !nodes.contains(id) {
            nodes.push(id.clone());
        }
    }
    nodes
}

/// A channel for the executors' progress lines and the task that turns each into a
/// `progress` reply; the task ends when every sender is dropped.
fn forward(ctx: &TaskContext) -> (Progress, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<String>(64);
    let progress = ctx.progress.clone();
    let task = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            progress.step(&line, None, None).await;
        }
    });
    (tx, task)
}

/// Puts a deployment's services, jobs and endpoints into a result body.
fn merge(body: &mut Value, deployed: &Deployed) {
    body["ready"] = json!(deployed.all_ready() && deployed.jobs_done());
    body["services"] = json!(deployed.services);
    body["jobs"] = json!(deployed.jobs);
    body["endpoints"] = json!(deployed.endpoints);
}

/// An `up` that ended with something not ready, or a job that failed, is a `failed`
/// error whose detail is the whole body; everything else is the result.
fn settle(
    action: Action,
    intent: &Intent,
    body: Value,
    timeout: Duration,
) -> Result<Value, Failure> {
    if action != Action::Up || body["ready"] == true {
        return Ok(body);
    }
    let failed_job = body["jobs"].as_array().and_then(|jobs| {
        jobs.iter().find(|j| j["state"] == "failed").map(|j| {
            format!(
                "job `{}` failed (exit {}): {}",
                j["name"].as_str().unwrap_or("?"),
                j["exit_code"],
                j["detail"].as_str().unwrap_or("its logs say why")
            )
        })
    });
    let message = failed_job.unwrap_or_else(|| {
        let waiting: Vec<String> = body["services"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["ready"] != true)
            .map(|s| {
                format!(
                    "service `{}` is {}{}",
                    s["name"].as_str().unwrap_or("?"),
                    s["state"].as_str().unwrap_or("?"),
                    s["health"]
                        .as_str()
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default()
                )
            })
            .chain(
                body["jobs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|j| j["state"] != "succeeded")
                    .map(|j| {
                        format!(
                            "job `{}` is {}",
                            j["name"].as_str().unwrap_or("?"),
                            j["state"].as_str().unwrap_or("?")
                        )
                    }),
            )
            .collect();
        format!(
            "`{}` was not ready within {} s ([deploy] up_timeout_ms): {}; `b00t deployments` and the orchestrator's logs say more",
            intent.project,
            timeout.as_secs(),
            waiting.join(", ")
        )
    });
    Err(fail(ErrorCode::Failed, message).with_detail(body))
}

/// Endpoints with the protocol `[b00t.services]` gives each service.
fn with_protocols(mut deployed: Deployed, intent: &Intent) -> Deployed {
    for endpoint in &mut deployed.endpoints {
        let protocol = intent
            .workload(&endpoint.service)
            .and_then(|w| w.protocol.as_deref());
        if protocol.is_some() {
            *endpoint = Endpoint::new(&endpoint.service, &endpoint.host, endpoint.port, protocol);
        }
    }
    deployed
}
