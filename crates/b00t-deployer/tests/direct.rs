//! The direct supervisor with real processes: busybox's httpd and wget, `sh`, `env` and
//! `pwd`, on ephemeral ports in temp folders. Deadlines are generous (the machines are
//! shared); they pass fast when things work.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use b00t_deploy::adapters::direct::{DirectPlan, DirectProcess, WaitAddr};
use b00t_deploy::intent::{Restart, WorkloadRole};
use b00t_deployer::direct::{ProjectInfo, Supervisor};
use b00t_deployer::{DeployerError, Progress};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

use b00t_testkit::free_port;

fn process(name: &str, role: WorkloadRole, program: &str, args: &[&str]) -> DirectProcess {
    DirectProcess {
        name: name.into(),
        role,
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: BTreeMap::new(),
        host: "127.0.0.1".into(),
        ports: vec![],
        restart: Restart::No,
        wait_for: vec![],
    }
}

fn service(name: &str, program: &str, args: &[&str]) -> DirectProcess {
    process(name, WorkloadRole::Service, program, args)
}

fn job(name: &str, program: &str, args: &[&str]) -> DirectProcess {
    process(name, WorkloadRole::Job, program, args)
}

fn plan(project: &str, processes: Vec<DirectProcess>) -> DirectPlan {
    DirectPlan {
        project: project.into(),
        processes,
    }
}

