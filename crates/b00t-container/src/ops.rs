//! The Docker operations on group containers: create (with the whole security spec),
//! start, stop, remove, wait for the exit code, the log's tail, inspect, and listing the
//! containers a home owns by label.
//!
//! Every container gets: a read-only root filesystem, every capability dropped,
//! `no-new-privileges`, a non-root user, memory (no swap on top), CPU and pids limits,
//! a private `/tmp` tmpfs (`noexec,nosuid,nodev`, sized), `host.docker.internal` mapped to
//! the host gateway (how it reaches the broker and Ollama), the default bridge network, a
//! json-file log of one file capped in size, no privilege, no host PID, IPC or network
//! namespace, and no restart policy (the runtime restarts with backoff itself).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummaryStateEnum, HostConfig,
    HostConfigLogConfig, Mount as DockerMount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTypeEnum, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions,
    StopContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::error::{engine_message, is_not_found, ContainerError};
use crate::spec::{
    workspace_env, GroupContainer, MountKind, GROUP_LABEL, HOME_LABEL, MANAGED_LABEL, SPEC_LABEL,
};

/// The security option that stops setuid binaries and file capabilities from raising
/// privileges (Docker 20.10 reports it back exactly as given).
pub const NO_NEW_PRIVILEGES: &str = "no-new-privileges";

/// How a container reaches services on the host (the broker, Ollama).
pub const HOST_GATEWAY: &str = "host.docker.internal:host-gateway";

/// Longest log tail kept for a message.
const MAX_TAIL_BYTES: usize = 16 * 1024;

/// A container a home owns, found by its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub group: String,
    pub running: bool,
    /// The `b00t.spec` label: compare with [`GroupContainer::spec_hash`].
    pub spec_hash: String,
    /// The image the container was created from (`sha256:…`): compare with the tag's
    /// current id to tell a container made before a rebuild.
    pub image_id: String,
}

