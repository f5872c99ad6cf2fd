//! Container CI agents on the real engine: a container started with `docker run` gets
//! its agent `ci-<name>` with a card naming the container; `status`, `services`,
//! `diagnose` and `optimize` answer over `mosquitto_pub`; a removed container's card is
//! cleared; `b00t ci list` shows the mapping; `ask` answers with the fake Ollama from the
//! container's facts (and with the facts when Ollama is down); `restart` is refused
//! unsigned, runs signed by `b00t ci restart` or allowed by policy.toml, and is audited.
//! Images are built locally (Debian's static busybox on scratch); nothing is pulled.
//! A death, an OOM kill, a failing health check and a crash loop arrive as incidents on
//! `b00t.ci-<name>/event`, and a crash loop reaches `[ci] chat` once.

use std::process::Command;
use std::time::Duration;

use crate::assistant::docker_or_skip;
use crate::support::{b00t_bin, free_port, json, publish, Home, Runtime, Sub};

/// The test image, built once per machine.
fn busybox_image() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = b00t_container::connect().await.expect("a Docker engine");
        b00t_container::testing::ensure_busybox_image(&docker)
            .await
            .expect("the busybox test image")
    })
}

/// `docker rm -f` when dropped.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn docker_run(label: &str, name: &str, image: &str, args: &[&str]) -> Removed {
    let out = Command::new("docker")
        .args(["run", "-d", "--name", name, "--label", label, image])
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker run {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Removed(name.to_owned())
}

/// Sends `body` to `b00t.<agent>.<skill>` and returns the result's body.
fn ask(port: u16, agent: &str, skill: &str, id: &str) -> serde_json::Value {
    let base = format!("app/ci-{id}");
    let mut sub = Sub::start(port, &format!("{base}/#"));
    publish(
        port,
        &format!("b00t.{agent}.{skill}/task"),
        &format!(r#"{{"id":"{id}","reply_to":"{base}","body":{{}}}}"#),
    );
    let line = sub.wait(&format!("{base}/result"), id);
    json(&line.payload)["body"].clone()
}

#[test]
fn every_container_answers_for_itself() {
    if !docker_or_skip("every_container_answers_for_itself") {
        return;
    }
    let image = busybox_image();
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = false\n[ci]\nenabled = true\nlabel = \"{label}\"\n"
    ));
    let port = free_port();
    let _up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none")],
    );
    let mut cards = Sub::start(port, "+/status");

    // A web server: its agent appears with a card naming the container.
    let web = format!("Web_{run}");
    let agent = format!("ci-web-{run}");
    let _web = docker_run(&label, &web, &image, &["httpd", "-f", "-p", "8080"]);
    let card = cards.wait(&format!("b00t.{agent}/status"), "\"online\"");
    let card = json(&card.payload);
    assert_eq!(card["kind"], "container-ci", "{card}");
    assert_eq!(card["container"]["name"], web, "{card}");
    assert_eq!(card["container"]["image"], image, "{card}");

    let status = ask(port, &agent, "status", "st-1");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["running"], true, "{status}");
    let services = ask(port, &agent, "services", "sv-1");
    let listed = services.to_string();
    assert!(listed.contains("httpd"), "{services}");
    assert!(
        services["listening"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["port"] == 8080)),
        "{services}"
    );
    let advice = ask(port, &agent, "optimize", "op-1");
    let codes = advice["advice"].to_string();
    assert!(
        codes.contains("no_memory_limit") || codes.contains("memory"),
        "{advice}"
    );

    // A container that fails: its agent stays until it is removed, and says why.
    let bad = format!("bad-{run}");
    let bad_agent = format!("ci-bad-{run}");
    let bad_guard = docker_run(&label, &bad, &image, &["sh", "-c", "sleep 1; exit 3"]);
    cards.wait(&format!("b00t.{bad_agent}/status"), "\"online\"");
    std::thread::sleep(Duration::from_secs(2));
    let diagnosis = ask(port, &bad_agent, "diagnose", "dg-1");
    assert!(
        diagnosis["findings"].to_string().contains("exit_code"),
        "{diagnosis}"
    );

    // `b00t ci list` shows the mapping.
    let out = Command::new(b00t_bin())
        .args(["ci", "list", "--json", "--home"])
        .arg(home.path())
        .env_remove("B00T_BROKER")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&agent) && listed.contains(&web), "{listed}");

    // Removed: the card is cleared (an empty retained message).
    drop(bad_guard);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let retained = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-t",
                &format!("b00t.{bad_agent}/status"),
                "-C",
                "1",
                "-W",
                "1",
            ])
            .output()
            .unwrap();
        if retained.stdout.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a removed container's card stays: {}",
            String::from_utf8_lossy(&retained.stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A runtime whose CI agents answer only for this run's containers (label
/// `b00t.test=<run>`), with `extra` in `[ci]`; the run and the label.
fn incident_runtime(extra: &str) -> (Home, Runtime, u16, String, String) {
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = false\n[ci]\nenabled = true\nlabel = \"{label}\"\n{extra}"
    ));
    let port = free_port();
    let up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none")],
    );
    (home, up, port, run, label)
}