/// A progress channel and everything said on it so far.
struct Said {
    progress: Progress,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Said {
    fn new() -> Said {
        let (progress, mut rx) = mpsc::channel::<String>(64);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                kept.lock().unwrap().push(line);
            }
        });
        Said { progress, lines }
    }

    /// Whether a line containing `text` has arrived (waiting a moment for the
    /// collector).
    async fn has(&self, text: &str) -> bool {
        for _ in 0..100 {
            if self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    fn all(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// Gone, or a zombie nobody reaped yet (pid 1 of a container may not).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Polls `condition` every 50 ms for up to 20 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..400 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

fn pids(list: &[ProjectInfo], project: &str) -> Vec<u32> {
    list.iter()
        .filter(|p| p.project == project)
        .flat_map(|p| p.processes.iter().filter_map(|process| process.pid))
        .collect()
}

fn log_text(state: &Path, project: &str, name: &str) -> String {
    std::fs::read_to_string(state.join(project).join(format!("{name}.log"))).unwrap_or_default()
}

/// A `sh` service that sleeps, its background child's pid written to `child.pid` in its
/// working folder.
fn sleeper(name: &str) -> DirectProcess {
    service(
        name,
        "sh",
        &["-c", "sleep 300 & echo $! > child.pid; echo sleeping; wait"],
    )
}

#[tokio::test]
async fn a_service_and_a_job_that_waits_for_it_come_up_and_go_down() {
    let home = tempfile::tempdir().unwrap();
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hello from b00t direct\n").unwrap();
    let state = home.path().join("state/deploy");
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let site_dir = site.path().to_string_lossy().into_owned();
    let mut web = service(
        "web",
        "busybox",
        &["httpd", "-f", "-p", &listen, "-h", &site_dir],
    );
    web.ports = vec![port];
    web.restart = Restart::Always;
    let url = format!("http://{listen}/");
    let mut check = job("check", "busybox", &["wget", "-q", "-O", "-", &url]);
    check.wait_for = vec![WaitAddr {
        service: "web".into(),
        host: "127.0.0.1".into(),
        port,
    }];
    let the_plan = plan("site", vec![web, check]);
    let said = Said::new();

    let deployed = supervisor
        .up(the_plan.clone(), &said.progress, DEADLINE)
        .await
        .unwrap();
    assert_eq!(deployed.services.len(), 1, "{deployed:?}");
    let web_state = &deployed.services[0];
    assert!(web_state.ready, "{web_state:?}");
    assert_eq!(web_state.state, "running");
    assert_eq!(web_state.restarts, Some(0));
    assert_eq!(deployed.jobs[0].state, "succeeded", "{deployed:?}");
    assert_eq!(deployed.jobs[0].exit_code, Some(0));
    assert_eq!(deployed.endpoints.len(), 1);
    assert_eq!(deployed.endpoints[0].url, format!("tcp://{listen}"));
    assert!(deployed.all_ready() && deployed.jobs_done());
    assert!(
        log_text(&state, "site", "check").contains("hello from b00t direct"),
        "{}",
        log_text(&state, "site", "check")
    );
    assert!(
        said.has(&format!("job `check` waits for web at {listen}"))
            .await,
        "{}",
        said.all()
    );
    assert!(
        said.has(&format!("job `check`: web at {listen} answered"))
            .await,
        "{}",
        said.all()
    );
    assert!(said.has("job `check` succeeded").await, "{}", said.all());
    assert!(said.has("service `web` is ready").await, "{}", said.all());

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state.join("site")), 0o700);
    assert_eq!(mode(&state.join("site/web")), 0o700);
    assert_eq!(mode(&state.join("site/web.log")), 0o600);

    let status = supervisor.status("site").await.unwrap();
    assert!(status.services[0].ready, "{status:?}");
    assert_eq!(status.jobs[0].state, "succeeded");

    // The same plan again: nothing restarts.
    let before = pids(&supervisor.list(), "site");
    let again = Said::new();
    let deployed = supervisor
        .up(the_plan, &again.progress, DEADLINE)
        .await
        .unwrap();
    assert!(deployed.services[0].ready);
    assert!(again.has("already runs this plan").await, "{}", again.all());
    assert_eq!(pids(&supervisor.list(), "site"), before);

    let down = supervisor.down("site").await.unwrap();
    assert_eq!(down.services[0].state, "exited");
    assert!(!down.services[0].ready);
    let detail = down.services[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("log stays at"), "{detail}");
    for pid in before {
        assert!(gone(pid), "pid {pid} outlived down");
    }
    assert!(supervisor.list().is_empty());
    assert!(matches!(
        supervisor.status("site").await,
        Err(DeployerError::NotDeployed(_))
    ));
    assert!(log_text(&state, "site", "check").contains("hello from b00t direct"));
}

#[tokio::test]
async fn a_process_gets_exactly_its_environment_and_its_own_folder() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let mut env = job("env", "env", &[]);
    env.env.insert("GREETING".into(), "hello".into());
    let the_plan = plan("envs", vec![env, job("where", "pwd", &[])]);
    let said = Said::new();
    let deployed = supervisor
        .up(the_plan, &said.progress, DEADLINE)
        .await
        .unwrap();
    assert!(
        deployed.jobs.iter().all(|j| j.state == "succeeded"),
        "{deployed:?}"
    );

    let printed = log_text(&state, "envs", "env");
    let mut names: Vec<&str> = printed
        .lines()
        .filter(|l| !l.starts_with("[b00t] "))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    let mut expected = vec!["GREETING", "PATH"];
    if std::env::var_os("HOME").is_some() {
        expected.insert(1, "HOME");
    }
    assert_eq!(names, expected, "{printed}");
    assert!(printed.contains("GREETING=hello\n"), "{printed}");

    let cwd = std::fs::canonicalize(state.join("envs/where")).unwrap();
    let printed = log_text(&state, "envs", "where");
    assert!(
        printed
            .lines()
            .any(|l| Path::new(l) == cwd || Path::new(l) == state.join("envs/where")),
        "{printed}"
    );
}

#[tokio::test]
async fn a_failed_job_is_in_the_answer_not_an_error() {
    let home = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::new(home.path().to_owned(), CancellationToken::new());
    let the_plan = plan(
        "jobs",
        vec![job("boom", "sh", &["-c", "echo it went boom >&2; exit 4"])],
    );
    let said = Said::new();
    let deployed = supervisor
        .up(the_plan, &said.progress, DEADLINE)
        .await
        .unwrap();
    let boom = &deployed.jobs[0];
    assert_eq!(boom.state, "failed", "{boom:?}");
    assert_eq!(boom.exit_code, Some(4));
    let detail = boom.detail.clone().unwrap_or_default();
    assert!(detail.contains("it went boom"), "{detail}");
    assert!(!deployed.all_ready() && deployed.jobs_done());
    assert!(
        said.has("job `boom` failed with exit code 4").await,
        "{}",
        said.all()
    );
}

