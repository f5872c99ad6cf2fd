//! Which orchestrators are usable here, and the commands that told: compose when
//! `docker-compose version --short` runs and the Docker engine answers, kubernetes when
//! kubectl has a context, nomad when an address is set and Nomad names its leader within
//! 2 s, direct always. [`choose`] picks the task's orchestrator, else the configured
//! one, else the first available in [`Orchestrator::ALL`]'s order.

use std::path::PathBuf;
use std::time::Duration;

use b00t_deploy::Orchestrator;
use b00t_installer::runner::{self, Program};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::DeployerError;
use crate::kubectl::Kubectl;
use crate::nomad::{NomadClient, EXAMPLE_ADDR};

/// What detection runs and asks, and how long each may take.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The Docker Compose program (`docker-compose`).
    pub docker_compose: String,
    /// The kubectl program (`kubectl`).
    pub kubectl: String,
    /// `[deploy] kube_context`; `None`: kubectl's current context.
    pub kube_context: Option<String>,
    /// `--kubeconfig` for kubectl; `None`: kubectl's own.
    pub kubeconfig: Option<PathBuf>,
    /// Nomad's address (`NOMAD_ADDR`, `[deploy] nomad_addr`); `None`: not configured.
    pub nomad_addr: Option<String>,
    /// `NOMAD_TOKEN` (the leader needs none; kept for the client detection makes).
    pub nomad_token: Option<String>,
    /// How long a program may run (`docker-compose version`, `kubectl config …`).
    pub command_timeout: Duration,
    /// How long the Docker engine has to answer.
    pub engine_timeout: Duration,
    /// How long Nomad has to name its leader.
    pub nomad_timeout: Duration,
}

impl Default for Probe {
    fn default() -> Probe {
        Probe {
            docker_compose: "docker-compose".to_owned(),
            kubectl: crate::kubectl::PROGRAM.to_owned(),
            kube_context: None,
            kubeconfig: None,
            nomad_addr: None,
            nomad_token: None,
            command_timeout: Duration::from_secs(5),
            engine_timeout: Duration::from_secs(2),
            nomad_timeout: Duration::from_secs(2),
        }
    }
}

impl Probe {
    /// The default programs and timeouts, with Nomad at `nomad_addr`.
    pub fn new(nomad_addr: Option<String>, nomad_token: Option<String>) -> Probe {
        Probe {
            nomad_addr: nomad_addr.filter(|a| !a.trim().is_empty()),
            nomad_token,
            ..Probe::default()
        }
    }
}

/// Whether one orchestrator is usable here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub orchestrator: Orchestrator,
    pub available: bool,
    /// Why, or why not, and what to do about it.
    pub why: String,
    /// Each command run or request made, with what came of it:
    /// `docker-compose version --short → 1.29.2`.
    pub commands: Vec<String>,
}

/// Detects `orchestrator` with `probe`.
pub async fn detect(orchestrator: Orchestrator, probe: &Probe) -> Detection {
    match orchestrator {
        Orchestrator::Compose => compose(probe).await,
        Orchestrator::Kubernetes => kubernetes(probe).await,
        Orchestrator::Nomad => nomad(probe).await,
        Orchestrator::Direct => Detection {
            orchestrator,
            available: true,
            why: "local processes supervised by b00t up".to_owned(),
            commands: Vec::new(),
        },
    }
}

/// Detects every orchestrator at once; the answers in [`Orchestrator::ALL`]'s order.
pub async fn detect_all(probe: &Probe) -> Vec<Detection> {
    let (compose, kubernetes, nomad, direct) = tokio::join!(
        detect(Orchestrator::Compose, probe),
        detect(Orchestrator::Kubernetes, probe),
        detect(Orchestrator::Nomad, probe),
        detect(Orchestrator::Direct, probe),
    );
    vec![compose, kubernetes, nomad, direct]
}

/// The orchestrator to deploy with: the task's, else the configuration's, else the
/// first available of `detected` in [`Orchestrator::ALL`]'s order (direct at the end).
pub fn choose(
    task: Option<Orchestrator>,
    config: Option<Orchestrator>,
    detected: &[Detection],
) -> Orchestrator {
    task.or(config).unwrap_or_else(|| {
        Orchestrator::ALL
            .into_iter()
            .find(|o| detected.iter().any(|d| d.orchestrator == *o && d.available))
            .unwrap_or(Orchestrator::Direct)
    })
}

