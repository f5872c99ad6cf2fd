//! The nomad executor: Nomad's HTTP API does the work. `up` validates every job of the
//! plan (`POST /v1/validate/job`) before it registers any (`POST /v1/jobs`), then reads
//! the jobs' allocations until every service group runs (healthy, when Nomad's
//! deployment says so) and every batch group has ended, telling each change as a
//! progress line; the endpoints come from the running allocations' ports
//! (`AllocatedResources.Shared.Ports`). `down` deregisters the project's jobs (`<project>`
//! and `<project>-jobs`) with `purge`. Every request has a 5 s timeout and a bounded
//! answer; Nomad's own words come back in [`DeployerError::Api`]. No Nomad runs here:
//! the tests drive this against b00t-testkit's fake agent, which speaks Nomad's JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use b00t_deploy::Manifests;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::time::Instant;

use crate::error::DeployerError;
use crate::status::{say, Deployed, Endpoint, JobState, Progress, ServiceState};

/// Where a local Nomad agent listens, for messages.
pub const EXAMPLE_ADDR: &str = "http://127.0.0.1:4646";
/// The timeout of one request, the answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest answer read (a job's allocations can be long; anything past this is refused).
const MAX_ANSWER: usize = 8 * 1024 * 1024;
/// The most of an error body shown in a message.
const MAX_SHOWN: usize = 2000;
/// How often `up` reads the allocations while it waits.
const POLL: Duration = Duration::from_millis(500);

/// A client of one Nomad agent's HTTP API.
#[derive(Clone)]
pub struct NomadClient {
    /// The agent's address, `http://host:port` (and any path prefix a proxy adds).
    base: Url,
    /// Sent as `X-Nomad-Token`; `None` for a cluster without ACLs.
    token: Option<String>,
    /// `?namespace=` for the requests about the project's jobs; `None`: Nomad's `default`.
    namespace: Option<String>,
    http: reqwest::Client,
    /// Each request's limit, its answer included ([`REQUEST_TIMEOUT`] by default).
    timeout: Duration,
    poll: Duration,
}