/// The engine's create request for `spec` (what [`create`] sends).
pub fn create_body(spec: &GroupContainer) -> Result<ContainerCreateBody, ContainerError> {
    spec.validate()?;
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert(SPEC_LABEL.to_owned(), spec.spec_hash());

    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (key, value) in workspace_env(&spec.mounts, true) {
        if !spec.env.iter().any(|(k, _)| *k == key) {
            env.push(format!("{key}={value}"));
        }
    }

    let mut mounts = Vec::new();
    let mut tmpfs = HashMap::from([(
        "/tmp".to_owned(),
        format!(
            "rw,noexec,nosuid,nodev,mode=1777,size={}",
            spec.limits.tmp_bytes
        ),
    )]);
    for mount in &spec.mounts {
        match mount.kind {
            MountKind::Bind => mounts.push(DockerMount {
                target: Some(mount.target.clone()),
                source: Some(mount.host.to_string_lossy().into_owned()),
                typ: Some(MountTypeEnum::BIND),
                read_only: Some(mount.read_only),
                bind_options: Some(MountBindOptions {
                    propagation: Some(MountBindOptionsPropagationEnum::RPRIVATE),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            // The hidden host path is never sent: only an empty read-only tmpfs.
            MountKind::Mask => {
                tmpfs.insert(
                    mount.target.clone(),
                    "ro,noexec,nosuid,nodev,mode=0555,size=4096".to_owned(),
                );
            }
        }
    }

    let log_config = HostConfigLogConfig {
        typ: Some("json-file".to_owned()),
        config: Some(HashMap::from([
            ("max-size".to_owned(), spec.limits.log_max_bytes.to_string()),
            ("max-file".to_owned(), "1".to_owned()),
        ])),
    };
    let host_config = HostConfig {
        memory: Some(spec.limits.memory_bytes),
        memory_swap: Some(spec.limits.memory_bytes),
        nano_cpus: Some(spec.limits.nano_cpus),
        pids_limit: Some(spec.limits.pids),
        readonly_rootfs: Some(true),
        cap_drop: Some(vec!["ALL".to_owned()]),
        cap_add: Some(Vec::new()),
        security_opt: Some(vec![NO_NEW_PRIVILEGES.to_owned()]),
        privileged: Some(false),
        pid_mode: Some(String::new()),
        ipc_mode: Some("private".to_owned()),
        network_mode: Some("bridge".to_owned()),
        extra_hosts: Some(vec![HOST_GATEWAY.to_owned()]),
        mounts: Some(mounts),
        tmpfs: Some(tmpfs),
        log_config: Some(log_config),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        auto_remove: Some(false),
        init: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.command.clone()),
        env: Some(env),
        user: Some(spec.user.clone()),
        labels: Some(labels),
        host_config: Some(host_config),
        attach_stdin: Some(false),
        open_stdin: Some(false),
        tty: Some(false),
        ..Default::default()
    })
}

/// Creates the container for `spec` (not started); returns its id.
pub async fn create(docker: &Docker, spec: &GroupContainer) -> Result<String, ContainerError> {
    let body = create_body(spec)?;
    let options = CreateContainerOptions {
        name: Some(spec.name.clone()),
        platform: String::new(),
    };
    match docker.create_container(Some(options), body).await {
        Ok(created) => {
            for warning in created.warnings.iter().filter(|w| !w.is_empty()) {
                tracing::warn!("container `{}`: {warning}", spec.name);
            }
            Ok(created.id)
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) => Err(ContainerError::Engine {
            action: format!("create the container `{}`", spec.name),
            message: format!("{message}; remove the old one first (it is listed by `list_owned`)"),
        }),
        Err(e) if is_not_found(&e) => Err(ContainerError::NotFound {
            what: "image",
            name: format!("{}: build it with `b00t image build`", spec.image),
        }),
        Err(e) => Err(ContainerError::engine(
            format!("create the container `{}`", spec.name),
            &e,
        )),
    }
}

/// Starts a created (or stopped) container; starting a running one is fine, a missing
/// one is [`ContainerError::NoSuchContainer`].
pub async fn start(docker: &Docker, id: &str) -> Result<(), ContainerError> {
    docker
        .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| crate::observe::container_error("start the container", id, &e))
}

/// Stops a container: SIGTERM, then SIGKILL after `grace`. A stopped or missing
/// container is fine.
pub async fn stop(docker: &Docker, id: &str, grace: Duration) -> Result<(), ContainerError> {
    let options = StopContainerOptions {
        t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
        signal: None,
    };
    match docker.stop_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ContainerError::engine(
            format!("stop the container `{id}`"),
            &e,
        )),
    }
}

/// Removes a container, running or not, with its anonymous volumes. A missing container
/// is fine (already removed).
pub async fn remove(docker: &Docker, id: &str) -> Result<(), ContainerError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // "removal of container … is already in progress"
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(ContainerError::engine(
            format!("remove the container `{id}`"),
            &e,
        )),
    }
}

/// Waits until the container is not running and returns its exit code (at once for a
/// container that already exited).
pub async fn wait_exit(docker: &Docker, id: &str) -> Result<i64, ContainerError> {
    let options = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    let mut stream = docker.wait_container(id, Some(options));
    match stream.next().await {
        Some(Ok(response)) => Ok(response.status_code),
        // bollard turns a non-zero exit into an error carrying the code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) if is_not_found(&e) => Err(ContainerError::NotFound {
            what: "container",
            name: id.to_owned(),
        }),
        Some(Err(e)) => Err(ContainerError::engine(
            format!("wait for the container `{id}`"),
            &e,
        )),
        None => Err(ContainerError::Engine {
            action: format!("wait for the container `{id}`"),
            message: "the engine closed the wait without an exit code".to_owned(),
        }),
    }
}

