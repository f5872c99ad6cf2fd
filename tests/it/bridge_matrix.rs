//! The Matrix bridge end to end, with no stand-in: `b00t up` with `[bridges.matrix]`
//! pointing at the real Synapse (b00t-testkit's, on loopback), the bot account
//! registered through the admin API and logged in as the README says, and a person
//! played by matrix-nio (`support/matrix_person.py`). The person makes a room and
//! invites the bot; the operator binds it; messages get the group's answers as replies,
//! in threads too, long ones in parts; an unbound room hears the hint once and reaches
//! no agent; `kill -9` between a message and its answer, then a restart: answered once.
//! Skipped without Synapse or matrix-nio, failures then when `B00T_REQUIRE_TOOLS=1`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use b00t_config::env::{self, B00T_REQUIRE_TOOLS};
use b00t_testkit::synapse::{MatrixUser, Synapse};
use b00t_testkit::Reply;
use serde_json::{json, Value};

use crate::assistant::{cli, group_home, Ollama};
use crate::support::{free_port, wait_until, Home, Runtime};

/// Synapse, and a tokio runtime for its async calls in these synchronous tests.
struct Homeserver {
    synapse: Synapse,
    rt: tokio::runtime::Runtime,
}

impl Homeserver {
    /// Synapse, or `None` (the test skips) when it or matrix-nio is missing.
    fn start(test: &str) -> Option<Homeserver> {
        let nio = Command::new("python3")
            .args(["-c", "import nio"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !nio {
            let required = env::var(B00T_REQUIRE_TOOLS).as_deref() == Some("1");
            assert!(
                !required,
                "{test}: {B00T_REQUIRE_TOOLS}=1 but python3 cannot import `nio`: python3 -m pip install matrix-nio"
            );
            eprintln!("{test}: skipped: python3 cannot import `nio` (python3 -m pip install matrix-nio; set {B00T_REQUIRE_TOOLS}=1 to make this a failure)");
            return None;
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let synapse = rt.block_on(Synapse::start_or_skip(test))?;
        eprintln!("{test}: Synapse answered after {:?}", synapse.started_in);
        Some(Homeserver { synapse, rt })
    }

    fn register(&self, localpart: &str) -> MatrixUser {
        let password = format!("{localpart}-password");
        self.rt
            .block_on(self.synapse.register(localpart, &password, false))
            .expect("registered")
    }

    /// The bot's access token the way the README gets one: `POST /login` with its
    /// password.
    fn login(&self, user: &MatrixUser) -> String {
        self.rt
            .block_on(self.synapse.login(user, "b00t bridge"))
            .expect("logged in")
    }
}

/// A person on Matrix: matrix-nio in a Python process, one JSON command a line.
struct Person {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    user_id: String,
}

impl Person {
    fn login(homeserver: &Homeserver, user: &MatrixUser) -> Person {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/it/support/matrix_person.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(homeserver.synapse.url())
            .arg(&user.user_id)
            .arg(&user.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run matrix_person.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut person = Person {
            child,
            stdin,
            stdout,
            user_id: user.user_id.clone(),
        };
        let ready = person.read();
        assert_eq!(ready["ready"], true, "{ready}");
        person
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the person");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON from nio: {line:?}"))
    }

    fn ask(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("write to the person");
        let answer = self.read();
        assert!(answer.get("error").is_none(), "{command}: {answer}");
        answer
    }

    fn create_room(&mut self, name: &str, invite: &str) -> String {
        let answer = self.ask(json!({"op": "create_room", "name": name, "invite": [invite]}));
        answer["room_id"].as_str().unwrap().to_owned()
    }

    fn send(&mut self, room: &str, body: &str) -> String {
        let answer = self.ask(json!({"op": "send", "room": room, "body": body}));
        answer["event_id"].as_str().unwrap().to_owned()
    }

    fn send_in_thread(&mut self, room: &str, body: &str, root: &str) -> String {
        let answer = self.ask(json!({"op": "send", "room": room, "body": body, "thread": root}));
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// The first `count` messages `sender` sent to `room`, once there are that many.
    fn messages(&mut self, room: &str, sender: &str, count: usize) -> Vec<Value> {
        let answer = self.ask(json!({"op": "wait", "room": room, "sender": sender,
                                     "count": count, "timeout": 40}));
        answer["events"].as_array().unwrap().clone()
    }

    /// Every message `sender` sent to `room` so far.
    fn all_messages(&mut self, room: &str, sender: &str) -> Vec<Value> {
        let answer = self.ask(json!({"op": "list", "room": room, "sender": sender}));
        answer["events"].as_array().unwrap().clone()
    }

    /// Waits until `user` has joined `room`.
    fn wait_joined(&mut self, room: &str, user: &str) {
        self.ask(
            json!({"op": "wait", "room": room, "sender": user, "count": 1,
                        "type": "m.room.member", "timeout": 40}),
        );
    }
}

impl Drop for Person {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn matrix_home(ollama: &Ollama, homeserver: &Homeserver, join_invites: bool) -> Home {
    group_home(
        ollama,
        &format!(
            "[bridges.matrix]\nhomeserver = \"{}\"\njoin_invites = {join_invites}\n",
            homeserver.synapse.url()
        ),
        "family",
    )
}

fn up(home: &Home, port: u16, token: &str) -> Runtime {
    let mut runtime = Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("MATRIX_ACCESS_TOKEN", token)],
    );
    runtime.wait_for_line("Matrix bridge syncing");
    runtime
}

/// How many `/api/chat` requests carried `needle` in their last user message.
fn asked(ollama: &Ollama, needle: &str) -> usize {
    ollama
        .requests()
        .iter()
        .filter(|request| {
            request["messages"]
                .as_array()
                .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
                .and_then(|m| m["content"].as_str())
                .is_some_and(|text| text.contains(needle))
        })
        .count()
}

/// Waits until `probe` holds (the bridges' shared wait, for a yes or no).
fn wait_for(what: &str, mut probe: impl FnMut() -> bool) {
    wait_until(what, || probe().then_some(()))
}

/// The bodies of `events`, shortened, one a line: what a failure shows.
fn summary(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            let body: String = body(e).chars().take(80).collect();
            format!("{} replying to {:?}: {body}", e["event_id"], replies_to(e))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until `runtime` printed `n` lines containing `needle`.
fn wait_for_lines(runtime: &mut Runtime, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        runtime.drain();
        if runtime.log.iter().filter(|l| l.contains(needle)).count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} lines with `{needle}`:\n{}",
            runtime.log.join("\n")
        );
    }
}