async fn compose(probe: &Probe) -> Detection {
    let orchestrator = Orchestrator::Compose;
    let program = Program::new(&probe.docker_compose, &["version", "--short"]);
    let shown = program.display();
    let finished = runner::run(
        &program,
        probe.command_timeout,
        &CancellationToken::new(),
        None,
    )
    .await;
    if !finished.success() {
        let how = finished.describe(&shown, probe.command_timeout);
        return Detection {
            orchestrator,
            available: false,
            why: format!(
                "{how}; install Docker Compose (`docker-compose`), or deploy with another orchestrator"
            ),
            commands: vec![format!("{shown} → {}", outcome(&how, &shown))],
        };
    }
    let version = finished
        .output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)")
        .to_owned();
    let mut commands = vec![format!("{shown} → {version}")];
    let host = b00t_container::docker_host();
    match b00t_container::connect_within(probe.engine_timeout).await {
        Ok(_) => {
            commands.push(format!("Docker engine at {host} → answers"));
            Detection {
                orchestrator,
                available: true,
                why: format!(
                    "docker-compose {version} runs and the Docker engine at {host} answers"
                ),
                commands,
            }
        }
        Err(e) => {
            commands.push(format!("Docker engine at {host} → {e}"));
            Detection {
                orchestrator,
                available: false,
                why: format!(
                    "docker-compose {version} runs but no Docker engine answers ({e}); start Docker or set DOCKER_HOST"
                ),
                commands,
            }
        }
    }
}

async fn kubernetes(probe: &Probe) -> Detection {
    let orchestrator = Orchestrator::Kubernetes;
    let kubectl = Kubectl::new(probe.kube_context.clone(), CancellationToken::new())
        .with_program(probe.kubectl.clone())
        .with_kubeconfig(probe.kubeconfig.clone());
    let asked = match tokio::time::timeout(probe.command_timeout, kubectl.ask_context()).await {
        Ok(asked) => asked,
        Err(_) => {
            return Detection {
                orchestrator,
                available: false,
                why: format!(
                    "`{} config current-context` gave no answer within {} s",
                    probe.kubectl,
                    probe.command_timeout.as_secs()
                ),
                commands: vec![format!(
                    "{} config current-context → no answer within {} s",
                    probe.kubectl,
                    probe.command_timeout.as_secs()
                )],
            }
        }
    };
    let asked = match asked {
        Ok(asked) => asked,
        Err(e) => {
            let why = why_not(e);
            return Detection {
                orchestrator,
                available: false,
                commands: vec![format!(
                    "{} config current-context → cannot be run",
                    probe.kubectl
                )],
                why,
            };
        }
    };
    match &asked.answer {
        Ok(context) => Detection {
            orchestrator,
            available: true,
            why: format!("kubectl's context is `{context}`"),
            commands: vec![format!("{} → {context}", asked.command)],
        },
        Err(said) => Detection {
            orchestrator,
            available: false,
            why: kubectl.no_context(&asked.command, said),
            commands: vec![format!("{} → {said}", asked.command)],
        },
    }
}

