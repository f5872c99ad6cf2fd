//! Observing containers on the real engine, as the container CI agents do: a busybox web
//! server's facts, processes, listening port and stats; logs told apart by stream; an
//! exit code; the event stream; an OOM kill; a failing health check; the actions; and a
//! missing container named as such. Every container is a short-lived one on the local
//! `b00t-test-busybox:1` image (nothing is pulled), removed when its guard drops.

use std::time::{Duration, Instant};

use b00t_container::testing::{
    docker_or_skip, run_test_container, TestContainer, TestContainerSpec, TestHealth,
};
use b00t_container::{
    events, facts, list_containers, listening, logs, restart, start, stats_once, stop_container,
    top, wait_exit, ContainerError, ContainerEvent, Docker, Listening, LogQuery, Stream,
};
use futures_util::StreamExt;

/// Longest a test waits for the engine to do something.
const PATIENCE: Duration = Duration::from_secs(20);

async fn run(docker: &Docker, spec: TestContainerSpec) -> TestContainer {
    run_test_container(docker, &spec)
        .await
        .unwrap_or_else(|e| panic!("running a test container: {e}"))
}

/// Polls `check` every 50 ms until it gives `Some`, for at most [`PATIENCE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn exit_code(docker: &Docker, id: &str) -> i64 {
    tokio::time::timeout(PATIENCE, wait_exit(docker, id))
        .await
        .expect("the container exits")
        .unwrap()
}

#[tokio::test]
async fn a_web_server_shows_its_process_its_listening_port_and_its_stats() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let mut spec = TestContainerSpec::new("b00t-observe-web", &["httpd", "-f", "-p", "8080"]);
    spec.publish_tcp = vec![8080];
    let web = run(&docker, spec).await;

    let found = facts(&docker, &web.name).await.unwrap();
    assert!(found.running && found.state == "running", "{found:?}");
    assert_eq!(found.id, web.id);
    assert_eq!(found.name, web.name);
    assert_eq!(found.image, "b00t-test-busybox:1");
    assert!(found.image_id.starts_with("sha256:"), "{found:?}");
    assert!(found.image_size.is_some_and(|size| size > 0), "{found:?}");
    assert!(found.started_at.is_some() && found.finished_at.is_none());
    assert_eq!((found.exit_code, found.oom_killed), (None, false));
    assert!(found.pid > 0 && !found.has_healthcheck && found.health.is_none());
    assert_eq!(found.networks, ["bridge"]);
    assert!(
        found.ports.iter().any(|p| p.private == 8080
            && p.protocol == "tcp"
            && p.host_ip.as_deref() == Some("127.0.0.1")
            && p.host_port.is_some_and(|port| port > 0)),
        "{:?}",
        found.ports
    );
    assert_eq!(found.labels.get("b00t.test").map(String::as_str), Some("1"));

    let processes = top(&docker, &web.id).await.unwrap();
    assert!(
        processes
            .iter()
            .any(|p| p.command.contains("httpd -f -p 8080") && !p.pid.is_empty()),
        "{processes:?}"
    );

    // busybox httpd listens on `::` (both IPv4 and IPv6) where the kernel has IPv6.
    let any_address =
        |l: &Listening| l.port == 8080 && (l.address == "::" || l.address == "0.0.0.0");
    eventually("httpd to listen on 8080", || async {
        let ports = listening(found.pid).await.unwrap();
        ports.iter().any(any_address).then_some(())
    })
    .await;

    let stats = stats_once(&docker, &web.id).await.unwrap();
    assert!(stats.memory_used > 0, "{stats:?}");
    assert!(stats.memory_limit >= stats.memory_used, "{stats:?}");
    assert!(stats.pids >= 1, "{stats:?}");
    assert!(stats.cpu_percent >= 0.0, "{stats:?}");

    let listed = list_containers(&docker, false).await.unwrap();
    let mine = listed.iter().find(|c| c.id == web.id).expect("listed");
    assert_eq!(
        (mine.name.as_str(), mine.state.as_str()),
        (web.name.as_str(), "running")
    );
}

