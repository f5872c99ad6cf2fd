//! The direct adapter: for machines with no orchestrator, each workload becomes a local
//! process that `b00t-deployer`'s supervisor runs (restart policy, logs under the state
//! folder, ports on localhost). The plan is [`DirectPlan`]; its manifest is that plan as
//! JSON (`direct.json`). A process is started from `[b00t.local]`, else from the
//! container's command; every service listens on `127.0.0.1` (localhost) on the host
//! port its datum publishes, which is also what a reference to it resolves to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::adapters::{Manifest, Manifests, Orchestrator};
use crate::error::DeployError;
use crate::intent::{Intent, Restart, VolumeSource, Workload, WorkloadRole};
use crate::refs::{self, Locator};

/// The one file of a direct plan.
pub const DIRECT_FILE: &str = "direct.json";

/// The address every process of a direct run listens on.
pub const LOCALHOST: &str = "127.0.0.1";

/// The processes of one deployment, in start order (what a process waits for first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectPlan {
    pub project: String,
    pub processes: Vec<DirectProcess>,
}

/// One local process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectProcess {
    pub name: String,
    pub role: WorkloadRole,
    /// A program (a path, or a name looked up on PATH) and its arguments, every reference
    /// resolved: never a shell string built by b00t.
    pub program: String,
    pub args: Vec<String>,
    /// Exactly the environment the process gets, with `PATH` and `HOME` from the
    /// supervisor's own when the datum does not set them.
    pub env: BTreeMap<String, String>,
    /// The address it listens on (`127.0.0.1`).
    pub host: String,
    /// The host ports it listens on (each `-p <host>:<container>` of the datum), probed
    /// for readiness.
    pub ports: Vec<u16>,
    pub restart: Restart,
    /// Addresses that must accept a TCP connection before it starts.
    pub wait_for: Vec<WaitAddr>,
}

/// `host:port` to wait for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitAddr {
    /// The workload it is.
    pub service: String,
    pub host: String,
    pub port: u16,
}

/// The plan for `intent`.
pub fn plan(intent: &Intent) -> Result<DirectPlan, DeployError> {
    // Every port first: a reference to a service resolves to its host port.
    let mut host_ports = BTreeMap::new();
    for workload in &intent.workloads {
        host_ports.insert(workload.name.as_str(), fixed_host_ports(workload)?);
    }
    let locator = DirectLocator {
        intent,
        host_ports: &host_ports,
    };
    let processes = intent
        .workloads
        .iter()
        .map(|workload| process(intent, workload, &locator))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DirectPlan {
        project: intent.project.clone(),
        processes,
    })
}

/// Translates `intent` into [`DirectPlan`] as `direct.json`.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let plan = plan(intent)?;
    let mut content =
        serde_json::to_string_pretty(&plan).map_err(|err| DeployError::Unsupported {
            orchestrator: "direct".to_owned(),
            message: format!("cannot write the plan as JSON: {err}"),
        })?;
    content.push('\n');
    // The intent's own notes first, then what this translation adds.
    let mut notes = intent.notes.clone();
    for workload in &intent.workloads {
        notes_for(workload, &mut notes);
    }
    notes.push(
        "MCP: none; no MCP server starts local processes, b00t's supervisor runs them".to_owned(),
    );
    Ok(Manifests {
        orchestrator: Orchestrator::Direct,
        project: intent.project.clone(),
        files: vec![Manifest {
            name: DIRECT_FILE.to_owned(),
            content,
        }],
        mcp_calls: Vec::new(),
        notes,
    })
}

/// A service is `localhost` on its host port.
struct DirectLocator<'a> {
    intent: &'a Intent,
    host_ports: &'a BTreeMap<&'a str, Vec<(u16, u16)>>,
}

impl DirectLocator<'_> {
    fn find(&self, stack: &str, service: &str) -> Option<&Workload> {
        self.intent
            .workloads
            .iter()
            .find(|w| w.stack == stack && w.name == service)
    }
}

impl Locator for DirectLocator<'_> {
    fn host(&self, stack: &str, service: &str) -> Option<String> {
        self.find(stack, service).map(|_| LOCALHOST.to_owned())
    }

    fn port(&self, stack: &str, service: &str) -> Option<u16> {
        let workload = self.find(stack, service)?;
        self.host_ports
            .get(workload.name.as_str())?
            .first()
            .map(|&(_, host)| host)
    }

    fn services(&self) -> Vec<String> {
        self.intent
            .workloads
            .iter()
            .map(|w| format!("{}:{}", w.stack, w.name))
            .collect()
    }
}

/// `(container, host)` of each port; a port without a fixed host port is an error.
fn fixed_host_ports(workload: &Workload) -> Result<Vec<(u16, u16)>, DeployError> {
    workload
        .ports
        .iter()
        .map(|port| match port.host {
            Some(host) if host != 0 => Ok((port.container, host)),
            _ => Err(DeployError::Unsupported {
                orchestrator: "direct".to_owned(),
                message: format!(
                    "direct runs need a fixed host port for `{}`: write -p <host>:{} \
                     (port {} has {})",
                    workload.name,
                    port.container,
                    port.container,
                    if port.host.is_none() {
                        "no host port"
                    } else {
                        "any free host port"
                    }
                ),
            }),
        })
        .collect()
}