impl std::fmt::Debug for NomadClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NomadClient")
            .field("addr", &self.addr())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl NomadClient {
    /// A client of the agent at `addr` (`NOMAD_ADDR`, e.g. `http://127.0.0.1:4646`),
    /// sending `token` (`NOMAD_TOKEN`) when given. Only `http://` is spoken: this build
    /// has no TLS.
    pub fn new(addr: &str, token: Option<String>) -> Result<NomadClient, DeployerError> {
        let trimmed = addr.trim();
        let unusable = |why: String| DeployerError::NotAvailable {
            orchestrator: "nomad".to_owned(),
            why,
        };
        let with_scheme = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let base = Url::parse(&with_scheme).map_err(|e| {
            unusable(format!(
                "NOMAD_ADDR `{trimmed}` is no address ({e}); set it to Nomad's HTTP address, e.g. {EXAMPLE_ADDR}"
            ))
        })?;
        match base.scheme() {
            "http" => {}
            "https" => {
                return Err(unusable(format!(
                    "NOMAD_ADDR `{trimmed}` uses TLS, which this build of b00t does not speak; use the agent's plain HTTP address (e.g. {EXAMPLE_ADDR} on the node), or see the job JSON with `b00t deploy <datum> --orchestrator nomad --dry-run` and submit it with `nomad job run`"
                )))
            }
            other => {
                return Err(unusable(format!(
                    "NOMAD_ADDR `{trimmed}` has the scheme `{other}`; set it to Nomad's HTTP address, e.g. {EXAMPLE_ADDR}"
                )))
            }
        }
        if base.host_str().is_none_or(str::is_empty) {
            return Err(unusable(format!(
                "NOMAD_ADDR `{trimmed}` names no host; set it to Nomad's HTTP address, e.g. {EXAMPLE_ADDR}"
            )));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(REQUEST_TIMEOUT);
        if is_loopback(&base) {
            // As Go's ProxyFromEnvironment (Nomad's own CLI): a local agent is reached
            // directly, whatever HTTP_PROXY says.
            builder = builder.no_proxy();
        }
        let http = builder.build().map_err(|e| DeployerError::Api {
            api: "nomad".to_owned(),
            message: format!("cannot make an HTTP client: {e}"),
        })?;
        Ok(NomadClient {
            base,
            token: token.filter(|t| !t.trim().is_empty()),
            namespace: None,
            http,
            timeout: REQUEST_TIMEOUT,
            poll: POLL,
        })
    }

    /// [`NomadClient::new`], or, without an address, why Nomad cannot be used and how to
    /// see the jobs anyway.
    pub fn from_settings(
        addr: Option<&str>,
        token: Option<String>,
    ) -> Result<NomadClient, DeployerError> {
        match addr.map(str::trim).filter(|a| !a.is_empty()) {
            Some(addr) => NomadClient::new(addr, token),
            None => Err(DeployerError::NotAvailable {
                orchestrator: "nomad".to_owned(),
                why: format!(
                    "no Nomad address: set NOMAD_ADDR (e.g. {EXAMPLE_ADDR}), or see the job JSON with `b00t deploy <datum> --orchestrator nomad --dry-run`"
                ),
            }),
        }
    }

    /// Asks about and deregisters the project's jobs in `namespace` instead of `default`.
    pub fn with_namespace(mut self, namespace: Option<String>) -> NomadClient {
        self.namespace = namespace.filter(|n| !n.is_empty());
        self
    }

    /// Gives each request `timeout` instead of [`REQUEST_TIMEOUT`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> NomadClient {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How often `up` reads the allocations (500 ms by default).
    pub fn with_poll_interval(mut self, poll: Duration) -> NomadClient {
        self.poll = poll.max(Duration::from_millis(10));
        self
    }

    /// The agent's address as given, without a trailing `/`.
    pub fn addr(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// `GET /v1/status/leader`: the leader's RPC address (`127.0.0.1:4647`); empty when
    /// the cluster has none.
    pub async fn leader(&self) -> Result<String, DeployerError> {
        let leader: Value = self
            .json(Method::GET, &["v1", "status", "leader"], &[], None)
            .await?;
        Ok(leader.as_str().unwrap_or_default().to_owned())
    }

    /// `GET /v1/status/leader` as it came back, status and body (detection shows both);
    /// an error only when no answer came.
    pub async fn ask_leader(&self) -> Result<(u16, String), DeployerError> {
        let (status, text) = self
            .call(Method::GET, &["v1", "status", "leader"], &[], None)
            .await?;
        Ok((status.as_u16(), text))
    }

    /// `http://127.0.0.1:4646/v1/status/leader`.
    pub fn leader_url(&self) -> String {
        format!("{}/v1/status/leader", self.addr())
    }

    /// Validates every job of `manifests` with Nomad; the warnings Nomad gave, or the
    /// first job it refuses, with its reasons.
    pub async fn validate(&self, manifests: &Manifests) -> Result<Vec<String>, DeployerError> {
        let jobs = submitted_jobs(manifests)?;
        let mut warnings = Vec::new();
        for job in &jobs {
            warnings.extend(self.validate_one(job).await?);
        }
        Ok(warnings)
    }

    /// Validates, registers and waits for the plan's jobs until `deadline`.
    pub async fn up(
        &self,
        manifests: &Manifests,
        progress: &Progress,
        deadline: Instant,
    ) -> Result<Deployed, DeployerError> {
        let jobs = submitted_jobs(manifests)?;
        for job in &jobs {
            for warning in self.validate_one(job).await? {
                say(progress, format!("nomad: job `{}`: {warning}", job.id)).await;
            }
            say(progress, format!("nomad: job `{}` is valid", job.id)).await;
        }
        for job in &jobs {
            let api = "nomad POST /v1/jobs";
            let answer: RegisterAnswer = self
                .json(
                    Method::POST,
                    &["v1", "jobs"],
                    &namespace_query(job.namespace.as_deref()),
                    Some(job.body.clone()),
                )
                .await
                .map_err(|e| in_job(e, api, &job.file))?;
            let evaluation = short(&answer.eval_id);
            say(
                progress,
                format!(
                    "nomad: registered job `{}` (evaluation {evaluation})",
                    job.id
                ),
            )
            .await;
            if !answer.warnings.trim().is_empty() {
                say(
                    progress,
                    format!("nomad: job `{}`: {}", job.id, one_line(&answer.warnings)),
                )
                .await;
            }
        }
        let watched: Vec<(String, Option<String>)> = jobs
            .iter()
            .map(|j| {
                (
                    j.id.clone(),
                    j.namespace.clone().or_else(|| self.namespace.clone()),
                )
            })
            .collect();
        let mut told: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let observed = self.observe(&watched).await?;
            let deployed = summarize(&observed);
            for (name, line) in state_lines(&deployed) {
                if told.get(&name) != Some(&line) {
                    say(progress, format!("nomad: `{name}` {line}")).await;
                    told.insert(name, line);
                }
            }
            let ready = deployed.services.iter().all(|s| s.ready) && deployed.jobs_done();
            if ready {
                let mut deployed = deployed;
                deployed.endpoints = self.endpoints(&observed).await?;
                return Ok(deployed);
            }
            let now = Instant::now();
            if now >= deadline {
                let waiting: Vec<String> = state_lines(&deployed)
                    .into_iter()
                    .filter(|(name, _)| {
                        deployed
                            .services
                            .iter()
                            .any(|s| &s.name == name && !s.ready)
                            || deployed.jobs.iter().any(|j| {
                                &j.name == name && j.state != "succeeded" && j.state != "failed"
                            })
                    })
                    .map(|(name, line)| format!("`{name}` {line}"))
                    .collect();
                let ids: Vec<&str> = watched.iter().map(|(id, _)| id.as_str()).collect();
                return Err(DeployerError::Timeout(format!(
                    "nomad: not ready in time: {}; see `nomad job status {}` and `nomad alloc status <allocation>`",
                    waiting.join(", "),
                    ids.join("` / `nomad job status ")
                )));
            }
            tokio::time::sleep_until((now + self.poll).min(deadline)).await;
        }
    }

    /// What Nomad says of the project's jobs now, endpoints included.
    pub async fn status(&self, project: &str) -> Result<Deployed, DeployerError> {
        let watched: Vec<(String, Option<String>)> = project_jobs(project)
            .into_iter()
            .map(|id| (id, self.namespace.clone()))
            .collect();
        let observed = self.observe(&watched).await?;
        if observed.is_empty() {
            return Err(DeployerError::NotDeployed(format!(
                "no Nomad job `{project}` or `{project}-jobs` at {}; deploy it with `b00t deploy <datum> --orchestrator nomad`",
                self.addr()
            )));
        }
        let mut deployed = summarize(&observed);
        deployed.endpoints = self.endpoints(&observed).await?;
        Ok(deployed)
    }

    /// Deregisters and purges the project's jobs; one that is not there is already gone.
    pub async fn down(
        &self,
        project: &str,
        progress: &Progress,
    ) -> Result<Deployed, DeployerError> {
        let query = namespace_query(self.namespace.as_deref());
        for id in project_jobs(project) {
            let path = ["v1", "job", id.as_str()];
            let (status, text) = self.call(Method::GET, &path, &query, None).await?;
            if status == StatusCode::NOT_FOUND {
                say(progress, format!("nomad: job `{id}` is not there")).await;
                continue;
            }
            check(
                status,
                &text,
                &self.api(&Method::GET, &path),
                self.token.is_some(),
            )?;
            let mut purge = query.clone();
            purge.push(("purge", "true".to_owned()));
            let answer: DeregisterAnswer = self.json(Method::DELETE, &path, &purge, None).await?;
            say(
                progress,
                format!(
                    "nomad: deregistered job `{id}` (evaluation {})",
                    short(&answer.eval_id)
                ),
            )
            .await;
        }
        Ok(Deployed::default())
    }

    async fn validate_one(&self, job: &SubmittedJob) -> Result<Vec<String>, DeployerError> {
        let api = "nomad POST /v1/validate/job";
        let answer: ValidateAnswer = self
            .json(
                Method::POST,
                &["v1", "validate", "job"],
                &namespace_query(job.namespace.as_deref()),
                Some(job.body.clone()),
            )
            .await
            .map_err(|e| in_job(e, api, &job.file))?;
        let mut errors: Vec<String> = answer
            .validation_errors
            .iter()
            .map(|e| one_line(e))
            .collect();
        if errors.is_empty() && !answer.error.trim().is_empty() {
            errors.push(one_line(&answer.error));
        }
        if !errors.is_empty() {
            return Err(DeployerError::Api {
                api: api.to_owned(),
                message: format!(
                    "Nomad refuses job `{}` of `{}`: {}",
                    job.id,
                    job.file,
                    errors.join("; ")
                ),
            });
        }
        Ok(Some(one_line(&answer.warnings))
            .filter(|w| !w.is_empty())
            .into_iter()
            .collect())
    }

    /// Each of `jobs` that exists, with its allocations.
    async fn observe(
        &self,
        jobs: &[(String, Option<String>)],
    ) -> Result<Vec<(JobSpec, Vec<AllocStub>)>, DeployerError> {
        let mut observed = Vec::new();
        for (id, namespace) in jobs {
            let query = namespace_query(namespace.as_deref());
            let path = ["v1", "job", id.as_str()];
            let (status, text) = self.call(Method::GET, &path, &query, None).await?;
            if status == StatusCode::NOT_FOUND {
                continue;
            }
            check(
                status,
                &text,
                &self.api(&Method::GET, &path),
                self.token.is_some(),
            )?;
            let spec: JobSpec = parse(&text, &self.api(&Method::GET, &path))?;
            let allocs: Vec<AllocStub> = self
                .json(
                    Method::GET,
                    &["v1", "job", id.as_str(), "allocations"],
                    &query,
                    None,
                )
                .await?;
            observed.push((spec, allocs));
        }
        Ok(observed)
    }

    /// The ports of the running allocations of service groups, in the groups' order,
    /// each port once.
    async fn endpoints(
        &self,
        observed: &[(JobSpec, Vec<AllocStub>)],
    ) -> Result<Vec<Endpoint>, DeployerError> {
        let fallback_host = self.base.host_str().unwrap_or("127.0.0.1").to_owned();
        let mut out: Vec<Endpoint> = Vec::new();
        for (spec, allocs) in observed {
            if spec.is_batch() {
                continue;
            }
            let mut running: Vec<&AllocStub> = Vec::new();
            for group in &spec.task_groups {
                for alloc in allocs {
                    if alloc.task_group == group.name
                        && alloc.desired_status == "run"
                        && alloc.client_status == "running"
                    {
                        running.push(alloc);
                    }
                }
            }
            for alloc in running {
                let full: Allocation = self
                    .json(
                        Method::GET,
                        &["v1", "allocation", alloc.id.as_str()],
                        &[],
                        None,
                    )
                    .await?;
                for endpoint in alloc_endpoints(&alloc.task_group, &full, &fallback_host) {
                    let known = out.iter().any(|e| {
                        e.service == endpoint.service
                            && e.host == endpoint.host
                            && e.port == endpoint.port
                    });
                    if !known {
                        out.push(endpoint);
                    }
                }
            }
        }
        Ok(out)
    }

    /// One request whose 2xx answer is JSON of type `T`.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<T, DeployerError> {
        let api = self.api(&method, path);
        let (status, text) = self.call(method, path, query, body).await?;
        check(status, &text, &api, self.token.is_some())?;
        parse(&text, &api)
    }

    /// One request: its status and its body (at most [`MAX_ANSWER`] bytes), or why
    /// there was none.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, String), DeployerError> {
        let api = self.api(&method, path);
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut request = self.http.request(method, url).timeout(self.timeout);
        if let Some(token) = &self.token {
            request = request.header("X-Nomad-Token", token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let mut response = request.send().await.map_err(|e| self.transport(&api, &e))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|length| length > MAX_ANSWER as u64)
        {
            return Err(too_long(&api));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(&api, &e))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(too_long(&api));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// `nomad GET /v1/job/web/allocations`.
    fn api(&self, method: &Method, path: &[&str]) -> String {
        format!("nomad {method} /{}", path.join("/"))
    }

    /// Why a request got no answer.
    fn transport(&self, api: &str, error: &reqwest::Error) -> DeployerError {
        let addr = self.addr();
        let cause = deepest_cause(error);
        if error.is_timeout() {
            DeployerError::Api {
                api: api.to_owned(),
                message: format!(
                    "no answer from Nomad at `{addr}` within {} ms; check that the agent is up and healthy (`nomad server members`)",
                    self.timeout.as_millis()
                ),
            }
        } else if error.is_connect() {
            DeployerError::NotAvailable {
                orchestrator: "nomad".to_owned(),
                why: format!(
                    "no answer from Nomad at `{addr}` ({cause}): start the agent (`nomad agent -dev`) or set NOMAD_ADDR to where it listens, or see the job JSON with `b00t deploy <datum> --orchestrator nomad --dry-run`"
                ),
            }
        } else {
            DeployerError::Api {
                api: api.to_owned(),
                message: format!("talking to Nomad at `{addr}` failed: {cause}"),
            }
        }
    }
}

/// The job ids `down` and `status` look for.
fn project_jobs(project: &str) -> [String; 2] {
    [project.to_owned(), format!("{project}-jobs")]
}

/// One job of the plan, ready to send.
#[derive(Debug)]
struct SubmittedJob {
    file: String,
    id: String,
    namespace: Option<String>,
    /// The file as it is: `{"Job": {…}}`.
    body: Vec<u8>,
}

/// The plan's jobs, each file checked to be a `{"Job": {…}}` body with an ID.
fn submitted_jobs(manifests: &Manifests) -> Result<Vec<SubmittedJob>, DeployerError> {
    let mut jobs = Vec::new();
    for file in &manifests.files {
        let bad = |why: String| {
            DeployerError::Api {
            api: "nomad".to_owned(),
            message: format!(
                "`{}` of the plan is not a Nomad job request ({why}); see it with `b00t deploy <datum> --orchestrator nomad --dry-run`",
                file.name
            ),
        }
        };
        let value: Value = serde_json::from_str(&file.content).map_err(|e| bad(e.to_string()))?;
        let Some(job) = value.get("Job").and_then(Value::as_object) else {
            return Err(bad("no `Job` object".to_owned()));
        };
        let id = match job.get("ID").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => return Err(bad("the job has no `ID`".to_owned())),
        };
        let namespace = job
            .get("Namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
        jobs.push(SubmittedJob {
            file: file.name.clone(),
            id,
            namespace,
            body: file.content.clone().into_bytes(),
        });
    }
    Ok(jobs)
}

fn namespace_query(namespace: Option<&str>) -> Vec<(&'static str, String)> {
    namespace
        .map(|n| vec![("namespace", n.to_owned())])
        .unwrap_or_default()
}

/// A non-2xx answer as the error Nomad meant: 403 is about the token, anything else is
/// Nomad's text as it gave it.
fn check(status: StatusCode, text: &str, api: &str, token_sent: bool) -> Result<(), DeployerError> {
    if status.is_success() {
        return Ok(());
    }
    let said = shown(text);
    let message = if status == StatusCode::FORBIDDEN {
        if token_sent {
            format!(
                "Nomad refused the token ({said}): set NOMAD_TOKEN to an ACL token with the `submit-job` and `read-job` capabilities on the namespace"
            )
        } else {
            format!(
                "Nomad refused the request ({said}): its ACLs are on; set NOMAD_TOKEN to an ACL token with the `submit-job` and `read-job` capabilities"
            )
        }
    } else if said.is_empty() {
        format!("Nomad answered {status} with no text")
    } else {
        format!("Nomad answered {}: {said}", status.as_u16())
    };
    Err(DeployerError::Api {
        api: api.to_owned(),
        message,
    })
}

fn parse<T: DeserializeOwned>(text: &str, api: &str) -> Result<T, DeployerError> {
    serde_json::from_str(text).map_err(|e| DeployerError::Api {
        api: api.to_owned(),
        message: format!(
            "the answer is not Nomad's JSON ({e}); is NOMAD_ADDR a Nomad agent? it begins: {}",
            shown(&text.chars().take(200).collect::<String>())
        ),
    })
}

/// Names the plan's file in an error about one job.
fn in_job(error: DeployerError, api: &str, file: &str) -> DeployerError {
    match error {
        DeployerError::Api { message, .. } => DeployerError::Api {
            api: api.to_owned(),
            message: format!("{message} (job file `{file}`)"),
        },
        other => other,
    }
}

fn too_long(api: &str) -> DeployerError {
    DeployerError::Api {
        api: api.to_owned(),
        message: format!(
            "the answer is longer than {} MiB; is NOMAD_ADDR a Nomad agent?",
            MAX_ANSWER / (1024 * 1024)
        ),
    }
}

/// Nomad's multi-line errors (go-multierror's `\n\t* …`) on one line, cut to a size a
/// message can carry.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r', '\t'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn shown(text: &str) -> String {
    let line = one_line(text);
    if line.chars().count() > MAX_SHOWN {
        let mut cut: String = line.chars().take(MAX_SHOWN).collect();
        cut.push('…');
        cut
    } else {
        line
    }
}

