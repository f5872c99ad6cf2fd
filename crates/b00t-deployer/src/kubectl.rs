//! The kubernetes executor: `kubectl` does the work, run as a program with arguments
//! (never a shell), each run with a timeout, killed with its process group when it runs
//! over or is dropped, its stdout and stderr kept apart and bounded. `up` needs a context
//! (the one given, else `kubectl config current-context`), writes the plan's files to
//! the folder it is given, applies them in one `kubectl apply` (the files with the
//! Namespace first), waits for each Deployment, StatefulSet and DaemonSet with `kubectl
//! rollout status` and for each Job with `kubectl wait` (complete or failed), then reads
//! the namespace back. `status` is `kubectl get deployments,jobs,services -o json`;
//! `down` deletes the namespace and waits for it to go. No cluster runs here: the tests
//! run a missing program, stand-in scripts, and kubectl itself on an empty kubeconfig.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use b00t_deploy::Manifests;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::DeployerError;
use crate::status::{say, Deployed, Endpoint, JobState, Progress, ServiceState};

/// The program run when none is given.
pub const PROGRAM: &str = "kubectl";
/// The timeout of a quick command (a context lookup, a `get`).
const QUICK: Duration = Duration::from_secs(30);
/// How much longer than its own `--timeout` a waiting kubectl may run before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// stdout kept (the namespace's objects as JSON); longer output is an error.
const KEEP_STDOUT: usize = 32 * 1024 * 1024;
/// stderr kept for messages.
const KEEP_STDERR: usize = 64 * 1024;
/// The most of kubectl's own words put in a message.
const SHOWN: usize = 1500;
/// The kinds `up` waits for with `kubectl rollout status`.
const ROLLED_OUT: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// kubectl against one context.
#[derive(Clone, Debug)]
pub struct Kubectl {
    /// `kubectl`, or a path to one (tests point it at a stand-in or a missing program).
    program: String,
    /// `--context`; `None`: kubectl's current context.
    context: Option<String>,
    /// `--kubeconfig`; `None`: kubectl's own (`KUBECONFIG`, `~/.kube/config`).
    kubeconfig: Option<PathBuf>,
    /// Cancelled at shutdown: a running kubectl is killed and the call ends `Stopped`.
    stop: CancellationToken,
}

/// What [`Kubectl::ask_context`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextAnswer {
    /// `kubectl config current-context`.
    pub command: String,
    /// The context, or what kubectl said (`error: current-context is not set`).
    pub answer: Result<String, String>,
}

/// One object of the plan, as its YAML names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub kind: String,
    pub name: String,
    /// `metadata.namespace`, when the document gives one.
    pub namespace: Option<String>,
    /// The plan's file it is in.
    pub file: String,
}

impl Kubectl {
    /// kubectl on `context` (`None`: the current one); `stop` ends whatever runs.
    pub fn new(context: Option<String>, stop: CancellationToken) -> Kubectl {
        Kubectl {
            program: PROGRAM.to_owned(),
            context: context.filter(|c| !c.trim().is_empty()),
            kubeconfig: None,
            stop,
        }
    }

    /// Runs `program` instead of `kubectl`.
    pub fn with_program(mut self, program: impl Into<String>) -> Kubectl {
        self.program = program.into();
        self
    }

