//! Group agents end to end: `b00t up`, a group, a fake Ollama (b00t-testkit, Ollama's
//! JSON) and `mosquitto_pub`/`mosquitto_sub`. Each scenario runs with the `none` runtime
//! (local processes) and, where an engine answers, in real containers; with
//! `B00T_REQUIRE_DOCKER=1` (set by `.ci/run` when an engine is present) a missing engine
//! fails the Docker tests instead of skipping them.

use std::process::Command;
use std::time::{Duration, Instant};

use b00t_testkit::{FakeOllama, Reply};
use serde_json::{json, Value};

use crate::support::{b00t_bin, free_port, json, publish, Home, Runtime, Sub, SOON};

/// A fake Ollama on its own tokio runtime, for these synchronous tests.
pub(crate) struct Ollama {
    pub fake: FakeOllama,
    _rt: tokio::runtime::Runtime,
}

impl Ollama {
    pub(crate) fn start() -> Ollama {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let fake = rt.block_on(FakeOllama::start(["llama3.2"]));
        Ollama { fake, _rt: rt }
    }

    /// Every `/api/chat` body so far.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.fake.requests()
    }
}

/// Whether Docker tests run: an engine answers, or `B00T_REQUIRE_DOCKER=1` demands one.
pub(crate) fn docker_or_skip(test: &str) -> bool {
    let answers = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if answers {
        return true;
    }
    if std::env::var("B00T_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!("{test}: B00T_REQUIRE_DOCKER=1 but no Docker engine answers `docker info`");
    }
    eprintln!("{test}: skipped, no Docker engine answers (set B00T_REQUIRE_DOCKER=1 to make this a failure)");
    false
}

/// A home with a fake Ollama, the given extra config, and one group.
pub(crate) fn group_home(ollama: &Ollama, extra: &str, group: &str) -> Home {
    let home = Home::new(&format!(
        "[agents]\necho = false\n[assistant]\nname = \"Andy\"\nollama_url = \"{}\"\nmodel = \"llama3.2\"\n{extra}",
        ollama.fake.url()
    ));
    let skills = home.path().join("skills/weather");
    std::fs::create_dir_all(&skills).unwrap();
    std::fs::write(
        skills.join("SKILL.md"),
        "---\nname: weather\ndescription: Reports the weather for a city.\n---\n# Weather\nAlways say it is sunny in WEATHER-BODY-MARKER.\n",
    )
    .unwrap();
    cli(&home, &["group", "add", group]);
    std::fs::write(
        home.path().join("groups").join(group).join("MEMORY.md"),
        "# Memory\nThe family dog is called MEMORY-MARKER-Rex.\n",
    )
    .unwrap();
    home
}

pub(crate) fn cli(home: &Home, args: &[&str]) -> std::process::Output {
    let out = Command::new(b00t_bin())
        .args(args)
        .arg("--home")
        .arg(home.path())
        .env("NO_COLOR", "1")
        .env_remove("B00T_BROKER")
        .output()
        .expect("run b00t");
    assert!(
        out.status.success(),
        "b00t {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(crate) fn up(home: &Home, port: u16, runtime: &str) -> Runtime {
    Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", runtime)],
    )
}