fn short(id: &str) -> String {
    let id: String = id.chars().take(8).collect();
    if id.is_empty() {
        "none".to_owned()
    } else {
        id
    }
}

fn deepest_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A line per service and job that changes when its state does (`running, healthy`).
fn state_lines(deployed: &Deployed) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for service in &deployed.services {
        let mut line = service.state.clone();
        if let Some(health) = &service.health {
            line.push_str(&format!(", {health}"));
        }
        if let Some(detail) = &service.detail {
            line.push_str(&format!(" ({detail})"));
        }
        lines.push((service.name.clone(), line));
    }
    for job in &deployed.jobs {
        let mut line = job.state.clone();
        if let Some(code) = job.exit_code {
            line.push_str(&format!(", exit code {code}"));
        }
        if let Some(detail) = &job.detail {
            line.push_str(&format!(" ({detail})"));
        }
        lines.push((job.name.clone(), line));
    }
    lines
}

/// The services (groups of service and system jobs) and jobs (groups of batch ones) of
/// what Nomad said.
fn summarize(observed: &[(JobSpec, Vec<AllocStub>)]) -> Deployed {
    let mut deployed = Deployed::default();
    for (spec, allocs) in observed {
        for group in &spec.task_groups {
            let mut mine: Vec<&AllocStub> = allocs
                .iter()
                .filter(|a| a.task_group == group.name && a.desired_status == "run")
                .collect();
            mine.sort_by_key(|a| std::cmp::Reverse(a.create_index));
            if spec.is_batch() {
                deployed.jobs.push(batch_state(group, &mine));
            } else {
                deployed.services.push(service_state(group, &mine));
            }
        }
    }
    deployed
}