    /// Passes `--kubeconfig <path>` to every run.
    pub fn with_kubeconfig(mut self, kubeconfig: Option<PathBuf>) -> Kubectl {
        self.kubeconfig = kubeconfig;
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// The context deploys go to: the one given, once kubectl knows it, else kubectl's
    /// current one. Without kubectl or a context, why kubernetes is not available.
    pub async fn context(&self) -> Result<String, DeployerError> {
        let asked = self.ask_context().await?;
        let said = match asked.answer {
            Ok(context) => return Ok(context),
            Err(said) => said,
        };
        Err(not_available(self.no_context(&asked.command, &said)))
    }

    /// Why there is no context to deploy to, after `command` said `said`.
    pub fn no_context(&self, command: &str, said: &str) -> String {
        match &self.context {
            Some(wanted) => format!(
                "kubectl has no context `{wanted}` (`{command}` said: {said}); name one of `kubectl config get-contexts` in [deploy] kube_context, or see the manifests with `b00t deploy <datum> --orchestrator kubernetes --dry-run`"
            ),
            None => format!(
                "no kubectl context is configured (`{command}` said: {said}); deploy needs a cluster: set one with `kubectl config use-context`, or see the manifests with `b00t deploy <datum> --orchestrator kubernetes --dry-run`"
            ),
        }
    }

    /// Runs the command that tells the context (`kubectl config current-context`, or
    /// `kubectl config get-contexts <name> -o name` for a context given): the command
    /// as a person reads it, and the context or kubectl's words. An error only when
    /// kubectl cannot be run at all.
    pub async fn ask_context(&self) -> Result<ContextAnswer, DeployerError> {
        let args = match &self.context {
            Some(context) => self.config_args(&["config", "get-contexts", context, "-o", "name"]),
            None => self.config_args(&["config", "current-context"]),
        };
        let command = self.display(&args);
        let ran = self.run(&args, QUICK).await?;
        let context = ran
            .stdout
            .trim()
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        let answer = if ran.success() && !context.is_empty() {
            Ok(context)
        } else {
            Err(ran.said().unwrap_or_else(|| ran.describe()))
        };
        Ok(ContextAnswer { command, answer })
    }

    /// Writes the plan to `dir`, applies it, and waits until `deadline` for its
    /// workloads (rollouts done, jobs ended); the namespace's state after.
    pub async fn up(
        &self,
        manifests: &Manifests,
        dir: &Path,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let context = self.context().await?;
        let objects = objects(manifests)?;
        let namespace = manifests.project.as_str();
        let files = write_files(manifests, &objects, dir)?;
        let apply = self.apply_args(&context, &files);
        say(progress, format!("run {}", self.display(&apply))).await;
        let ran = self.run(&apply, remaining(deadline) + GRACE).await?;
        for line in ran.stdout.lines().filter(|l| !l.trim().is_empty()) {
            say(progress, format!("kubectl: {line}")).await;
        }
        if !ran.success() {
            return Err(self.failed(&apply, &ran));
        }
        let rolled_out: Vec<&Object> = objects
            .iter()
            .filter(|o| ROLLED_OUT.contains(&o.kind.as_str()))
            .collect();
        for object in rolled_out {
            let namespace = object.namespace.as_deref().unwrap_or(namespace);
            let args = self.rollout_args(&context, object, namespace, remaining(deadline));
            let ran = self.run(&args, remaining(deadline) + GRACE).await?;
            if !ran.success() {
                return Err(self.waited_too_long(&args, &ran, object));
            }
            say(
                progress,
                format!(
                    "kubectl: {} `{}` rolled out",
                    object.kind.to_lowercase(),
                    object.name
                ),
            )
            .await;
        }
        let jobs: Vec<&Object> = objects.iter().filter(|o| o.kind == "Job").collect();
        for object in jobs {
            let namespace = object.namespace.as_deref().unwrap_or(namespace);
            let ended = self.wait_job(&context, object, namespace, deadline).await?;
            say(progress, format!("kubectl: job `{}` {ended}", object.name)).await;
        }
        self.status_in(&context, namespace).await
    }

    /// What the cluster says of `namespace` now.
    pub async fn status(&self, namespace: &str) -> Result<Deployed, DeployerError> {
        let context = self.context().await?;
        self.status_in(&context, namespace).await
    }

    /// Deletes `namespace` and everything in it, waiting until `deadline` for it to go;
    /// a namespace that is not there is already gone.
    pub async fn down(
        &self,
        namespace: &str,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let context = self.context().await?;
        let args = self.delete_args(&context, namespace, remaining(deadline));
        say(progress, format!("run {}", self.display(&args))).await;
        let ran = self.run(&args, remaining(deadline) + GRACE).await?;
        if !ran.success() {
            return Err(self.failed(&args, &ran));
        }
        let said = ran.stdout.trim();
        let line = if said.is_empty() {
            format!("kubectl: namespace `{namespace}` is not there")
        } else {
            format!("kubectl: {said}")
        };
        say(progress, line).await;
        Ok(Deployed::default())
    }

    async fn status_in(&self, context: &str, namespace: &str) -> Result<Deployed, DeployerError> {
        let args = self.get_args(context, namespace);
        let ran = self.run(&args, QUICK).await?;
        if !ran.success() {
            return Err(self.failed(&args, &ran));
        }
        if ran.stdout_truncated {
            return Err(DeployerError::Tool {
                command: self.display(&args),
                message: format!(
                    "its output is longer than {} MiB; look with `kubectl get all -n {namespace}`",
                    KEEP_STDOUT / (1024 * 1024)
                ),
            });
        }
        let list: Value = serde_json::from_str(&ran.stdout).map_err(|e| DeployerError::Tool {
            command: self.display(&args),
            message: format!("its output is not kubectl's JSON ({e})"),
        })?;
        let deployed = parse_objects(&list, namespace);
        if deployed.services.is_empty() && deployed.jobs.is_empty() && deployed.endpoints.is_empty()
        {
            let args = self.namespace_args(context, namespace);
            let ran = self.run(&args, QUICK).await?;
            if ran.success() && ran.stdout.trim().is_empty() {
                return Err(DeployerError::NotDeployed(format!(
                    "no namespace `{namespace}` in kubectl context `{context}`; deploy it with `b00t deploy <datum> --orchestrator kubernetes`"
                )));
            }
        }
        Ok(deployed)
    }

    /// Waits for a Job to complete or to fail, whichever kubectl sees first.
    async fn wait_job(
        &self,
        context: &str,
        object: &Object,
        namespace: &str,
        deadline: Instant,
    ) -> Result<&'static str, DeployerError> {
        let seconds = remaining(deadline);
        let complete = self.wait_args(context, object, namespace, "complete", seconds);
        let failed = self.wait_args(context, object, namespace, "failed", seconds);
        let limit = seconds + GRACE;
        let complete_run = self.run(&complete, limit);
        let failed_run = self.run(&failed, limit);
        tokio::pin!(complete_run, failed_run);
        let (mut complete_done, mut failed_done) = (None, None);
        loop {
            tokio::select! {
                ran = &mut complete_run, if complete_done.is_none() => {
                    let ran = ran?;
                    if ran.success() {
                        return Ok("completed");
                    }
                    complete_done = Some(ran);
                }
                ran = &mut failed_run, if failed_done.is_none() => {
                    let ran = ran?;
                    if ran.success() {
                        return Ok("failed");
                    }
                    failed_done = Some(ran);
                }
            }
            if let (Some(ran), Some(_)) = (&complete_done, &failed_done) {
                return Err(self.waited_too_long(&complete, ran, object));
            }
        }
    }