/// The system prompt of an `/api/chat` request.
fn system_prompt(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "system"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The result of task `id` seen by `sub`, as JSON.
fn result_of(sub: &mut Sub, topic: &str, id_needle: &str) -> Value {
    json(&sub.wait(topic, id_needle).payload)
}

/// Chat through mosquitto_pub: on-demand start, prompt, skills, history, and `b00t chat`.
fn chat_end_to_end(runtime: &str) {
    let ollama = Ollama::start();
    let home = group_home(&ollama, "", "family");
    let _cleanup = crate::containers::Cleanup(b00t_container::home_id(home.path()));
    let port = free_port();
    let _up = up(&home, port, runtime);
    let mut sub = Sub::start(port, "#");

    // Plain text, while the agent is down: it starts, the task waits and is answered.
    publish(port, "b00t.family.chat/task", "hello there");
    let result = json(
        &sub.wait("b00t.family.chat/result", "echo: hello there")
            .payload,
    );
    assert_eq!(result["body"]["text"], "echo: hello there", "{result}");
    let card = sub.wait("b00t.family/status", "\"online\"");
    assert!(
        card.payload.contains("\"weather\""),
        "skills on the card: {}",
        card.payload
    );

    let prompt = system_prompt(ollama.requests().last().expect("a chat request"));
    assert!(prompt.contains("Andy"), "the name: {prompt}");
    assert!(prompt.contains("MEMORY-MARKER-Rex"), "MEMORY.md: {prompt}");
    assert!(
        prompt.contains("weather") && prompt.contains("Reports the weather for a city."),
        "{prompt}"
    );
    assert!(
        !prompt.contains("WEATHER-BODY-MARKER"),
        "no SKILL.md body on chat: {prompt}"
    );

    // A skill's own address puts its whole SKILL.md in the prompt.
    publish(
        port,
        "b00t.family.weather/task",
        r#"{"id":"w-1","body":{"text":"and Paris?"}}"#,
    );
    result_of(&mut sub, "b00t.family.weather/result", "\"w-1\"");
    let prompt = system_prompt(ollama.requests().last().unwrap());
    assert!(prompt.contains("WEATHER-BODY-MARKER"), "{prompt}");

    // `b00t chat` with one message, over the same bus; the history was kept.
    let out = Command::new(b00t_bin())
        .args(["chat", "family", "what did I say?", "--broker"])
        .arg(format!("mqtt://127.0.0.1:{port}"))
        .arg("--home")
        .arg(home.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("family> echo: what did I say?"), "{stdout}");
    let last = ollama.requests().last().unwrap().clone();
    let users: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        users,
        ["hello there", "and Paris?", "what did I say?"],
        "history: {last}"
    );
    let history = std::fs::read_to_string(home.path().join("groups/family/history.json")).unwrap();
    assert!(history.contains("what did I say?"), "{history}");

    // A body without text: bad_request naming the field.
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"bad-1","body":{"txt":"x"}}"#,
    );
    let error = result_of(&mut sub, "b00t.family.chat/error", "\"bad-1\"");
    assert_eq!(error["error"]["code"], "bad_request", "{error}");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("text"),
        "{error}"
    );
}

#[test]
fn chat_with_a_local_process() {
    chat_end_to_end("none");
}

#[test]
fn chat_with_a_container() {
    if docker_or_skip("chat_with_a_container") {
        chat_end_to_end("docker");
    }
}

/// Skills edited, added and deleted reach the group's folder and the agent's card.
#[test]
fn skills_sync_live_into_groups_and_the_agent() {
    let ollama = Ollama::start();
    let home = group_home(&ollama, "", "family");
    let port = free_port();
    let _up = up(&home, port, "none");
    let mut sub = Sub::start(port, "b00t.family/status");
    publish(port, "b00t.family.chat/task", "wake up");
    sub.wait("b00t.family/status", "\"online\"");

    let synced = home.path().join("groups/family/.skills");
    let skills = home.path().join("skills");
    std::fs::create_dir_all(skills.join("recipes")).unwrap();
    std::fs::write(
        skills.join("recipes/SKILL.md"),
        "---\nname: recipes\ndescription: Suggests dinners.\n---\nCook pasta.\n",
    )
    .unwrap();
    std::fs::write(
        skills.join("weather/SKILL.md"),
        "---\nname: weather\ndescription: Weather, edited.\n---\nEdited body.\n",
    )
    .unwrap();
    eventually(
        || {
            std::fs::read_to_string(synced.join("recipes/SKILL.md"))
                .is_ok_and(|t| t.contains("Cook pasta"))
                && std::fs::read_to_string(synced.join("weather/SKILL.md"))
                    .is_ok_and(|t| t.contains("Edited body"))
        },
        "the new and edited skills in groups/family/.skills",
    );
    sub.wait("b00t.family/status", "\"recipes\"");

    std::fs::remove_dir_all(skills.join("weather")).unwrap();
    eventually(
        || !synced.join("weather").exists(),
        "the deleted skill gone from .skills",
    );
    let card = sub
        .try_wait(
            |l| l.payload.contains("\"online\"") && !l.payload.contains("weather"),
            SOON,
        )
        .expect("a card without the deleted skill");
    assert!(card.payload.contains("recipes"), "{}", card.payload);
}

