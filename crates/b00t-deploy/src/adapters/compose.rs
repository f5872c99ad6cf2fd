//! The compose adapter: an intent as one `compose.yaml` in the Compose Specification's
//! shape (no `version:` key) that docker-compose 1.29 and `docker compose` v2 both read,
//! with each workload a service and jobs as services that do not restart. A service is
//! reached by its service name and container port. When the stack names its own compose
//! file (`compose_path`), the plan has no files and a note names that file: this adapter
//! reads nothing, and the deployer hands the file to `docker-compose -f` unchanged.
//! Every `$` of a value is written `$$`, since compose would otherwise interpolate it.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::json;

use crate::adapters::{Manifest, Manifests, McpCall, Orchestrator};
use crate::error::DeployError;
use crate::intent::{
    HealthTest, Intent, Port, Protocol, Restart, VolumeSource, Workload, WorkloadRole,
};
use crate::refs::{self, Locator};

/// The one file of a compose plan.
pub const COMPOSE_FILE: &str = "compose.yaml";

/// Translates `intent` for compose.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    if let Some(path) = &intent.compose_path {
        return Ok(Manifests {
            orchestrator: Orchestrator::Compose,
            project: intent.project.clone(),
            files: Vec::new(),
            mcp_calls: Vec::new(),
            notes: [
                intent.notes.clone(),
                vec![format!(
                    "the stack has its own compose file: `{}` is used as it is \
                 (`docker-compose -p {} -f {} up -d`); no compose.yaml is generated \
                 and no MCP call is planned, since docker-mcp's `deploy-compose` takes \
                 the file's text",
                    path.display(),
                    intent.project,
                    path.display()
                )],
            ]
            .concat(),
        });
    }

    let locator = ComposeLocator { intent };
    // The intent's own notes first, then what this translation adds.
    let mut notes = intent.notes.clone();
    let mut services = Vec::new();
    let mut volumes = BTreeMap::new();
    for workload in &intent.workloads {
        let service = service(intent, workload, &locator, &mut notes)?;
        for volume in &workload.volumes {
            if let VolumeSource::Named(name) = &volume.source {
                volumes.insert(name.clone(), Empty {});
            }
        }
        services.push((workload.name.clone(), service));
    }
    let file = ComposeFile {
        services: InOrder(services),
        volumes,
    };
    let content = to_yaml(&file)?;
    let mcp_calls = vec![McpCall {
        server: "docker".to_owned(),
        tool: "deploy-compose".to_owned(),
        arguments: json!({
            "compose_yaml": content,
            "project_name": intent.project,
        }),
    }];
    notes.push(
        "MCP: the call is docker-mcp's `deploy-compose` (QuantGeekDev/docker-mcp, \
         `uvx docker-mcp`), registered under the server name `docker`"
            .to_owned(),
    );
    Ok(Manifests {
        orchestrator: Orchestrator::Compose,
        project: intent.project.clone(),
        files: vec![Manifest {
            name: COMPOSE_FILE.to_owned(),
            content,
        }],
        mcp_calls,
        notes,
    })
}

/// Where a service is on a compose network: its service name and container port.
struct ComposeLocator<'a> {
    intent: &'a Intent,
}

impl Locator for ComposeLocator<'_> {
    fn host(&self, stack: &str, service: &str) -> Option<String> {
        find(self.intent, stack, service).map(|w| w.name.clone())
    }

    fn port(&self, stack: &str, service: &str) -> Option<u16> {
        find(self.intent, stack, service)?
            .ports
            .first()
            .map(|p| p.container)
    }

    fn services(&self) -> Vec<String> {
        self.intent
            .workloads
            .iter()
            .map(|w| format!("{}:{}", w.stack, w.name))
            .collect()
    }
}

fn find<'a>(intent: &'a Intent, stack: &str, service: &str) -> Option<&'a Workload> {
    intent
        .workloads
        .iter()
        .find(|w| w.stack == stack && w.name == service)
}

#[derive(serde::Serialize)]
struct ComposeFile {
    services: InOrder<Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: BTreeMap<String, Empty>,
}

/// A map that keeps the intent's order (what a workload waits for first).
struct InOrder<T>(Vec<(String, T)>);

impl<T: Serialize> Serialize for InOrder<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// `{}`: a named volume with the engine's defaults.
#[derive(serde::Serialize)]
struct Empty {}

#[derive(serde::Serialize)]
struct Service {
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    entrypoint: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    command: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    restart: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, Dependency>,
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deploy: Option<Deploy>,
}