    fn waited_too_long(&self, args: &[String], ran: &Ran, object: &Object) -> DeployerError {
        let said = ran.said().unwrap_or_else(|| ran.describe());
        if said.contains("timed out") || ran.timed_out {
            DeployerError::Timeout(format!(
                "kubernetes: {} `{}` not ready in time (`{}` said: {said}); look with `kubectl describe {}/{}`",
                object.kind.to_lowercase(),
                object.name,
                self.display(args),
                object.kind.to_lowercase(),
                object.name
            ))
        } else {
            self.failed(args, ran)
        }
    }

    fn failed(&self, args: &[String], ran: &Ran) -> DeployerError {
        DeployerError::Tool {
            command: self.display(args),
            message: ran.said().unwrap_or_else(|| ran.describe()),
        }
    }

    /// `--kubeconfig` when set: the flags every run has.
    fn config_args(&self, rest: &[&str]) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(kubeconfig) = &self.kubeconfig {
            args.push("--kubeconfig".to_owned());
            args.push(kubeconfig.display().to_string());
        }
        args.extend(rest.iter().map(|a| (*a).to_owned()));
        args
    }

    /// `--kubeconfig` and `--context`, then `rest`.
    fn in_context(&self, context: &str, rest: &[&str]) -> Vec<String> {
        let mut args = self.config_args(&["--context", context]);
        args.extend(rest.iter().map(|a| (*a).to_owned()));
        args
    }

    fn apply_args(&self, context: &str, files: &[PathBuf]) -> Vec<String> {
        let mut args = self.in_context(context, &["apply"]);
        for file in files {
            args.push("-f".to_owned());
            args.push(file.display().to_string());
        }
        args
    }

    fn rollout_args(
        &self,
        context: &str,
        object: &Object,
        namespace: &str,
        within: Duration,
    ) -> Vec<String> {
        let target = format!("{}/{}", object.kind.to_lowercase(), object.name);
        let timeout = format!("--timeout={}s", within.as_secs().max(1));
        self.in_context(
            context,
            &["rollout", "status", &target, "-n", namespace, &timeout],
        )
    }

    fn wait_args(
        &self,
        context: &str,
        object: &Object,
        namespace: &str,
        condition: &str,
        within: Duration,
    ) -> Vec<String> {
        let target = format!("job/{}", object.name);
        let condition = format!("--for=condition={condition}");
        let timeout = format!("--timeout={}s", within.as_secs().max(1));
        self.in_context(
            context,
            &["wait", &condition, &target, "-n", namespace, &timeout],
        )
    }

    fn get_args(&self, context: &str, namespace: &str) -> Vec<String> {
        self.in_context(
            context,
            &[
                "get",
                "deployments,jobs,services",
                "-n",
                namespace,
                "-o",
                "json",
            ],
        )
    }

    fn namespace_args(&self, context: &str, namespace: &str) -> Vec<String> {
        self.in_context(
            context,
            &[
                "get",
                "namespace",
                namespace,
                "-o",
                "name",
                "--ignore-not-found",
            ],
        )
    }

    fn delete_args(&self, context: &str, namespace: &str, within: Duration) -> Vec<String> {
        let timeout = format!("--timeout={}s", within.as_secs().max(1));
        self.in_context(
            context,
            &[
                "delete",
                "namespace",
                namespace,
                "--ignore-not-found",
                "--wait=true",
                &timeout,
            ],
        )
    }

    /// How the run reads to a person: `kubectl --context kind-b00t apply -f …`.
    fn display(&self, args: &[String]) -> String {
        let mut out = self.program.clone();
        for arg in args {
            out.push(' ');
            if arg.is_empty() || arg.contains(char::is_whitespace) {
                out.push_str(&format!("'{arg}'"));
            } else {
                out.push_str(arg);
            }
        }
        out
    }

    /// Runs kubectl with `args` for at most `timeout`.
    async fn run(&self, args: &[String], timeout: Duration) -> Result<Ran, DeployerError> {
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PATH", b00t_installer::env::search_path())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| {
            not_available(format!(
                "`{}` cannot be run ({e}); install kubectl and set a context with `kubectl config use-context`, or see the manifests with `b00t deploy <datum> --orchestrator kubernetes --dry-run`",
                self.program
            ))
        })?;
        let pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let work = async {
            tokio::join!(
                read_bounded(stdout, KEEP_STDOUT),
                read_bounded(stderr, KEEP_STDERR),
                child.wait()
            )
        };
        let outcome = tokio::select! {
            done = work => Some(done),
            () = tokio::time::sleep(timeout) => None,
            () = self.stop.cancelled() => {
                kill_group(pid);
                return Err(DeployerError::Stopped);
            }
        };
        match outcome {
            Some(((stdout, stdout_truncated), (stderr, _), status)) => Ok(Ran {
                code: status.ok().and_then(|s| s.code()),
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stdout_truncated,
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
                timed_out: false,
                timeout,
            }),
            None => {
                kill_group(pid);
                let _ = child.kill().await;
                Ok(Ran {
                    code: None,
                    stdout: String::new(),
                    stdout_truncated: false,
                    stderr: String::new(),
                    timed_out: true,
                    timeout,
                })
            }
        }
    }
}