/// The last `lines` lines the container printed (stdout and stderr), at most 16 KiB,
/// for a crash message.
pub async fn logs_tail(docker: &Docker, id: &str, lines: usize) -> Result<String, ContainerError> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: lines.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(chunk.as_ref()),
            Err(e) if is_not_found(&e) => {
                return Err(ContainerError::NotFound {
                    what: "container",
                    name: id.to_owned(),
                })
            }
            Err(e) => {
                return Err(ContainerError::engine(
                    format!("read the log of `{id}`"),
                    &e,
                ))
            }
        }
    }
    let start = out.len().saturating_sub(MAX_TAIL_BYTES);
    Ok(String::from_utf8_lossy(&out[start..]).into_owned())
}

/// The engine's whole view of a container.
pub async fn inspect(
    docker: &Docker,
    id: &str,
) -> Result<ContainerInspectResponse, ContainerError> {
    match docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
    {
        Ok(found) => Ok(found),
        Err(e) if is_not_found(&e) => Err(ContainerError::NotFound {
            what: "container",
            name: id.to_owned(),
        }),
        Err(e) => Err(ContainerError::engine(
            format!("inspect the container `{id}`"),
            &e,
        )),
    }
}

/// Every container (running or not) labelled `b00t.managed=true` and
/// `b00t.home=<home_id>`, by name.
pub async fn list_owned(docker: &Docker, home_id: &str) -> Result<Vec<Owned>, ContainerError> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("{MANAGED_LABEL}=true"),
            format!("{HOME_LABEL}={home_id}"),
        ],
    )]);
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let found =
        docker
            .list_containers(Some(options))
            .await
            .map_err(|e| ContainerError::Engine {
                action: format!("list the containers of home `{home_id}`"),
                message: engine_message(&e),
            })?;
    let mut owned: Vec<Owned> = found
        .into_iter()
        .map(|c| {
            let mut labels = c.labels.unwrap_or_default();
            Owned {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                group: labels.remove(GROUP_LABEL).unwrap_or_default(),
                running: matches!(
                    c.state,
                    Some(
                        ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::RESTARTING
                    )
                ),
                spec_hash: labels.remove(SPEC_LABEL).unwrap_or_default(),
                image_id: c.image_id.unwrap_or_default(),
            }
        })
        .collect();
    owned.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::spec::Mount;

    #[test]
    fn the_create_request_carries_the_whole_security_spec() {
        let mut spec = GroupContainer::for_group("abc", "main", "b00t-agent:1").unwrap();
        spec.mounts = vec![
            Mount {
                host: PathBuf::from("/h/groups/main"),
                target: "/workspace/group".into(),
                read_only: false,
                kind: MountKind::Bind,
            },
            Mount {
                host: PathBuf::from("/h"),
                target: "/workspace/project".into(),
                read_only: true,
                kind: MountKind::Bind,
            },
            Mount {
                host: PathBuf::from("/h/state"),
                target: "/workspace/project/state".into(),
                read_only: true,
                kind: MountKind::Mask,
            },
        ];
        let body = create_body(&spec).unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(host.privileged, Some(false));
        let mounts = host.mounts.unwrap();
        assert_eq!(mounts.len(), 2);
        assert!(mounts
            .iter()
            .all(|m| m.source.as_deref() != Some("/h/state")));
        let tmpfs = host.tmpfs.unwrap();
        assert!(tmpfs["/workspace/project/state"].starts_with("ro,"));
        assert!(tmpfs["/tmp"].contains("noexec,nosuid,nodev"));
        let env = body.env.unwrap();
        assert!(
            env.contains(&"B00T_GROUP_DIR=/workspace/group".to_owned()),
            "{env:?}"
        );
        assert!(
            env.contains(&"B00T_PROJECT_DIR=/workspace/project".to_owned()),
            "{env:?}"
        );
        assert_eq!(body.labels.unwrap()[SPEC_LABEL], spec.spec_hash());
    }

    #[test]
    fn an_invalid_spec_is_never_sent() {
        let mut spec = GroupContainer::for_group("abc", "main", "b00t-agent:1").unwrap();
        spec.user = "0:0".into();
        assert!(create_body(&spec).is_err());
    }
}