/// A service group: running when as many allocations run as it asks for, ready when
/// none is unhealthy (and, with checks, Nomad's deployment found them healthy).
fn service_state(group: &GroupSpec, allocs: &[&AllocStub]) -> ServiceState {
    let want = group.count.unwrap_or(1);
    let restarts: u64 = allocs
        .iter()
        .flat_map(|a| a.task_states.values())
        .map(|t| t.restarts)
        .sum();
    let running: Vec<&&AllocStub> = allocs
        .iter()
        .filter(|a| a.client_status == "running")
        .collect();
    if want == 0 {
        return ServiceState {
            name: group.name.clone(),
            state: "stopped".to_owned(),
            health: None,
            ready: true,
            restarts: Some(restarts),
            detail: Some("count is 0".to_owned()),
        };
    }
    let has = |status: &str| allocs.iter().any(|a| a.client_status == status);
    let rescheduled = allocs.iter().any(|a| a.rescheduled());
    let state = if allocs.is_empty() {
        "pending"
    } else if running.len() as u64 >= want {
        "running"
    } else if has("pending") || rescheduled {
        "pending"
    } else if !running.is_empty() {
        "running"
    } else if has("failed") {
        "failed"
    } else if has("lost") {
        "lost"
    } else {
        allocs[0].client_status.as_str()
    };
    let health = if running.is_empty() {
        None
    } else if running
        .iter()
        .any(|a| a.deployment_status.as_ref().and_then(|d| d.healthy) == Some(false))
    {
        Some("unhealthy")
    } else if running
        .iter()
        .all(|a| a.deployment_status.as_ref().and_then(|d| d.healthy) == Some(true))
    {
        Some("healthy")
    } else if group.has_checks() {
        Some("starting")
    } else {
        None
    };
    let ready = running.len() as u64 >= want && matches!(health, None | Some("healthy"));
    let detail = if allocs.is_empty() {
        Some("no allocation placed yet".to_owned())
    } else if let Some(failure) = allocs.iter().find_map(|a| a.failure()) {
        Some(failure)
    } else if !ready {
        Some(allocs[0].client_description.clone()).filter(|d| !d.is_empty())
    } else {
        None
    };
    ServiceState {
        name: group.name.clone(),
        state: state.to_owned(),
        health: health.map(str::to_owned),
        ready,
        restarts: Some(restarts),
        detail,
    }
}