/// How one run ended.
#[derive(Debug)]
struct Ran {
    /// The exit code; `None`: killed (by a signal, or by its timeout).
    code: Option<i32>,
    stdout: String,
    stdout_truncated: bool,
    stderr: String,
    timed_out: bool,
    timeout: Duration,
}

impl Ran {
    fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// kubectl's own words: stderr, else stdout, on one line and cut.
    fn said(&self) -> Option<String> {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let line = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        if line.is_empty() {
            return None;
        }
        if line.chars().count() > SHOWN {
            let mut cut: String = line.chars().take(SHOWN).collect();
            cut.push('…');
            Some(cut)
        } else {
            Some(line)
        }
    }

    /// How it ended, when it said nothing.
    fn describe(&self) -> String {
        match self.code {
            _ if self.timed_out => format!(
                "no end within {} s, so it was killed",
                self.timeout.as_secs()
            ),
            Some(code) => format!("exit code {code} and no output"),
            None => "killed by a signal".to_owned(),
        }
    }
}

fn not_available(why: String) -> DeployerError {
    DeployerError::NotAvailable {
        orchestrator: "kubernetes".to_owned(),
        why,
    }
}

/// Time left before `deadline`, at least a second.
fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1))
}

/// Reads `stream` to its end, keeping the first `limit` bytes; whether more came.
async fn read_bounded<R: AsyncRead + Unpin>(stream: Option<R>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut stream) = stream else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(read) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
                truncated |= read > room;
            }
        }
    }
}

