//! Deploys as messages: the home's starter stack (a web service and a job that waits for
//! it) through Docker Compose on the real engine and as direct local processes, its
//! endpoint answering, then removed with nothing left behind; Kubernetes and Nomad
//! manifests with `--dry-run`; Nomad's API through the stand-in; plans and unsigned
//! deploys over `mosquitto_pub`, judged by policy.toml; and bad input, each named.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{b00t_bin, free_port, json, require_tool, Home, Runtime, Sub};

/// The repository's own home, whose `datums/` hold the starter stack.
fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A temp home with the repository's starter datums, its compose project renamed to
/// `project` (so that runs never meet a user's own `starter`), and `policy` as its
/// policy.toml (none when empty).
fn starter_home(project: &str, policy: &str) -> Home {
    let home = Home::new("[agents]\necho = false\n[delivery]\nack_timeout_ms = 60000\n");
    let datums = home.path().join("datums");
    std::fs::create_dir_all(&datums).unwrap();
    for file in [
        "starter.stack.toml",
        "starter-web.docker.toml",
        "starter-check.job.toml",
    ] {
        let text = std::fs::read_to_string(repo().join("datums").join(file)).unwrap();
        let text = text.replace("project = \"starter\"", &format!("project = \"{project}\""));
        std::fs::write(datums.join(file), text).unwrap();
    }
    if !policy.is_empty() {
        std::fs::write(home.path().join("policy.toml"), policy).unwrap();
    }
    home
}

/// A project name of this test process's own.
fn project(test: &str) -> String {
    format!("it-{test}-{}", std::process::id())
}

/// The policy that lets an unsigned task deploy the starter (as the repository's does).
const STARTER_POLICY: &str = "[allow]\ndatums = [\"starter.stack\", \"starter-web.docker\", \"starter-check.job\"]\nmanagers = [\"stack\", \"docker\", \"job\"]\nimages = [\"b00t-busybox:1\"]\n";

/// `b00t up` on a free port with the web service's host port set.
fn up(home: &Home, web_port: u16, env: &[(&str, &str)]) -> (Runtime, u16) {
    let port = free_port();
    let web = web_port.to_string();
    let mut all = vec![("STARTER_WEB_PORT", web.as_str())];
    all.extend_from_slice(env);
    let runtime = Runtime::spawn_env(home, &["--listen", &format!("127.0.0.1:{port}")], &all);
    (runtime, port)
}

