//! [`FakeNomad`]: a Nomad agent's HTTP API on an ephemeral port, for the deployer's Nomad
//! executor and the bench. It speaks the JSON of Nomad's documented API
//! (<https://developer.hashicorp.com/nomad/api-docs>): validate, register, read, list and
//! deregister jobs, a job's allocations (stubs, as Nomad lists them, without resources),
//! one allocation in full (with `AllocatedResources.Shared.Ports`), and the leader. It
//! refuses what Nomad refuses with Nomad's status codes and plain-text errors, checks
//! `X-Nomad-Token` when started with a token, records every request, and lets a test say
//! how a group's allocations fare ([`AllocOutcome`]). Nothing is scheduled: every
//! allocation exists from the moment its job is registered.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ollama::lock;

/// What `GET /v1/status/leader` answers: the leader's RPC address, as a JSON string.
pub const LEADER: &str = "127.0.0.1:4647";

/// How the allocations of one task group fare, set with [`FakeNomad::set_outcome`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocOutcome {
    /// `running` for service and system jobs, `complete` for batch and sysbatch ones.
    Default,
    /// `pending`: placed, no task started yet.
    Pending,
    /// `running`, the deployment's health check passed.
    Running,
    /// `running`, but the deployment marked it unhealthy.
    Unhealthy,
    /// `complete`: every task exited with 0.
    Complete,
    /// `failed`: a task exited with `exit_code`; `message` is its last event's text.
    Failed { exit_code: i64, message: String },
}

/// One request the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path, percent-encoded as sent (`/v1/job/web/allocations`).
    pub path: String,
    /// The query string without `?` (`purge=true`), empty when none.
    pub query: String,
    /// `X-Nomad-Token`, or the token of `Authorization: Bearer …`.
    pub token: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

/// A running fake Nomad agent. Stops when dropped or when its shutdown token is cancelled.
pub struct FakeNomad {
    addr: SocketAddr,
    state: Arc<Shared>,
    /// Stops the accept loop and every connection; cancelled by `Drop` and `stop`.
    stop: CancellationToken,
}

impl std::fmt::Debug for FakeNomad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNomad")
            .field("addr", &self.addr)
            .field("acl", &self.state.token.is_some())
            .finish()
    }
}

impl FakeNomad {
    /// Starts a fake without ACLs on `127.0.0.1:<ephemeral>`.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test environment without networking.
    pub async fn start() -> FakeNomad {
        FakeNomad::start_inner(None).await
    }

