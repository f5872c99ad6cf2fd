//! One container's facts from the engine's inspect (and the image's size from an image
//! inspect), and its processes from the engine's `top`, which runs `ps` on the host and
//! so works on images with no `ps` inside.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::{ContainerInspectResponse, HealthcheckResult, PortBinding};
use bollard::query_parameters::{InspectContainerOptions, TopOptions};
use bollard::Docker;

use crate::error::ContainerError;
use crate::observe::facts::{Facts, Health, MountSummary, Port, Probe, Process};
use crate::observe::{container_error, cut};

/// Longest health probe output kept, in bytes.
pub const PROBE_OUTPUT_MAX_BYTES: usize = 400;

/// How the engine writes "never" (Go's zero time).
const ZERO_TIME_PREFIX: &str = "0001-01-01T00:00:00";

/// What the engine says about the container `id_or_name` (an id, a unique id prefix or a
/// name).
pub async fn facts(docker: &Docker, id_or_name: &str) -> Result<Facts, ContainerError> {
    let inspected = docker
        .inspect_container(id_or_name, None::<InspectContainerOptions>)
        .await
        .map_err(|e| container_error("inspect the container", id_or_name, &e))?;
    let mut facts = facts_from(inspected);
    if !facts.image_id.is_empty() {
        facts.image_size = match docker.inspect_image(&facts.image_id).await {
            Ok(image) => image.size,
            Err(e) => {
                tracing::debug!(image = %facts.image_id, error = %e, "no image size");
                None
            }
        };
    }
    Ok(facts)
}

/// The container's processes, from the engine's `top` (`ps -ef` run by the engine on the
/// host, so pids are the host's).
pub async fn top(docker: &Docker, id: &str) -> Result<Vec<Process>, ContainerError> {
    let options = TopOptions {
        ps_args: "-ef".to_owned(),
    };
    let response = docker
        .top_processes(id, Some(options))
        .await
        .map_err(|e| container_error("list the processes of", id, &e))?;
    Ok(processes(
        &response.titles.unwrap_or_default(),
        response.processes.unwrap_or_default(),
    ))
}

/// Rows of `ps` output as processes, the columns found by their titles (`PID`, `UID` or
/// `USER`, `CMD` or `COMMAND`).
fn processes(titles: &[String], rows: Vec<Vec<String>>) -> Vec<Process> {
    let column = |names: &[&str]| titles.iter().position(|t| names.contains(&t.as_str()));
    let pid = column(&["PID"]);
    let user = column(&["UID", "USER"]);
    let command = column(&["CMD", "COMMAND", "ARGS"]);
    rows.into_iter()
        .map(|row| {
            let take = |at: Option<usize>| at.and_then(|i| row.get(i)).cloned();
            Process {
                pid: take(pid).unwrap_or_default(),
                user: take(user).unwrap_or_default(),
                command: take(command).unwrap_or_else(|| row.join(" ")),
            }
        })
        .collect()
}

/// The facts in an inspect response (all but the image's size, which needs another call).
fn facts_from(inspected: ContainerInspectResponse) -> Facts {
    let state = inspected.state.unwrap_or_default();
    let config = inspected.config.unwrap_or_default();
    let host = inspected.host_config.unwrap_or_default();
    let network = inspected.network_settings.unwrap_or_default();
    let running = state.running.unwrap_or(false);
    let started_at = engine_time(state.started_at);
    let finished_at = engine_time(state.finished_at);
    let has_healthcheck = config
        .healthcheck
        .as_ref()
        .and_then(|check| check.test.as_ref())
        .and_then(|test| test.first())
        .is_some_and(|kind| kind != "NONE");

    let mut ports = BTreeSet::new();
    for (key, bindings) in network.ports.unwrap_or_default() {
        ports.extend(ports_of(&key, bindings.as_deref().unwrap_or_default()));
    }
    // A stopped container has no port map: say what it exposes and would publish.
    if ports.is_empty() {
        let published = host.port_bindings.clone().unwrap_or_default();
        for key in config.exposed_ports.unwrap_or_default().into_keys() {
            let bindings = published.get(&key).cloned().flatten().unwrap_or_default();
            ports.extend(ports_of(&key, &bindings));
        }
    }
    let mut networks: Vec<String> = network.networks.unwrap_or_default().into_keys().collect();
    networks.sort();

    Facts {
        id: inspected.id.unwrap_or_default(),
        name: inspected
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: config.image.unwrap_or_default(),
        image_id: inspected.image.unwrap_or_default(),
        state: state.status.map(|s| s.to_string()).unwrap_or_default(),
        running,
        restarting: state.restarting.unwrap_or(false),
        oom_killed: state.oom_killed.unwrap_or(false),
        exit_code: if running || finished_at.is_none() {
            None
        } else {
            state.exit_code
        },
        error: state.error.filter(|e| !e.is_empty()),
        started_at,
        finished_at,
        restart_count: inspected.restart_count.unwrap_or_default(),
        restart_policy: host
            .restart_policy
            .and_then(|policy| policy.name)
            .map(|name| name.to_string())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "no".to_owned()),
        health: state.health.map(|health| Health {
            status: health
                .status
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".to_owned()),
            failing_streak: health.failing_streak.unwrap_or_default(),
            log: health
                .log
                .unwrap_or_default()
                .into_iter()
                .map(probe)
                .collect(),
        }),
        has_healthcheck,
        ports: ports.into_iter().collect(),
        networks,
        mounts: inspected
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(|mount| MountSummary {
                kind: mount.typ.map(|t| t.to_string()).unwrap_or_default(),
                source: mount.source.or(mount.name).unwrap_or_default(),
                destination: mount.destination.unwrap_or_default(),
                read_write: mount.rw.unwrap_or(false),
            })
            .collect(),
        labels: config
            .labels
            .unwrap_or_default()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        user: config.user.unwrap_or_default(),
        privileged: host.privileged.unwrap_or(false),
        read_only_rootfs: host.readonly_rootfs.unwrap_or(false),
        memory_limit: host.memory.filter(|bytes| *bytes > 0),
        pids_limit: host.pids_limit.filter(|pids| *pids > 0),
        image_size: None,
        pid: state.pid.unwrap_or_default(),
    }
}

