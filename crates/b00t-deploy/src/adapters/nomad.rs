//! The nomad adapter: an intent as the bodies of Nomad's `POST /v1/jobs`, each
//! `{"Job": {…}}` in the JSON job specification. Nomad's job type is per job, so the
//! services are one `service` job (`job.json`, ID = project) and the jobs one `batch` job
//! (`<project>-jobs.json`, ID `<project>-jobs`); each workload is a task group of one
//! docker task. Groups find each other through Nomad's own service discovery: a
//! service's ports are registered as Nomad services (`Provider: "nomad"`), a reference
//! to one resolves through a template that renders `nomadService` into the task's
//! environment, and `wait_for` is a prestart task that waits with `nc -z`.
//!
//! Ports: a fixed host port is reserved as given, a port with no host port is reserved
//! on its container port (other groups can reach it only through a host port), and "any
//! free port" is a dynamic port, which a reference cannot name before Nomad places it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use crate::adapters::{Manifest, Manifests, McpCall, Orchestrator};
use crate::error::DeployError;
use crate::intent::{Intent, Protocol, Restart, VolumeSource, Workload, WorkloadRole};
use crate::refs::{self, Locator};

/// The file of the service job.
pub const SERVICE_JOB_FILE: &str = "job.json";

/// The image of the prestart tasks that wait for a service.
pub const WAIT_IMAGE: &str = "busybox:1.36";

/// The datacenter the jobs run in.
pub const DATACENTER: &str = "dc1";

/// MHz of CPU per core asked for: Nomad reserves CPU in MHz.
pub const MHZ_PER_CORE: f64 = 1000.0;

/// The file of the batch job of `project`.
pub fn batch_job_file(project: &str) -> String {
    format!("{project}-jobs.json")
}

/// Translates `intent` for nomad.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    // The intent's own notes first, then what this translation adds.
    let mut notes = intent.notes.clone();
    let mut files = Vec::new();
    let mut mcp_calls = Vec::new();
    let roles = [
        (WorkloadRole::Service, "service", intent.project.clone()),
        (
            WorkloadRole::Job,
            "batch",
            format!("{}-jobs", intent.project),
        ),
    ];
    for (role, kind, id) in roles {
        let groups = intent
            .workloads
            .iter()
            .filter(|w| w.role == role)
            .map(|w| task_group(intent, w, &mut notes))
            .collect::<Result<Vec<_>, _>>()?;
        if groups.is_empty() {
            continue;
        }
        let job = Job {
            id: id.clone(),
            name: id.clone(),
            kind,
            datacenters: vec![DATACENTER],
            meta: BTreeMap::from([
                ("b00t.deploy.project".to_owned(), intent.project.clone()),
                ("b00t.deploy.datum".to_owned(), intent.datum.to_string()),
            ]),
            task_groups: groups,
        };
        let name = match role {
            WorkloadRole::Service => SERVICE_JOB_FILE.to_owned(),
            WorkloadRole::Job => batch_job_file(&intent.project),
        };
        let content = to_json(&JobFile { job: &job })?;
        mcp_calls.push(McpCall {
            server: "nomad".to_owned(),
            tool: "run_job".to_owned(),
            arguments: json!({
                "detach": true,
                "job_spec": to_json(&job)?,
            }),
        });
        files.push(Manifest { name, content });
    }
    notes.push(format!(
        "CPU is reserved in MHz on nomad: {MHZ_PER_CORE} MHz per core asked for"
    ));
    notes.push(
        "MCP: the calls are mcp-nomad's `run_job` (kocierik/mcp-nomad, `npx \
         @kocierik/mcp-nomad`), registered under the server name `nomad`; its `job_spec` is \
         the job without the `{\"Job\": …}` wrapper, which the server adds"
            .to_owned(),
    );
    Ok(Manifests {
        orchestrator: Orchestrator::Nomad,
        project: intent.project.clone(),
        files,
        mcp_calls,
        notes,
    })
}