/// A batch group: succeeded when as many allocations completed as it asks for, failed
/// when its allocations failed and Nomad reschedules none.
fn batch_state(group: &GroupSpec, allocs: &[&AllocStub]) -> JobState {
    let want = group.count.unwrap_or(1).max(1);
    let count = |status: &str| allocs.iter().filter(|a| a.client_status == status).count() as u64;
    let rescheduled = allocs.iter().any(|a| a.rescheduled());
    let (state, exit_code, detail) = if allocs.is_empty() {
        ("pending", None, Some("no allocation placed yet".to_owned()))
    } else if count("complete") >= want {
        ("succeeded", Some(0), None)
    } else if count("running") > 0 {
        ("running", None, None)
    } else if count("pending") > 0 || rescheduled {
        ("pending", None, allocs.iter().find_map(|a| a.failure()))
    } else if count("failed") > 0 || count("lost") > 0 {
        let failed = allocs
            .iter()
            .find(|a| a.client_status == "failed" || a.client_status == "lost");
        (
            "failed",
            failed.and_then(|a| a.exit_code()),
            failed.and_then(|a| a.failure().or_else(|| Some(a.client_description.clone()))),
        )
    } else {
        ("pending", None, None)
    };
    JobState {
        name: group.name.clone(),
        state: state.to_owned(),
        exit_code,
        detail,
    }
}