fn role_name(role: WorkloadRole) -> &'static str {
    match role {
        WorkloadRole::Service => "service",
        WorkloadRole::Job => "job",
    }
}

fn process(
    intent: &Intent,
    workload: &Workload,
    locator: &DirectLocator<'_>,
) -> Result<DirectProcess, DeployError> {
    let name = &workload.name;
    let (argv, from) = match &workload.local {
        Some(local) if !local.is_empty() => (local.as_slice(), "the [b00t.local] command"),
        _ if !workload.command.is_empty() => (workload.command.as_slice(), "the command"),
        _ => {
            return Err(DeployError::Unsupported {
                orchestrator: "direct".to_owned(),
                message: format!(
                    "{} `{name}` has no [b00t.local] command and no [b00t.container] \
                     command: a direct run needs a program to start",
                    role_name(workload.role)
                ),
            })
        }
    };
    let args_too = from == "the command";
    let mut resolved = argv
        .iter()
        .chain(workload.args.iter().filter(|_| args_too))
        .map(|arg| refs::resolve_stack_refs(arg, locator, &format!("{from} of `{name}`")))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let program = resolved.next().unwrap_or_default();
    if program.is_empty() {
        return Err(DeployError::Unsupported {
            orchestrator: "direct".to_owned(),
            message: format!(
                "{from} of `{name}` starts with an empty program name: name the program \
                 to run first"
            ),
        });
    }
    let args: Vec<String> = resolved.collect();

    let mut env = BTreeMap::new();
    for (key, value) in &workload.env {
        let what = format!("env `{key}` of `{name}`");
        env.insert(
            key.clone(),
            refs::resolve_stack_refs(value, locator, &what)?,
        );
    }

    let ports = locator
        .host_ports
        .get(name.as_str())
        .map(|ports| ports.iter().map(|&(_, host)| host).collect())
        .unwrap_or_default();

    let wait_for = workload
        .wait_for
        .iter()
        .map(|wait| {
            let target = intent.workload(&wait.service);
            let host_port = target.and_then(|target| {
                locator
                    .host_ports
                    .get(target.name.as_str())?
                    .iter()
                    .find(|&&(container, _)| container == wait.port)
                    .map(|&(_, host)| host)
            });
            match (target, host_port) {
                (Some(_), Some(port)) => Ok(WaitAddr {
                    service: wait.service.clone(),
                    host: LOCALHOST.to_owned(),
                    port,
                }),
                (None, _) => Err(DeployError::Reference(format!(
                    "`{name}` waits for `{}:{}`, but the deployment has no workload `{}`: \
                     add its stack to requires_stacks or fix wait_for_services",
                    wait.service, wait.port, wait.service
                ))),
                (Some(_), None) => Err(DeployError::Reference(format!(
                    "`{name}` waits for `{}:{}`, but `{}` publishes no container port {}: \
                     wait for one of its ports, or add `-p <host>:{}` to it",
                    wait.service, wait.port, wait.service, wait.port, wait.port
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(DirectProcess {
        name: name.clone(),
        role: workload.role,
        program,
        args,
        env,
        host: LOCALHOST.to_owned(),
        ports,
        restart: workload.restart,
        wait_for,
    })
}

/// What a direct run leaves out of a workload's intent.
fn notes_for(workload: &Workload, notes: &mut Vec<String>) {
    let name = &workload.name;
    if workload.local.as_ref().is_some_and(|l| !l.is_empty()) {
        notes.push(format!(
            "`{name}` runs its [b00t.local] command on this machine, not image `{}`",
            workload.image
        ));
    } else {
        notes.push(format!(
            "`{name}` has no [b00t.local] command: its container command runs as a local \
             program, so it must be on PATH here"
        ));
        for port in &workload.ports {
            if let Some(host) = port.host.filter(|&h| h != 0 && h != port.container) {
                notes.push(format!(
                    "`{name}` must listen on host port {host} itself, not on its container \
                     port {}: give it a [b00t.local] command that uses \
                     `${{STACK:{}:{name}:port}}`",
                    port.container, workload.stack
                ));
            }
        }
    }
    if !workload.volumes.is_empty() {
        let targets: Vec<String> = workload
            .volumes
            .iter()
            .map(|v| match &v.source {
                VolumeSource::Named(source) | VolumeSource::Bind(source) => {
                    format!("`{source}` on `{}`", v.target)
                }
                VolumeSource::Tmpfs => format!("a tmpfs on `{}`", v.target),
            })
            .collect();
        notes.push(format!(
            "volumes are not mounted for a local process: `{name}` does without {}",
            targets.join(", ")
        ));
    }
    let resources = &workload.resources;
    if resources.cpu.is_some() || resources.memory.is_some() || resources.gpu_count.is_some() {
        notes.push(format!(
            "resources are not reserved for a local process: `{name}` shares this machine"
        ));
    }
    if workload.health.is_some() {
        notes.push(format!(
            "the supervisor probes the ports of `{name}` for readiness; its health command \
             is not run"
        ));
    }
    if let Some(user) = &workload.user {
        notes.push(format!(
            "`{name}` runs as the supervisor's user, not `{user}`"
        ));
    }
    if let Some(workdir) = &workload.workdir {
        notes.push(format!(
            "`{name}` runs in the supervisor's working folder, not `{workdir}`"
        ));
    }
}