/// Ends a run's whole process group (credential plugins run as kubectl's children).
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// The objects of the plan, in its order: each YAML document's `kind` and
/// `metadata.name` (and `metadata.namespace`).
pub fn objects(manifests: &Manifests) -> Result<Vec<Object>, DeployerError> {
    #[derive(Deserialize)]
    struct Document {
        kind: Option<String>,
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        name: Option<String>,
        namespace: Option<String>,
    }
    let mut objects = Vec::new();
    for file in &manifests.files {
        let unreadable = |why: String| {
            DeployerError::Tool {
            command: format!("{PROGRAM} apply -f {}", file.name),
            message: format!(
                "`{}` of the plan is not Kubernetes YAML ({why}); see it with `b00t deploy <datum> --orchestrator kubernetes --dry-run`",
                file.name
            ),
        }
        };
        let documents: Vec<Document> = if file.name.ends_with(".json") {
            vec![serde_json::from_str(&file.content).map_err(|e| unreadable(e.to_string()))?]
        } else {
            serde_saphyr::from_multiple(&file.content).map_err(|e| unreadable(e.to_string()))?
        };
        for (number, document) in documents.into_iter().enumerate() {
            let kind = document.kind.filter(|k| !k.is_empty());
            let metadata = document.metadata;
            let name = metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .filter(|n| !n.is_empty());
            let (Some(kind), Some(name)) = (kind, name) else {
                return Err(unreadable(format!(
                    "document {} has no `kind` or no `metadata.name`",
                    number + 1
                )));
            };
            objects.push(Object {
                kind,
                name,
                namespace: metadata.and_then(|m| m.namespace).filter(|n| !n.is_empty()),
                file: file.name.clone(),
            });
        }
    }
    Ok(objects)
}

