//! The nomad executor against b00t-testkit's fake Nomad agent (Nomad's HTTP API and
//! JSON; no real Nomad runs here): a deploy validated, registered, waited for and
//! reported with its endpoints, its status and its removal; Nomad's refusals (an invalid
//! job, a register it rejects, ACL tokens) surfaced in Nomad's words; a closed port; a
//! failed batch job; a service that never becomes ready.

use std::time::Duration;

use b00t_deploy::{Manifest, Manifests, Orchestrator};
use b00t_deployer::nomad::NomadClient;
use b00t_deployer::{Deployed, DeployerError};
use b00t_testkit::nomad::{AllocOutcome, FakeNomad};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A service job `<project>` with one group `web` (a dynamic `http` port, a reserved
/// `p5432`, a tcp check) and a batch job `<project>-jobs` with one group `migrate`, as
/// the nomad adapter writes them.
fn plan(project: &str, web_task: Value) -> Manifests {
    let service = json!({"Job": {
        "ID": project,
        "Name": project,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web",
            "Count": 1,
            "Networks": [{
                "Mode": "host",
                "DynamicPorts": [{"Label": "http", "To": 80}],
                "ReservedPorts": [{"Label": "p5432", "Value": 5432, "To": 5432}],
            }],
            "Services": [{"Name": "web", "PortLabel": "http", "Provider": "nomad",
                          "Checks": [{"Name": "alive", "Type": "tcp", "PortLabel": "http", "Interval": 10_000_000_000u64, "Timeout": 2_000_000_000u64}]}],
            "Tasks": [web_task],
        }],
    }});
    let batch = json!({"Job": {
        "ID": format!("{project}-jobs"),
        "Type": "batch",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "migrate",
            "Count": 1,
            "Tasks": [{"Name": "migrate", "Driver": "docker", "Config": {"image": "busybox:1.36", "args": ["true"]}}],
        }],
    }});
    Manifests {
        orchestrator: Orchestrator::Nomad,
        project: project.to_owned(),
        files: vec![
            Manifest {
                name: "job.json".to_owned(),
                content: service.to_string(),
            },
            Manifest {
                name: format!("{project}-jobs.json"),
                content: batch.to_string(),
            },
        ],
        mcp_calls: Vec::new(),
        notes: Vec::new(),
    }
}

fn web_task() -> Value {
    json!({"Name": "web", "Driver": "docker", "Config": {"image": "nginx:1.27", "ports": ["http", "p5432"]},
           "Resources": {"CPU": 500, "MemoryMB": 128}})
}

fn client(fake: &FakeNomad, token: Option<&str>) -> NomadClient {
    NomadClient::new(&fake.url(), token.map(str::to_owned))
        .unwrap()
        .with_poll_interval(Duration::from_millis(20))
}

/// Runs `up` and returns its result with the progress lines it sent.
async fn up(
    client: &NomadClient,
    manifests: &Manifests,
    within: Duration,
) -> (Result<Deployed, DeployerError>, Vec<String>) {
    let (progress, mut lines) = mpsc::channel(1024);
    // Spawned, as the deployer agent runs it: the future must be `Send`.
    let (client, manifests) = (client.clone(), manifests.clone());
    let result = tokio::spawn(async move {
        client
            .up(&manifests, &progress, Instant::now() + within)
            .await
    })
    .await
    .unwrap();
    let mut said = Vec::new();
    while let Some(line) = lines.recv().await {
        said.push(line);
    }
    (result, said)
}

fn calls(fake: &FakeNomad) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| {
            if r.query.is_empty() {
                format!("{} {}", r.method, r.path)
            } else {
                format!("{} {}?{}", r.method, r.path, r.query)
            }
        })
        .collect()
}