#[tokio::test]
async fn logs_tell_stdout_from_stderr_and_a_tty_is_all_stdout() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let script = "echo one; echo oops >&2; echo two; echo three";
    let plain = run(
        &docker,
        TestContainerSpec::new("b00t-observe-logs", &["sh", "-c", script]),
    )
    .await;
    let mut tty_spec = TestContainerSpec::new("b00t-observe-tty", &["sh", "-c", script]);
    tty_spec.tty = true;
    let tty = run(&docker, tty_spec).await;
    assert_eq!(exit_code(&docker, &plain.id).await, 0);
    assert_eq!(exit_code(&docker, &tty.id).await, 0);

    let all = logs(&docker, &plain.id, LogQuery::default()).await.unwrap();
    assert!(!all.truncated);
    let mut got: Vec<(Stream, &str)> = all
        .lines
        .iter()
        .map(|l| (l.stream, l.text.as_str()))
        .collect();
    // Each stream keeps its order; across streams the engine orders by timestamp.
    got.sort_by_key(|(stream, _)| *stream == Stream::Stderr);
    assert_eq!(
        got,
        [
            (Stream::Stdout, "one"),
            (Stream::Stdout, "two"),
            (Stream::Stdout, "three"),
            (Stream::Stderr, "oops"),
        ]
    );
    assert!(
        all.lines
            .iter()
            .all(|l| l.ts.as_deref().is_some_and(|ts| ts.starts_with("20"))),
        "{all:?}"
    );

    let stderr_only = LogQuery {
        stdout: false,
        ..LogQuery::default()
    };
    let errors = logs(&docker, &plain.id, stderr_only).await.unwrap();
    let texts: Vec<&str> = errors.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["oops"]);

    // The tail counts lines over both streams, as the engine keeps them.
    let last_two = LogQuery {
        tail: 2,
        ..LogQuery::default()
    };
    let tail = logs(&docker, &plain.id, last_two).await.unwrap();
    assert_eq!(tail.lines, all.lines[2..]);

    let from_tty = logs(&docker, &tty.id, LogQuery::default()).await.unwrap();
    let mut texts: Vec<&str> = from_tty.lines.iter().map(|l| l.text.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["one", "oops", "three", "two"]);
    assert!(
        from_tty.lines.iter().all(|l| l.stream == Stream::Stdout),
        "{from_tty:?}"
    );
}

#[tokio::test]
async fn an_exited_container_reports_its_exit_code_and_top_says_it_is_not_running() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let job = run(
        &docker,
        TestContainerSpec::new("b00t-observe-exit", &["sh", "-c", "exit 3"]),
    )
    .await;
    assert_eq!(exit_code(&docker, &job.id).await, 3);
    let found = facts(&docker, &job.id).await.unwrap();
    assert_eq!(found.exit_code, Some(3));
    assert!(!found.running && found.state == "exited", "{found:?}");
    assert!(
        found.finished_at.is_some() && !found.oom_killed,
        "{found:?}"
    );
    assert_eq!(found.pid, 0);
    let e = top(&docker, &job.id).await.unwrap_err();
    assert!(matches!(e, ContainerError::NotRunning { .. }), "{e:?}");
    assert!(listening(found.pid).await.is_err());
    assert!(list_containers(&docker, false)
        .await
        .unwrap()
        .iter()
        .all(|c| c.id != job.id));
    let everything = list_containers(&docker, true).await.unwrap();
    let listed = everything.iter().find(|c| c.id == job.id).expect("listed");
    assert_eq!(listed.state, "exited");
}