/// Writes the plan's files to `dir`; their paths, the files holding a Namespace first.
fn write_files(
    manifests: &Manifests,
    objects: &[Object],
    dir: &Path,
) -> Result<Vec<PathBuf>, DeployerError> {
    std::fs::create_dir_all(dir).map_err(|e| DeployerError::io("create", dir, e))?;
    let mut paths = Vec::new();
    for file in &manifests.files {
        let plain = !file.name.is_empty()
            && file.name != "."
            && file.name != ".."
            && !file.name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(DeployerError::Tool {
                command: format!("{PROGRAM} apply"),
                message: format!(
                    "the plan's file name `{}` is not a plain file name; this is a bug in the kubernetes adapter",
                    file.name
                ),
            });
        }
        let path = dir.join(&file.name);
        std::fs::write(&path, &file.content).map_err(|e| DeployerError::io("write", &path, e))?;
        let has_namespace = objects
            .iter()
            .any(|o| o.file == file.name && o.kind == "Namespace");
        paths.push((!has_namespace, path));
    }
    paths.sort_by_key(|(later, _)| *later);
    Ok(paths.into_iter().map(|(_, path)| path).collect())
}

/// A `kubectl get … -o json` list as services, jobs and endpoints.
fn parse_objects(list: &Value, namespace: &str) -> Deployed {
    let mut deployed = Deployed::default();
    let items = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_owned();
        match item["kind"].as_str() {
            Some("Deployment") => deployed.services.push(deployment_state(&name, item)),
            Some("Job") => deployed.jobs.push(job_state(&name, item)),
            Some("Service") => deployed
                .endpoints
                .extend(service_endpoints(&name, namespace, item)),
            _ => {}
        }
    }
    deployed
}

fn deployment_state(name: &str, item: &Value) -> ServiceState {
    let status = &item["status"];
    let wanted = item["spec"]["replicas"].as_u64().unwrap_or(1);
    let ready_replicas = status["readyReplicas"].as_u64().unwrap_or(0);
    let updated = status["updatedReplicas"].as_u64().unwrap_or(0);
    let condition = |kind: &str| {
        status["conditions"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["type"] == kind))
    };
    let stuck = condition("Progressing").filter(|c| c["status"] == "False");
    let failure = condition("ReplicaFailure").filter(|c| c["status"] == "True");
    let probes = item["spec"]["template"]["spec"]["containers"]
        .as_array()
        .is_some_and(|all| all.iter().any(|c| c.get("readinessProbe").is_some()));
    let ready = ready_replicas >= wanted && updated >= wanted;
    let state = if wanted == 0 {
        "stopped"
    } else if ready {
        "running"
    } else if stuck.is_some() || failure.is_some() {
        "failed"
    } else {
        "pending"
    };
    let health = (probes && wanted > 0).then_some(if ready { "healthy" } else { "starting" });
    let detail = stuck
        .or(failure)
        .or_else(|| condition("Available").filter(|c| c["status"] == "False"))
        .and_then(|c| c["message"].as_str())
        .map(str::to_owned)
        .or_else(|| Some(format!("{ready_replicas}/{wanted} ready")));
    ServiceState {
        name: name.to_owned(),
        state: state.to_owned(),
        health: health.map(str::to_owned),
        ready: ready || wanted == 0,
        restarts: None,
        detail,
    }
}

fn job_state(name: &str, item: &Value) -> JobState {
    let status = &item["status"];
    let holds = |kind: &str| {
        status["conditions"].as_array().and_then(|all| {
            all.iter()
                .find(|c| c["type"] == kind && c["status"] == "True")
        })
    };
    let (state, detail) = if let Some(done) = holds("Complete") {
        ("succeeded", done["message"].as_str().map(str::to_owned))
    } else if let Some(failed) = holds("Failed") {
        let reason = failed["reason"].as_str().unwrap_or("Failed");
        let message = failed["message"].as_str().unwrap_or("");
        (
            "failed",
            Some(
                format!("{reason}: {message}")
                    .trim_end_matches([':', ' '])
                    .to_owned(),
            ),
        )
    } else if holds("Suspended").is_some() || item["spec"]["suspend"] == true {
        (
            "pending",
            Some("suspended (waiting to be admitted)".to_owned()),
        )
    } else if status["active"].as_u64().unwrap_or(0) > 0 {
        ("running", None)
    } else {
        ("pending", None)
    };
    JobState {
        name: name.to_owned(),
        state: state.to_owned(),
        exit_code: None,
        detail,
    }
}