#[tokio::test]
async fn up_validates_registers_waits_and_reports_then_status_and_down() {
    let fake = FakeNomad::start().await;
    fake.set_pending_reads(2);
    let nomad = client(&fake, None);
    let manifests = plan("shop", web_task());

    let (deployed, said) = up(&nomad, &manifests, Duration::from_secs(20)).await;
    let deployed = deployed.unwrap_or_else(|e| panic!("{e}\n{said:#?}"));
    let web = &deployed.services[0];
    assert_eq!(
        (
            web.name.as_str(),
            web.state.as_str(),
            web.health.as_deref(),
            web.ready
        ),
        ("web", "running", Some("healthy"), true),
        "{deployed:?}"
    );
    let migrate = &deployed.jobs[0];
    assert_eq!(
        (
            migrate.name.as_str(),
            migrate.state.as_str(),
            migrate.exit_code
        ),
        ("migrate", "succeeded", Some(0))
    );
    let urls: Vec<&str> = deployed.endpoints.iter().map(|e| e.url.as_str()).collect();
    assert_eq!(urls, ["tcp://127.0.0.1:5432", "http://127.0.0.1:20000/"]);
    assert!(deployed.all_ready() && deployed.jobs_done());

    for line in [
        "nomad: job `shop` is valid",
        "nomad: job `shop-jobs` is valid",
        "nomad: `web` pending (No tasks have started)",
        "nomad: `web` running, healthy",
        "nomad: `migrate` succeeded, exit code 0",
    ] {
        assert!(said.iter().any(|l| l == line), "no {line:?} in {said:#?}");
    }
    assert!(
        said.iter()
            .any(|l| l.starts_with("nomad: registered job `shop` (evaluation ")),
        "{said:#?}"
    );
    let pending = said.iter().filter(|l| l.contains("`web` pending")).count();
    assert_eq!(
        pending, 1,
        "a state is told once, when it changes: {said:#?}"
    );

    let seen = calls(&fake);
    let first_register = seen.iter().position(|c| c == "POST /v1/jobs").unwrap();
    let validations: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "POST /v1/validate/job")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(validations.len(), 2, "{seen:#?}");
    assert!(
        validations.iter().all(|i| *i < first_register),
        "every job is validated before any is registered: {seen:#?}"
    );
    let registered = fake.job("shop").unwrap();
    assert_eq!(
        registered["TaskGroups"][0]["Services"][0]["Provider"],
        "nomad"
    );

    let status = nomad.status("shop").await.unwrap();
    assert_eq!(status.services, deployed.services);
    assert_eq!(status.jobs, deployed.jobs);
    assert_eq!(status.endpoints, deployed.endpoints);

    let (progress, mut lines) = mpsc::channel(16);
    let left = nomad.down("shop", &progress).await.unwrap();
    assert_eq!(left, Deployed::default());
    let seen = calls(&fake);
    assert!(
        seen.contains(&"DELETE /v1/job/shop?purge=true".to_owned()),
        "{seen:#?}"
    );
    assert!(
        seen.contains(&"DELETE /v1/job/shop-jobs?purge=true".to_owned()),
        "{seen:#?}"
    );
    assert!(fake.job_ids().is_empty());
    let line = lines.recv().await.unwrap();
    assert!(
        line.starts_with("nomad: deregistered job `shop` (evaluation "),
        "{line}"
    );

    let e = nomad.status("shop").await.unwrap_err();
    assert!(matches!(e, DeployerError::NotDeployed(_)), "{e}");
    assert!(
        e.to_string().contains("no Nomad job `shop` or `shop-jobs`"),
        "{e}"
    );
    nomad.down("shop", &progress).await.unwrap();
    drop(progress);
    let mut rest = Vec::new();
    while let Some(line) = lines.recv().await {
        rest.push(line);
    }
    assert!(
        rest.ends_with(&[
            "nomad: job `shop` is not there".to_owned(),
            "nomad: job `shop-jobs` is not there".to_owned()
        ]),
        "{rest:#?}"
    );
}

#[tokio::test]
async fn an_invalid_job_is_refused_in_nomads_words_and_nothing_is_registered() {
    let fake = FakeNomad::start().await;
    let nomad = client(&fake, None);
    let manifests = plan("shop", json!({"Name": "web", "Config": {"image": "nginx"}}));
    let (result, _) = up(&nomad, &manifests, Duration::from_secs(5)).await;
    let e = result.unwrap_err();
    let DeployerError::Api { api, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api, "nomad POST /v1/validate/job");
    assert!(
        message.contains("Nomad refuses job `shop` of `job.json`")
            && message.contains("Task group web validation failed")
            && message.contains("Missing task driver"),
        "{message}"
    );
    assert!(!calls(&fake).contains(&"POST /v1/jobs".to_owned()));
    let warnings = nomad.validate(&plan("ok", web_task())).await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test]