#[tokio::test]
async fn on_failure_restarts_up_to_its_limit_then_the_service_has_exited() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().to_owned();
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let mut crash = service("crash", "sh", &["-c", "echo crashing now; exit 3"]);
    crash.restart = Restart::OnFailure(Some(2));
    let said = Said::new();
    let e = supervisor
        .up(plan("crashy", vec![crash]), &said.progress, DEADLINE)
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, DeployerError::Tool { .. }), "{message}");
    assert!(
        message.contains("service `crash`")
            && message.contains("exited with 3 after 2 restarts")
            && message.contains("crashing now"),
        "{message}"
    );
    let status = supervisor.status("crashy").await.unwrap();
    assert_eq!(status.services[0].state, "exited");
    assert_eq!(status.services[0].restarts, Some(2));
    assert!(!status.services[0].ready);
    let log = log_text(&state, "crashy", "crash");
    assert_eq!(log.matches("[b00t] started").count(), 3, "{log}");
    assert!(
        said.has("service `crash` exited with 3; restart 2 in 200 ms")
            .await,
        "{}",
        said.all()
    );

    // Restart no: one run only.
    let once = service("once", "sh", &["-c", "exit 1"]);
    let e = supervisor
        .up(plan("once", vec![once]), &said.progress, DEADLINE)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("exited with 1 and is not restarted"), "{e}");
    let status = supervisor.status("once").await.unwrap();
    assert_eq!(status.services[0].restarts, Some(0));

    // Up again replaces what exited.
    let e = supervisor
        .up(
            plan("once", vec![service("once", "sh", &["-c", "exit 1"])]),
            &said.progress,
            DEADLINE,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, DeployerError::Tool { .. }));
    assert!(
        said.has("project `once` has services that exited").await,
        "{}",
        said.all()
    );
}

#[tokio::test]
async fn always_restarts_on_any_exit_and_a_deadline_names_what_is_not_ready() {
    let home = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::new(home.path().to_owned(), CancellationToken::new());
    let mut flappy = service("flappy", "sh", &["-c", "echo up for a moment; exit 0"]);
    flappy.restart = Restart::Always;
    let port = free_port();
    let mut silent = service("silent", "sh", &["-c", "echo starting up; exec sleep 300"]);
    silent.ports = vec![port];
    let said = Said::new();
    let e = supervisor
        .up(
            plan("slow", vec![flappy, silent]),
            &said.progress,
            // Short, for the timeout; long enough for `silent` to have started.
            Duration::from_secs(3),
        )
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, DeployerError::Timeout(_)), "{message}");
    assert!(
        message.contains("service `silent` is running")
            && message.contains(&format!("127.0.0.1:{port} does not answer"))
            && message.contains("starting up"),
        "{message}"
    );
    eventually("flappy restarted twice", || {
        supervisor.list()[0].processes[0].restarts >= 2
    })
    .await;
    let down = supervisor.down("slow").await.unwrap();
    assert!(
        down.services.iter().all(|s| s.state == "exited"),
        "{down:?}"
    );
}

#[tokio::test]
async fn a_taken_port_is_refused_before_anything_starts() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut web = service("web", "sh", &["-c", "sleep 300"]);
    web.ports = vec![port];
    let said = Said::new();
    let e = supervisor
        .up(
            plan("ports", vec![sleeper("first"), web]),
            &said.progress,
            DEADLINE,
        )
        .await
        .unwrap_err();
    match &e {
        DeployerError::PortTaken {
            port: p,
            host,
            service,
            message,
        } => {
            assert_eq!(
                (*p, host.as_str(), service.as_str()),
                (port, "127.0.0.1", "web")
            );
            assert!(
                message.contains("stop it, or change the datum's -p"),
                "{message}"
            );
        }
        other => panic!("not PortTaken: {other}"),
    }
    assert!(e.to_string().contains(&format!("port {port}")), "{e}");
    assert!(supervisor.list().is_empty());
    assert!(
        !state.join("ports").exists(),
        "something was made before the check"
    );
}

#[tokio::test]
async fn a_missing_program_is_named_with_the_path_searched() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state");
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let mut missing = service("ghost", "no-such-program-b00t", &[]);
    missing.env.insert("PATH".into(), "/usr/bin:/bin".into());
    let said = Said::new();
    let e = supervisor
        .up(
            plan("ghosts", vec![sleeper("first"), missing]),
            &said.progress,
            DEADLINE,
        )
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, DeployerError::Tool { .. }), "{message}");
    assert!(
        message.contains("`no-such-program-b00t`")
            && message.contains("service `ghost`")
            && message.contains("PATH `/usr/bin:/bin`"),
        "{message}"
    );
    assert!(supervisor.list().is_empty());
    assert!(!state.join("ghosts").exists());
}