    /// Starts a fake with ACLs on: every request but `/v1/status/*` needs `token`.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start_with_token(token: &str) -> FakeNomad {
        FakeNomad::start_inner(Some(token.to_owned())).await
    }

    async fn start_inner(token: Option<String>) -> FakeNomad {
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        match FakeNomad::bind(addr, token, &CancellationToken::new()).await {
            Ok(fake) => fake,
            Err(e) => panic!("cannot bind a fake Nomad on `127.0.0.1:0`: {e}"),
        }
    }

    /// Starts a fake on `addr` (ACLs on when `token` is given) that also stops when
    /// `shutdown` is cancelled.
    pub async fn bind(
        addr: SocketAddr,
        token: Option<String>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<FakeNomad> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            token,
            inner: Mutex::new(Inner {
                index: 10,
                next_id: 0,
                next_port: 20000,
                host_ip: "127.0.0.1".to_owned(),
                jobs: BTreeMap::new(),
                allocs: Vec::new(),
                outcomes: HashMap::new(),
                pending_reads: 0,
                requests: Vec::new(),
            }),
        });
        let stop = shutdown.child_token();
        tokio::spawn(serve(listener, state.clone(), stop.clone()));
        Ok(FakeNomad { addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`, what `NOMAD_ADDR` would hold.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How the allocations of `job`'s group `group` fare from now on.
    pub fn set_outcome(&self, job: &str, group: &str, outcome: AllocOutcome) {
        lock(&self.state.inner)
            .outcomes
            .insert((job.to_owned(), group.to_owned()), outcome);
    }

    /// Every allocation shows `pending` for its first `reads` listings through
    /// `GET /v1/job/:id/allocations`, then its outcome: a scheduler that takes a while.
    pub fn set_pending_reads(&self, reads: usize) {
        lock(&self.state.inner).pending_reads = reads;
    }

    /// The address allocations' ports are reported on (`127.0.0.1` by default).
    pub fn set_host_ip(&self, host_ip: &str) {
        lock(&self.state.inner).host_ip = host_ip.to_owned();
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.inner).requests.clone()
    }

    /// The ids of the jobs registered and not purged, sorted.
    pub fn job_ids(&self) -> Vec<String> {
        lock(&self.state.inner).jobs.keys().cloned().collect()
    }

    /// A registered job as `GET /v1/job/:id` shows it.
    pub fn job(&self, id: &str) -> Option<Value> {
        let inner = lock(&self.state.inner);
        inner.jobs.get(id).map(|job| inner.job_json(job))
    }

    /// Stops the server now; open connections are closed.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for FakeNomad {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What the server and the handle share.
struct Shared {
    /// The ACL token every request but `/v1/status/*` must carry; `None`: ACLs off.
    token: Option<String>,
    inner: Mutex<Inner>,
}

/// The agent's state, behind one lock (never held across an await).
struct Inner {
    /// Nomad's Raft index: every write takes the next one.
    index: u64,
    next_id: u64,
    /// The next dynamic port (Nomad's default range starts at 20000).
    next_port: u16,
    host_ip: String,
    jobs: BTreeMap<String, StoredJob>,
    allocs: Vec<Alloc>,
    outcomes: HashMap<(String, String), AllocOutcome>,
    pending_reads: usize,
    requests: Vec<RecordedRequest>,
}

struct StoredJob {
    /// The job as submitted, with Nomad's defaults filled in.
    spec: Value,
    version: u64,
    create_index: u64,
    modify_index: u64,
    job_modify_index: u64,
    submit_time: i64,
    stopped: bool,
}

struct Alloc {
    id: String,
    eval_id: String,
    job_id: String,
    job_version: u64,
    group: String,
    /// The allocation's index in its group (`web.web[0]`).
    slot: u64,
    /// `run`, or `stop` once its job was deregistered or replaced.
    desired: &'static str,
    /// `(label, value, to)` of every port of the group's network.
    ports: Vec<(String, u64, i64)>,
    /// How often it was listed; below `pending_reads` it shows `pending`.
    reads: usize,
    create_index: u64,
    modify_index: u64,
    create_time: i64,
}

/// Largest request body read.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Allocations made for one group at most, whatever its `Count`.
const MAX_COUNT: u64 = 16;
const JOB_TYPES: [&str; 4] = ["service", "batch", "system", "sysbatch"];

/// Accepts connections until `stop` is cancelled.
async fn serve(listener: TcpListener, state: Arc<Shared>, stop: CancellationToken) {
    crate::http::serve("fake Nomad", listener, stop, move |request| {
        handle(state.clone(), request)
    })
    .await;
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(
    state: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let token = token_of(&request);
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return Ok(text(
                StatusCode::BAD_REQUEST,
                &format!("reading the body: {e}"),
            ))
        }
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut inner = lock(&state.inner);
    inner.requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        token: token.clone(),
        body: parsed,
    });
    if !path.starts_with("/v1/status/") {
        if let Some(expected) = &state.token {
            match token.as_deref() {
                None | Some("") => return Ok(text(StatusCode::FORBIDDEN, "Permission denied")),
                Some(given) if given != expected => {
                    return Ok(text(StatusCode::FORBIDDEN, "ACL token not found"))
                }
                Some(_) => {}
            }
        }
    }
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let response = match (segments.as_slice(), &method) {
        (["v1", "status", "leader"], &Method::GET) => json_response(&inner, &json!(LEADER)),
        (["v1", "status", "peers"], &Method::GET) => json_response(&inner, &json!([LEADER])),
        (["v1", "validate", "job"], &Method::POST | &Method::PUT) => validate(&body),
        (["v1", "jobs"], &Method::GET) => {
            let prefix = query_param(&query, "prefix").unwrap_or_default();
            let list = inner.job_list(&prefix);
            json_response(&inner, &list)
        }
        (["v1", "jobs"], &Method::POST | &Method::PUT) => inner.register(&body, None),
        (["v1", "job", id], &Method::GET) => match inner.jobs.get(*id) {
            Some(job) => json_response(&inner, &inner.job_json(job)),
            None => text(StatusCode::NOT_FOUND, "job not found"),
        },
        (["v1", "job", id], &Method::POST | &Method::PUT) => inner.register(&body, Some(id)),
        (["v1", "job", id], &Method::DELETE) => {
            let purge = query_param(&query, "purge").is_some_and(|p| p == "true" || p == "1");
            let answer = inner.deregister(id, purge);
            json_response(&inner, &answer)
        }
        (["v1", "job", id, "allocations"], &Method::GET) => {
            let list = inner.list_allocations(id);
            json_response(&inner, &list)
        }
        (["v1", "allocation", id], &Method::GET) => match inner.allocation(id) {
            Some(alloc) => json_response(&inner, &alloc),
            None => text(StatusCode::NOT_FOUND, "alloc not found"),
        },
        (
            ["v1", "status", "leader" | "peers"]
            | ["v1", "validate", "job"]
            | ["v1", "jobs"]
            | ["v1", "job", _]
            | ["v1", "job", _, "allocations"]
            | ["v1", "allocation", _],
            _,
        ) => text(StatusCode::METHOD_NOT_ALLOWED, "Invalid method"),
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    Ok(response)
}

/// `POST /v1/validate/job`: always 200 (but for a body that is no job request), the
/// problems in `ValidationErrors` and `Error`.
fn validate(body: &[u8]) -> HttpResponse {
    let job = match job_of(body) {
        Ok(job) => job,
        Err(message) => return text(StatusCode::BAD_REQUEST, &message),
    };
    let problems = problems(&job);
    let answer = json!({
        "DriverConfigValidated": true,
        "ValidationErrors": if problems.is_empty() { Value::Null } else { json!(problems) },
        "Error": if problems.is_empty() { String::new() } else { multierror(&problems) },
        "Warnings": "",
    });
    respond(
        StatusCode::OK,
        "application/json",
        answer.to_string().into_bytes(),
    )
}

/// The `Job` of a request body, or Nomad's 400 and its text.
fn job_of(body: &[u8]) -> Result<Map<String, Value>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("failed to decode request body: {e}"))?;
    match value.get("Job") {
        Some(Value::Object(job)) => Ok(job.clone()),
        Some(Value::Null) | None => Err("Job must be specified".to_owned()),
        Some(_) => Err(
            "json: cannot unmarshal into Go struct field JobRegisterRequest.Job of type api.Job"
                .to_owned(),
        ),
    }
}

/// What Nomad's `Job.Validate` would refuse, in its words and its order: the top-level
/// errors, each group's and task's nested as Nomad nests them.
fn problems(job: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    let id = job.get("ID").and_then(Value::as_str).unwrap_or("");
    if id.is_empty() {
        errors.push("Missing job ID".to_owned());
    } else if id.contains(' ') {
        errors.push("Job ID contains a space".to_owned());
    } else if id.contains('\0') {
        errors.push("Job ID contains a null character".to_owned());
    }
    let job_type = job.get("Type").and_then(Value::as_str).unwrap_or("service");
    if !JOB_TYPES.contains(&job_type) {
        errors.push(format!("Invalid job type: {job_type:?}"));
    }
    if let Some(priority) = job.get("Priority").and_then(Value::as_i64) {
        if !(1..=100).contains(&priority) {
            errors.push("Job priority must be between [1, 100]".to_owned());
        }
    }
    let groups = job.get("TaskGroups").and_then(Value::as_array);
    let groups = groups.map(Vec::as_slice).unwrap_or_default();
    if groups.is_empty() {
        errors.push("Missing job task groups".to_owned());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group.get("Name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            errors.push(format!("Job task group {} missing name", i + 1));
        } else if let Some(first) = seen.get(name) {
            errors.push(format!(
                "Job task group {} redefines '{name}' from group {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(name, i);
        }
        let group_errors = group_problems(group);
        if !group_errors.is_empty() {
            errors.push(format!(
                "Task group {name} validation failed: {}",
                multierror(&group_errors)
            ));
        }
    }
    errors
}

fn group_problems(group: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if group
        .get("Count")
        .and_then(Value::as_i64)
        .is_some_and(|c| c < 0)
    {
        errors.push("Task group count can't be negative".to_owned());
    }
    let tasks = group.get("Tasks").and_then(Value::as_array);
    let tasks = tasks.map(Vec::as_slice).unwrap_or_default();
    if tasks.is_empty() {
        errors.push("Missing tasks for task group".to_owned());
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let name = task.get("Name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            errors.push(format!("Task {} missing name", i + 1));
        } else if let Some(first) = seen.get(name) {
            errors.push(format!(
                "Task {} redefines '{name}' from task {}",
                i + 1,
                first + 1
            ));
        } else {
            seen.insert(name, i);
        }
        let mut task_errors = Vec::new();
        if task
            .get("Driver")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            task_errors.push("Missing task driver".to_owned());
        }
        let mut resource_errors = Vec::new();
        if let Some(resources) = task.get("Resources").filter(|r| r.is_object()) {
            if let Some(cpu) = resources.get("CPU").and_then(Value::as_i64) {
                if cpu < 1 {
                    resource_errors.push(format!("minimum CPU value is 1; got {cpu}"));
                }
            }
            if let Some(memory) = resources.get("MemoryMB").and_then(Value::as_i64) {
                if memory < 10 {
                    resource_errors.push(format!("minimum MemoryMB value is 10; got {memory}"));
                }
            }
        }
        if !resource_errors.is_empty() {
            task_errors.push(multierror(&resource_errors));
        }
        if !task_errors.is_empty() {
            errors.push(format!(
                "Task {name} validation failed: {}",
                multierror(&task_errors)
            ));
        }
    }
    errors
}

/// hashicorp/go-multierror's text: `1 error occurred:\n\t* …\n\n`.
fn multierror(errors: &[String]) -> String {
    let points: Vec<String> = errors.iter().map(|e| format!("* {e}")).collect();
    let head = match errors.len() {
        1 => "1 error occurred:".to_owned(),
        n => format!("{n} errors occurred:"),
    };
    format!("{head}\n\t{}\n\n", points.join("\n\t"))
}

impl Inner {
    fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    fn next_uuid(&mut self) -> String {
        self.next_id += 1;
        uuid(self.next_id)
    }

    /// `POST /v1/jobs` and `POST /v1/job/:id`.
    fn register(&mut self, body: &[u8], path_id: Option<&str>) -> HttpResponse {
        let job = match job_of(body) {
            Ok(job) => job,
            Err(message) => return text(StatusCode::BAD_REQUEST, &message),
        };
        let id = match job.get("ID") {
            Some(Value::String(id)) => id.clone(),
            _ => return text(StatusCode::BAD_REQUEST, "Job ID hasn't been provided"),
        };
        if path_id.is_some_and(|p| p != id) {
            return text(StatusCode::BAD_REQUEST, "Job ID does not match name");
        }
        let problems = problems(&job);
        if !problems.is_empty() {
            // Nomad's RPC returns the multierror uncoded; its HTTP layer answers 500.
            return text(StatusCode::INTERNAL_SERVER_ERROR, &multierror(&problems));
        }
        let spec = canonical(job);
        let job_type = spec["Type"].as_str().unwrap_or("service").to_owned();
        if let Some(old) = self.jobs.get(&id) {
            let old_type = old.spec["Type"].as_str().unwrap_or("service");
            if !old.stopped && old_type != job_type {
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot update job from type {old_type:?} to {job_type:?}"),
                );
            }
        }
        let index = self.next_index();
        let now = now_nanos();
        let (version, create_index) = match self.jobs.get(&id) {
            Some(old) => (old.version + 1, old.create_index),
            None => (0, index),
        };
        for alloc in self.allocs.iter_mut().filter(|a| a.job_id == id) {
            alloc.desired = "stop";
            alloc.modify_index = index;
        }
        let eval_id = self.next_uuid();
        let groups: Vec<Value> = spec["TaskGroups"].as_array().cloned().unwrap_or_default();
        for group in &groups {
            let name = group["Name"].as_str().unwrap_or("").to_owned();
            let count = group["Count"].as_u64().unwrap_or(1).min(MAX_COUNT);
            for slot in 0..count {
                let ports = self.ports_for(group);
                let alloc_id = self.next_uuid();
                self.allocs.push(Alloc {
                    id: alloc_id,
                    eval_id: eval_id.clone(),
                    job_id: id.clone(),
                    job_version: version,
                    group: name.clone(),
                    slot,
                    desired: "run",
                    ports,
                    reads: 0,
                    create_index: index,
                    modify_index: index,
                    create_time: now,
                });
            }
        }
        self.jobs.insert(
            id,
            StoredJob {
                spec,
                version,
                create_index,
                modify_index: index,
                job_modify_index: index,
                submit_time: now,
                stopped: false,
            },
        );
        let answer = json!({
            "EvalID": eval_id,
            "EvalCreateIndex": index,
            "JobModifyIndex": index,
            "Warnings": "",
            "Index": index,
            "LastContact": 0,
            "KnownLeader": false,
        });
        respond(
            StatusCode::OK,
            "application/json",
            answer.to_string().into_bytes(),
        )
    }

    /// The group network's ports, dynamic ones given the next free value.
    fn ports_for(&mut self, group: &Value) -> Vec<(String, u64, i64)> {
        let mut ports = Vec::new();
        let networks = group["Networks"].as_array().cloned().unwrap_or_default();
        for network in &networks {
            for (kind, dynamic) in [("ReservedPorts", false), ("DynamicPorts", true)] {
                for port in network[kind]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let label = port["Label"].as_str().unwrap_or("").to_owned();
                    let to = port["To"].as_i64().unwrap_or(0);
                    let value = match port["Value"].as_u64() {
                        Some(value) if value > 0 && !dynamic => value,
                        _ => {
                            let value = u64::from(self.next_port);
                            self.next_port = self.next_port.checked_add(1).unwrap_or(20000);
                            value
                        }
                    };
                    ports.push((label, value, to));
                }
            }
        }
        ports
    }

    /// `DELETE /v1/job/:id`: an unknown job is no error (Nomad answers an empty reply).
    fn deregister(&mut self, id: &str, purge: bool) -> Value {
        if !self.jobs.contains_key(id) {
            return json!({
                "EvalID": "",
                "EvalCreateIndex": 0,
                "JobModifyIndex": 0,
                "VolumeEvalID": "",
                "VolumeEvalIndex": 0,
                "Index": 0,
                "LastContact": 0,
                "KnownLeader": false,
            });
        }
        let index = self.next_index();
        let eval_id = self.next_uuid();
        if purge {
            self.jobs.remove(id);
            self.allocs.retain(|a| a.job_id != id);
        } else {
            if let Some(job) = self.jobs.get_mut(id) {
                job.stopped = true;
                job.modify_index = index;
                job.job_modify_index = index;
            }
            for alloc in self.allocs.iter_mut().filter(|a| a.job_id == id) {
                alloc.desired = "stop";
                alloc.modify_index = index;
            }
        }
        json!({
            "EvalID": eval_id,
            "EvalCreateIndex": index,
            "JobModifyIndex": index,
            "VolumeEvalID": "",
            "VolumeEvalIndex": 0,
            "Index": index,
            "LastContact": 0,
            "KnownLeader": false,
        })
    }

    /// `GET /v1/job/:id/allocations`: stubs, newest first; `[]` for an unknown job.
    fn list_allocations(&mut self, id: &str) -> Value {
        let pending_reads = self.pending_reads;
        for alloc in self.allocs.iter_mut().filter(|a| a.job_id == id) {
            alloc.reads += 1;
        }
        let mut stubs: Vec<Value> = self
            .allocs
            .iter()
            .filter(|a| a.job_id == id)
            .map(|alloc| self.alloc_stub(alloc, alloc.reads <= pending_reads))
            .collect();
        stubs.reverse();
        Value::Array(stubs)
    }

    /// `GET /v1/allocation/:id`: the stub's fields, the job, and the resources.
    fn allocation(&self, id: &str) -> Option<Value> {
        let alloc = self.allocs.iter().find(|a| a.id == id)?;
        let mut full = self.alloc_stub(alloc, alloc.reads < self.pending_reads);
        let job = self.jobs.get(&alloc.job_id)?;
        let group = job.spec["TaskGroups"]
            .as_array()
            .and_then(|groups| groups.iter().find(|g| g["Name"] == alloc.group.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        let mut tasks = Map::new();
        for task in group["Tasks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let name = task["Name"].as_str().unwrap_or("").to_owned();
            let cpu = task["Resources"]["CPU"].as_i64().unwrap_or(100);
            let memory = task["Resources"]["MemoryMB"].as_i64().unwrap_or(300);
            tasks.insert(
                name,
                json!({
                    "Cpu": {"CpuShares": cpu, "ReservedCores": null},
                    "Memory": {"MemoryMB": memory, "MemoryMaxMB": 0},
                    "Networks": null,
                    "Devices": null,
                }),
            );
        }
        let host_ip = self.host_ip.clone();
        let port_json = |dynamic: bool| -> Vec<Value> {
            alloc
                .ports
                .iter()
                .filter(|(label, _, _)| {
                    let declared_dynamic = group["Networks"]
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .any(|n| {
                            n["DynamicPorts"]
                                .as_array()
                                .map(Vec::as_slice)
                                .unwrap_or_default()
                                .iter()
                                .any(|p| p["Label"] == label.as_str())
                        });
                    declared_dynamic == dynamic
                })
                .map(|(label, value, to)| {
                    json!({"Label": label, "Value": value, "To": to, "HostNetwork": "default"})
                })
                .collect()
        };
        let mode = group["Networks"][0]["Mode"].as_str().unwrap_or("host");
        let networks = if alloc.ports.is_empty() {
            Value::Null
        } else {
            json!([{
                "Mode": if mode.is_empty() { "host" } else { mode },
                "Device": "",
                "CIDR": "",
                "IP": host_ip,
                "MBits": 0,
                "DNS": null,
                "ReservedPorts": port_json(false),
                "DynamicPorts": port_json(true),
            }])
        };
        let ports: Vec<Value> = alloc
            .ports
            .iter()
            .map(|(label, value, to)| {
                json!({"Label": label, "Value": value, "To": to, "HostIP": host_ip})
            })
            .collect();
        let disk = group["EphemeralDisk"]["SizeMB"].as_i64().unwrap_or(300);
        full["Job"] = self.job_json(job);
        full["AllocatedResources"] = json!({
            "Tasks": tasks,
            "TaskLifecycles": null,
            "Shared": {
                "DiskMB": disk,
                "Networks": networks,
                "Ports": if ports.is_empty() { Value::Null } else { json!(ports) },
            },
        });
        full["Metrics"] =
            json!({"NodesEvaluated": 1, "NodesFiltered": 0, "NodesAvailable": {"dc1": 1}});
        Some(full)
    }

    /// One allocation as `/v1/job/:id/allocations` lists it.
    fn alloc_stub(&self, alloc: &Alloc, still_pending: bool) -> Value {
        let job = self.jobs.get(&alloc.job_id);
        let spec = job.map(|j| &j.spec);
        let job_type = spec
            .and_then(|s| s["Type"].as_str())
            .unwrap_or("service")
            .to_owned();
        let namespace = spec
            .and_then(|s| s["Namespace"].as_str())
            .unwrap_or("default")
            .to_owned();
        let batch = job_type == "batch" || job_type == "sysbatch";
        let outcome = self
            .outcomes
            .get(&(alloc.job_id.clone(), alloc.group.clone()))
            .cloned()
            .unwrap_or(AllocOutcome::Default);
        let outcome = match (alloc.desired, still_pending, outcome) {
            ("stop", _, AllocOutcome::Failed { exit_code, message }) => {
                AllocOutcome::Failed { exit_code, message }
            }
            ("stop", _, _) => AllocOutcome::Complete,
            (_, true, _) => AllocOutcome::Pending,
            (_, false, AllocOutcome::Default) if batch => AllocOutcome::Complete,
            (_, false, AllocOutcome::Default) => AllocOutcome::Running,
            (_, false, outcome) => outcome,
        };
        let started = alloc.create_time + 1_000_000_000;
        let (client_status, client_description) = match &outcome {
            AllocOutcome::Pending => ("pending", "No tasks have started"),
            AllocOutcome::Running | AllocOutcome::Unhealthy | AllocOutcome::Default => {
                ("running", "Tasks are running")
            }
            AllocOutcome::Complete => ("complete", "All tasks have completed"),
            AllocOutcome::Failed { .. } => ("failed", "Failed tasks"),
        };
        let tasks = spec
            .and_then(|s| s["TaskGroups"].as_array())
            .and_then(|groups| groups.iter().find(|g| g["Name"] == alloc.group.as_str()))
            .and_then(|g| g["Tasks"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut task_states = Map::new();
        for task in &tasks {
            let name = task["Name"].as_str().unwrap_or("").to_owned();
            task_states.insert(name, task_state(&outcome, alloc.create_time, started));
        }
        let deployment_status = match &outcome {
            AllocOutcome::Running | AllocOutcome::Default if !batch => json!({
                "Healthy": true,
                "Timestamp": rfc3339(started + 10_000_000_000),
                "Canary": false,
                "ModifyIndex": alloc.modify_index,
            }),
            AllocOutcome::Unhealthy if !batch => json!({
                "Healthy": false,
                "Timestamp": rfc3339(started + 10_000_000_000),
                "Canary": false,
                "ModifyIndex": alloc.modify_index,
            }),
            _ => Value::Null,
        };
        json!({
            "ID": alloc.id,
            "EvalID": alloc.eval_id,
            "Name": format!("{}.{}[{}]", alloc.job_id, alloc.group, alloc.slot),
            "Namespace": namespace,
            "NodeID": "f7476465-4d6e-c0de-af1d-1a5a0ea3ad34",
            "NodeName": "fake-nomad",
            "JobID": alloc.job_id,
            "JobType": job_type,
            "JobVersion": alloc.job_version,
            "TaskGroup": alloc.group,
            "DesiredStatus": alloc.desired,
            "DesiredDescription": if alloc.desired == "stop" { "alloc is being stopped" } else { "" },
            "ClientStatus": client_status,
            "ClientDescription": client_description,
            "DesiredTransition": {"Migrate": null, "Reschedule": null, "ForceReschedule": null},
            "TaskStates": task_states,
            "DeploymentStatus": deployment_status,
            "FollowupEvalID": "",
            "NextAllocation": "",
            "RescheduleTracker": null,
            "PreemptedAllocations": null,
            "PreemptedByAllocation": "",
            "CreateIndex": alloc.create_index,
            "ModifyIndex": alloc.modify_index,
            "CreateTime": alloc.create_time,
            "ModifyTime": started,
        })
    }

    /// A stored job as `GET /v1/job/:id` shows it.
    fn job_json(&self, job: &StoredJob) -> Value {
        let mut out = job.spec.clone();
        let id = out["ID"].as_str().unwrap_or("").to_owned();
        out["Status"] = json!(self.job_status(&id, job));
        out["Stop"] = json!(job.stopped);
        out["Version"] = json!(job.version);
        out["Stable"] = json!(false);
        out["CreateIndex"] = json!(job.create_index);
        out["ModifyIndex"] = json!(job.modify_index);
        out["JobModifyIndex"] = json!(job.job_modify_index);
        out["SubmitTime"] = json!(job.submit_time);
        out
    }

    /// `pending`, `running` or `dead`, as Nomad summarises a job.
    fn job_status(&self, id: &str, job: &StoredJob) -> &'static str {
        if job.stopped {
            return "dead";
        }
        let batch = matches!(job.spec["Type"].as_str(), Some("batch" | "sysbatch"));
        let live: Vec<&Alloc> = self
            .allocs
            .iter()
            .filter(|a| a.job_id == id && a.desired == "run")
            .collect();
        if live.is_empty() {
            return "pending";
        }
        let all_done = live.iter().all(|a| {
            let outcome = self.outcomes.get(&(a.job_id.clone(), a.group.clone()));
            let pending = a.reads < self.pending_reads;
            !pending
                && matches!(
                    outcome,
                    None | Some(
                        AllocOutcome::Default
                            | AllocOutcome::Complete
                            | AllocOutcome::Failed { .. }
                    )
                )
        });
        if batch && all_done {
            "dead"
        } else {
            "running"
        }
    }

    /// `GET /v1/jobs`: one stub per job whose id starts with `prefix`.
    fn job_list(&self, prefix: &str) -> Value {
        let stubs: Vec<Value> = self
            .jobs
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(id, job)| {
                let spec = &job.spec;
                let mut summary = Map::new();
                for group in spec["TaskGroups"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    let name = group["Name"].as_str().unwrap_or("").to_owned();
                    let mut counts = [0u64; 4]; // running, starting, complete, failed
                    for alloc in self
                        .allocs
                        .iter()
                        .filter(|a| &a.job_id == id && a.group == name)
                    {
                        let stub = self.alloc_stub(alloc, alloc.reads < self.pending_reads);
                        match stub["ClientStatus"].as_str() {
                            Some("running") => counts[0] += 1,
                            Some("pending") => counts[1] += 1,
                            Some("complete") => counts[2] += 1,
                            Some("failed") => counts[3] += 1,
                            _ => {}
                        }
                    }
                    summary.insert(
                        name,
                        json!({
                            "Queued": 0, "Complete": counts[2], "Failed": counts[3],
                            "Running": counts[0], "Starting": counts[1], "Lost": 0, "Unknown": 0,
                        }),
                    );
                }
                json!({
                    "ID": id,
                    "ParentID": "",
                    "Name": spec["Name"],
                    "Namespace": spec["Namespace"],
                    "Datacenters": spec["Datacenters"],
                    "NodePool": spec["NodePool"],
                    "Multiregion": null,
                    "Type": spec["Type"],
                    "Priority": spec["Priority"],
                    "Periodic": false,
                    "ParameterizedJob": false,
                    "Stop": job.stopped,
                    "Status": self.job_status(id, job),
                    "StatusDescription": "",
                    "JobSummary": {
                        "JobID": id,
                        "Namespace": spec["Namespace"],
                        "Summary": summary,
                        "Children": {"Pending": 0, "Running": 0, "Dead": 0},
                        "CreateIndex": job.create_index,
                        "ModifyIndex": job.modify_index,
                    },
                    "CreateIndex": job.create_index,
                    "ModifyIndex": job.modify_index,
                    "JobModifyIndex": job.job_modify_index,
                    "SubmitTime": job.submit_time,
                    "Meta": null,
                })
            })
            .collect();
        Value::Array(stubs)
    }
}

/// A task's state for an allocation's outcome, with the events Nomad records.
fn task_state(outcome: &AllocOutcome, created: i64, started: i64) -> Value {
    let event = |kind: &str, time: i64, exit_code: i64, message: &str| {
        json!({
            "Type": kind,
            "Time": time,
            "DisplayMessage": message,
            "Details": if kind == "Terminated" { json!({"exit_code": exit_code.to_string()}) } else { json!({}) },
            "FailsTask": false,
            "ExitCode": exit_code,
            "Message": "",
        })
    };
    let received = event("Received", created, 0, "Task received by client");
    let setup = event("Task Setup", created + 1000, 0, "Building Task Directory");
    let start = event("Started", started, 0, "Task started by client");
    let finished = started + 2_000_000_000;
    let zero = "0001-01-01T00:00:00Z";
    let (state, failed, started_at, finished_at, events) = match outcome {
        AllocOutcome::Pending => (
            "pending",
            false,
            zero.to_owned(),
            zero.to_owned(),
            vec![received, setup],
        ),
        AllocOutcome::Running | AllocOutcome::Unhealthy | AllocOutcome::Default => (
            "running",
            false,
            rfc3339(started),
            zero.to_owned(),
            vec![received, setup, start],
        ),
        AllocOutcome::Complete => (
            "dead",
            false,
            rfc3339(started),
            rfc3339(finished),
            vec![
                received,
                setup,
                start,
                event("Terminated", finished, 0, "Exit Code: 0"),
            ],
        ),
        AllocOutcome::Failed { exit_code, message } => {
            let shown = if message.is_empty() {
                format!("Exit Code: {exit_code}")
            } else {
                format!("Exit Code: {exit_code}, Exit Message: {message:?}")
            };
            let mut terminated = event("Terminated", finished, *exit_code, &shown);
            terminated["FailsTask"] = json!(true);
            let mut give_up = event(
                "Not Restarting",
                finished + 1000,
                0,
                "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\"",
            );
            give_up["FailsTask"] = json!(true);
            (
                "dead",
                true,
                rfc3339(started),
                rfc3339(finished),
                vec![received, setup, start, terminated, give_up],
            )
        }
    };
    json!({
        "State": state,
        "Failed": failed,
        "Restarts": 0,
        "LastRestart": zero,
        "StartedAt": started_at,
        "FinishedAt": finished_at,
        "Events": events,
        "TaskHandle": null,
    })
}

/// The job with the defaults Nomad's canonicalisation fills in.
fn canonical(mut job: Map<String, Value>) -> Value {
    let id = job.get("ID").cloned().unwrap_or(Value::Null);
    let defaults = [
        ("Name", id),
        ("Namespace", json!("default")),
        ("Region", json!("global")),
        ("Type", json!("service")),
        ("Priority", json!(50)),
        ("Datacenters", json!(["*"])),
        ("NodePool", json!("default")),
        ("AllAtOnce", json!(false)),
        ("ParentID", json!("")),
        ("Meta", Value::Null),
    ];
    for (key, value) in defaults {
        let missing = match job.get(key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty() && key != "ParentID",
            Some(_) => false,
        };
        if missing {
            job.insert(key.to_owned(), value);
        }
    }
    if let Some(Value::Array(groups)) = job.get_mut("TaskGroups") {
        for group in groups.iter_mut().filter_map(Value::as_object_mut) {
            if !group.get("Count").is_some_and(Value::is_u64) {
                group.insert("Count".to_owned(), json!(1));
            }
        }
    }
    Value::Object(job)
}

fn token_of(request: &Request<Incoming>) -> Option<String> {
    let headers = request.headers();
    if let Some(token) = headers.get("X-Nomad-Token").and_then(|v| v.to_str().ok()) {
        return Some(token.to_owned());
    }
    headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

/// `%2F` → `/`; an invalid escape stays as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(high), Some(low)) if hex(high).is_some() && hex(low).is_some() => {
                let value = hex(high).unwrap_or(0) * 16 + hex(low).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A UUID-shaped id from a counter (Nomad's ids are random UUIDs; these are stable).
fn uuid(n: u64) -> String {
    let mut state: u64 = 0xcbf2_9ce4_8422_2325 ^ n;
    let mut hex = String::new();
    for round in 0..2u64 {
        for byte in n.to_le_bytes().iter().chain(&round.to_le_bytes()) {
            state = (state ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{state:016x}"));
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn rfc3339(nanos: i64) -> String {
    let nanos = u64::try_from(nanos).unwrap_or(0);
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(nanos)).to_string()
}

/// JSON with the query metadata headers Nomad sends on reads.
fn json_response(inner: &Inner, value: &Value) -> HttpResponse {
    let mut response = respond(
        StatusCode::OK,
        "application/json",
        value.to_string().into_bytes(),
    );
    let headers = response.headers_mut();
    if let Ok(index) = HeaderValue::from_str(&inner.index.to_string()) {
        headers.insert("X-Nomad-Index", index);
    }
    headers.insert("X-Nomad-KnownLeader", HeaderValue::from_static("true"));
    headers.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    response
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, job_type: &str) -> Value {
        json!({"Job": {
            "ID": id,
            "Type": job_type,
            "TaskGroups": [{
                "Name": "web",
                "Networks": [{"DynamicPorts": [{"Label": "http", "To": 80}], "ReservedPorts": [{"Label": "admin", "Value": 9090}]}],
                "Tasks": [{"Name": "web", "Driver": "docker", "Config": {"image": "nginx"}, "Resources": {"CPU": 100, "MemoryMB": 64}}],
            }],
        }})
    }

    async fn call(
        fake: &FakeNomad,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> (u16, String) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.request(method, format!("{}{path}", fake.url()));
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        if let Some(token) = token {
            request = request.header("X-Nomad-Token", token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[tokio::test]
    async fn register_read_list_allocations_and_purge() {
        let fake = FakeNomad::start().await;
        let (status, body) = call(
            &fake,
            reqwest::Method::POST,
            "/v1/jobs",
            Some(&job("web", "service")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let registered = parse(&body);
        for key in [
            "EvalID",
            "EvalCreateIndex",
            "JobModifyIndex",
            "Warnings",
            "Index",
            "LastContact",
            "KnownLeader",
        ] {
            assert!(registered.get(key).is_some(), "{key} missing: {registered}");
        }
        let (status, body) = call(&fake, reqwest::Method::GET, "/v1/job/web", None, None).await;
        assert_eq!(status, 200);
        let read = parse(&body);
        assert_eq!(read["Type"], "service");
        assert_eq!(read["Name"], "web");
        assert_eq!(read["TaskGroups"][0]["Count"], 1);
        let (_, body) = call(&fake, reqwest::Method::GET, "/v1/jobs", None, None).await;
        let list = parse(&body);
        assert_eq!(list[0]["ID"], "web");
        assert_eq!(list[0]["JobSummary"]["Summary"]["web"]["Running"], 1);

        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/job/web/allocations",
            None,
            None,
        )
        .await;
        let allocs = parse(&body);
        assert_eq!(allocs.as_array().unwrap().len(), 1);
        assert_eq!(allocs[0]["ClientStatus"], "running");
        assert_eq!(allocs[0]["TaskStates"]["web"]["State"], "running");
        assert_eq!(allocs[0]["TaskStates"]["web"]["Failed"], false);
        assert_eq!(allocs[0]["DeploymentStatus"]["Healthy"], true);
        assert!(
            allocs[0].get("AllocatedResources").is_none(),
            "stubs carry no resources"
        );
        let alloc_id = allocs[0]["ID"].as_str().unwrap().to_owned();
        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            &format!("/v1/allocation/{alloc_id}"),
            None,
            None,
        )
        .await;
        let full = parse(&body);
        let ports = full["AllocatedResources"]["Shared"]["Ports"]
            .as_array()
            .unwrap();
        let labels: Vec<(&str, u64)> = ports
            .iter()
            .map(|p| (p["Label"].as_str().unwrap(), p["Value"].as_u64().unwrap()))
            .collect();
        assert_eq!(labels, [("admin", 9090), ("http", 20000)]);
        assert_eq!(ports[1]["To"], 80);
        assert_eq!(ports[1]["HostIP"], "127.0.0.1");

        let (status, body) = call(
            &fake,
            reqwest::Method::DELETE,
            "/v1/job/web?purge=true",
            None,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_ne!(parse(&body)["EvalID"], "");
        let (status, body) = call(&fake, reqwest::Method::GET, "/v1/job/web", None, None).await;
        assert_eq!((status, body.as_str()), (404, "job not found"));
        let (status, body) = call(
            &fake,
            reqwest::Method::DELETE,
            "/v1/job/web?purge=true",
            None,
            None,
        )
        .await;
        assert_eq!(
            status, 200,
            "deregistering an unknown job is no error in Nomad"
        );
        assert_eq!(parse(&body)["JobModifyIndex"], 0);
        let (status, _) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/allocation/nope",
            None,
            None,
        )
        .await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn batch_jobs_complete_and_outcomes_are_scriptable() {
        let fake = FakeNomad::start().await;
        call(
            &fake,
            reqwest::Method::POST,
            "/v1/jobs",
            Some(&job("migrate", "batch")),
            None,
        )
        .await;
        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/job/migrate/allocations",
            None,
            None,
        )
        .await;
        let allocs = parse(&body);
        assert_eq!(allocs[0]["ClientStatus"], "complete");
        assert_eq!(allocs[0]["TaskStates"]["web"]["State"], "dead");
        assert_eq!(allocs[0]["TaskStates"]["web"]["Failed"], false);

        fake.set_outcome(
            "migrate",
            "web",
            AllocOutcome::Failed {
                exit_code: 3,
                message: "boom".into(),
            },
        );
        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/job/migrate/allocations",
            None,
            None,
        )
        .await;
        let allocs = parse(&body);
        assert_eq!(allocs[0]["ClientStatus"], "failed");
        assert_eq!(allocs[0]["TaskStates"]["web"]["Failed"], true);
        let events = allocs[0]["TaskStates"]["web"]["Events"].as_array().unwrap();
        assert!(events
            .iter()
            .any(|e| e["Type"] == "Terminated" && e["ExitCode"] == 3));

        fake.set_pending_reads(1);
        call(
            &fake,
            reqwest::Method::POST,
            "/v1/jobs",
            Some(&job("api", "service")),
            None,
        )
        .await;
        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/job/api/allocations",
            None,
            None,
        )
        .await;
        assert_eq!(parse(&body)[0]["ClientStatus"], "pending");
        let (_, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/job/api/allocations",
            None,
            None,
        )
        .await;
        assert_eq!(parse(&body)[0]["ClientStatus"], "running");
    }

    #[tokio::test]
    async fn validation_speaks_nomads_errors() {
        let fake = FakeNomad::start().await;
        let check = |job: Value, expected: &'static [&'static str]| {
            let fake = &fake;
            async move {
                let body = json!({"Job": job});
                let (status, text) = call(
                    fake,
                    reqwest::Method::POST,
                    "/v1/validate/job",
                    Some(&body),
                    None,
                )
                .await;
                assert_eq!(status, 200, "{text}");
                let answer = parse(&text);
                assert_eq!(answer["DriverConfigValidated"], true);
                let errors: Vec<String> = answer["ValidationErrors"]
                    .as_array()
                    .map(|a| a.iter().map(|e| e.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                assert_eq!(errors.len(), expected.len(), "{errors:?}");
                for (error, words) in errors.iter().zip(expected) {
                    assert!(error.contains(words), "{error:?} lacks {words:?}");
                }
                if !expected.is_empty() {
                    assert!(
                        answer["Error"].as_str().unwrap().contains("error"),
                        "{answer}"
                    );
                }
            }
        };
        let task = json!({"Name": "t", "Driver": "docker"});
        check(
            json!({"ID": "ok", "TaskGroups": [{"Name": "g", "Tasks": [task]}]}),
            &[],
        )
        .await;
        check(
            json!({"TaskGroups": [{"Name": "g", "Tasks": [task]}]}),
            &["Missing job ID"],
        )
        .await;
        check(json!({"ID": "x"}), &["Missing job task groups"]).await;
        check(
            json!({"ID": "x", "Type": "cron", "TaskGroups": [{"Name": "g", "Tasks": [task]}]}),
            &["Invalid job type: \"cron\""],
        )
        .await;
        check(json!({"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": []}]}), &["Task group g validation failed: 1 error occurred:\n\t* Missing tasks for task group"]).await;
        check(
            json!({"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]}),
            &["* Task t validation failed: 1 error occurred:\n\t* Missing task driver"],
        )
        .await;
        check(
            json!({"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"CPU": -5, "MemoryMB": 64}}]}]}),
            &["minimum CPU value is 1; got -5"],
        )
        .await;

        let bad =
            json!({"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]}});
        let (status, text) = call(&fake, reqwest::Method::POST, "/v1/jobs", Some(&bad), None).await;
        assert_eq!(
            status, 500,
            "Nomad's HTTP layer answers an uncoded RPC error with 500"
        );
        assert!(
            text.starts_with("1 error occurred:\n\t* Task group g validation failed"),
            "{text}"
        );
        let no_id = json!({"Job": {"TaskGroups": []}});
        let (status, text) =
            call(&fake, reqwest::Method::POST, "/v1/jobs", Some(&no_id), None).await;
        assert_eq!(
            (status, text.as_str()),
            (400, "Job ID hasn't been provided")
        );
        let (status, text) = call(
            &fake,
            reqwest::Method::POST,
            "/v1/jobs",
            Some(&json!({})),
            None,
        )
        .await;
        assert_eq!((status, text.as_str()), (400, "Job must be specified"));
        assert!(fake.job_ids().is_empty());
    }

    #[tokio::test]
    async fn a_token_guards_everything_but_the_status_endpoints() {
        let fake = FakeNomad::start_with_token("s3cret").await;
        let (status, body) =
            call(&fake, reqwest::Method::GET, "/v1/status/leader", None, None).await;
        assert_eq!((status, body.as_str()), (200, "\"127.0.0.1:4647\""));
        let (status, body) = call(&fake, reqwest::Method::GET, "/v1/jobs", None, None).await;
        assert_eq!((status, body.as_str()), (403, "Permission denied"));
        let (status, body) =
            call(&fake, reqwest::Method::GET, "/v1/jobs", None, Some("wrong")).await;
        assert_eq!((status, body.as_str()), (403, "ACL token not found"));
        let (status, body) = call(
            &fake,
            reqwest::Method::GET,
            "/v1/jobs",
            None,
            Some("s3cret"),
        )
        .await;
        assert_eq!((status, body.as_str()), (200, "[]"));
        let seen: Vec<Option<String>> = fake.requests().into_iter().map(|r| r.token).collect();
        assert_eq!(
            seen,
            [None, None, Some("wrong".into()), Some("s3cret".into())]
        );
    }

    #[test]
    fn multierror_reads_like_go_multierror() {
        assert_eq!(multierror(&["a".into()]), "1 error occurred:\n\t* a\n\n");
        assert_eq!(
            multierror(&["a".into(), "b".into()]),
            "2 errors occurred:\n\t* a\n\t* b\n\n"
        );
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(uuid(1).len(), 36);
        assert_ne!(uuid(1), uuid(2));
    }
}