async fn a_register_nomad_rejects_names_the_api_and_what_nomad_said() {
    let fake = FakeNomad::start().await;
    let nomad = client(&fake, None);
    // A service job `shop-jobs` exists; the plan's batch job of the same id cannot replace it.
    let mut squatter = plan("shop-jobs", web_task());
    squatter.files.truncate(1);
    up(&nomad, &squatter, Duration::from_secs(5))
        .await
        .0
        .unwrap();
    let (result, _) = up(&nomad, &plan("shop", web_task()), Duration::from_secs(5)).await;
    let e = result.unwrap_err();
    let DeployerError::Api { api, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api, "nomad POST /v1/jobs");
    assert!(
        message
            .contains("Nomad answered 500: cannot update job from type \"service\" to \"batch\"")
            && message.contains("`shop-jobs.json`"),
        "{message}"
    );
}

#[tokio::test]
async fn acl_tokens_are_sent_and_a_refusal_says_to_set_nomad_token() {
    let fake = FakeNomad::start_with_token("s3cret").await;
    let manifests = plan("shop", web_task());

    let (result, _) = up(&client(&fake, None), &manifests, Duration::from_secs(5)).await;
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("Permission denied") && e.contains("ACLs are on; set NOMAD_TOKEN"),
        "{e}"
    );
    let (result, _) = up(
        &client(&fake, Some("wrong")),
        &manifests,
        Duration::from_secs(5),
    )
    .await;
    let e = result.unwrap_err().to_string();
    assert!(
        e.contains("refused the token (ACL token not found)") && e.contains("NOMAD_TOKEN"),
        "{e}"
    );
    assert!(fake.job_ids().is_empty());

    let (result, _) = up(
        &client(&fake, Some("s3cret")),
        &manifests,
        Duration::from_secs(10),
    )
    .await;
    result.unwrap();
    assert_eq!(fake.job_ids(), ["shop", "shop-jobs"]);
    let tokens: Vec<Option<String>> = fake.requests().into_iter().map(|r| r.token).collect();
    assert!(tokens.ends_with(&[Some("s3cret".to_owned())]), "{tokens:?}");
}

#[tokio::test]
async fn a_closed_port_is_not_available_with_what_to_do() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nomad = NomadClient::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    let e = nomad.status("shop").await.unwrap_err();
    let DeployerError::NotAvailable { orchestrator, why } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(orchestrator, "nomad");
    assert!(
        why.contains(&format!(
            "no answer from Nomad at `http://127.0.0.1:{port}`"
        )) && why.contains("nomad agent -dev")
            && why.contains("NOMAD_ADDR"),
        "{why}"
    );
    assert!(nomad.leader().await.is_err());
}

#[tokio::test]
async fn a_failed_batch_job_ends_the_wait_with_its_exit_code() {
    let fake = FakeNomad::start().await;
    fake.set_outcome(
        "shop-jobs",
        "migrate",
        AllocOutcome::Failed {
            exit_code: 3,
            message: "no database".to_owned(),
        },
    );
    let (result, said) = up(
        &client(&fake, None),
        &plan("shop", web_task()),
        Duration::from_secs(10),
    )
    .await;
    let deployed = result.unwrap();
    let migrate = &deployed.jobs[0];
    assert_eq!(
        (migrate.state.as_str(), migrate.exit_code),
        ("failed", Some(3))
    );
    assert!(
        migrate.detail.as_deref().is_some_and(
            |d| d.contains("task `migrate`: Exit Code: 3") && d.contains("no database")
        ),
        "{migrate:?}"
    );
    assert!(!deployed.all_ready());
    assert!(
        said.iter()
            .any(|l| l.starts_with("nomad: `migrate` failed, exit code 3")),
        "{said:#?}"
    );
}