/// The ports of one allocation: `AllocatedResources.Shared.Ports`, else its networks'.
fn alloc_endpoints(group: &str, alloc: &Allocation, fallback_host: &str) -> Vec<Endpoint> {
    let Some(shared) = alloc
        .allocated_resources
        .as_ref()
        .and_then(|r| r.shared.as_ref())
    else {
        return Vec::new();
    };
    let mut ports: Vec<(String, u64, String)> = shared
        .ports
        .iter()
        .map(|p| (p.label.clone(), p.value, p.host_ip.clone()))
        .collect();
    if ports.is_empty() {
        for network in &shared.networks {
            for port in network.reserved_ports.iter().chain(&network.dynamic_ports) {
                ports.push((port.label.clone(), port.value, network.ip.clone()));
            }
        }
    }
    ports
        .into_iter()
        .filter_map(|(label, value, host)| {
            let port = u16::try_from(value).ok().filter(|p| *p > 0)?;
            let host = match host.as_str() {
                "" | "0.0.0.0" | "::" => fallback_host.to_owned(),
                ip => ip.to_owned(),
            };
            // The nomad adapter labels a UDP port `p53_udp`.
            let protocol = match label.as_str() {
                "http" => Some("http"),
                "https" => Some("https"),
                udp if udp.ends_with("_udp") => Some("udp"),
                _ => None,
            };
            Some(Endpoint::new(group, &host, port, protocol))
        })
        .collect()
}

/// `null` as the type's default: Nomad sends `null` for empty lists and maps.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RegisterAnswer {
    #[serde(rename = "EvalID")]
    eval_id: String,
    #[serde(deserialize_with = "nullable")]
    warnings: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct DeregisterAnswer {
    #[serde(rename = "EvalID")]
    eval_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ValidateAnswer {
    #[serde(deserialize_with = "nullable")]
    validation_errors: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    error: String,
    #[serde(deserialize_with = "nullable")]
    warnings: String,
}

/// What the executor reads of a job (`GET /v1/job/:id`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct JobSpec {
    #[serde(rename = "Type", deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    task_groups: Vec<GroupSpec>,
}