#[derive(Serialize)]
struct JobFile<'a> {
    #[serde(rename = "Job")]
    job: &'a Job,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Job {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    datacenters: Vec<&'static str>,
    meta: BTreeMap<String, String>,
    task_groups: Vec<TaskGroup>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TaskGroup {
    name: String,
    count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    networks: Vec<Network>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    services: Vec<Service>,
    restart_policy: RestartPolicy,
    reschedule_policy: ReschedulePolicy,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    meta: BTreeMap<String, String>,
    tasks: Vec<Task>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Network {
    mode: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reserved_ports: Vec<NetworkPort>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dynamic_ports: Vec<NetworkPort>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkPort {
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u16>,
    to: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Service {
    name: String,
    port_label: String,
    provider: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checks: Vec<Check>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Check {
    name: String,
    #[serde(rename = "Type")]
    kind: &'static str,
    port_label: String,
    /// Nanoseconds, as Nomad's JSON durations are.
    interval: u64,
    timeout: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RestartPolicy {
    attempts: u32,
    interval: u64,
    delay: u64,
    mode: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReschedulePolicy {
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delay_function: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_delay: Option<u64>,
    unlimited: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Task {
    name: String,
    driver: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle: Option<Lifecycle>,
    config: DockerConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    templates: Vec<Template>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Lifecycle {
    hook: &'static str,
    sidecar: bool,
}

/// The docker driver's `config` block: its keys are the driver's own, in snake case.
#[derive(Serialize, Default)]
struct DockerConfig {
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    work_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    readonly_rootfs: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mount: Vec<DockerMount>,
}

#[derive(Serialize)]
struct DockerMount {
    #[serde(rename = "type")]
    kind: &'static str,
    target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    readonly: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Resources {
    #[serde(rename = "CPU", skip_serializing_if = "Option::is_none")]
    cpu: Option<u32>,
    #[serde(rename = "MemoryMB", skip_serializing_if = "Option::is_none")]
    memory_mb: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<Device>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Device {
    name: &'static str,
    count: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    constraints: Vec<Constraint>,
}

#[derive(Serialize)]
struct Constraint {
    #[serde(rename = "LTarget")]
    l_target: String,
    #[serde(rename = "RTarget")]
    r_target: String,
    #[serde(rename = "Operand")]
    operand: &'static str,
}

#[derive(Serialize)]
struct Template {
    #[serde(rename = "EmbeddedTmpl")]
    embedded_tmpl: String,
    #[serde(rename = "DestPath")]
    dest_path: &'static str,
    #[serde(rename = "Envvars")]
    envvars: bool,
    #[serde(rename = "ChangeMode")]
    change_mode: &'static str,
}

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// Where the template of a task writes the environment it renders.
const ENV_FILE: &str = "local/b00t.env";

/// A port as Nomad gives it to a group.
struct PlacedPort {
    label: String,
    container: u16,
    /// The reserved host port, or `None` for a dynamic one.
    host: Option<u16>,
}

fn placed_ports(workload: &Workload) -> Vec<PlacedPort> {
    workload
        .ports
        .iter()
        .map(|port| PlacedPort {
            label: port_label(port.container, port.protocol),
            container: port.container,
            host: match port.host {
                Some(0) => None,
                Some(host) => Some(host),
                None => Some(port.container),
            },
        })
        .collect()
}

/// `p8080`, `p53_udp`: a port label is letters, digits and `_`.
fn port_label(container: u16, protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => format!("p{container}"),
        Protocol::Udp => format!("p{container}_udp"),
    }
}

/// The Nomad service of a workload's port: the workload's name for its first port,
/// `<name>-<container port>` for the others.
fn service_name(workload: &Workload, index: usize) -> String {
    match (index, workload.ports.get(index)) {
        (0, _) | (_, None) => workload.name.clone(),
        (_, Some(port)) => format!("{}-{}", workload.name, port.container),
    }
}

/// `B00T_<SERVICE>_HOST`: the variable a reference's host is rendered into.
fn host_var(service: &str) -> String {
    let upper: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("B00T_{upper}_HOST")
}

/// The template expression of the address of Nomad service `service`.
fn address_expression(service: &str) -> String {
    format!("{{{{ range nomadService \"{service}\" }}}}{{{{ .Address }}}}{{{{ end }}}}")
}

fn port_expression(service: &str) -> String {
    format!("{{{{ range nomadService \"{service}\" }}}}{{{{ .Port }}}}{{{{ end }}}}")
}

/// Marks a host in a text before it is JSON-escaped for a template line: U+0001 cannot
/// come from a datum's TOML string unescaped, and JSON escapes it as `\u0001`.
const MARK: char = '\u{1}';
const ESCAPED_MARK: &str = "\\u0001";

/// How a reference to another group resolves on Nomad.
struct NomadLocator<'a> {
    intent: &'a Intent,
    /// In a template line (`true`): the host is marked, to become a `nomadService`
    /// expression. In the task config (`false`): it is `${B00T_<SERVICE>_HOST}`, which
    /// Nomad interpolates from the environment the template renders.
    in_template: bool,
    /// The services whose host was asked for, for the template to render.
    hosts: RefCell<BTreeSet<String>>,
    /// A service whose port was asked for but is dynamic, for the error.
    dynamic: RefCell<Option<(String, u16)>>,
}

impl<'a> NomadLocator<'a> {
    fn new(intent: &'a Intent, in_template: bool) -> NomadLocator<'a> {
        NomadLocator {
            intent,
            in_template,
            hosts: RefCell::new(BTreeSet::new()),
            dynamic: RefCell::new(None),
        }
    }

    fn target(&self, stack: &str, service: &str) -> Option<&'a Workload> {
        self.intent.workloads.iter().find(|w| {
            w.stack == stack
                && w.name == service
                && w.role == WorkloadRole::Service
                && !w.ports.is_empty()
        })
    }

    /// Resolves `text`, turning a miss on a dynamic port into an error that says so.
    fn resolve(&self, text: &str, what: &str) -> Result<String, DeployError> {
        refs::resolve_stack_refs(text, self, what).map_err(|err| {
            match self.dynamic.borrow_mut().take() {
                Some((service, container)) => DeployError::Unsupported {
                    orchestrator: "nomad".to_owned(),
                    message: format!(
                        "{what} refers to `{service}`, whose port {container} is published \
                         on any free host port: Nomad picks that port only when it places \
                         `{service}`; publish it on a fixed one (`-p <host>:{container}`), \
                         or leave it unpublished"
                    ),
                },
                None => err,
            }
        })
    }
}

impl Locator for NomadLocator<'_> {
    fn host(&self, stack: &str, service: &str) -> Option<String> {
        let workload = self.target(stack, service)?;
        let name = service_name(workload, 0);
        self.hosts.borrow_mut().insert(name.clone());
        Some(if self.in_template {
            format!("{MARK}{name}{MARK}")
        } else {
            format!("${{{}}}", host_var(&name))
        })
    }

    fn port(&self, stack: &str, service: &str) -> Option<u16> {
        let workload = self.target(stack, service)?;
        let port = placed_ports(workload).into_iter().next()?;
        if port.host.is_none() {
            *self.dynamic.borrow_mut() = Some((workload.name.clone(), port.container));
        }
        port.host
    }

    fn services(&self) -> Vec<String> {
        self.intent
            .workloads
            .iter()
            .filter(|w| w.role == WorkloadRole::Service && !w.ports.is_empty())
            .map(|w| format!("{}:{}", w.stack, w.name))
            .collect()
    }
}

fn task_group(
    intent: &Intent,
    workload: &Workload,
    notes: &mut Vec<String>,
) -> Result<TaskGroup, DeployError> {
    let name = &workload.name;
    let config_locator = NomadLocator::new(intent, false);
    let template_locator = NomadLocator::new(intent, true);

    let entrypoint = workload
        .command
        .iter()
        .map(|s| config_locator.resolve(s, &format!("the command of `{name}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let args = workload
        .args
        .iter()
        .map(|s| config_locator.resolve(s, &format!("the args of `{name}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut env = BTreeMap::new();
    let mut rendered_env = Vec::new();
    for (key, value) in &workload.env {
        let resolved = template_locator.resolve(value, &format!("env `{key}` of `{name}`"))?;
        if resolved == *value {
            env.insert(key.clone(), value.clone());
        } else {
            rendered_env.push(template_line(key, &resolved, name)?);
        }
    }
    let mut lines: Vec<String> = config_locator
        .hosts
        .borrow()
        .iter()
        .map(|service| format!("{}={}", host_var(service), address_expression(service)))
        .collect();
    lines.extend(rendered_env);
    let change_mode = match workload.role {
        WorkloadRole::Service => "restart",
        WorkloadRole::Job => "noop",
    };
    let templates = if lines.is_empty() {
        Vec::new()
    } else {
        vec![env_template(lines, change_mode)]
    };

    let ports = placed_ports(workload);
    let networks = if ports.is_empty() {
        Vec::new()
    } else {
        let (reserved, dynamic): (Vec<_>, Vec<_>) = ports.iter().partition(|p| p.host.is_some());
        let to_network = |p: &PlacedPort| NetworkPort {
            label: p.label.clone(),
            value: p.host,
            to: p.container,
        };
        vec![Network {
            mode: "host",
            reserved_ports: reserved.into_iter().map(to_network).collect(),
            dynamic_ports: dynamic.into_iter().map(to_network).collect(),
        }]
    };
    for (port, placed) in workload.ports.iter().zip(&ports) {
        if port.host.is_none() {
            notes.push(format!(
                "port {} of `{name}` is not published, but on nomad other groups reach it \
                 only through a host port: it is reserved as host port {} of its node",
                port.container, port.container
            ));
        }
        if let Some(ip) = &port.host_ip {
            notes.push(format!(
                "port {} of `{name}` binds the node's address, not `{ip}`: Nomad chooses \
                 the address from the client's host networks",
                placed.container
            ));
        }
    }

    let mut services = Vec::new();
    if workload.role == WorkloadRole::Service {
        // The health check becomes a TCP check of the first TCP port.
        let checked = workload
            .ports
            .iter()
            .position(|p| p.protocol == Protocol::Tcp);
        if workload.health.is_some() {
            match checked {
                Some(index) => notes.push(format!(
                    "Nomad's own service checks are tcp or http: `{name}`'s health command \
                     is not run on nomad, a TCP check of port {} stands for it",
                    ports[index].container
                )),
                None => notes.push(format!(
                    "Nomad's own service checks are tcp or http: `{name}` has no TCP port, so \
                     its health check is not kept on nomad"
                )),
            }
        }
        for (index, port) in ports.iter().enumerate() {
            let checks = match (&workload.health, checked == Some(index)) {
                (Some(health), true) => {
                    let interval = nanos(health.interval_ms.unwrap_or(10_000)).max(SECOND);
                    let timeout = health
                        .timeout_ms
                        .map_or(interval.min(2 * SECOND), nanos)
                        .max(SECOND);
                    vec![Check {
                        name: format!("{name}-alive"),
                        kind: "tcp",
                        port_label: port.label.clone(),
                        interval,
                        timeout,
                    }]
                }
                _ => Vec::new(),
            };
            services.push(Service {
                name: service_name(workload, index),
                port_label: port.label.clone(),
                provider: "nomad",
                checks,
            });
        }
    }

    let mut tasks = Vec::new();
    for wait in &workload.wait_for {
        tasks.push(wait_task(intent, workload, &wait.service, wait.port)?);
    }

    let mount = workload
        .volumes
        .iter()
        .map(|volume| match &volume.source {
            VolumeSource::Named(source) => DockerMount {
                kind: "volume",
                target: volume.target.clone(),
                source: Some(source.clone()),
                readonly: volume.read_only,
            },
            VolumeSource::Bind(source) => DockerMount {
                kind: "bind",
                target: volume.target.clone(),
                source: Some(source.clone()),
                readonly: volume.read_only,
            },
            VolumeSource::Tmpfs => DockerMount {
                kind: "tmpfs",
                target: volume.target.clone(),
                source: None,
                readonly: volume.read_only,
            },
        })
        .collect::<Vec<_>>();
    if workload
        .volumes
        .iter()
        .any(|v| !matches!(v.source, VolumeSource::Tmpfs))
    {
        notes.push(format!(
            "the named volumes and binds of `{name}` are docker mounts on its node: the \
             docker plugin needs `volumes {{ enabled = true }}` in the client's configuration"
        ));
    }

    let resources = resources(workload, notes)?;

    let mut meta = workload.labels.clone();
    for (key, value) in &workload.hints {
        meta.insert(format!("b00t.hint.{key}"), value.clone());
    }
    meta.insert("b00t.deploy.datum".to_owned(), workload.datum.to_string());
    meta.insert(
        "b00t.deploy.role".to_owned(),
        match workload.role {
            WorkloadRole::Service => "service",
            WorkloadRole::Job => "job",
        }
        .to_owned(),
    );

    if let Some(build) = &workload.build {
        notes.push(format!(
            "image `{}` of `{name}` must be on each Nomad client: b00t builds it locally \
             (`{build}`), Nomad's docker driver pulls what it lacks",
            workload.image
        ));
    }

    tasks.push(Task {
        name: name.clone(),
        driver: "docker",
        user: workload.user.clone(),
        lifecycle: None,
        config: DockerConfig {
            image: workload.image.clone(),
            entrypoint,
            args,
            ports: ports.iter().map(|p| p.label.clone()).collect(),
            work_dir: workload.workdir.clone(),
            hostname: workload.hostname.clone(),
            readonly_rootfs: workload.read_only,
            mount,
        },
        env,
        resources,
        templates,
    });

    let (restart_policy, reschedule_policy) = policies(workload);
    Ok(TaskGroup {
        name: name.clone(),
        count: 1,
        networks,
        services,
        restart_policy,
        reschedule_policy,
        meta,
        tasks,
    })
}

/// `wait-for-<service>`: a prestart task that returns once the Nomad service of
/// `<service>:<port>` accepts a connection.
fn wait_task(
    intent: &Intent,
    workload: &Workload,
    service: &str,
    port: u16,
) -> Result<Task, DeployError> {
    let name = &workload.name;
    let Some(target) = intent.workload(service) else {
        return Err(DeployError::Reference(format!(
            "`{name}` waits for `{service}:{port}`, but the deployment has no workload \
             `{service}`: add its stack to requires_stacks or fix wait_for_services"
        )));
    };
    let index = target.ports.iter().position(|p| p.container == port);
    let (WorkloadRole::Service, Some(index)) = (target.role, index) else {
        return Err(DeployError::Reference(format!(
            "`{name}` waits for `{service}:{port}`, but `{service}` is not a service with \
             container port {port}: wait for one of its ports, or add `-p {port}` to it"
        )));
    };
    let nomad_service = service_name(target, index);
    Ok(Task {
        name: format!("wait-for-{service}"),
        driver: "docker",
        user: None,
        lifecycle: Some(Lifecycle {
            hook: "prestart",
            sidecar: false,
        }),
        config: DockerConfig {
            image: WAIT_IMAGE.to_owned(),
            entrypoint: vec!["sh".to_owned(), "-c".to_owned()],
            args: vec![format!(
                "until nc -z \"$B00T_WAIT_HOST\" \"$B00T_WAIT_PORT\"; \
                 do echo waiting for {service}; sleep 1; done"
            )],
            ..DockerConfig::default()
        },
        env: BTreeMap::new(),
        resources: Some(Resources {
            cpu: Some(50),
            memory_mb: Some(32),
            devices: Vec::new(),
        }),
        templates: vec![env_template(
            vec![
                format!("B00T_WAIT_HOST={}", address_expression(&nomad_service)),
                format!("B00T_WAIT_PORT={}", port_expression(&nomad_service)),
            ],
            "restart",
        )],
    })
}

fn env_template(lines: Vec<String>, change_mode: &'static str) -> Template {
    let mut embedded_tmpl = lines.join("\n");
    embedded_tmpl.push('\n');
    Template {
        embedded_tmpl,
        dest_path: ENV_FILE,
        envvars: true,
        change_mode,
    }
}

/// `KEY="…"` for an env file (Nomad reads it with JSON string escapes), the marked hosts
/// turned into `nomadService` expressions.
fn template_line(key: &str, resolved: &str, name: &str) -> Result<String, DeployError> {
    if resolved.contains("{{") || resolved.contains("}}") {
        return Err(DeployError::Unsupported {
            orchestrator: "nomad".to_owned(),
            message: format!(
                "env `{key}` of `{name}` holds `{{{{` or `}}}}`, which Nomad's template would \
                 read as its own: leave them out of a value with a `${{STACK:…}}` reference"
            ),
        });
    }
    let quoted = serde_json::to_string(resolved).map_err(|err| DeployError::Unsupported {
        orchestrator: "nomad".to_owned(),
        message: format!("env `{key}` of `{name}` cannot be written: {err}"),
    })?;
    let mut line = format!("{key}=");
    for (index, part) in quoted.split(ESCAPED_MARK).enumerate() {
        if index % 2 == 1 {
            line.push_str(&address_expression(part));
        } else {
            line.push_str(part);
        }
    }
    Ok(line)
}

fn resources(
    workload: &Workload,
    notes: &mut Vec<String>,
) -> Result<Option<Resources>, DeployError> {
    let name = &workload.name;
    let wanted = &workload.resources;
    let cpu = match wanted.cpu {
        None => None,
        Some(cores) => {
            let mhz = (cores * MHZ_PER_CORE).round();
            if !mhz.is_finite() || mhz < 1.0 || mhz > f64::from(u32::MAX) {
                return Err(DeployError::Unsupported {
                    orchestrator: "nomad".to_owned(),
                    message: format!(
                        "`{name}` asks for {cores} CPUs: nomad reserves at least 1 MHz"
                    ),
                });
            }
            // In range and whole: the cast is exact.
            Some(mhz as u32)
        }
    };
    let memory_mb = wanted
        .memory
        .map(|bytes| bytes.div_ceil(1024 * 1024).max(1));
    let devices = match wanted.gpu_count {
        None => Vec::new(),
        Some(count) => vec![Device {
            name: "nvidia/gpu",
            count,
            constraints: wanted
                .gpu_type
                .iter()
                .map(|gpu_type| {
                    let pattern = gpu_model_pattern(gpu_type);
                    notes.push(format!(
                        "`{name}` asks for GPU `{gpu_type}`: on nomad the device's model \
                         (`${{device.model}}`, `Tesla T4` for a T4) must match `{pattern}`"
                    ));
                    Constraint {
                        l_target: "${device.model}".to_owned(),
                        r_target: pattern,
                        operand: "regexp",
                    }
                })
                .collect(),
        }],
    };
    if wanted.gpu_count.is_none() && wanted.gpu_type.is_some() {
        notes.push(format!(
            "`{name}` names a GPU model but no gpu_count: nomad gives it no GPU"
        ));
    }
    if memory_mb.is_none() && workload.role == WorkloadRole::Service {
        notes.push(format!(
            "`{name}` has no memory in its intent: Nomad reserves its default 300 MB, and \
             the docker driver kills the task above it"
        ));
    }
    if cpu.is_none() && memory_mb.is_none() && devices.is_empty() {
        return Ok(None);
    }
    Ok(Some(Resources {
        cpu,
        memory_mb,
        devices,
    }))
}

/// A case-insensitive pattern for Nomad's `${device.model}` from a GPU type written as
/// cloud providers label it: `nvidia-tesla-t4` → `(?i)tesla[- ]t4`.
fn gpu_model_pattern(gpu_type: &str) -> String {
    let lower = gpu_type.to_ascii_lowercase();
    let model = lower.strip_prefix("nvidia-").unwrap_or(&lower);
    let mut pattern = String::from("(?i)");
    for c in model.chars() {
        match c {
            '-' | '_' | ' ' => pattern.push_str("[- ]"),
            c if c.is_ascii_alphanumeric() => pattern.push(c),
            c => {
                pattern.push('\\');
                pattern.push(c);
            }
        }
    }
    pattern
}

/// The group's restart and reschedule policies from the workload's restart policy.
fn policies(workload: &Workload) -> (RestartPolicy, ReschedulePolicy) {
    let no_reschedule = ReschedulePolicy {
        attempts: 0,
        delay: None,
        delay_function: None,
        max_delay: None,
        unlimited: false,
    };
    let keep_rescheduling = ReschedulePolicy {
        attempts: 0,
        delay: Some(30 * SECOND),
        delay_function: Some("exponential"),
        max_delay: Some(HOUR),
        unlimited: true,
    };
    let restart = |attempts, mode| RestartPolicy {
        attempts,
        interval: 30 * MINUTE,
        delay: 15 * SECOND,
        mode,
    };
    match (workload.role, workload.restart) {
        (_, Restart::No) => (restart(0, "fail"), no_reschedule),
        (_, Restart::OnFailure(Some(max))) => (restart(max, "fail"), no_reschedule),
        (WorkloadRole::Job, _) => (restart(3, "delay"), no_reschedule),
        (WorkloadRole::Service, _) => (restart(2, "delay"), keep_rescheduling),
    }
}

fn nanos(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, DeployError> {
    let mut json = serde_json::to_string_pretty(value).map_err(|err| DeployError::Unsupported {
        orchestrator: "nomad".to_owned(),
        message: format!("cannot write the job as JSON: {err}"),
    })?;
    json.push('\n');
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_patterns() {
        assert_eq!(gpu_model_pattern("nvidia-tesla-t4"), "(?i)tesla[- ]t4");
        assert_eq!(gpu_model_pattern("A100"), "(?i)a100");
        assert_eq!(gpu_model_pattern("h100.80gb"), "(?i)h100\\.80gb");
    }

    #[test]
    fn host_vars_are_shell_names() {
        assert!(
            host_var("my-db").ends_with("_MY_DB_HOST"),
            "{}",
            host_var("my-db")
        );
        assert!(host_var("web")
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
    }

    #[test]
    fn template_lines_escape_the_literal_and_render_the_host() {
        let line = template_line(
            "URL",
            &format!("postgresql://u:\"p\"@{MARK}db{MARK}:5432/x"),
            "w",
        )
        .expect("line");
        assert_eq!(
            line,
            "URL=\"postgresql://u:\\\"p\\\"@{{ range nomadService \"db\" }}{{ .Address }}\
             {{ end }}:5432/x\""
        );
        assert!(template_line("X", "{{ bad }}", "w").is_err());
    }
}
