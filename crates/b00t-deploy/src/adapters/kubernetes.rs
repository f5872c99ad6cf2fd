//! The kubernetes adapter: an intent as one multi-document `manifests.yaml` (a Namespace
//! named after the project, the PersistentVolumeClaims of its named volumes, then per
//! service a Deployment and a ClusterIP Service, per job a `batch/v1` Job), applied in
//! that order. A service is reached at `<service>.<namespace>.svc.cluster.local` on its
//! container port; `wait_for` becomes an init container that waits with `nc -z`.
//! Host ports are not published (a note says how to port-forward), and a job whose hints
//! name a `queue` gets Kueue's queue label and starts suspended, as Kueue requires.
//! A `$` in a command, args or env value is written `$$`, which Kubernetes reads back as
//! `$` instead of expanding `$(VAR)`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use crate::adapters::compose::to_yaml;
use crate::adapters::{Manifest, Manifests, McpCall, Orchestrator};
use crate::error::DeployError;
use crate::intent::{
    Health, HealthTest, Intent, Protocol, Restart, VolumeSource, Workload, WorkloadRole,
};
use crate::refs::{self, Locator};

/// The one file of a kubernetes plan.
pub const MANIFESTS_FILE: &str = "manifests.yaml";

/// The image of the init containers that wait for a service.
pub const WAIT_IMAGE: &str = "busybox:1.36";

/// The size a PersistentVolumeClaim asks for: intents do not say.
pub const VOLUME_SIZE: &str = "1Gi";

/// Translates `intent` for kubernetes.
pub fn translate(intent: &Intent) -> Result<Manifests, DeployError> {
    let namespace = &intent.project;
    check_dns_label(namespace, "the namespace (the project)")?;
    check_label_value(namespace, "the project")?;
    let locator = KubeLocator { intent };
    // The intent's own notes first, then what this translation adds.
    let mut notes = intent.notes.clone();
    let mut documents = vec![to_yaml(&Object {
        api_version: "v1",
        kind: "Namespace",
        metadata: Metadata {
            name: namespace.clone(),
            namespace: None,
            labels: BTreeMap::from([(PART_OF.to_owned(), namespace.clone())]),
            annotations: BTreeMap::from([("b00t.dev/datum".to_owned(), intent.datum.to_string())]),
        },
        spec: None::<()>,
    })?];

    let mut claims = BTreeMap::new();
    for workload in &intent.workloads {
        for volume in &workload.volumes {
            if let VolumeSource::Named(name) = &volume.source {
                check_dns_subdomain(name, &format!("volume `{name}` of `{}`", workload.name))?;
                claims.insert(name.clone(), ());
            }
        }
    }
    if !claims.is_empty() {
        notes.push(format!(
            "each named volume is a PersistentVolumeClaim of {VOLUME_SIZE} \
             (ReadWriteOnce, the cluster's default storage class)"
        ));
    }
    for name in claims.keys() {
        documents.push(to_yaml(&Object {
            api_version: "v1",
            kind: "PersistentVolumeClaim",
            metadata: Metadata {
                name: name.clone(),
                namespace: Some(namespace.clone()),
                labels: BTreeMap::from([(PART_OF.to_owned(), namespace.clone())]),
                annotations: BTreeMap::new(),
            },
            spec: Some(ClaimSpec {
                access_modes: vec!["ReadWriteOnce"],
                resources: ClaimResources {
                    requests: BTreeMap::from([("storage", VOLUME_SIZE)]),
                },
            }),
        })?);
    }

    for workload in &intent.workloads {
        let translated = workload_objects(intent, workload, &locator, &mut notes)?;
        documents.extend(translated);
    }

    let content = documents.join("---\n");
    let mcp_calls = vec![McpCall {
        server: "kubernetes".to_owned(),
        tool: "kubectl_apply".to_owned(),
        arguments: json!({
            "manifest": content,
            "namespace": namespace,
        }),
    }];
    notes.push(
        "MCP: the call is mcp-server-kubernetes's `kubectl_apply` (Flux159, \
         `npx mcp-server-kubernetes`), registered under the server name `kubernetes`"
            .to_owned(),
    );
    Ok(Manifests {
        orchestrator: Orchestrator::Kubernetes,
        project: intent.project.clone(),
        files: vec![Manifest {
            name: MANIFESTS_FILE.to_owned(),
            content,
        }],
        mcp_calls,
        notes,
    })
}