fn body(event: &Value) -> &str {
    event["content"]["body"].as_str().unwrap_or_default()
}

fn replies_to(event: &Value) -> &str {
    event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        .as_str()
        .unwrap_or_default()
}

#[test]
fn matrix_rooms_reach_their_groups_and_hear_back() {
    let Some(homeserver) = Homeserver::start("matrix_rooms_reach_their_groups_and_hear_back")
    else {
        return;
    };
    let bot = homeserver.register("b00t");
    let token = homeserver.login(&bot);
    let ann = homeserver.register("ann");
    let ollama = Ollama::start();
    let home = matrix_home(&ollama, &homeserver, false);
    let port = free_port();
    let mut runtime = up(&home, port, &token);
    let mut person = Person::login(&homeserver, &ann);

    // Ann makes a room and invites the bot: it waits for the operator to bind the room.
    let room = person.create_room("Kitchen", &bot.user_id);
    runtime.wait_for_line(&format!("b00t bridge allow matrix:{room} --group <group>"));
    cli(
        &home,
        &[
            "bridge",
            "allow",
            &format!("matrix:{room}"),
            "--group",
            "family",
        ],
    );
    person.wait_joined(&room, &bot.user_id);

    // A message (a room of two: no mention needed) gets the group's answer as a reply.
    let question = person.send(&room, "hello there");
    let sent = person.messages(&room, &bot.user_id, 1);
    assert_eq!(body(&sent[0]), "echo: hello there", "{}", summary(&sent));
    assert_eq!(replies_to(&sent[0]), question, "{}", summary(&sent));
    assert_eq!(sent[0]["content"]["format"], "org.matrix.custom.html");
    assert_eq!(
        sent[0]["content"]["m.mentions"]["user_ids"],
        json!([person.user_id])
    );
    assert_eq!(asked(&ollama, "hello there"), 1);

    // In a thread: the answer goes to the thread, replying to the message.
    let in_thread = person.send_in_thread(&room, "and in the thread?", &question);
    let sent = person.messages(&room, &bot.user_id, 2);
    let relation = &sent[1]["content"]["m.relates_to"];
    assert_eq!(
        body(&sent[1]),
        "echo: and in the thread?",
        "{}",
        summary(&sent)
    );
    assert_eq!(relation["rel_type"], "m.thread", "{relation}");
    assert_eq!(relation["event_id"], question.as_str(), "{relation}");
    assert_eq!(replies_to(&sent[1]), in_thread, "{relation}");

    // A long answer, in parts: the first replies, the rest follow; HTML beside the text.
    let paragraph = format!("**Fish** & <chips>, {}done.\n\n", "word ".repeat(95));
    let long = paragraph.repeat(40);
    assert!(long.len() > 20_000, "{}", long.len());
    ollama.fake.push(Reply::Text(long.clone()));
    let question = person.send(&room, "tell me a long story");
    let sent = person.messages(&room, &bot.user_id, 5);
    let parts = &sent[2..];
    assert_eq!(replies_to(&parts[0]), question);
    assert!(
        parts[1..].iter().all(|p| replies_to(p).is_empty()),
        "{}",
        summary(parts)
    );
    let joined: String = parts.iter().map(body).collect::<Vec<_>>().join("\n\n");
    assert_eq!(joined.trim(), long.trim());
    assert!(parts.iter().all(|p| p["content"]["formatted_body"]
        .as_str()
        .unwrap()
        .starts_with("<b>Fish</b> &amp; &lt;chips&gt;")));

    // `bridge list` names the room.
    let out = cli(&home, &["bridge", "list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains(&format!("matrix:{room} -> family")), "{list}");

    // Unbound again: a message reaches no agent, and the room hears the hint, once.
    cli(&home, &["bridge", "deny", &format!("matrix:{room}")]);
    person.send(&room, "still there?");
    let sent = person.messages(&room, &bot.user_id, 6);
    assert!(
        body(&sent[5]).contains(&format!("b00t bridge allow matrix:{room} --group")),
        "{}",
        summary(&sent)
    );
    person.send(&room, "hello?");
    // Both messages seen unbound (and logged) before the room is bound again.
    wait_for_lines(
        &mut runtime,
        "a message from a chat not bound to a group",
        2,
    );
    cli(
        &home,
        &[
            "bridge",
            "allow",
            &format!("matrix:{room}"),
            "--group",
            "family",
        ],
    );
    // Messages are taken in order: once the next is answered, `hello?` was seen.
    person.send(&room, "back again");
    let sent = person.messages(&room, &bot.user_id, 7);
    assert_eq!(body(&sent[6]), "echo: back again", "{}", summary(&sent));
    assert_eq!(asked(&ollama, "still there?"), 0);
    assert_eq!(asked(&ollama, "hello?"), 0);
    let hints = sent
        .iter()
        .filter(|e| body(e).contains("not bound to a group"))
        .count();
    assert_eq!(hints, 1, "{}", summary(&sent));
}

#[test]
fn matrix_a_kill_between_message_and_answer_answers_once() {
    let Some(homeserver) =
        Homeserver::start("matrix_a_kill_between_message_and_answer_answers_once")
    else {
        return;
    };
    let bot = homeserver.register("b00t");
    let token = homeserver.login(&bot);
    let ann = homeserver.register("ann");
    let ollama = Ollama::start();
    // join_invites: the bot joins any room it is invited to, bound or not.
    let home = matrix_home(&ollama, &homeserver, true);
    let port = free_port();
    let mut runtime = up(&home, port, &token);
    let mut person = Person::login(&homeserver, &ann);
    let room = person.create_room("Hall", &bot.user_id);
    person.wait_joined(&room, &bot.user_id);

    // Joined but unbound: the hint, and no agent asked.
    person.send(&room, "who are you?");
    let hint = person.messages(&room, &bot.user_id, 1);
    assert!(
        body(&hint[0]).contains("not bound to a group"),
        "{}",
        summary(&hint)
    );
    assert_eq!(asked(&ollama, "who are you?"), 0);
    cli(
        &home,
        &[
            "bridge",
            "allow",
            &format!("matrix:{room}"),
            "--group",
            "family",
        ],
    );

    // The model is slow; the runtime dies while it thinks.
    ollama.fake.push(Reply::Delay(
        Duration::from_secs(3),
        Box::new(Reply::Text("the slow answer".into())),
    ));
    let question = person.send(&room, "are you there?");
    wait_for("the model asked", || asked(&ollama, "are you there?") == 1);
    runtime.kill9();
    drop(runtime);

    let runtime = up(&home, port, &token);
    let sent = person.messages(&room, &bot.user_id, 2);
    assert_eq!(replies_to(&sent[1]), question, "{}", summary(&sent));
    assert!(
        body(&sent[1]) == "the slow answer" || body(&sent[1]).contains("are you there?"),
        "{}",
        summary(&sent)
    );
    // Exactly one answer, however often it was asked.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(person.all_messages(&room, &bot.user_id).len(), 2);

    // Killed again once answered: the journaled `since` token brings nothing old back.
    let asked_before = ollama.requests().len();
    let asked_again = asked(&ollama, "are you there?");
    let mut runtime = runtime;
    runtime.kill9();
    drop(runtime);
    let _runtime = up(&home, port, &token);
    person.send(&room, "after the restart");
    let sent = person.messages(&room, &bot.user_id, 3);
    assert_eq!(
        body(&sent[2]),
        "echo: after the restart",
        "{}",
        summary(&sent)
    );
    assert_eq!(ollama.requests().len(), asked_before + 1);
    assert_eq!(asked(&ollama, "are you there?"), asked_again);

    // Without the token, `up` runs, says what is missing, and `bridge list` shows it.
    drop(_runtime);
    let mut runtime = Runtime::spawn_env(&home, &["--listen", &format!("127.0.0.1:{port}")], &[]);
    runtime.wait_for_line("`MATRIX_ACCESS_TOKEN` is not set: log in as the bot account");
    wait_for("the error in `bridge list`", || {
        let out = cli(&home, &["bridge", "list"]);
        String::from_utf8_lossy(&out.stdout)
            .contains("last error: `MATRIX_ACCESS_TOKEN` is not set")
    });
}

/// A long absence: more messages arrive while the runtime is down than one `/sync`
/// timeline carries (b00t-bridges' `TIMELINE_LIMIT`, 100), so the homeserver answers a
/// `limited` timeline; the bridge reads the gap back through `/messages` and every
/// message, the oldest included, reaches the group once.
#[test]
fn matrix_a_long_absence_is_read_back_in_full() {
    let Some(homeserver) = Homeserver::start("matrix_a_long_absence_is_read_back_in_full") else {
        return;
    };
    let bot = homeserver.register("b00t");
    let token = homeserver.login(&bot);
    let ann = homeserver.register("ann");
    let ollama = Ollama::start();
    let home = matrix_home(&ollama, &homeserver, true);
    let port = free_port();
    let mut runtime = up(&home, port, &token);
    let mut person = Person::login(&homeserver, &ann);
    let room = person.create_room("Attic", &bot.user_id);
    person.wait_joined(&room, &bot.user_id);
    cli(
        &home,
        &[
            "bridge",
            "allow",
            &format!("matrix:{room}"),
            "--group",
            "family",
        ],
    );
    person.send(&room, "before the absence");
    person.messages(&room, &bot.user_id, 1);
    runtime.kill9();
    drop(runtime);

    const WHILE_AWAY: usize = 130;
    for i in 0..WHILE_AWAY {
        person.send(&room, &format!("away-{i:03}"));
    }
    let mut runtime = up(&home, port, &token);
    // 130 tasks for one group, answered one at a time: well within two minutes even on a
    // loaded machine.
    let deadline = Instant::now() + Duration::from_secs(120);
    let all_asked = || (0..WHILE_AWAY).all(|i| asked(&ollama, &format!("away-{i:03}")) >= 1);
    while !all_asked() {
        assert!(
            Instant::now() < deadline,
            "not every message reached the group: {} of {WHILE_AWAY}",
            (0..WHILE_AWAY)
                .filter(|i| asked(&ollama, &format!("away-{i:03}")) >= 1)
                .count()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    runtime.wait_for_line("filled a sync's gap from the room's history");
    // Each once: the gap's pages and the sync's own timeline do not overlap.
    for i in 0..WHILE_AWAY {
        let needle = format!("away-{i:03}");
        assert_eq!(asked(&ollama, &needle), 1, "{needle} asked once");
    }
}