#[tokio::test]
async fn a_service_that_never_runs_times_out_naming_it() {
    let fake = FakeNomad::start().await;
    fake.set_outcome("shop", "web", AllocOutcome::Pending);
    let started = Instant::now();
    let (result, _) = up(
        &client(&fake, None),
        &plan("shop", web_task()),
        Duration::from_millis(300),
    )
    .await;
    let e = result.unwrap_err();
    assert!(matches!(e, DeployerError::Timeout(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("`web` pending")
            && !text.contains("`migrate`")
            && text.contains("nomad job status shop"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    fake.set_outcome("shop", "web", AllocOutcome::Unhealthy);
    let status = client(&fake, None).status("shop").await.unwrap();
    assert_eq!(status.services[0].health.as_deref(), Some("unhealthy"));
    assert!(!status.services[0].ready);
}

#[tokio::test]
async fn the_leader_is_read_without_a_token() {
    let fake = FakeNomad::start_with_token("s3cret").await;
    let leader = client(&fake, None).leader().await.unwrap();
    assert_eq!(leader, "127.0.0.1:4647");
}

/// The nomad adapter's golden plans (`b00t-deploy/tests/golden/nomad/<name>/`), as
/// the deployer would get them.
fn golden(name: &str) -> Manifests {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../b00t-deploy/tests/golden/nomad")
        .join(name);
    let mut files: Vec<Manifest> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("mcp.json"))
        .map(|p| Manifest {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            content: std::fs::read_to_string(&p).unwrap(),
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let project = serde_json::from_str::<Value>(&files[0].content).unwrap()["Job"]["ID"]
        .as_str()
        .unwrap()
        .trim_end_matches("-jobs")
        .to_owned();
    Manifests {
        orchestrator: Orchestrator::Nomad,
        project,
        files,
        mcp_calls: Vec::new(),
        notes: Vec::new(),
    }
}

#[tokio::test]
async fn the_adapters_plans_deploy_and_go() {
    for (name, ports) in [
        ("starter", vec![18080]),
        ("training", vec![5432]),
        ("edge", vec![16379, 5353, 20000, 8000]),
    ] {
        let fake = FakeNomad::start().await;
        let nomad = client(&fake, None);
        let manifests = golden(name);
        let (result, said) = up(&nomad, &manifests, Duration::from_secs(20)).await;
        let deployed = result.unwrap_or_else(|e| panic!("{name}: {e}\n{said:#?}"));
        assert!(
            deployed.all_ready() && deployed.jobs_done(),
            "{name}: {deployed:?}"
        );
        assert!(
            deployed.jobs.iter().all(|j| j.state == "succeeded"),
            "{name}: {deployed:?}"
        );
        let found: Vec<u16> = deployed.endpoints.iter().map(|e| e.port).collect();
        assert_eq!(found, ports, "{name}: {deployed:?}");
        let (progress, _lines) = mpsc::channel(16);
        nomad.down(&manifests.project, &progress).await.unwrap();
        assert!(fake.job_ids().is_empty(), "{name}: {:?}", fake.job_ids());
    }
}

/// A TCP server on an ephemeral port that reads each request and then answers `reply`
/// (raw HTTP), or nothing at all when `reply` is `None`.
async fn raw_server(reply: Option<&'static str>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                match reply {
                    Some(reply) => {
                        let _ = stream.write_all(reply.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(60)).await,
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_silent_agent_times_out_and_a_web_page_is_not_nomad() {
    let silent = raw_server(None).await;
    let nomad = NomadClient::new(&silent, None)
        .unwrap()
        .with_request_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let e = nomad.leader().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    let DeployerError::Api { api, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(api, "nomad GET /v1/status/leader");
    assert!(message.contains("within 200 ms"), "{message}");

    let page = raw_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 15\r\nconnection: close\r\n\r\n<html>hi</html>",
    ))
    .await;
    let e = NomadClient::new(&page, None)
        .unwrap()
        .status("shop")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is not Nomad's JSON")
            && e.contains("is NOMAD_ADDR a Nomad agent?")
            && e.contains("<html>hi</html>"),
        "{e}"
    );

    let huge = raw_server(Some(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n[",
    ))
    .await;
    let e = NomadClient::new(&huge, None)
        .unwrap()
        .leader()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("longer than 8 MiB"), "{e}");
}