/// The LLM asks to install a datum that is not on the whitelist: the installer refuses
/// it as `forbidden` (the group's tasks are never signed) and audits the refusal.
#[test]
fn an_llm_install_off_the_whitelist_is_forbidden_and_audited() {
    let ollama = Ollama::start();
    let home = group_home(&ollama, "", "family");
    std::fs::create_dir_all(home.path().join("datums")).unwrap();
    std::fs::write(
        home.path().join("datums/python.cli.toml"),
        "[b00t]\nname = \"python\"\ninstall = \"echo would install\"\nversion = \"false\"\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("policy.toml"),
        "[allow]\ndatums = [\"jq.apt\"]\n",
    )
    .unwrap();
    let port = free_port();
    let _up = up(&home, port, "none");
    let mut sub = Sub::start(port, "b00t.family.chat/#");
    ollama.fake.push(Reply::ToolCalls(vec![(
        "install".into(),
        json!({"datum": "python.cli"}),
    )]));
    ollama
        .fake
        .push(Reply::Text("I could not install python.".into()));
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"inst-1","body":{"text":"install python please"}}"#,
    );
    let result = result_of(&mut sub, "b00t.family.chat/result", "\"inst-1\"");
    assert_eq!(result["body"]["text"], "I could not install python.");
    let call = &result["body"]["tool_calls"][0];
    assert_eq!(call["name"], "install", "{result}");
    assert_eq!(call["ok"], false, "{result}");
    assert_eq!(call["error"]["code"], "forbidden", "{result}");
    // The model was told why.
    let last = ollama.requests().last().unwrap().clone();
    let tool_message = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("a tool message")
        .to_string();
    assert!(tool_message.contains("forbidden"), "{tool_message}");
    // Audited, with who asked.
    let audit = std::fs::read_to_string(home.path().join("state/audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .map(json)
        .find(|r| r["datum"] == "python.cli")
        .unwrap_or_else(|| panic!("no audit line for python.cli: {audit}"));
    assert_eq!(line["from"], "family", "{line}");
    assert!(line.to_string().contains("forbidden"), "{line}");
}

/// With one slot, a second group waits its turn (in order) and is served once the first
/// is idle; an idle agent stops; a crashed agent is restarted.
#[test]
fn groups_queue_for_slots_stop_when_idle_and_restart_after_a_crash() {
    let ollama = Ollama::start();
    let home = group_home(
        &ollama,
        "[containers]\nmax_concurrent = 1\nidle_timeout_ms = 3000\n",
        "alpha",
    );
    cli(&home, &["group", "add", "beta"]);
    let port = free_port();
    let mut up = up(&home, port, "none");
    let mut sub = Sub::start(port, "+/result");
    publish(
        port,
        "b00t.alpha.chat/task",
        r#"{"id":"a-1","body":{"text":"first"}}"#,
    );
    publish(
        port,
        "b00t.beta.chat/task",
        r#"{"id":"b-1","body":{"text":"second"}}"#,
    );
    publish(
        port,
        "b00t.beta.chat/task",
        r#"{"id":"b-2","body":{"text":"third"}}"#,
    );
    result_of(&mut sub, "b00t.alpha.chat/result", "\"a-1\"");
    result_of(&mut sub, "b00t.beta.chat/result", "\"b-1\"");
    result_of(&mut sub, "b00t.beta.chat/result", "\"b-2\"");
    let order: Vec<String> = sub
        .seen
        .iter()
        .filter(|l| l.topic.ends_with("/result"))
        .map(|l| json(&l.payload)["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        ["a-1", "b-1", "b-2"],
        "beta's tasks in order, after alpha's"
    );
    up.wait_for_line("freeing a slot");

    // Idle: beta's agent stops by itself.
    up.wait_for_line("idle; stopping it");

    // A crash: kill alpha's agent process; it is restarted with backoff.
    let mut status = Sub::start(port, "b00t.alpha/status");
    publish(
        port,
        "b00t.alpha.chat/task",
        r#"{"id":"a-2","body":{"text":"again"}}"#,
    );
    status.wait("b00t.alpha/status", "\"online\"");
    let pid = agent_pid("alpha");
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    up.wait_for_line("crashed; restarting");
    up.wait_for_line("group agent online");
    assert_ne!(agent_pid("alpha"), pid, "a new process");
}

/// The pid of the local agent process of `group`.
fn agent_pid(group: &str) -> u32 {
    let deadline = Instant::now() + SOON;
    loop {
        let out = Command::new("pgrep")
            .args(["-f", &format!("agent run group --name {group}$")])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(pid) = text
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .next_back()
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no agent process for {group}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A scheduled task fires on the group's chat address and the agent answers it.
#[test]
fn a_scheduled_task_reaches_the_group() {
    let ollama = Ollama::start();
    let home = group_home(&ollama, "", "family");
    let port = free_port();
    let _up = up(&home, port, "none");
    let mut sub = Sub::start(port, "b00t.family.chat/result");
    let out = Command::new(b00t_bin())
        .args([
            "schedule",
            "add",
            "family",
            "--in",
            "1s",
            "water the plants",
        ])
        .args(["--broker", &format!("mqtt://127.0.0.1:{port}")])
        .arg("--home")
        .arg(home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = json(
        &sub.wait("b00t.family.chat/result", "water the plants")
            .payload,
    );
    assert!(
        result["id"].as_str().unwrap().starts_with("sched-"),
        "{result}"
    );
}

/// Waits for `check`, failing with `what` after [`SOON`].
fn eventually(check: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + SOON;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