/// The incident of `kind` on `b00t.<agent>/event`, as JSON.
fn incident(events: &mut Sub, agent: &str, kind: &str) -> serde_json::Value {
    let line = events.wait(
        &format!("b00t.{agent}/event"),
        &format!(r#""incident":"{kind}""#),
    );
    let event = json(&line.payload);
    assert_eq!(event["type"], "incident", "{event}");
    assert_eq!(event["agent"], agent, "{event}");
    event
}

fn finding_codes(event: &serde_json::Value) -> Vec<String> {
    event["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_container_that_dies_is_oom_killed_or_turns_unhealthy_says_so_on_its_event_topic() {
    if !docker_or_skip(
        "a_container_that_dies_is_oom_killed_or_turns_unhealthy_says_so_on_its_event_topic",
    ) {
        return;
    }
    let image = busybox_image();
    let (_home, _up, port, run, label) = incident_runtime("");
    let mut cards = Sub::start(port, "+/status");
    let mut events = Sub::start(port, "+/event");

    // A failing health check; its card also says the agents follow the engine's events.
    let sick = format!("sick-{run}");
    let sick_guard = docker_run_flags(
        &label,
        &sick,
        &image,
        &[
            "--health-cmd",
            "exit 1",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        &["sleep", "60"],
    );
    cards.wait(&format!("b00t.ci-{sick}/status"), "\"online\"");

    // Exits with 1.
    let failing = format!("failing-{run}");
    let _failing = docker_run_flags(&label, &failing, &image, &[], &["sh", "-c", "exit 1"]);
    // Allocates past 8 MiB without swap.
    let hungry = format!("hungry-{run}");
    let _hungry = docker_run_flags(
        &label,
        &hungry,
        &image,
        &["--memory", "8m", "--memory-swap", "8m"],
        &["tail", "/dev/zero"],
    );

    let died = incident(&mut events, &format!("ci-{failing}"), "died");
    assert_eq!(died["exit_code"], 1, "{died}");
    assert_eq!(died["container"]["name"], failing, "{died}");
    assert_eq!(died["container"]["image"], image, "{died}");
    assert!(
        finding_codes(&died).contains(&"exit_code".to_owned()),
        "{died}"
    );
    assert_eq!(died["verdict"], "unhealthy", "{died}");

    let oom = incident(&mut events, &format!("ci-{hungry}"), "oom_killed");
    assert!(
        finding_codes(&oom).contains(&"oom_killed".to_owned()),
        "{oom}"
    );
    assert_eq!(oom["exit_code"], 137, "{oom}");

    let unhealthy = incident(&mut events, &format!("ci-{sick}"), "unhealthy");
    assert!(
        finding_codes(&unhealthy).contains(&"unhealthy".to_owned()),
        "{unhealthy}"
    );
    assert!(unhealthy["exit_code"].is_null(), "{unhealthy}");

    // The OOM kill's death is part of it, and removing the containers (a stop someone
    // asked for) is no incident.
    drop(sick_guard);
    events.settle(Duration::from_millis(1500));
    let hungry_events = events.count(&format!("b00t.ci-{hungry}/event"), "incident");
    assert_eq!(hungry_events, 1, "{}", events.dump());
    let sick_events = events.count(&format!("b00t.ci-{sick}/event"), "incident");
    assert_eq!(sick_events, 1, "{}", events.dump());
}

/// `docker run -d --name NAME --label LABEL FLAGS… IMAGE COMMAND…`.
fn docker_run_flags(
    label: &str,
    name: &str,
    image: &str,
    flags: &[&str],
    command: &[&str],
) -> Removed {
    let out = Command::new("docker")
        .args(["run", "-d", "--name", name, "--label", label])
        .args(flags)
        .arg(image)
        .args(command)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker run {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Removed(name.to_owned())
}

#[test]
fn a_crash_loop_is_one_incident_and_one_chat_message() {
    if !docker_or_skip("a_crash_loop_is_one_incident_and_one_chat_message") {
        return;
    }
    let image = busybox_image();
    let (_home, _up, port, run, label) = incident_runtime("chat = \"b00t.main.chat\"\n");
    let mut cards = Sub::start(port, "+/status");
    let mut events = Sub::start(port, "+/event");
    let mut chat = Sub::start(port, "b00t.main.chat/task");

    // Its card says the agents follow the engine's events.
    let calm = format!("calm-{run}");
    let _calm = docker_run_flags(&label, &calm, &image, &[], &["sleep", "60"]);
    cards.wait(&format!("b00t.ci-{calm}/status"), "\"online\"");

    let looping = format!("loop-{run}");
    let agent = format!("ci-{looping}");
    let started = std::time::Instant::now();
    let _looping = docker_run_flags(
        &label,
        &looping,
        &image,
        &["--restart", "always"],
        &["sh", "-c", "exit 1"],
    );
    let crash_loop = incident(&mut events, &agent, "crash_loop");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the crash loop took {:?}",
        started.elapsed()
    );
    assert_eq!(crash_loop["exit_code"], 1, "{crash_loop}");
    assert!(
        crash_loop["restarts_in_window"]["restarts"].as_u64() >= Some(3),
        "{crash_loop}"
    );
    assert!(
        finding_codes(&crash_loop).contains(&"crash_loop".to_owned()),
        "{crash_loop}"
    );

    // The chat hears of it once, as the loop, from the container's agent.
    let told = chat.wait("b00t.main.chat/task", r#""incident":"crash_loop""#);
    let task = json(&told.payload);
    assert_eq!(task["from"], agent.as_str(), "{task}");
    assert!(task["reply_to"].is_null(), "{task}");
    let text = task["body"]["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(&format!("Container `{looping}` is in a crash loop")),
        "{text}"
    );
    assert_eq!(task["body"]["incident"]["incident"], "crash_loop", "{task}");
    assert!(
        task["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("incident-{agent}-"))),
        "{task}"
    );
    // It keeps restarting; past the 5 s a death's message waits, still one message,
    // and one crash loop on the event topic.
    chat.settle(Duration::from_secs(6));
    let mut ids: Vec<String> = chat
        .seen
        .iter()
        .map(|l| {
            json(&l.payload)["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "{}", chat.dump());
    events.settle(Duration::from_millis(100));
    let loops = events.count(&format!("b00t.{agent}/event"), r#""incident":"crash_loop""#);
    assert_eq!(loops, 1, "{}", events.dump());
    let restarts = Command::new("docker")
        .args(["inspect", "--format", "{{.RestartCount}}", &looping])
        .output()
        .unwrap();
    let restarts: u32 = String::from_utf8_lossy(&restarts.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(restarts >= 4, "it restarted {restarts} times only");
}

// `ask` and the actions.

/// A runtime with CI agents for the containers labelled for this test, `extra` config
/// beside them; the label, the run's suffix and the port.
fn ci_runtime(extra: &str) -> (Home, Runtime, u16, String, String) {
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = false\n{extra}\n[ci]\nenabled = true\nlabel = \"{label}\"\n"
    ));
    let port = free_port();
    let up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none")],
    );
    (home, up, port, label, run)
}

/// A busybox web server `web-<run>` and its agent `ci-web-<run>`, once its card is online.
fn web_server(port: u16, label: &str, run: &str) -> (Removed, String, String) {
    let mut cards = Sub::start(port, "+/status");
    let name = format!("web-{run}");
    let agent = format!("ci-web-{run}");
    let guard = docker_run(
        label,
        &name,
        &busybox_image(),
        &["httpd", "-f", "-p", "8080"],
    );
    cards.wait(&format!("b00t.{agent}/status"), "\"online\"");
    (guard, name, agent)
}

/// Publishes `payload` on `b00t.<agent>.<skill>/task` with `mosquitto_pub` and returns
/// the final reply (result or error) on the task's `reply_to`.
fn final_reply(port: u16, agent: &str, skill: &str, id: &str, body: &str) -> serde_json::Value {
    let base = format!("app/ci-{id}");
    let mut sub = Sub::start(port, &format!("{base}/#"));
    publish(
        port,
        &format!("b00t.{agent}.{skill}/task"),
        &format!(r#"{{"id":"{id}","reply_to":"{base}","body":{body}}}"#),
    );
    let line = sub
        .try_wait(
            |l| {
                (l.topic == format!("{base}/result") || l.topic == format!("{base}/error"))
                    && l.payload.contains(id)
            },
            Duration::from_secs(30),
        )
        .unwrap_or_else(|| panic!("no reply to `{id}`: {}", sub.dump()));
    json(&line.payload)
}

/// The `ci-action` lines of the home's audit log.
fn ci_audit(home: &Home) -> Vec<serde_json::Value> {
    std::fs::read_to_string(home.path().join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(json)
        .filter(|r| r["kind"] == "ci-action")
        .collect()
}

fn audit_of(home: &Home, id: &str) -> serde_json::Value {
    ci_audit(home)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no ci-action audit line for `{id}`: {:#?}", ci_audit(home)))
}

fn b00t_ci(home: &Home, args: &[&str]) -> std::process::Output {
    Command::new(b00t_bin())
        .arg("ci")
        .args(args)
        .arg("--home")
        .arg(home.path())
        .env("NO_COLOR", "1")
        .env_remove("B00T_BROKER")
        .output()
        .expect("run b00t ci")
}

#[test]
fn ask_answers_from_the_containers_facts_with_the_local_model() {
    if !docker_or_skip("ask_answers_from_the_containers_facts_with_the_local_model") {
        return;
    }
    let ollama = crate::assistant::Ollama::start();
    let (home, _up, port, label, run) = ci_runtime(&format!(
        "[assistant]\nollama_url = \"{}\"\nmodel = \"llama3.2\"\n",
        ollama.fake.url()
    ));
    let (_web, name, agent) = web_server(port, &label, &run);

    // Plain text from mosquitto_pub: the answer goes to the address's result topic.
    let mut results = Sub::start(port, &format!("b00t.{agent}.ask/result"));
    publish(port, &format!("b00t.{agent}.ask/task"), "what runs in you?");
    let result = json(
        &results
            .wait(
                &format!("b00t.{agent}.ask/result"),
                "echo: what runs in you?",
            )
            .payload,
    );
    let body = &result["body"];
    assert_eq!(body["text"], "echo: what runs in you?", "{body}");
    assert_eq!(body["model"], "llama3.2", "{body}");
    assert!(body["llm_ms"].is_number(), "{body}");
    let facts = &body["facts"];
    assert_eq!(facts["container"]["name"], name, "{facts}");
    assert_eq!(facts["status"]["state"], "running", "{facts}");
    assert!(facts["services"].to_string().contains("httpd"), "{facts}");
    assert!(facts["health"]["verdict"].is_string(), "{facts}");
    assert!(facts["diagnose"]["findings"].is_array(), "{facts}");
    assert!(facts["optimize"]["advice"].is_array(), "{facts}");
    assert!(facts["logs"].is_array(), "{facts}");

    // The model was told who it is and given the facts.
    let asked = ollama.requests();
    let request = asked
        .iter()
        .find(|r| r.to_string().contains("what runs in you?"))
        .unwrap_or_else(|| panic!("the fake Ollama never saw the question: {asked:#?}"));
    assert_eq!(request["model"], "llama3.2", "{request}");
    let messages = request["messages"].as_array().unwrap();
    let system = messages
        .iter()
        .find(|m| m["role"] == "system")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    assert!(
        system.contains(&format!("CI agent of the Docker container `{name}`")),
        "{system}"
    );
    assert!(system.contains("httpd"), "{system}");
    assert!(system.contains("facts below only"), "{system}");
    assert_eq!(messages.last().unwrap()["content"], "what runs in you?");

    // The CLI asks the same, by the container's name.
    let out = b00t_ci(&home, &["ask", &name, "is", "it", "healthy?"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "echo: is it healthy?"
    );
    let out = b00t_ci(&home, &["ask", "--json", &agent, "and now?"]);
    assert!(out.status.success());
    let answer = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(answer["text"], "echo: and now?", "{answer}");
    assert_eq!(answer["facts"]["container"]["name"], name, "{answer}");
}

#[test]
fn ask_with_ollama_down_answers_with_the_facts_and_why() {
    if !docker_or_skip("ask_with_ollama_down_answers_with_the_facts_and_why") {
        return;
    }
    // A port nobody listens on.
    let closed = free_port();
    let (home, _up, port, label, run) = ci_runtime(&format!(
        "[assistant]\nollama_url = \"http://127.0.0.1:{closed}\"\nmodel = \"llama3.2\"\n"
    ));
    let (_web, name, agent) = web_server(port, &label, &run);

    let reply = final_reply(port, &agent, "ask", "ask-down-1", r#"{"text":"why?"}"#);
    assert_eq!(reply["type"], "result", "{reply}");
    let body = &reply["body"];
    assert!(body["text"].is_null(), "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("not reachable") && error.contains("ollama serve"),
        "{body}"
    );
    assert_eq!(body["facts"]["container"]["name"], name, "{body}");
    assert_eq!(body["facts"]["status"]["running"], true, "{body}");

    // The CLI says why and exits 1.
    let out = b00t_ci(&home, &["ask", &name, "why?"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the model did not answer") && stderr.contains("not reachable"),
        "{stderr}"
    );
}

#[test]
fn an_unsigned_restart_is_forbidden_and_a_signed_one_restarts_both_audited() {
    if !docker_or_skip("an_unsigned_restart_is_forbidden_and_a_signed_one_restarts_both_audited") {
        return;
    }
    let (home, _up, port, label, run) = ci_runtime("");
    let (_web, name, agent) = web_server(port, &label, &run);
    let started = ask(port, &agent, "status", "st-before")["started_at"].clone();
    assert!(started.is_string(), "{started}");

    // From mosquitto_pub, unsigned: refused, with the rule and how to approve it.
    let reply = final_reply(port, &agent, "restart", "r-unsigned", r#"{"grace_s":1}"#);
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not in [ci] actions") && message.contains("policy.toml"),
        "{message}"
    );
    assert!(
        message.contains(&format!("`b00t ci restart {name}`")),
        "{message}"
    );
    let line = audit_of(&home, "r-unsigned");
    assert_eq!(line["verdict"], "forbidden", "{line}");
    assert_eq!(line["outcome"], "refused", "{line}");
    assert_eq!(line["trust"], "unsigned", "{line}");
    assert_eq!(line["action"], "restart", "{line}");
    assert_eq!(line["container"], name, "{line}");
    assert_eq!(line["from"], "-", "{line}");
    let now = ask(port, &agent, "status", "st-still")["started_at"].clone();
    assert_eq!(now, started, "a refused restart restarted it");

    // A forged signature is refused too.
    let reply = final_reply(
        port,
        &agent,
        "restart",
        "r-forged",
        r#"{"signature":{"ts":1,"hmac":"00"}}"#,
    );
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    assert_eq!(audit_of(&home, "r-forged")["trust"], "bad-signature");

    // `b00t ci restart`, signed with the operator key: allowed, and it restarts.
    let out = b00t_ci(&home, &["restart", &name, "--grace", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("restarted `{name}`: now running")),
        "{stdout}"
    );
    let after = ask(port, &agent, "status", "st-after");
    assert_eq!(after["running"], true, "{after}");
    assert_ne!(after["started_at"], started, "{after}");
    let signed = ci_audit(&home)
        .into_iter()
        .find(|r| r["trust"] == "operator")
        .unwrap_or_else(|| panic!("no signed action audited: {:#?}", ci_audit(&home)));
    assert_eq!(signed["verdict"], "allowed", "{signed}");
    assert_eq!(signed["outcome"], "done", "{signed}");
    assert_eq!(signed["from"], "operator", "{signed}");
    assert_eq!(signed["container"], name, "{signed}");

    // `b00t audit` prints both beside the installs.
    let out = Command::new(b00t_bin())
        .args(["audit", "--home"])
        .arg(home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("restart {name}")) && text.contains("(operator)"),
        "{text}"
    );
    assert!(!text.contains("not a record"), "{text}");
}

#[test]
fn the_policy_lets_an_unsigned_restart_through_and_nothing_else() {
    if !docker_or_skip("the_policy_lets_an_unsigned_restart_through_and_nothing_else") {
        return;
    }
    let (home, _up, port, label, run) = ci_runtime("");
    std::fs::write(
        home.path().join("policy.toml"),
        "[ci]\nactions = [\"restart\"]\ncontainers = [\"web-*\"]\n",
    )
    .unwrap();
    let (_web, name, agent) = web_server(port, &label, &run);
    let started = ask(port, &agent, "status", "st-before")["started_at"].clone();

    let reply = final_reply(port, &agent, "restart", "p-restart", r#"{"grace_s":1}"#);
    assert_eq!(reply["type"], "result", "{reply}");
    let body = &reply["body"];
    assert_eq!(body["trust"], "policy", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("pattern `web-*`"),
        "{body}"
    );
    assert_eq!(body["container"]["name"], name, "{body}");
    assert_eq!(body["before"]["started_at"], started, "{body}");
    assert_ne!(body["after"]["started_at"], started, "{body}");
    assert_eq!(body["after"]["running"], true, "{body}");
    let line = audit_of(&home, "p-restart");
    assert_eq!(line["trust"], "policy", "{line}");
    assert_eq!(line["outcome"], "done", "{line}");

    // `stop` is not in the list: still refused.
    let reply = final_reply(port, &agent, "stop", "p-stop", "{}");
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("action `stop` is not in [ci] actions"),
        "{reply}"
    );
    assert_eq!(audit_of(&home, "p-stop")["verdict"], "forbidden");
}

/// `stats` over a short window gives min, avg and max of a sample a second.
#[test]
fn stats_over_a_window() {
    if !docker_or_skip("stats_over_a_window") {
        return;
    }
    let image = busybox_image();
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = false\n[ci]\nenabled = true\nlabel = \"{label}\"\n"
    ));
    let port = free_port();
    let _up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none")],
    );
    let mut cards = Sub::start(port, "+/status");
    let name = format!("st-{run}");
    let agent = format!("ci-st-{run}");
    let _c = docker_run(&label, &name, &image, &["sleep", "60"]);
    cards.wait(&format!("b00t.{agent}/status"), "\"online\"");
    let base = format!("app/st-{run}");
    let mut sub = Sub::start(port, &format!("{base}/#"));
    publish(
        port,
        &format!("b00t.{agent}.stats/task"),
        &format!(r#"{{"id":"w-{run}","reply_to":"{base}","body":{{"window_s":2}}}}"#),
    );
    let reply = json(
        &sub.wait(&format!("{base}/result"), &format!("w-{run}"))
            .payload,
    );
    let body = &reply["body"];
    assert!(body["samples"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["memory_used"]["max"].as_f64().unwrap() > 0.0, "{body}");
    assert!(body["pids"]["min"].as_f64().unwrap() >= 1.0, "{body}");
}

/// A stand-in for the engine's socket that the test can cut: a proxy to Docker's own
/// socket, whose connections (the event stream among them) all drop when it goes down.
struct EngineProxy {
    path: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineProxy {
    fn up(path: &std::path::Path) -> EngineProxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::Ordering;
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind the engine proxy");
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, conns2) = (stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(upstream) = UnixStream::connect("/var/run/docker.sock") else {
                            continue;
                        };
                        let mut kept = conns2.lock().unwrap();
                        kept.push(client.try_clone().unwrap());
                        kept.push(upstream.try_clone().unwrap());
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                            (upstream, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        EngineProxy {
            path: path.to_owned(),
            stop,
            conns,
            thread: Some(thread),
        }
    }

    /// The engine is gone: no new connection, and every open one dropped.
    fn down(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.down();
    }
}

/// The engine goes away under a running `b00t up` and comes back: the bus keeps
/// serving meanwhile, and once it is back the agents match the containers again (the
/// removed one's card cleared, the new one's agent there, no duplicate).
#[test]
fn the_engine_going_away_and_coming_back_is_reconciled() {
    if !docker_or_skip("the_engine_going_away_and_coming_back_is_reconciled") {
        return;
    }
    let image = busybox_image();
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = true\n[ci]\nenabled = true\nlabel = \"{label}\"\n"
    ));
    let socket = home.path().join("engine.sock");
    let mut proxy = EngineProxy::up(&socket);
    let port = free_port();
    let docker_host = format!("unix://{}", socket.display());
    let _up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none"), ("DOCKER_HOST", &docker_host)],
    );
    let mut cards = Sub::start(port, "+/status");
    let old = format!("old-{run}");
    let old_guard = docker_run(&label, &old, &image, &["sleep", "120"]);
    cards.wait(&format!("b00t.ci-old-{run}/status"), "\"online\"");

    // The engine goes away; meanwhile one container goes and another comes.
    proxy.down();
    std::thread::sleep(Duration::from_millis(500));
    drop(old_guard);
    let new = format!("new-{run}");
    let _new_guard = docker_run(&label, &new, &image, &["sleep", "120"]);
    // The rest of the bus keeps serving.
    let echo = ask(port, "echo", "echo", &format!("e-{run}"));
    assert!(echo.get("echo").is_some(), "{echo}");

    let _proxy = EngineProxy::up(&socket);
    cards.wait(&format!("b00t.ci-new-{run}/status"), "\"online\"");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = Command::new(b00t_bin())
            .args(["ci", "list", "--json", "--home"])
            .arg(home.path())
            .env_remove("B00T_BROKER")
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&out.stdout).to_string();
        let ours: Vec<&str> = listed.lines().filter(|l| l.contains(&run)).collect();
        if ours.len() == 1 && ours[0].contains(&new) && ours[0].contains("online") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after the engine came back the agents are not one per container: {listed}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