#[tokio::test]
async fn down_ends_each_process_group_and_a_new_plan_replaces_the_old() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().to_owned();
    let supervisor = Supervisor::new(state.clone(), CancellationToken::new());
    let said = Said::new();
    let deployed = supervisor
        .up(
            plan("sleepy", vec![sleeper("nap")]),
            &said.progress,
            DEADLINE,
        )
        .await
        .unwrap();
    assert!(deployed.services[0].ready, "{deployed:?}");
    let leader = pids(&supervisor.list(), "sleepy")[0];
    let child_pid = state.join("sleepy/nap/child.pid");
    eventually("the child pid is written", || child_pid.exists()).await;
    let child: u32 = std::fs::read_to_string(&child_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!gone(child));

    // Another plan for the same project: the old processes go first.
    let replaced = Said::new();
    let deployed = supervisor
        .up(
            plan("sleepy", vec![sleeper("nap"), sleeper("doze")]),
            &replaced.progress,
            DEADLINE,
        )
        .await
        .unwrap();
    assert!(deployed.services.iter().all(|s| s.ready), "{deployed:?}");
    assert!(
        replaced
            .has("project `sleepy` runs a different plan: stopping its process first")
            .await,
        "{}",
        replaced.all()
    );
    assert!(
        gone(leader) && gone(child),
        "the old plan's processes outlived it"
    );
    let now = pids(&supervisor.list(), "sleepy");
    assert_eq!(now.len(), 2);
    assert!(!now.contains(&leader));

    let down = supervisor.down("sleepy").await.unwrap();
    assert!(
        down.services.iter().all(|s| s.state == "exited"),
        "{down:?}"
    );
    for pid in now {
        assert!(gone(pid), "pid {pid} outlived down");
    }
    let child: u32 = std::fs::read_to_string(&child_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    eventually("the group's other process is gone", || gone(child)).await;
    assert!(log_text(&state, "sleepy", "nap").contains("sleeping"));
    assert!(matches!(
        supervisor.down("sleepy").await,
        Err(DeployerError::NotDeployed(_))
    ));
}

#[tokio::test]
async fn the_stop_token_stops_everything_and_refuses_new_projects() {
    let home = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    let supervisor = Supervisor::new(home.path().to_owned(), stop.clone());
    let said = Said::new();
    for project in ["one", "two"] {
        supervisor
            .up(
                plan(project, vec![sleeper("nap")]),
                &said.progress,
                DEADLINE,
            )
            .await
            .unwrap();
    }
    let all: Vec<u32> = ["one", "two"]
        .iter()
        .flat_map(|p| pids(&supervisor.list(), p))
        .collect();
    assert_eq!(all.len(), 2);
    stop.cancel();
    eventually("every process ended", || all.iter().all(|pid| gone(*pid))).await;
    eventually("every process is exited", || {
        supervisor
            .list()
            .iter()
            .all(|p| p.processes.iter().all(|process| process.state == "exited"))
    })
    .await;
    assert!(matches!(
        supervisor
            .up(
                plan("three", vec![sleeper("nap")]),
                &said.progress,
                DEADLINE
            )
            .await,
        Err(DeployerError::Stopped)
    ));
}

#[tokio::test]
async fn shutdown_ends_every_project_before_it_returns() {
    let home = tempfile::tempdir().unwrap();
    let supervisor = Supervisor::new(home.path().to_owned(), CancellationToken::new());
    let said = Said::new();
    // One that ignores SIGTERM: it is killed at the end of the grace.
    let stubborn = service(
        "stubborn",
        "sh",
        &["-c", "trap '' TERM; while :; do sleep 0.1; done"],
    );
    supervisor
        .up(
            plan("one", vec![sleeper("nap"), stubborn]),
            &said.progress,
            DEADLINE,
        )
        .await
        .unwrap();
    let all = pids(&supervisor.list(), "one");
    assert_eq!(all.len(), 2);
    supervisor.shutdown().await;
    for pid in all {
        assert!(gone(pid), "pid {pid} outlived shutdown");
    }
    assert!(supervisor.list().is_empty());
}