/// Where a Service is reached: a load balancer's address when it has one, else its
/// name in the cluster's DNS (`kubectl port-forward` brings that to a person).
fn service_endpoints(name: &str, namespace: &str, item: &Value) -> Vec<Endpoint> {
    let ingress: Vec<String> = item["status"]["loadBalancer"]["ingress"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
        .map(str::to_owned)
        .collect();
    let hosts = if ingress.is_empty() {
        vec![format!("{name}.{namespace}.svc.cluster.local")]
    } else {
        ingress
    };
    let ports = item["spec"]["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for host in &hosts {
        for port in ports {
            let Some(number) = port["port"].as_u64().and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            let named = port["appProtocol"]
                .as_str()
                .or_else(|| port["name"].as_str());
            let protocol = match named {
                Some("http") => Some("http"),
                Some("https") => Some("https"),
                _ if port["protocol"] == "UDP" => Some("udp"),
                _ => None,
            };
            out.push(Endpoint::new(name, host, number, protocol));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kubectl() -> Kubectl {
        Kubectl::new(None, CancellationToken::new())
    }

    fn object(kind: &str, name: &str) -> Object {
        Object {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: None,
            file: "manifests.yaml".to_owned(),
        }
    }

    #[test]
    fn arguments_are_built_as_kubectl_reads_them() {
        let k = kubectl();
        let check = |args: Vec<String>, expected: &str| assert_eq!(k.display(&args), expected);
        check(
            k.apply_args(
                "kind-b00t",
                &[
                    PathBuf::from("/d/ns.yaml"),
                    PathBuf::from("/d/web app.yaml"),
                ],
            ),
            "kubectl --context kind-b00t apply -f /d/ns.yaml -f '/d/web app.yaml'",
        );
        check(
            k.rollout_args(
                "c",
                &object("Deployment", "web"),
                "shop",
                Duration::from_millis(59_400),
            ),
            "kubectl --context c rollout status deployment/web -n shop --timeout=59s",
        );
        check(
            k.wait_args(
                "c",
                &object("Job", "migrate"),
                "shop",
                "complete",
                Duration::from_millis(10),
            ),
            "kubectl --context c wait --for=condition=complete job/migrate -n shop --timeout=1s",
        );
        check(
            k.get_args("c", "shop"),
            "kubectl --context c get deployments,jobs,services -n shop -o json",
        );
        check(
            k.delete_args("c", "shop", Duration::from_secs(120)),
            "kubectl --context c delete namespace shop --ignore-not-found --wait=true --timeout=120s",
        );
        check(
            k.namespace_args("c", "shop"),
            "kubectl --context c get namespace shop -o name --ignore-not-found",
        );
        let with_config = kubectl()
            .with_program("/opt/k")
            .with_kubeconfig(Some(PathBuf::from("/h/kube.yaml")));
        assert_eq!(
            with_config.display(&with_config.config_args(&["config", "current-context"])),
            "/opt/k --kubeconfig /h/kube.yaml config current-context"
        );
        assert_eq!(
            with_config.in_context("c", &["get", "ns"]),
            [
                "--kubeconfig",
                "/h/kube.yaml",
                "--context",
                "c",
                "get",
                "ns"
            ]
        );
    }

    fn plan(files: &[(&str, &str)]) -> Manifests {
        Manifests {
            orchestrator: b00t_deploy::Orchestrator::Kubernetes,
            project: "shop".into(),
            files: files
                .iter()
                .map(|(name, content)| b00t_deploy::Manifest {
                    name: (*name).into(),
                    content: (*content).into(),
                })
                .collect(),
            mcp_calls: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn objects_are_read_from_every_document() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 1\n---\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\n";
        let found = objects(&plan(&[("manifests.yaml", yaml)])).unwrap();
        let names: Vec<(&str, &str, Option<&str>)> = found
            .iter()
            .map(|o| (o.kind.as_str(), o.name.as_str(), o.namespace.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("Namespace", "shop", None),
                ("Deployment", "web", Some("shop")),
                ("Job", "migrate", None)
            ]
        );
        for (content, words) in [
            ("kind: [unclosed", "is not Kubernetes YAML"),
            (
                "kind: Service\nmetadata: {}\n",
                "document 1 has no `kind` or no `metadata.name`",
            ),
        ] {
            let e = objects(&plan(&[("m.yaml", content)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn files_are_written_with_the_namespace_first_and_plain_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let manifests = plan(&[
            ("a-web.yaml", "kind: Deployment\nmetadata: {name: web}\n"),
            (
                "z-namespace.yaml",
                "kind: Namespace\nmetadata: {name: shop}\n",
            ),
        ]);
        let found = objects(&manifests).unwrap();
        let paths = write_files(&manifests, &found, dir.path()).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["z-namespace.yaml", "a-web.yaml"]);
        assert!(std::fs::read_to_string(&paths[1])
            .unwrap()
            .contains("Deployment"));
        for name in ["../x.yaml", "a/b.yaml", "", ".."] {
            let bad = plan(&[(name, "kind: Namespace\nmetadata: {name: shop}\n")]);
            let e = write_files(&bad, &[], dir.path()).unwrap_err().to_string();
            assert!(e.contains("not a plain file name"), "{name}: {e}");
        }
    }

    #[test]
    fn the_namespace_reads_as_services_jobs_and_endpoints() {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"kind": "Deployment", "metadata": {"name": "web"},
             "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "readinessProbe": {}}]}}},
             "status": {"readyReplicas": 2, "updatedReplicas": 2}},
            {"kind": "Deployment", "metadata": {"name": "api"}, "spec": {"replicas": 1},
             "status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"api-1\" has timed out progressing."}]}},
            {"kind": "Deployment", "metadata": {"name": "cache"}, "spec": {"replicas": 1}, "status": {}},
            {"kind": "Job", "metadata": {"name": "migrate"}, "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}},
            {"kind": "Job", "metadata": {"name": "seed"}, "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}},
            {"kind": "Job", "metadata": {"name": "report"}, "status": {"active": 1}},
            {"kind": "Service", "metadata": {"name": "web"}, "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
            {"kind": "Service", "metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 5432, "protocol": "TCP"}]},
             "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}},
        ]});
        let deployed = parse_objects(&list, "shop");
        let services: Vec<(&str, &str, Option<&str>, bool)> = deployed
            .services
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.state.as_str(),
                    s.health.as_deref(),
                    s.ready,
                )
            })
            .collect();
        assert_eq!(
            services,
            [
                ("web", "running", Some("healthy"), true),
                ("api", "failed", None, false),
                ("cache", "pending", None, false)
            ]
        );
        assert!(deployed.services[1]
            .detail
            .as_deref()
            .unwrap()
            .contains("timed out progressing"));
        assert_eq!(deployed.services[2].detail.as_deref(), Some("0/1 ready"));
        let jobs: Vec<(&str, &str)> = deployed
            .jobs
            .iter()
            .map(|j| (j.name.as_str(), j.state.as_str()))
            .collect();
        assert_eq!(
            jobs,
            [
                ("migrate", "succeeded"),
                ("seed", "failed"),
                ("report", "running")
            ]
        );
        assert_eq!(
            deployed.jobs[1].detail.as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        let urls: Vec<&str> = deployed.endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://web.shop.svc.cluster.local:80/",
                "tcp://203.0.113.7:5432"
            ]
        );
    }
}