const NAME: &str = "app.kubernetes.io/name";
const PART_OF: &str = "app.kubernetes.io/part-of";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const COMPONENT: &str = "app.kubernetes.io/component";
const KUEUE_QUEUE: &str = "kueue.x-k8s.io/queue-name";

/// Where a service is in the cluster: its Service's DNS name and container port.
struct KubeLocator<'a> {
    intent: &'a Intent,
}

impl Locator for KubeLocator<'_> {
    fn host(&self, stack: &str, service: &str) -> Option<String> {
        find(self.intent, stack, service).map(|w| service_host(&w.name, &self.intent.project))
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

fn service_host(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc.cluster.local")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    spec: Option<S>,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimSpec {
    access_modes: Vec<&'static str>,
    resources: ClaimResources,
}

#[derive(Serialize)]
struct ClaimResources {
    requests: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentSpec {
    replicas: u32,
    selector: Selector,
    template: PodTemplate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JobSpec {
    backoff_limit: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    suspend: bool,
    template: PodTemplate,
}

#[derive(Serialize)]
struct PodTemplate {
    metadata: TemplateMetadata,
    spec: PodSpec,
}

#[derive(Serialize)]
struct TemplateMetadata {
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    node_selector: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    init_containers: Vec<Container>,
    containers: Vec<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<PodVolume>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    command: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    args: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volume_mounts: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    liveness_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    readiness_probe: Option<Probe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security_context: Option<SecurityContext>,
}

#[derive(Serialize)]
struct EnvVar {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    name: String,
    container_port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct ResourceRequirements {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    requests: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VolumeMount {
    name: String,
    mount_path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only: bool,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Probe {
    exec: ExecAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_delay_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    period_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_threshold: Option<u32>,
}

#[derive(Serialize, Clone)]
struct ExecAction {
    command: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_user: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_as_group: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    read_only_root_filesystem: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodVolume {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    persistent_volume_claim: Option<ClaimRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_path: Option<HostPath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    empty_dir: Option<EmptyDir>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimRef {
    claim_name: String,
}

#[derive(Serialize)]
struct HostPath {
    path: String,
}

#[derive(Serialize)]
struct EmptyDir {
    medium: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "type")]
    kind: &'static str,
    selector: BTreeMap<String, String>,
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    name: String,
    protocol: &'static str,
    port: u16,
    target_port: u16,
}

/// The YAML documents of one workload: a Deployment and maybe a Service, or a Job.
fn workload_objects(
    intent: &Intent,
    workload: &Workload,
    locator: &KubeLocator<'_>,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, DeployError> {
    let name = &workload.name;
    let namespace = &intent.project;
    check_dns_label(name, &format!("workload `{name}`"))?;
    if workload.role == WorkloadRole::Service && !workload.ports.is_empty() {
        check_dns_1035_label(name, &format!("the Service of `{name}`"))?;
    }

    let selector = BTreeMap::from([
        (NAME.to_owned(), name.clone()),
        (PART_OF.to_owned(), namespace.clone()),
    ]);
    let mut labels = selector.clone();
    labels.insert(MANAGED_BY.to_owned(), "b00t".to_owned());
    labels.insert(
        COMPONENT.to_owned(),
        match workload.role {
            WorkloadRole::Service => "service",
            WorkloadRole::Job => "job",
        }
        .to_owned(),
    );
    let mut annotations =
        BTreeMap::from([("b00t.dev/datum".to_owned(), workload.datum.to_string())]);
    for (key, value) in &workload.labels {
        if is_label_key(key) && is_label_value(value) {
            labels.insert(key.clone(), value.clone());
        } else if is_label_key(key) {
            notes.push(format!(
                "label `{key}` of `{name}` is not a valid Kubernetes label value \
                 (at most 63 letters, digits, `-`, `_`, `.`): it is kept as an annotation"
            ));
            annotations.insert(key.clone(), value.clone());
        } else {
            notes.push(format!(
                "label `{key}` of `{name}` is not a valid Kubernetes label or annotation \
                 key: it is left out"
            ));
        }
    }
    for (key, value) in &workload.hints {
        let annotation = format!("b00t.dev/{key}");
        if is_label_key(&annotation) {
            annotations.insert(annotation, value.clone());
        } else {
            notes.push(format!(
                "hint `{key}` of `{name}` is not a valid annotation name: it is left out"
            ));
        }
    }

    let container = main_container(workload, locator, notes)?;
    let init_containers = workload
        .wait_for
        .iter()
        .map(|wait| wait_container(intent, workload, wait.service.as_str(), wait.port))
        .collect::<Result<Vec<_>, _>>()?;
    let volumes = pod_volumes(workload);
    if let Some(hostname) = &workload.hostname {
        check_dns_label(hostname, &format!("the hostname of `{name}`"))?;
    }
    let mut node_selector = BTreeMap::new();
    if let Some(gpu_type) = &workload.resources.gpu_type {
        check_label_value(gpu_type, &format!("gpu_type of `{name}`"))?;
        node_selector.insert("nvidia.com/gpu.product".to_owned(), gpu_type.clone());
        notes.push(format!(
            "`{name}` runs on nodes labelled `nvidia.com/gpu.product={gpu_type}` (NVIDIA GPU \
             feature discovery's label; GKE labels nodes `cloud.google.com/gke-accelerator`)"
        ));
    }
    let forwarded: Vec<String> = workload
        .ports
        .iter()
        .filter(|p| p.protocol == Protocol::Tcp)
        .filter_map(|p| match p.host {
            Some(host) if host != 0 => Some(format!("{host}:{}", p.container)),
            Some(_) => Some(format!(":{}", p.container)),
            None => None,
        })
        .collect();
    if !forwarded.is_empty() {
        let target = match workload.role {
            WorkloadRole::Service => format!("svc/{name}"),
            WorkloadRole::Job => format!("job/{name}"),
        };
        notes.push(format!(
            "host ports are not published on kubernetes: reach `{name}` with \
             `kubectl port-forward -n {namespace} {target} {}`",
            forwarded.join(" ")
        ));
    }
    for port in &workload.ports {
        if port.protocol == Protocol::Udp && port.host.is_some() {
            notes.push(format!(
                "UDP port {} of `{name}` is not published on kubernetes, and kubectl \
                 port-forward carries TCP only: expose it with a NodePort or LoadBalancer \
                 Service",
                port.container
            ));
        }
    }

    let template = |restart_policy, labels: BTreeMap<String, String>| PodTemplate {
        metadata: TemplateMetadata {
            labels,
            annotations: annotations.clone(),
        },
        spec: PodSpec {
            hostname: workload.hostname.clone(),
            restart_policy,
            node_selector: node_selector.clone(),
            init_containers,
            containers: vec![container],
            volumes,
        },
    };

    let mut documents = Vec::new();
    match workload.role {
        WorkloadRole::Service => {
            if matches!(workload.restart, Restart::No | Restart::OnFailure(_)) {
                notes.push(format!(
                    "a Deployment's pods always restart: `{name}`'s restart policy is not \
                     kept on kubernetes"
                ));
            }
            let service_ports = workload
                .ports
                .iter()
                .map(|p| ServicePort {
                    name: port_name(p.container, p.protocol),
                    protocol: protocol(p.protocol),
                    port: p.container,
                    target_port: p.container,
                })
                .collect::<Vec<_>>();
            documents.push(to_yaml(&Object {
                api_version: "apps/v1",
                kind: "Deployment",
                metadata: Metadata {
                    name: name.clone(),
                    namespace: Some(namespace.clone()),
                    labels: labels.clone(),
                    annotations: annotations.clone(),
                },
                spec: Some(DeploymentSpec {
                    replicas: 1,
                    selector: Selector {
                        match_labels: selector.clone(),
                    },
                    template: template(None, labels.clone()),
                }),
            })?);
            if !service_ports.is_empty() {
                documents.push(to_yaml(&Object {
                    api_version: "v1",
                    kind: "Service",
                    metadata: Metadata {
                        name: name.clone(),
                        namespace: Some(namespace.clone()),
                        labels,
                        annotations: BTreeMap::new(),
                    },
                    spec: Some(ServiceSpec {
                        kind: "ClusterIP",
                        selector,
                        ports: service_ports,
                    }),
                })?);
            }
        }
        WorkloadRole::Job => {
            let backoff_limit = match workload.restart {
                Restart::OnFailure(Some(max)) => max,
                // Kubernetes' default: a Job has no unlimited retries.
                Restart::OnFailure(None) => 6,
                Restart::No | Restart::Always | Restart::UnlessStopped => 0,
            };
            if matches!(workload.restart, Restart::Always | Restart::UnlessStopped) {
                notes.push(format!(
                    "job `{name}` is not restarted once it completes: restart `{}` is a \
                     service's policy",
                    match workload.restart {
                        Restart::Always => "always",
                        _ => "unless-stopped",
                    }
                ));
            }
            let mut job_labels = labels.clone();
            let queue = workload.hints.get("queue");
            if let Some(queue) = queue {
                check_label_value(queue, &format!("the queue hint of `{name}`"))?;
                job_labels.insert(KUEUE_QUEUE.to_owned(), queue.clone());
                notes.push(format!(
                    "job `{name}` is submitted suspended to Kueue's LocalQueue `{queue}`: \
                     Kueue starts it when the queue admits it (without Kueue it stays \
                     suspended: `kubectl patch job {name} -n {namespace} -p \
                     '{{\"spec\":{{\"suspend\":false}}}}'`)"
                ));
            }
            if workload.health.is_some() {
                notes.push(format!(
                    "the health check of job `{name}` is not kept on kubernetes: a Job's pod \
                     is not restarted or routed by probes"
                ));
            }
            documents.push(to_yaml(&Object {
                api_version: "batch/v1",
                kind: "Job",
                metadata: Metadata {
                    name: name.clone(),
                    namespace: Some(namespace.clone()),
                    labels: job_labels,
                    annotations: annotations.clone(),
                },
                spec: Some(JobSpec {
                    backoff_limit,
                    suspend: queue.is_some(),
                    template: template(Some("Never"), labels),
                }),
            })?);
        }
    }
    Ok(documents)
}

fn main_container(
    workload: &Workload,
    locator: &KubeLocator<'_>,
    notes: &mut Vec<String>,
) -> Result<Container, DeployError> {
    let name = &workload.name;
    // Kubernetes expands `$(VAR)` in command, args and env values and reads `$$` as `$`.
    let resolve = |text: &str, what: String| {
        refs::resolve_stack_refs(text, locator, &what).map(|s| s.replace('$', "$$"))
    };
    let command = workload
        .command
        .iter()
        .map(|s| resolve(s, format!("the command of `{name}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let args = workload
        .args
        .iter()
        .map(|s| resolve(s, format!("the args of `{name}`")))
        .collect::<Result<Vec<_>, _>>()?;
    let env = workload
        .env
        .iter()
        .map(|(key, value)| {
            Ok(EnvVar {
                name: key.clone(),
                value: resolve(value, format!("env `{key}` of `{name}`"))?,
            })
        })
        .collect::<Result<Vec<_>, DeployError>>()?;
    let ports = workload
        .ports
        .iter()
        .map(|p| ContainerPort {
            name: port_name(p.container, p.protocol),
            container_port: p.container,
            protocol: protocol(p.protocol),
        })
        .collect();

    let resources = &workload.resources;
    let mut quantities = BTreeMap::new();
    if let Some(cpu) = resources.cpu {
        quantities.insert("cpu", cpu_quantity(cpu, name)?);
    }
    if let Some(memory) = resources.memory {
        quantities.insert("memory", memory_quantity(memory));
    }
    let mut limits = quantities.clone();
    if let Some(count) = resources.gpu_count {
        limits.insert("nvidia.com/gpu", count.to_string());
    }
    let resources = if limits.is_empty() {
        None
    } else {
        Some(ResourceRequirements {
            requests: quantities,
            limits,
        })
    };

    let volume_mounts = workload
        .volumes
        .iter()
        .enumerate()
        .map(|(index, volume)| VolumeMount {
            name: volume_name(index),
            mount_path: volume.target.clone(),
            read_only: volume.read_only,
        })
        .collect();

    let probe = match workload.role {
        WorkloadRole::Service => workload.health.as_ref().map(probe),
        WorkloadRole::Job => None,
    };

    let (run_as_user, run_as_group) = match &workload.user {
        None => (None, None),
        Some(user) => match numeric_user(user) {
            Some((uid, gid)) => (Some(uid), gid),
            None => {
                notes.push(format!(
                    "user `{user}` of `{name}` is not numeric: Kubernetes' runAsUser takes a \
                     uid, so the image's user is kept; write `-u <uid>:<gid>`"
                ));
                (None, None)
            }
        },
    };
    let security_context =
        (run_as_user.is_some() || workload.read_only).then_some(SecurityContext {
            run_as_user,
            run_as_group,
            read_only_root_filesystem: workload.read_only,
        });

    Ok(Container {
        name: name.clone(),
        image: workload.image.clone(),
        command,
        args,
        working_dir: workload.workdir.clone(),
        env,
        ports,
        resources,
        volume_mounts,
        liveness_probe: probe.clone(),
        readiness_probe: probe,
        security_context,
    })
}

/// `wait-for-<service>`: an init container that returns once `<service>:<port>` accepts a
/// connection.
fn wait_container(
    intent: &Intent,
    workload: &Workload,
    service: &str,
    port: u16,
) -> Result<Container, DeployError> {
    let name = &workload.name;
    let Some(target) = intent.workload(service) else {
        return Err(DeployError::Reference(format!(
            "`{name}` waits for `{service}:{port}`, but the deployment has no workload \
             `{service}`: add its stack to requires_stacks or fix wait_for_services"
        )));
    };
    if target.role != WorkloadRole::Service || !target.ports.iter().any(|p| p.container == port) {
        return Err(DeployError::Reference(format!(
            "`{name}` waits for `{service}:{port}`, but `{service}` is not a service with \
             container port {port}: wait for one of its ports, or add `-p {port}` to it"
        )));
    }
    let container_name = format!("wait-for-{service}");
    check_dns_label(&container_name, &format!("the init container of `{name}`"))?;
    let host = service_host(service, &intent.project);
    Ok(Container {
        name: container_name,
        image: WAIT_IMAGE.to_owned(),
        command: vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("until nc -z {host} {port}; do echo waiting for {service}; sleep 1; done"),
        ],
        ..Container::default()
    })
}

fn pod_volumes(workload: &Workload) -> Vec<PodVolume> {
    workload
        .volumes
        .iter()
        .enumerate()
        .map(|(index, volume)| {
            let mut pod_volume = PodVolume {
                name: volume_name(index),
                persistent_volume_claim: None,
                host_path: None,
                empty_dir: None,
            };
            match &volume.source {
                VolumeSource::Named(claim) => {
                    pod_volume.persistent_volume_claim = Some(ClaimRef {
                        claim_name: claim.clone(),
                    });
                }
                VolumeSource::Bind(path) => {
                    pod_volume.host_path = Some(HostPath { path: path.clone() });
                }
                VolumeSource::Tmpfs => {
                    pod_volume.empty_dir = Some(EmptyDir { medium: "Memory" });
                }
            }
            pod_volume
        })
        .collect()
}

fn volume_name(index: usize) -> String {
    format!("volume-{index}")
}

/// `p8080`, `p53-udp`: an IANA service name (at most 15 characters, a letter in it).
fn port_name(container: u16, protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => format!("p{container}"),
        Protocol::Udp => format!("p{container}-udp"),
    }
}

fn protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

fn probe(health: &Health) -> Probe {
    let command = match &health.test {
        HealthTest::Shell(line) => vec!["sh".to_owned(), "-c".to_owned(), line.clone()],
        HealthTest::Exec(argv) => argv.clone(),
    };
    Probe {
        exec: ExecAction { command },
        initial_delay_seconds: health.start_period_ms.map(seconds),
        period_seconds: health.interval_ms.map(|ms| seconds(ms).max(1)),
        timeout_seconds: health.timeout_ms.map(|ms| seconds(ms).max(1)),
        failure_threshold: health.retries.map(|n| n.max(1)),
    }
}

/// Whole seconds, rounded up.
fn seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// `500m`, `2`: millicores, whole cores without the suffix.
fn cpu_quantity(cores: f64, name: &str) -> Result<String, DeployError> {
    let millis = (cores * 1000.0).round();
    if !millis.is_finite() || millis < 1.0 || millis > f64::from(u32::MAX) {
        return Err(DeployError::Unsupported {
            orchestrator: "kubernetes".to_owned(),
            message: format!(
                "`{name}` asks for {cores} CPUs: kubernetes takes at least 0.001 (`1m`)"
            ),
        });
    }
    // In range and whole: the cast is exact.
    let millis = millis as u64;
    Ok(if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    })
}

/// `8Gi`, `512Mi`, or bytes when not a whole number of MiB.
fn memory_quantity(bytes: u64) -> String {
    const MI: u64 = 1024 * 1024;
    const GI: u64 = 1024 * MI;
    if bytes != 0 && bytes.is_multiple_of(GI) {
        format!("{}Gi", bytes / GI)
    } else if bytes != 0 && bytes.is_multiple_of(MI) {
        format!("{}Mi", bytes / MI)
    } else {
        bytes.to_string()
    }
}

/// `1000` or `1000:1000`.
fn numeric_user(user: &str) -> Option<(u32, Option<u32>)> {
    match user.split_once(':') {
        Some((uid, gid)) => Some((uid.parse().ok()?, Some(gid.parse().ok()?))),
        None => Some((user.parse().ok()?, None)),
    }
}

fn invalid(what: &str, value: &str, rule: &str) -> DeployError {
    DeployError::Unsupported {
        orchestrator: "kubernetes".to_owned(),
        message: format!("{what} `{value}` is not {rule}"),
    }
}

/// RFC 1123 label: at most 63 lowercase letters, digits and `-`, alphanumeric at both ends.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_dns_label(s: &str, what: &str) -> Result<(), DeployError> {
    if is_dns_label(s) {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "a DNS label (at most 63 lowercase letters, digits and `-`, starting and \
             ending with a letter or digit)",
        ))
    }
}

/// RFC 1035 label (a Service name): an RFC 1123 label that starts with a letter.
fn check_dns_1035_label(s: &str, what: &str) -> Result<(), DeployError> {
    if is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "a DNS label that starts with a letter, as a Service name must be",
        ))
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn check_dns_subdomain(s: &str, what: &str) -> Result<(), DeployError> {
    if is_dns_subdomain(s) {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "a DNS subdomain (dot-separated DNS labels, at most 253 characters)",
        ))
    }
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_` and `.`, alphanumeric at
/// both ends.
fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name_part(s)
}

fn check_label_value(s: &str, what: &str) -> Result<(), DeployError> {
    if is_label_value(s) {
        Ok(())
    } else {
        Err(invalid(
            what,
            s,
            "a valid label value (at most 63 letters, digits, `-`, `_` and `.`, starting \
             and ending with a letter or digit)",
        ))
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A label or annotation key: `[<DNS subdomain>/]<name>`.
fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty() && is_dns_subdomain(prefix) && is_qualified_name_part(name)
        }
        None => is_qualified_name_part(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpu_quantity(0.5, "w").as_deref(), Ok("500m"));
        assert_eq!(cpu_quantity(2.0, "w").as_deref(), Ok("2"));
        assert_eq!(cpu_quantity(1.25, "w").as_deref(), Ok("1250m"));
        assert!(cpu_quantity(0.0, "w").is_err());
        assert!(cpu_quantity(f64::NAN, "w").is_err());
        assert!(cpu_quantity(-1.0, "w").is_err());
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(memory_quantity(8 * 1024 * 1024 * 1024), "8Gi");
        assert_eq!(memory_quantity(512 * 1024 * 1024), "512Mi");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(0), "0");
    }

    #[test]
    fn label_rules() {
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(is_label_key("com.example.team"));
        assert!(!is_label_key("/name"));
        assert!(!is_label_key("Bad_Prefix/name"));
        assert!(is_label_value(""));
        assert!(is_label_value("nvidia-tesla-t4"));
        assert!(!is_label_value(&"a".repeat(64)));
        assert!(!is_label_value("-a"));
        assert!(!is_label_value("a b"));
        assert!(is_dns_label("web"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(check_dns_1035_label("3d", "w").is_err());
    }

    #[test]
    fn users() {
        assert_eq!(numeric_user("1000"), Some((1000, None)));
        assert_eq!(numeric_user("1000:100"), Some((1000, Some(100))));
        assert_eq!(numeric_user("postgres"), None);
        assert_eq!(numeric_user("1000:staff"), None);
    }

    #[test]
    fn port_names_fit_iana() {
        assert_eq!(port_name(65535, Protocol::Udp).len(), 10);
    }
}