/// The ports of one port-map key (`8080/tcp`): one per host binding, or one unpublished.
fn ports_of(key: &str, bindings: &[PortBinding]) -> Vec<Port> {
    let (number, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let Ok(private) = number.parse::<u16>() else {
        return Vec::new();
    };
    let port = |host_ip: Option<String>, host_port: Option<u16>| Port {
        private,
        protocol: protocol.to_owned(),
        host_ip,
        host_port,
    };
    if bindings.is_empty() {
        return vec![port(None, None)];
    }
    bindings
        .iter()
        .map(|binding| {
            port(
                binding.host_ip.clone().filter(|ip| !ip.is_empty()),
                binding.host_port.as_deref().and_then(|p| p.parse().ok()),
            )
        })
        .collect()
}

fn probe(result: HealthcheckResult) -> Probe {
    let output = result.output.unwrap_or_default();
    Probe {
        exit_code: result.exit_code,
        output: cut(output.trim_end(), PROBE_OUTPUT_MAX_BYTES).to_owned(),
        start: engine_time(result.start),
        end: engine_time(result.end),
    }
}

/// An engine timestamp, `None` for an empty one or Go's zero time.
fn engine_time(time: Option<String>) -> Option<String> {
    time.filter(|t| !t.is_empty() && !t.starts_with(ZERO_TIME_PREFIX))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{
        ContainerConfig, ContainerState, ContainerStateStatusEnum, HealthConfig, HostConfig,
        NetworkSettings,
    };

    use super::*;

    #[test]
    fn zero_times_are_none() {
        assert_eq!(engine_time(Some("0001-01-01T00:00:00Z".into())), None);
        assert_eq!(engine_time(Some(String::new())), None);
        assert_eq!(engine_time(None), None);
        assert_eq!(
            engine_time(Some("2024-05-01T10:00:00.123456789Z".into())).as_deref(),
            Some("2024-05-01T10:00:00.123456789Z")
        );
    }

    #[test]
    fn a_probe_keeps_a_few_hundred_bytes_of_its_output() {
        let long = HealthcheckResult {
            exit_code: Some(1),
            output: Some(format!("{}\n", "x".repeat(1000))),
            start: Some("2024-05-01T10:00:00Z".into()),
            end: None,
        };
        let probe = probe(long);
        assert_eq!(probe.output.len(), PROBE_OUTPUT_MAX_BYTES);
        assert_eq!(probe.exit_code, Some(1));
    }

    #[test]
    fn ps_columns_are_found_by_title() {
        let titles: Vec<String> = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
            .map(String::from)
            .into();
        let row: Vec<String> = [
            "root",
            "4242",
            "4200",
            "0",
            "10:00",
            "?",
            "00:00:00",
            "busybox httpd -f -p 8080",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            processes(&titles, vec![row]),
            vec![Process {
                pid: "4242".into(),
                user: "root".into(),
                command: "busybox httpd -f -p 8080".into(),
            }]
        );
    }

    #[test]
    fn an_exited_container_reports_its_code_and_a_running_one_none() {
        let exited = ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/job".into()),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::EXITED),
                running: Some(false),
                exit_code: Some(3),
                started_at: Some("2024-05-01T10:00:00Z".into()),
                finished_at: Some("2024-05-01T10:00:01Z".into()),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                healthcheck: Some(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                memory: Some(0),
                pids_limit: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        };
        let facts = facts_from(exited);
        assert_eq!(facts.name, "job");
        assert_eq!(facts.state, "exited");
        assert_eq!(facts.exit_code, Some(3));
        assert_eq!(facts.restart_policy, "no");
        assert!(!facts.has_healthcheck);
        assert_eq!((facts.memory_limit, facts.pids_limit), (None, None));

        let running = ContainerInspectResponse {
            state: Some(ContainerState {
                running: Some(true),
                exit_code: Some(0),
                started_at: Some("2024-05-01T10:00:00Z".into()),
                finished_at: Some("0001-01-01T00:00:00Z".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let facts = facts_from(running);
        assert_eq!(facts.exit_code, None);
        assert_eq!(facts.finished_at, None);
    }

    #[test]
    fn ports_list_each_host_binding_and_the_unpublished_ones() {
        let inspected = ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                ports: Some(HashMap::from([
                    (
                        "8080/tcp".to_owned(),
                        Some(vec![PortBinding {
                            host_ip: Some("0.0.0.0".into()),
                            host_port: Some("49153".into()),
                        }]),
                    ),
                    ("53/udp".to_owned(), None),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            facts_from(inspected).ports,
            vec![
                Port {
                    private: 53,
                    protocol: "udp".into(),
                    host_ip: None,
                    host_port: None,
                },
                Port {
                    private: 8080,
                    protocol: "tcp".into(),
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some(49153),
                },
            ]
        );
    }
}