/// `b00t ARGS --home HOME --broker …`.
fn cli(home: &Home, port: u16, args: &[&str]) -> Output {
    Command::new(b00t_bin())
        .args(args)
        .args(["--home", home.path().to_str().unwrap()])
        .args(["--broker", &format!("mqtt://127.0.0.1:{port}")])
        .env_remove("B00T_BROKER")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// `b00t ARGS --home HOME`, for commands that need no bus.
fn local(home: &Home, args: &[&str]) -> Output {
    Command::new(b00t_bin())
        .args(args)
        .args(["--home", home.path().to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The last JSON line of stdout (the result reply with `--json`).
fn last_json(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    json(
        stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("{}", text(out))),
    )
}

/// A GET of `url` (`http://127.0.0.1:PORT/`) over a plain socket: the body of a 200,
/// or `None`.
fn fetch(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then_some(())
        .filter(|()| head.split(' ').nth(1) == Some("200"))
        .map(|()| body.to_owned())
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn audit(home: &Home) -> Vec<Value> {
    std::fs::read_to_string(home.path().join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(json)
        .collect()
}

/// Publishes `payload` to `b00t.deployer.<skill>/task` and waits for its final reply.
fn ask(port: u16, skill: &str, id: &str, payload: &str, limit: Duration) -> Value {
    let mut sub = Sub::start(port, &format!("b00t.deployer.{skill}/#"));
    crate::support::publish(port, &format!("b00t.deployer.{skill}/task"), payload);
    let line = sub
        .try_wait(
            |l| {
                (l.topic.ends_with("/result") || l.topic.ends_with("/error"))
                    && l.payload.contains(id)
            },
            limit,
        )
        .unwrap_or_else(|| panic!("no final reply to `{id}`; seen:\n{}", sub.dump()));
    json(&line.payload)
}

/// Removes a compose project's containers, networks and volumes when dropped, so a
/// failing test leaves nothing running.
struct ProjectGone(String);

impl Drop for ProjectGone {
    fn drop(&mut self) {
        let filter = format!("label=com.docker.compose.project={}", self.0);
        for (list, remove) in [
            (["ps", "-aq"], ["rm", "-f"]),
            (["network", "ls"], ["network", "rm"]),
            (["volume", "ls"], ["volume", "rm"]),
        ] {
            let mut args: Vec<&str> = list.to_vec();
            if list[0] != "ps" {
                args.push("-q");
            }
            args.extend(["--filter", &filter]);
            let found = docker(&args);
            let ids: Vec<&str> = found.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = Command::new("docker").args(remove).args(&ids).output();
            }
        }
    }
}

#[test]
fn the_starter_stack_deploys_through_compose_answers_and_leaves_nothing_behind() {
    if !crate::assistant::docker_or_skip("deploy through compose") {
        return;
    }
    require_tool("docker-compose");
    require_tool("busybox");
    let project = project("compose");
    let _gone = ProjectGone(project.clone());
    let home = starter_home(&project, "");
    let web_port = free_port();
    let (_runtime, port) = up(&home, web_port, &[]);

    let out = cli(
        &home,
        port,
        &["deploy", "starter", "-o", "compose", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let body = last_json(&out)["body"].clone();
    assert_eq!(body["datum"], "starter.stack", "{body}");
    assert_eq!(body["project"], project.as_str());
    assert_eq!(body["ready"], true, "{body}");
    let url = format!("http://127.0.0.1:{web_port}/");
    assert_eq!(
        body["endpoints"],
        json!([{"service": "web", "url": url, "host": "127.0.0.1", "port": web_port, "protocol": "http"}])
    );
    assert_eq!(body["jobs"][0]["name"], "starter-check");
    assert_eq!(body["jobs"][0]["state"], "succeeded");
    assert_eq!(body["jobs"][0]["exit_code"], 0);
    // The endpoint answers a person.
    assert_eq!(fetch(&url).as_deref(), Some("hello from b00t\n"));

    // The job ran after the web service was healthy, and fetched its page.
    let filter = format!("label=com.docker.compose.project={project}");
    let job = docker(&[
        "ps",
        "-aq",
        "--filter",
        &filter,
        "--filter",
        "label=com.docker.compose.service=starter-check",
    ]);
    let web = docker(&[
        "ps",
        "-aq",
        "--filter",
        &filter,
        "--filter",
        "label=com.docker.compose.service=web",
    ]);
    let logs = Command::new("docker")
        .args(["logs", job.trim()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&logs.stdout), "hello from b00t\n");
    let job_started = docker(&["inspect", "-f", "{{.State.StartedAt}}", job.trim()]);
    let healthy_at = docker(&[
        "inspect",
        "-f",
        "{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.End}}\n{{end}}{{end}}",
        web.trim(),
    ]);
    let first_healthy = healthy_at.lines().next().expect("a passing health probe");
    assert!(
        job_started.trim() > first_healthy.trim(),
        "the job started at {job_started} before web's first healthy probe at {first_healthy}"
    );

    // The record, and the audit of a signed deploy.
    let out = local(&home, &["deployments", "--json"]);
    let record = json(String::from_utf8_lossy(&out.stdout).lines().next().unwrap());
    assert_eq!(record["orchestrator"], "compose");
    assert_eq!(record["state"], "ready");
    let line = audit(&home)
        .into_iter()
        .find(|r| r["kind"] == "deploy" && r["action"] == "up")
        .expect("an audit line");
    assert_eq!(line["trust"], "operator");
    assert_eq!(line["outcome"], "deployed");
    assert_eq!(line["endpoints"], json!([url]));

    // status, then down: no container, network or volume of the project is left.
    let status = ask(
        port,
        "compose",
        "st-1",
        r#"{"id":"st-1","body":{"datum":"starter","action":"status"}}"#,
        Duration::from_secs(30),
    );
    assert_eq!(status["body"]["deployed"], true, "{status}");
    assert_eq!(status["body"]["services"][0]["health"], "healthy");
    let out = cli(&home, port, &["undeploy", "starter"]);
    assert!(out.status.success(), "{}", text(&out));
    for kind in ["ps -a", "network ls", "volume ls"] {
        let mut args: Vec<&str> = kind.split(' ').collect();
        args.extend(["-q", "--filter", &filter]);
        assert_eq!(
            docker(&args).trim(),
            "",
            "`docker {kind}` still lists the project's"
        );
    }
    assert!(fetch(&url).is_none(), "the endpoint still answers");
    let out = local(&home, &["deployments", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
}

#[test]
fn the_starter_stack_runs_direct_over_mosquitto_pub_when_policy_allows_it() {
    require_tool("busybox");
    let project = project("direct");
    let home = starter_home(&project, "");
    let web_port = free_port();
    let (_runtime, port) = up(&home, web_port, &[]);
    let task = |id: &str, action: &str| {
        json!({"id": id, "from": "test", "body": {"datum": "starter", "action": action}})
            .to_string()
    };

    // No policy: an unsigned up is refused, naming the datum and what to do.
    let refused = ask(
        port,
        "direct",
        "u-1",
        &task("u-1", "up"),
        Duration::from_secs(30),
    );
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`starter.stack`") && message.contains("whitelist"),
        "{message}"
    );
    assert!(message.contains("b00t deploy"), "{message}");
    let line = audit(&home)
        .into_iter()
        .find(|r| r["id"] == "u-1")
        .expect("an audit line for the refusal");
    assert_eq!(
        (
            line["kind"].as_str(),
            line["verdict"].as_str(),
            line["outcome"].as_str()
        ),
        (Some("deploy"), Some("forbidden"), Some("refused"))
    );
    assert!(fetch(&format!("http://127.0.0.1:{web_port}/")).is_none());

    // The policy allows it: the same stack, unsigned, comes up with its endpoint.
    std::fs::write(home.path().join("policy.toml"), STARTER_POLICY).unwrap();
    let result = ask(
        port,
        "direct",
        "u-2",
        &task("u-2", "up"),
        Duration::from_secs(60),
    );
    let body = &result["body"];
    assert_eq!(body["ready"], true, "{result}");
    assert_eq!(body["trust"], "unsigned");
    let url = format!("http://127.0.0.1:{web_port}/");
    assert_eq!(body["endpoints"][0]["url"], url.as_str());
    assert_eq!(fetch(&url).as_deref(), Some("hello from b00t\n"));
    assert_eq!(body["jobs"][0]["state"], "succeeded");
    let log = home
        .path()
        .join(format!("state/deploy/direct/{project}/starter-check.log"));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("hello from b00t"), "{log}");

    // The same task again runs once: the stored reply, no second job run.
    let again = ask(
        port,
        "direct",
        "u-2",
        &task("u-2", "up"),
        Duration::from_secs(30),
    );
    assert_eq!(again["body"]["endpoints"], body["endpoints"]);
    let runs = audit(&home).iter().filter(|r| r["id"] == "u-2").count();
    assert_eq!(runs, 1, "the same task ran twice");

    // down removes the processes.
    let down = ask(
        port,
        "direct",
        "u-3",
        &task("u-3", "down"),
        Duration::from_secs(30),
    );
    assert_eq!(down["type"], "result", "{down}");
    assert!(fetch(&url).is_none(), "the web service still answers");
}

#[test]
fn kubernetes_and_nomad_manifests_come_from_dry_run_and_plans_over_mosquitto_pub() {
    let home = starter_home("starter", "");
    let out_dir = home.path().join("k8s");
    let out = local(
        &home,
        &[
            "deploy",
            "starter",
            "--orchestrator",
            "kubernetes",
            "--dry-run",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let manifests = std::fs::read_to_string(out_dir.join("manifests.yaml")).unwrap();
    for needle in [
        "kind: Namespace",
        "kind: Deployment",
        "kind: Service",
        "kind: Job",
        "initContainers",
        "web.starter.svc.cluster.local",
    ] {
        assert!(manifests.contains(needle), "no `{needle}` in:\n{manifests}");
    }
    if Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok()
    {
        let checked = Command::new("kubernetes-validate")
            .arg("--strict")
            .arg(out_dir.join("manifests.yaml"))
            .output()
            .unwrap();
        assert!(checked.status.success(), "{}", text(&checked));
    }

    let out = local(
        &home,
        &["deploy", "starter", "-o", "nomad", "--dry-run", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let plan = last_json(&out);
    assert_eq!(plan["orchestrator"], "nomad");
    let files = plan["manifests"].as_array().unwrap();
    let service_job = files.iter().find(|f| f["name"] == "job.json").unwrap();
    let job = json(service_job["content"].as_str().unwrap());
    assert_eq!(job["Job"]["ID"], "starter");
    assert_eq!(job["Job"]["TaskGroups"][0]["Tasks"][0]["Driver"], "docker");

    // A plan over mosquitto_pub: the manifests, the verdict, nothing changed.
    let (_runtime, port) = up(&home, free_port(), &[]);
    let plan = ask(
        port,
        "kubernetes",
        "plan-1",
        r#"{"id":"plan-1","from":"test","body":{"datum":"starter"}}"#,
        Duration::from_secs(30),
    );
    let body = &plan["body"];
    assert_eq!(body["action"], "plan", "{plan}");
    assert_eq!(
        body["allowed"], false,
        "no policy: an unsigned up would be refused"
    );
    assert_eq!(body["manifests"][0]["name"], "manifests.yaml");
    assert_eq!(body["mcp_calls"][0]["tool"], "kubectl_apply");
    assert!(!home.path().join("state/deploy/records").exists());
    // Plain text: `plan <datum>` to compose.
    let mut sub = Sub::start(port, "b00t.deployer.compose/#");
    crate::support::publish(port, "b00t.deployer.compose/task", "plan starter");
    let line = sub.wait("b00t.deployer.compose/result", "compose.yaml");
    assert!(line.payload.contains("depends_on"), "{}", line.payload);

    // Deploying to kubernetes without a cluster says so and points to --dry-run.
    let out = cli(
        &home,
        port,
        &["deploy", "starter", "-o", "kubernetes", "--timeout", "60"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--dry-run"), "{stderr}");
}

#[test]
fn nomad_deploys_through_its_http_api() {
    let project = project("nomad");
    let home = starter_home(&project, "");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let nomad = runtime.block_on(b00t_testkit::nomad::FakeNomad::start());
    let (_b00t, port) = up(&home, free_port(), &[("NOMAD_ADDR", nomad.url().as_str())]);

    let out = cli(&home, port, &["deploy", "starter", "-o", "nomad", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let body = last_json(&out)["body"].clone();
    assert_eq!(body["ready"], true, "{body}");
    assert_eq!(body["services"][0]["name"], "web");
    assert_eq!(body["jobs"][0]["state"], "succeeded");
    assert!(
        body["endpoints"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://")),
        "{body}"
    );
    let mut ids = nomad.job_ids();
    ids.sort();
    assert_eq!(ids, [project.clone(), format!("{project}-jobs")]);
    let validated = nomad
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/validate/job")
        .count();
    assert_eq!(validated, 2, "each job validated before it is registered");

    let out = cli(&home, port, &["undeploy", "starter"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(nomad.job_ids().is_empty(), "{:?}", nomad.job_ids());
}

#[test]
fn bad_input_gets_a_message_that_names_the_problem() {
    let home = starter_home("starter", "");
    let datums = home.path().join("datums");
    let write = |name: &str, text: &str| std::fs::write(datums.join(name), text).unwrap();
    write(
        "lost.job.toml",
        "[b00t]\nname = \"lost\"\n[b00t.container]\nimage = \"b00t-busybox:1\"\ncommand = [\"wget\", \"http://${STACK:starter:db:endpoint}/\"]\n[b00t.dependencies]\nrequires_stacks = [\"starter\"]\n",
    );
    write(
        "loop-a.stack.toml",
        "[b00t]\nname = \"loop-a\"\nmembers = [\"loop-b.stack\"]\n",
    );
    write(
        "loop-b.stack.toml",
        "[b00t]\nname = \"loop-b\"\nmembers = [\"loop-a.stack\"]\n",
    );
    // A cycle through requires_stacks: the stack holds a job that requires the stack.
    write(
        "ring.stack.toml",
        "[b00t]\nname = \"ring\"\nmembers = [\"ring-job.job\"]\n",
    );
    write(
        "ring-job.job.toml",
        "[b00t]\nname = \"ring-job\"\n[b00t.container]\nimage = \"b00t-busybox:1\"\ncommand = [\"true\"]\n[b00t.dependencies]\nrequires_stacks = [\"ring\"]\n",
    );
    write(
        "ghost-web.docker.toml",
        "[b00t]\nname = \"ghost-web\"\nimage = \"b00t-no-such-image:0\"\ndocker_args = [\"-p\", \"80\"]\n",
    );
    write("ghost.stack.toml", "[b00t]\nname = \"ghost\"\nmembers = [\"ghost-web.docker\"]\n[b00t.stack]\nproject = \"it-ghost\"\n");
    write(
        "privileged.docker.toml",
        "[b00t]\nname = \"privileged\"\nimage = \"b00t-busybox:1\"\ndocker_args = [\"--privileged\"]\n",
    );
    write(
        "priv.stack.toml",
        "[b00t]\nname = \"priv\"\nmembers = [\"privileged.docker\"]\n",
    );

    // Without a bus: the same checks `--dry-run` makes.
    let cases: [(&[&str], &[&str]); 5] = [
        (
            &["deploy", "ring", "--dry-run", "-o", "direct"],
            &["cycle", "ring.stack", "ring-job.job"],
        ),
        (
            &["deploy", "starter", "-o", "swarm", "--dry-run"],
            &[
                "unknown orchestrator `swarm`",
                "compose, kubernetes, nomad or direct",
            ],
        ),
        (&["deploy", "lost", "-o", "compose", "--dry-run"], &["db"]),
        (
            &["deploy", "loop-a", "--dry-run", "-o", "compose"],
            &["cycle", "loop-a.stack", "loop-b.stack"],
        ),
        (
            &["deploy", "priv", "--dry-run", "-o", "compose"],
            &["--privileged"],
        ),
    ];
    for (args, needles) in cases {
        let out = local(&home, args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{args:?}: no `{needle}` in {stderr}"
            );
        }
    }

    // Over the bus: an unknown skill, an unknown datum, a port already taken.
    require_tool("busybox");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let (_runtime, port) = up(&home, taken_port, &[]);
    let reply = ask(
        port,
        "swarm",
        "bad-1",
        r#"{"id":"bad-1","body":{"datum":"starter"}}"#,
        Duration::from_secs(30),
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("swarm"),
        "{reply}"
    );
    let reply = ask(
        port,
        "compose",
        "bad-2",
        r#"{"id":"bad-2","body":{"datum":"nothere","action":"plan"}}"#,
        Duration::from_secs(30),
    );
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nothere"));
    let out = cli(&home, port, &["deploy", "starter", "-o", "direct"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port {taken_port}")) && stderr.contains("already taken"),
        "{stderr}"
    );
    drop(taken);

    // An image that is not on the engine and cannot be pulled (no registry here).
    if crate::assistant::docker_or_skip("deploy a missing image") {
        let out = cli(
            &home,
            port,
            &["deploy", "ghost", "-o", "compose", "--timeout", "120"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("b00t-no-such-image:0") && stderr.contains("could not be pulled"),
            "{stderr}"
        );
        let left = docker(&[
            "ps",
            "-aq",
            "--filter",
            "label=com.docker.compose.project=it-ghost",
        ]);
        assert_eq!(
            left.trim(),
            "",
            "a container was made for a deploy that failed"
        );
    }
}

#[test]
fn members_install_through_the_installer_and_direct_runs_come_back_with_up() {
    require_tool("busybox");
    let project = project("members");
    let home = starter_home(&project, "");
    let out = home.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A cli member: the installer runs its script first, as a task from the deployer.
    std::fs::write(
        home.path().join("datums/greeter.cli.toml"),
        format!(
            "[b00t]\nname = \"greeter\"\nhint = \"for the test\"\ninstall = \"echo installed >> {0}/greeter.log; echo 1.0.0 > {0}/greeter.ver\"\nversion = \"cat {0}/greeter.ver\"\n",
            out.display()
        ),
    )
    .unwrap();
    let stack = home.path().join("datums/starter.stack.toml");
    let members = std::fs::read_to_string(&stack).unwrap().replace(
        "\"starter-check.job\"]",
        "\"starter-check.job\", \"greeter.cli\"]",
    );
    std::fs::write(&stack, members).unwrap();

    let web_port = free_port();
    let (mut runtime, port) = up(&home, web_port, &[]);
    let deploy = cli(&home, port, &["deploy", "starter", "-o", "direct"]);
    assert!(deploy.status.success(), "{}", text(&deploy));
    let stderr = String::from_utf8_lossy(&deploy.stderr);
    assert!(
        stderr.contains("install greeter.cli through b00t.installer.cli"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("greeter.log")).unwrap(),
        "installed\n"
    );
    let installed = audit(&home)
        .into_iter()
        .find(|r| r["address"] == "b00t.installer.cli")
        .expect("the installer's audit line");
    assert_eq!(installed["from"], "deployer");
    assert_eq!(
        installed["trust"], "operator",
        "a signed deploy installs signed"
    );
    let url = format!("http://127.0.0.1:{web_port}/");
    assert_eq!(fetch(&url).as_deref(), Some("hello from b00t\n"));

    // The runtime stops: its processes stop with it; the next `up` starts them again.
    runtime.signal("TERM");
    assert!(runtime.wait_exit(Duration::from_secs(10)).is_some());
    assert!(
        fetch(&url).is_none(),
        "a direct process outlived its runtime"
    );
    let (mut runtime, _port) = up(&home, web_port, &[]);
    let mut back = None;
    for _ in 0..100 {
        back = fetch(&url);
        if back.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        back.as_deref(),
        Some("hello from b00t\n"),
        "not started again"
    );

    // kill -9: the processes outlive it (nobody told them); the next `up` kills what it
    // left and starts the deployment afresh, so one web serves, not two.
    let pid_file = home
        .path()
        .join(format!("state/deploy/direct/{project}/web.pid"));
    let orphan: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    runtime.kill9();
    assert!(
        fetch(&url).is_some(),
        "the orphan should still serve until reaped"
    );
    drop(runtime);
    let (_runtime, port) = up(&home, web_port, &[]);
    let mut restarted = false;
    for _ in 0..100 {
        let pid: Option<u32> = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        if pid.is_some_and(|p| p != orphan) && fetch(&url).is_some() {
            restarted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(restarted, "not started again after kill -9");
    assert!(
        !Path::new(&format!("/proc/{orphan}")).exists(),
        "the orphan {orphan} still runs"
    );
    let out = cli(&home, port, &["undeploy", "starter"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(fetch(&url).is_none());
}