async fn nomad(probe: &Probe) -> Detection {
    let orchestrator = Orchestrator::Nomad;
    let not = |why: String, commands: Vec<String>| Detection {
        orchestrator,
        available: false,
        why,
        commands,
    };
    let Some(addr) = &probe.nomad_addr else {
        return not(
            format!("no Nomad address: set NOMAD_ADDR (e.g. {EXAMPLE_ADDR}) or [deploy] nomad_addr in b00t.toml"),
            Vec::new(),
        );
    };
    let client = match NomadClient::new(addr, probe.nomad_token.clone()) {
        Ok(client) => client.with_request_timeout(probe.nomad_timeout),
        Err(e) => return not(why_not(e), Vec::new()),
    };
    let shown = format!("GET {}", client.leader_url());
    let answer = match tokio::time::timeout(probe.nomad_timeout, client.ask_leader()).await {
        Ok(answer) => answer,
        Err(_) => {
            let within = format!("no answer within {} ms", probe.nomad_timeout.as_millis());
            return not(
                format!(
                    "Nomad at {} gave {within}; check the agent (`nomad server members`)",
                    client.addr()
                ),
                vec![format!("{shown} → {within}")],
            );
        }
    };
    match answer {
        Err(e) => {
            let why = why_not(e);
            not(why.clone(), vec![format!("{shown} → {why}")])
        }
        Ok((status, body)) => {
            let body = body.trim().to_owned();
            let command = format!("{shown} → {status} {body}");
            let leader = serde_json::from_str::<String>(&body).unwrap_or_default();
            if status == 200 && !leader.is_empty() {
                Detection {
                    orchestrator,
                    available: true,
                    why: format!("Nomad at {} answers; its leader is {leader}", client.addr()),
                    commands: vec![command],
                }
            } else if status == 200 {
                not(
                    format!(
                        "Nomad at {} answers but has no leader: its servers have not elected one (`nomad server members`)",
                        client.addr()
                    ),
                    vec![command],
                )
            } else {
                not(
                    format!(
                        "Nomad at {} answered {status} ({body}); check the agent (`nomad server members`)",
                        client.addr()
                    ),
                    vec![command],
                )
            }
        }
    }
}

/// The reason of a not-available error, without its `… is not available: ` head.
fn why_not(error: DeployerError) -> String {
    match error {
        DeployerError::NotAvailable { why, .. } => why,
        other => other.to_string(),
    }
}