impl JobSpec {
    fn is_batch(&self) -> bool {
        self.kind == "batch" || self.kind == "sysbatch"
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct GroupSpec {
    name: String,
    count: Option<u64>,
    #[serde(deserialize_with = "nullable")]
    services: Vec<ServiceSpec>,
    #[serde(deserialize_with = "nullable")]
    tasks: Vec<TaskSpec>,
}

impl GroupSpec {
    fn has_checks(&self) -> bool {
        self.services
            .iter()
            .chain(self.tasks.iter().flat_map(|t| &t.services))
            .any(|s| !s.checks.is_empty())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ServiceSpec {
    #[serde(deserialize_with = "nullable")]
    checks: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct TaskSpec {
    #[serde(deserialize_with = "nullable")]
    services: Vec<ServiceSpec>,
}

/// One entry of `GET /v1/job/:id/allocations`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AllocStub {
    #[serde(rename = "ID")]
    id: String,
    task_group: String,
    desired_status: String,
    client_status: String,
    #[serde(deserialize_with = "nullable")]
    client_description: String,
    #[serde(deserialize_with = "nullable")]
    task_states: BTreeMap<String, TaskState>,
    deployment_status: Option<AllocDeploymentStatus>,
    #[serde(rename = "FollowupEvalID", deserialize_with = "nullable")]
    followup_eval_id: String,
    #[serde(deserialize_with = "nullable")]
    next_allocation: String,
    create_index: u64,
}

impl AllocStub {
    /// A failed allocation Nomad replaces (now, or after a delay).
    fn rescheduled(&self) -> bool {
        (self.client_status == "failed" || self.client_status == "lost")
            && (!self.followup_eval_id.is_empty() || !self.next_allocation.is_empty())
    }

    /// `task `web`: Exit Code: 1`: the failed task and its last event.
    fn failure(&self) -> Option<String> {
        let (name, task) = self.task_states.iter().find(|(_, t)| t.failed)?;
        let event = task
            .events
            .iter()
            .rev()
            .find(|e| e.kind == "Terminated" || e.kind == "Driver Failure")
            .or_else(|| task.events.last())?;
        let text = if event.display_message.is_empty() {
            event.kind.clone()
        } else {
            event.display_message.clone()
        };
        Some(format!("task `{name}`: {}", one_line(&text)))
    }

    /// The exit code of the failed task's last run.
    fn exit_code(&self) -> Option<i64> {
        let mut tasks: Vec<&TaskState> = self.task_states.values().collect();
        tasks.sort_by_key(|t| !t.failed);
        tasks.iter().find_map(|task| {
            let event = task.events.iter().rev().find(|e| e.kind == "Terminated")?;
            event
                .details
                .get("exit_code")
                .and_then(|c| c.parse().ok())
                .or(event.exit_code)
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct TaskState {
    failed: bool,
    restarts: u64,
    #[serde(deserialize_with = "nullable")]
    events: Vec<TaskEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct TaskEvent {
    #[serde(rename = "Type")]
    kind: String,
    exit_code: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    display_message: String,
    #[serde(deserialize_with = "nullable")]
    details: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AllocDeploymentStatus {
    healthy: Option<bool>,
}

/// What the executor reads of `GET /v1/allocation/:id`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Allocation {
    allocated_resources: Option<AllocatedResources>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AllocatedResources {
    shared: Option<SharedResources>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct SharedResources {
    #[serde(deserialize_with = "nullable")]
    ports: Vec<PortMapping>,
    #[serde(deserialize_with = "nullable")]
    networks: Vec<NetworkResource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct PortMapping {
    label: String,
    value: u64,
    #[serde(rename = "HostIP", deserialize_with = "nullable")]
    host_ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct NetworkResource {
    #[serde(rename = "IP", deserialize_with = "nullable")]
    ip: String,
    #[serde(deserialize_with = "nullable")]
    reserved_ports: Vec<NetworkPort>,
    #[serde(deserialize_with = "nullable")]
    dynamic_ports: Vec<NetworkPort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct NetworkPort {
    label: String,
    value: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn group(name: &str, count: u64, checks: bool) -> GroupSpec {
        serde_json::from_value(json!({
            "Name": name,
            "Count": count,
            "Services": [{"Name": name, "Checks": if checks { json!([{"Type": "tcp"}]) } else { Value::Null }}],
            "Tasks": [{"Name": name, "Services": null}],
        }))
        .unwrap()
    }

    fn alloc(status: &str, healthy: Option<bool>, extra: Value) -> AllocStub {
        let mut value = json!({
            "ID": "0123456789abcdef",
            "TaskGroup": "web",
            "DesiredStatus": "run",
            "ClientStatus": status,
            "ClientDescription": format!("{status} description"),
            "TaskStates": {"web": {"State": "running", "Failed": false, "Restarts": 1, "Events": null}},
            "DeploymentStatus": healthy.map(|h| json!({"Healthy": h})),
            "CreateIndex": 10,
        });
        if let (Some(value), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            value.extend(extra.clone());
        }
        serde_json::from_value(value).unwrap()
    }

    fn failed_task(exit_code: i64) -> Value {
        json!({"TaskStates": {"web": {"State": "dead", "Failed": true, "Restarts": 2, "Events": [
            {"Type": "Started", "DisplayMessage": "Task started by client"},
            {"Type": "Terminated", "ExitCode": exit_code, "DisplayMessage": format!("Exit Code: {exit_code}"), "Details": {"exit_code": exit_code.to_string()}},
            {"Type": "Not Restarting", "DisplayMessage": "Exceeded allowed attempts"},
        ]}}})
    }

    /// `(state, health, ready)` of a service group of `count` over `allocs`.
    fn check_service(
        count: u64,
        checks: bool,
        allocs: &[AllocStub],
        expected: (&str, Option<&str>, bool),
    ) -> ServiceState {
        let refs: Vec<&AllocStub> = allocs.iter().collect();
        let state = service_state(&group("web", count, checks), &refs);
        assert_eq!(
            (state.state.as_str(), state.health.as_deref(), state.ready),
            expected,
            "{state:?}"
        );
        state
    }

    #[test]
    fn a_service_group_is_ready_when_its_allocations_run_healthy() {
        check_service(1, false, &[], ("pending", None, false));
        check_service(
            1,
            false,
            &[alloc("pending", None, json!({}))],
            ("pending", None, false),
        );
        check_service(
            1,
            false,
            &[alloc("running", None, json!({}))],
            ("running", None, true),
        );
        check_service(
            1,
            true,
            &[alloc("running", None, json!({}))],
            ("running", Some("starting"), false),
        );
        check_service(
            1,
            true,
            &[alloc("running", Some(true), json!({}))],
            ("running", Some("healthy"), true),
        );
        check_service(
            1,
            false,
            &[alloc("running", Some(false), json!({}))],
            ("running", Some("unhealthy"), false),
        );
        check_service(
            2,
            false,
            &[alloc("running", None, json!({}))],
            ("running", None, false),
        );
        let failed = check_service(
            1,
            false,
            &[alloc("failed", None, failed_task(1))],
            ("failed", None, false),
        );
        assert_eq!(failed.detail.as_deref(), Some("task `web`: Exit Code: 1"));
        assert_eq!(failed.restarts, Some(2));
        let rescheduled = alloc("failed", None, {
            let mut v = failed_task(1);
            v["FollowupEvalID"] = json!("abc");
            v
        });
        check_service(1, false, &[rescheduled], ("pending", None, false));
        check_service(0, false, &[], ("stopped", None, true));
    }

    #[test]
    fn a_batch_group_succeeds_fails_or_waits() {
        let check = |allocs: &[AllocStub], expected: (&str, Option<i64>)| {
            let refs: Vec<&AllocStub> = allocs.iter().collect();
            let state = batch_state(&group("web", 1, false), &refs);
            assert_eq!(
                (state.state.as_str(), state.exit_code),
                expected,
                "{state:?}"
            );
            state
        };
        check(&[], ("pending", None));
        check(&[alloc("pending", None, json!({}))], ("pending", None));
        check(&[alloc("running", None, json!({}))], ("running", None));
        check(
            &[alloc("complete", None, json!({}))],
            ("succeeded", Some(0)),
        );
        let failed = check(
            &[alloc("failed", None, failed_task(3))],
            ("failed", Some(3)),
        );
        assert_eq!(failed.detail.as_deref(), Some("task `web`: Exit Code: 3"));
    }

    #[test]
    fn endpoints_come_from_shared_ports_or_networks() {
        let full: Allocation = serde_json::from_value(json!({"AllocatedResources": {"Shared": {
            "Ports": [
                {"Label": "http", "Value": 20001, "To": 80, "HostIP": "10.0.0.5"},
                {"Label": "p5432", "Value": 5432, "To": 5432, "HostIP": ""},
                {"Label": "p53_udp", "Value": 5353, "To": 53, "HostIP": "127.0.0.1"},
                {"Label": "unplaced", "Value": 0, "To": 1, "HostIP": ""},
            ],
            "Networks": null,
        }}}))
        .unwrap();
        let endpoints = alloc_endpoints("web", &full, "nomad.local");
        let urls: Vec<&str> = endpoints.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://10.0.0.5:20001/",
                "tcp://nomad.local:5432",
                "udp://127.0.0.1:5353"
            ]
        );

        let old: Allocation = serde_json::from_value(json!({"AllocatedResources": {"Shared": {
            "Ports": null,
            "Networks": [{"IP": "10.0.0.6", "ReservedPorts": [{"Label": "https", "Value": 8443}], "DynamicPorts": null}],
        }}}))
        .unwrap();
        let endpoints = alloc_endpoints("web", &old, "x");
        assert_eq!(endpoints[0].url, "https://10.0.0.6:8443/");
        assert!(alloc_endpoints("web", &Allocation::default(), "x").is_empty());
    }

    #[test]
    fn addresses_are_http_only_and_errors_read_on_one_line() {
        assert!(NomadClient::new("127.0.0.1:4646", None).is_ok());
        assert_eq!(
            NomadClient::new("http://127.0.0.1:4646/", None)
                .unwrap()
                .addr(),
            "http://127.0.0.1:4646"
        );
        for (addr, words) in [
            ("https://nomad.example:4646", "uses TLS"),
            ("ftp://x", "scheme `ftp`"),
            ("http://", "no address"),
        ] {
            let e = NomadClient::new(addr, None).unwrap_err().to_string();
            assert!(
                e.starts_with("nomad is not available: ") && e.contains(words),
                "{addr}: {e}"
            );
        }
        let e = NomadClient::from_settings(None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("set NOMAD_ADDR") && e.contains("--dry-run"),
            "{e}"
        );
        assert_eq!(
            one_line("1 error occurred:\n\t* Task group web validation failed: 1 error occurred:\n\t* Missing tasks\n\n"),
            "1 error occurred: * Task group web validation failed: 1 error occurred: * Missing tasks"
        );
        let debug = format!(
            "{:?}",
            NomadClient::new("127.0.0.1:1", Some("s3cret".into())).unwrap()
        );
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn a_plan_file_must_be_a_job_request() {
        let plan = |content: &str| Manifests {
            orchestrator: b00t_deploy::Orchestrator::Nomad,
            project: "p".into(),
            files: vec![b00t_deploy::Manifest {
                name: "job.json".into(),
                content: content.into(),
            }],
            mcp_calls: Vec::new(),
            notes: Vec::new(),
        };
        let jobs = submitted_jobs(&plan(r#"{"Job": {"ID": "p", "Namespace": "apps"}}"#)).unwrap();
        assert_eq!(
            (jobs[0].id.as_str(), jobs[0].namespace.as_deref()),
            ("p", Some("apps"))
        );
        for (content, words) in [
            (
                "not json",
                "`job.json` of the plan is not a Nomad job request",
            ),
            (r#"{"ID": "p"}"#, "no `Job` object"),
            (r#"{"Job": {"Name": "p"}}"#, "no `ID`"),
        ] {
            let e = submitted_jobs(&plan(content)).unwrap_err().to_string();
            assert!(e.contains(words), "{e}");
        }
    }
}