#[tokio::test]
async fn the_event_stream_shows_a_container_start_and_die() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    // Subscribed before the container starts: the stream asks for events since this call.
    let mut stream = events(&docker);
    let job = run(
        &docker,
        TestContainerSpec::new("b00t-observe-events", &["sh", "-c", "exit 4"]),
    )
    .await;
    let mut seen: Vec<ContainerEvent> = Vec::new();
    let wait = async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            if event.id == job.id {
                let died = event.action == "die";
                seen.push(event);
                if died {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no `die` for the container; saw {seen:?}"));
    let actions: Vec<&str> = seen.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "start", "die"], "{seen:?}");
    let died = seen.last().unwrap();
    assert_eq!(died.exit_code, Some(4));
    assert_eq!(died.name.as_deref(), Some(job.name.as_str()));
    assert!(died.time_nano >= seen[1].time_nano && seen[1].time_nano > 0);
}

#[tokio::test]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    // `tail` keeps the endless line of zeros in memory.
    let mut spec = TestContainerSpec::new("b00t-observe-oom", &["tail", "/dev/zero"]);
    spec.memory_bytes = Some(8 * 1024 * 1024);
    let hog = run(&docker, spec).await;
    assert_eq!(exit_code(&docker, &hog.id).await, 137);
    let found = facts(&docker, &hog.id).await.unwrap();
    assert!(found.oom_killed, "{found:?}");
    assert_eq!(found.exit_code, Some(137));
    assert_eq!(found.memory_limit, Some(8 * 1024 * 1024));
}

#[tokio::test]
async fn a_failing_health_check_turns_unhealthy_with_its_probe_output() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let mut stream = events(&docker);
    let mut spec = TestContainerSpec::new("b00t-observe-health", &["sleep", "30"]);
    spec.health = Some(TestHealth {
        command: "echo probe says no; exit 1".into(),
        interval: Duration::from_secs(1),
        retries: 1,
    });
    let sick = run(&docker, spec).await;
    let wait = async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            if event.id == sick.id && event.action == "health_status: unhealthy" {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .expect("the container turns unhealthy");
    let found = facts(&docker, &sick.id).await.unwrap();
    assert!(found.has_healthcheck);
    let health = found.health.expect("health");
    assert_eq!(health.status, "unhealthy");
    assert!(health.failing_streak >= 1, "{health:?}");
    let last = health.log.last().expect("a probe");
    assert_eq!(last.exit_code, Some(1));
    assert_eq!(last.output, "probe says no");
    assert!(last.start.is_some() && last.end.is_some(), "{last:?}");
}

#[tokio::test]
async fn stop_start_and_restart_act_and_a_missing_container_is_named() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    // A shell that ends at SIGTERM, so that stopping takes no grace period.
    let script = "trap 'exit 0' TERM; while :; do sleep 0.1; done";
    let service = run(
        &docker,
        TestContainerSpec::new("b00t-observe-act", &["sh", "-c", script]),
    )
    .await;
    let first = facts(&docker, &service.id).await.unwrap();
    stop_container(&docker, &service.id, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!facts(&docker, &service.id).await.unwrap().running);
    // Stopping a stopped container is fine.
    stop_container(&docker, &service.id, Duration::from_secs(5))
        .await
        .unwrap();
    start(&docker, &service.id).await.unwrap();
    let started = facts(&docker, &service.id).await.unwrap();
    assert!(started.running && started.started_at != first.started_at);
    restart(&docker, &service.id, Duration::from_secs(5))
        .await
        .unwrap();
    let restarted = facts(&docker, &service.id).await.unwrap();
    assert!(restarted.running && restarted.started_at != started.started_at);

    let nobody = "b00t-observe-nobody-here";
    let e = facts(&docker, nobody).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("no container `{nobody}`: `docker ps -a` lists them")
    );
    for e in [
        top(&docker, nobody).await.unwrap_err(),
        logs(&docker, nobody, LogQuery::default())
            .await
            .unwrap_err(),
        stats_once(&docker, nobody).await.unwrap_err(),
        restart(&docker, nobody, Duration::from_secs(1))
            .await
            .unwrap_err(),
        stop_container(&docker, nobody, Duration::from_secs(1))
            .await
            .unwrap_err(),
        start(&docker, nobody).await.unwrap_err(),
    ] {
        assert!(
            matches!(&e, ContainerError::NoSuchContainer { name } if name == nobody),
            "{e:?}"
        );
    }
}