/// The runner's description without the command it starts with.
fn outcome(how: &str, shown: &str) -> String {
    how.strip_prefix(&format!("`{shown}` "))
        .unwrap_or(how)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use b00t_testkit::nomad::FakeNomad;

    use super::*;

    fn probe() -> Probe {
        Probe {
            docker_compose: "no-such-docker-compose-b00t".to_owned(),
            kubectl: "no-such-kubectl-b00t".to_owned(),
            ..Probe::default()
        }
    }

    #[tokio::test]
    async fn compose_needs_docker_compose_to_run() {
        let missing = detect(Orchestrator::Compose, &probe()).await;
        assert!(!missing.available);
        assert_eq!(
            missing.commands.len(),
            1,
            "no engine check without the tool"
        );
        assert!(
            missing.commands[0]
                .starts_with("no-such-docker-compose-b00t version --short → could not start"),
            "{:?}",
            missing.commands
        );
        assert!(
            missing.why.contains("install Docker Compose"),
            "{}",
            missing.why
        );

        let failing = Probe {
            docker_compose: "false".to_owned(),
            ..probe()
        };
        let failed = detect(Orchestrator::Compose, &failing).await;
        assert!(!failed.available);
        assert_eq!(failed.commands, ["false version --short → exited with 1"]);
    }

    #[tokio::test]
    async fn compose_with_a_tool_that_runs_asks_the_engine() {
        let runs = Probe {
            docker_compose: "true".to_owned(),
            ..probe()
        };
        let found = detect(Orchestrator::Compose, &runs).await;
        assert_eq!(found.commands[0], "true version --short → (no output)");
        let host = b00t_container::docker_host();
        assert!(
            found.commands[1].starts_with(&format!("Docker engine at {host} → ")),
            "{found:?}"
        );
        let engine = b00t_container::connect_within(runs.engine_timeout)
            .await
            .is_ok();
        assert_eq!(found.available, engine, "{found:?}");
        assert_eq!(
            found.commands[1].ends_with("→ answers"),
            engine,
            "{found:?}"
        );
    }

    #[tokio::test]
    async fn kubernetes_needs_kubectl_and_a_context() {
        let missing = detect(Orchestrator::Kubernetes, &probe()).await;
        assert!(!missing.available);
        assert_eq!(
            missing.commands,
            ["no-such-kubectl-b00t config current-context → cannot be run"]
        );
        assert!(missing.why.contains("cannot be run"), "{}", missing.why);

        let dir = tempfile::tempdir().unwrap();
        let script = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path.display().to_string()
        };
        let unset = script(
            "kubectl-unset",
            "echo 'error: current-context is not set' >&2; exit 1",
        );
        let set = script("kubectl-set", "echo kind-b00t");
        let none = detect(
            Orchestrator::Kubernetes,
            &Probe {
                kubectl: unset.clone(),
                ..probe()
            },
        )
        .await;
        assert!(!none.available);
        assert_eq!(
            none.commands,
            [format!(
                "{unset} config current-context → error: current-context is not set"
            )]
        );
        assert!(
            none.why.starts_with("no kubectl context is configured")
                && none.why.contains("kubectl config use-context"),
            "{}",
            none.why
        );
        let found = detect(
            Orchestrator::Kubernetes,
            &Probe {
                kubectl: set.clone(),
                ..probe()
            },
        )
        .await;
        assert!(found.available, "{found:?}");
        assert_eq!(
            found.commands,
            [format!("{set} config current-context → kind-b00t")]
        );
        assert_eq!(found.why, "kubectl's context is `kind-b00t`");
    }

    #[tokio::test]
    async fn nomad_needs_an_address_that_names_a_leader() {
        let unset = detect(Orchestrator::Nomad, &probe()).await;
        assert!(!unset.available && unset.commands.is_empty());
        assert!(
            unset
                .why
                .contains("set NOMAD_ADDR (e.g. http://127.0.0.1:4646)"),
            "{}",
            unset.why
        );

        let fake = FakeNomad::start_with_token("s3cret").await;
        let found = detect(
            Orchestrator::Nomad,
            &Probe {
                nomad_addr: Some(fake.url()),
                ..probe()
            },
        )
        .await;
        assert!(found.available, "{found:?}");
        assert_eq!(
            found.commands,
            [format!(
                "GET {}/v1/status/leader → 200 \"127.0.0.1:4647\"",
                fake.url()
            )]
        );

        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let closed = detect(
            Orchestrator::Nomad,
            &Probe {
                nomad_addr: Some(format!("http://127.0.0.1:{port}")),
                ..probe()
            },
        )
        .await;
        assert!(!closed.available);
        assert!(
            closed.commands[0].starts_with(&format!(
                "GET http://127.0.0.1:{port}/v1/status/leader → no answer from Nomad"
            )),
            "{closed:?}"
        );
        let tls = detect(
            Orchestrator::Nomad,
            &Probe {
                nomad_addr: Some("https://nomad.example:4646".to_owned()),
                ..probe()
            },
        )
        .await;
        assert!(!tls.available && tls.why.contains("uses TLS"), "{tls:?}");
    }

    #[tokio::test]
    async fn direct_is_always_there_and_all_come_in_order() {
        let all = detect_all(&probe()).await;
        let order: Vec<Orchestrator> = all.iter().map(|d| d.orchestrator).collect();
        assert_eq!(order, Orchestrator::ALL);
        let direct = &all[3];
        assert!(direct.available && direct.commands.is_empty());
        assert_eq!(direct.why, "local processes supervised by b00t up");
        let json = serde_json::to_value(direct).unwrap();
        assert_eq!(json["orchestrator"], "direct");
        assert_eq!(json["available"], true);
    }

    #[test]
    fn the_task_wins_then_the_config_then_the_first_available() {
        let detected = |available: &[Orchestrator]| -> Vec<Detection> {
            Orchestrator::ALL
                .into_iter()
                .map(|o| Detection {
                    orchestrator: o,
                    available: available.contains(&o),
                    why: String::new(),
                    commands: Vec::new(),
                })
                .collect()
        };
        use Orchestrator::*;
        let check = |task, config, available: &[Orchestrator], expected| {
            assert_eq!(
                choose(task, config, &detected(available)),
                expected,
                "{task:?} {config:?} {available:?}"
            );
        };
        check(Some(Nomad), Some(Compose), &[Compose], Nomad);
        check(None, Some(Kubernetes), &[Compose], Kubernetes);
        check(None, None, &[Compose, Nomad, Direct], Compose);
        check(None, None, &[Nomad, Kubernetes, Direct], Kubernetes);
        check(None, None, &[Nomad, Direct], Nomad);
        check(None, None, &[Direct], Direct);
        check(None, None, &[], Direct);
        assert_eq!(choose(None, None, &[]), Direct);
    }
}