/// The long syntax of a service's `volumes` entry.
#[derive(serde::Serialize)]
struct Mount {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

#[derive(serde::Serialize)]
struct Healthcheck {
    test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_period: Option<String>,
}

#[derive(serde::Serialize)]
struct Dependency {
    condition: &'static str,
}

#[derive(serde::Serialize)]
struct Deploy {
    resources: DeployResources,
}

#[derive(serde::Serialize)]
struct DeployResources {
    reservations: Reservations,
}

#[derive(serde::Serialize)]
struct Reservations {
    devices: Vec<Device>,
}

#[derive(serde::Serialize)]
struct Device {
    driver: &'static str,
    count: u32,
    capabilities: Vec<&'static str>,
}

fn service(
    intent: &Intent,
    workload: &Workload,
    locator: &ComposeLocator<'_>,
    notes: &mut Vec<String>,
) -> Result<Service, DeployError> {
    let name = &workload.name;
    let resolve = |text: &str, what: &str| {
        refs::resolve_stack_refs(text, locator, &format!("the {what} of `{name}`"))
            .map(|s| literal(&s))
    };
    let entrypoint = workload
        .command
        .iter()
        .map(|s| resolve(s, "command"))
        .collect::<Result<Vec<_>, _>>()?;
    let command = workload
        .args
        .iter()
        .map(|s| resolve(s, "args"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut environment = BTreeMap::new();
    for (key, value) in &workload.env {
        environment.insert(key.clone(), resolve(value, &format!("env `{key}`"))?);
    }

    let mut ports = Vec::new();
    let mut expose = Vec::new();
    for port in &workload.ports {
        match port.host {
            Some(_) => ports.push(port_mapping(port)),
            None => expose.push(with_protocol(port.container.to_string(), port.protocol)),
        }
    }

    let volumes = workload
        .volumes
        .iter()
        .map(|volume| match &volume.source {
            VolumeSource::Named(source) => Mount {
                kind: "volume",
                source: Some(source.clone()),
                target: literal(&volume.target),
                read_only: volume.read_only,
            },
            VolumeSource::Bind(source) => Mount {
                kind: "bind",
                source: Some(literal(source)),
                target: literal(&volume.target),
                read_only: volume.read_only,
            },
            VolumeSource::Tmpfs => Mount {
                kind: "tmpfs",
                source: None,
                target: literal(&volume.target),
                read_only: volume.read_only,
            },
        })
        .collect();

    let healthcheck = workload.health.as_ref().map(|health| Healthcheck {
        test: match &health.test {
            HealthTest::Shell(line) => vec!["CMD-SHELL".to_owned(), literal(line)],
            HealthTest::Exec(argv) => std::iter::once("CMD".to_owned())
                .chain(argv.iter().map(|arg| literal(arg)))
                .collect(),
        },
        interval: health.interval_ms.map(duration),
        timeout: health.timeout_ms.map(duration),
        retries: health.retries,
        start_period: health.start_period_ms.map(duration),
    });

    let restart = match (workload.role, workload.restart) {
        (WorkloadRole::Job, Restart::No) => "no".to_owned(),
        (WorkloadRole::Job, other) => {
            notes.push(format!(
                "job `{name}` runs once on compose: its restart policy `{}` is not kept",
                restart_policy(other)
            ));
            "no".to_owned()
        }
        (WorkloadRole::Service, policy) => restart_policy(policy),
    };

    let mut depends_on = BTreeMap::new();
    for wait in &workload.wait_for {
        let Some(target) = intent.workload(&wait.service) else {
            return Err(DeployError::Reference(format!(
                "`{name}` waits for `{}:{}`, but the deployment has no workload `{}`: \
                 add its stack to requires_stacks or fix wait_for_services",
                wait.service, wait.port, wait.service
            )));
        };
        let condition = if target.health.is_some() {
            "service_healthy"
        } else {
            notes.push(format!(
                "`{name}` waits for `{}`, which has no health check: compose starts `{name}` \
                 once `{}` has started, maybe before port {} answers; give `{}` a health check",
                wait.service, wait.service, wait.port, wait.service
            ));
            "service_started"
        };
        depends_on.insert(wait.service.clone(), Dependency { condition });
    }

    let mut labels: BTreeMap<String, String> = workload
        .labels
        .iter()
        .map(|(key, value)| (key.clone(), literal(value)))
        .collect();
    labels.insert("b00t.deploy.project".to_owned(), intent.project.clone());
    labels.insert("b00t.deploy.datum".to_owned(), workload.datum.to_string());
    labels.insert(
        "b00t.deploy.role".to_owned(),
        match workload.role {
            WorkloadRole::Service => "service",
            WorkloadRole::Job => "job",
        }
        .to_owned(),
    );
    for (key, value) in &workload.hints {
        labels.insert(format!("b00t.hint.{key}"), literal(value));
    }

    let deploy = workload.resources.gpu_count.map(|count| Deploy {
        resources: DeployResources {
            reservations: Reservations {
                devices: vec![Device {
                    driver: "nvidia",
                    count,
                    capabilities: vec!["gpu"],
                }],
            },
        },
    });
    if let Some(gpu_type) = &workload.resources.gpu_type {
        notes.push(format!(
            "compose cannot choose a GPU model: `{name}` asks for `{gpu_type}` and gets any \
             GPU the nvidia runtime offers"
        ));
    }
    if let Some(build) = &workload.build {
        notes.push(format!(
            "image `{}` of `{name}` is built by b00t (`{build}`) before `up`: compose has no \
             build context for it",
            workload.image
        ));
    }

    Ok(Service {
        image: literal(&workload.image),
        entrypoint,
        command,
        environment,
        ports,
        expose,
        volumes,
        healthcheck,
        restart,
        depends_on,
        labels,
        user: workload.user.as_deref().map(literal),
        working_dir: workload.workdir.as_deref().map(literal),
        hostname: workload.hostname.as_deref().map(literal),
        read_only: workload.read_only,
        cpus: workload.resources.cpu,
        mem_limit: workload.resources.memory,
        deploy,
    })
}

/// `text` as compose reads it literally: compose interpolates `$VAR` and `${VAR}` in
/// every value from its own environment, so each `$` is written `$$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// `127.0.0.1:18080:8080`, `18080:8080`, `127.0.0.1::8080` or `8080` (any free host port).
fn port_mapping(port: &Port) -> String {
    let mapping = match (port.host, &port.host_ip) {
        (Some(host), Some(ip)) if host != 0 => format!("{ip}:{host}:{}", port.container),
        (Some(host), None) if host != 0 => format!("{host}:{}", port.container),
        (_, Some(ip)) => format!("{ip}::{}", port.container),
        (_, None) => port.container.to_string(),
    };
    with_protocol(mapping, port.protocol)
}

fn with_protocol(mapping: String, protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => mapping,
        Protocol::Udp => format!("{mapping}/udp"),
    }
}

fn restart_policy(restart: Restart) -> String {
    match restart {
        Restart::No => "no".to_owned(),
        Restart::Always => "always".to_owned(),
        Restart::UnlessStopped => "unless-stopped".to_owned(),
        Restart::OnFailure(None) => "on-failure".to_owned(),
        Restart::OnFailure(Some(max)) => format!("on-failure:{max}"),
    }
}

/// A compose duration: `1s`, `1500ms`.
fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// YAML that YAML 1.1 readers (PyYAML in docker-compose 1.29) read back as written:
/// serde-saphyr's default (YAML 1.1-safe) quoting puts `"no"`, `"on"`, `"1.0"`, `"*"` and
/// `"18080:50"` (base 60 in YAML 1.1) in quotes; block scalars are off so that a command
/// stays on one line.
pub(crate) fn to_yaml<T: Serialize>(value: &T) -> Result<String, DeployError> {
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(value, options).map_err(|err| DeployError::Unsupported {
        orchestrator: "yaml".to_owned(),
        message: format!("cannot write the manifest as YAML: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(container: u16, host: Option<u16>, host_ip: Option<&str>, udp: bool) -> Port {
        Port {
            container,
            host,
            host_ip: host_ip.map(str::to_owned),
            protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
        }
    }

    #[test]
    fn port_mappings() {
        let check = |p: Port, expected: &str| assert_eq!(port_mapping(&p), expected);
        check(
            port(8080, Some(18080), Some("127.0.0.1"), false),
            "127.0.0.1:18080:8080",
        );
        check(port(80, Some(8080), None, false), "8080:80");
        check(port(8080, Some(0), None, false), "8080");
        check(
            port(8080, Some(0), Some("127.0.0.1"), false),
            "127.0.0.1::8080",
        );
        check(port(53, Some(5353), None, true), "5353:53/udp");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(1000), "1s");
        assert_eq!(duration(30_000), "30s");
        assert_eq!(duration(1500), "1500ms");
        assert_eq!(duration(0), "0s");
    }

    #[test]
    fn restart_policies() {
        assert_eq!(restart_policy(Restart::No), "no");
        assert_eq!(restart_policy(Restart::UnlessStopped), "unless-stopped");
        assert_eq!(restart_policy(Restart::OnFailure(None)), "on-failure");
        assert_eq!(restart_policy(Restart::OnFailure(Some(3))), "on-failure:3");
    }

    #[test]
    fn yaml_quotes_what_yaml_1_1_would_retype() {
        let values = BTreeMap::from([
            ("a".to_owned(), "no".to_owned()),
            ("b".to_owned(), "on".to_owned()),
            ("c".to_owned(), "1.0".to_owned()),
            ("d".to_owned(), "*".to_owned()),
            ("e".to_owned(), "18080:50".to_owned()),
            ("f".to_owned(), "yes".to_owned()),
        ]);
        let yaml = to_yaml(&values).expect("yaml");
        assert_eq!(
            yaml,
            "a: \"no\"\nb: \"on\"\nc: \"1.0\"\nd: \"*\"\ne: \"18080:50\"\nf: \"yes\"\n"
        );
    }
}
