//! Chat bridges end to end: `b00t up` with `[bridges.telegram]`, b00t-testkit's stand-in
//! Bot API (`FakeTelegram`) as Telegram, the fake Ollama as the model and the group agent
//! as a local process. A message in, the group's answer out in the same chat; long
//! replies split; unbound chats; mentions in groups; 429; and `kill -9` between the task
//! and its answer. Webhook mode: `setWebhook` with the secret, the fake posting updates
//! through a "tunnel" to `listen`, forged and oversized calls refused, redeliveries
//! answered once, and `kill -9` right after the 200.

use std::time::{Duration, Instant};

use b00t_testkit::telegram::{
    FakeTelegram, MessageOptions, SentMessage, TestChat, TestUser, BOT_USERNAME,
};
use b00t_testkit::Reply;
use serde_json::Value;

use crate::assistant::{cli, group_home, Ollama};
use crate::support::{free_port, wait_until, Home, Runtime, Sub};

const TOKEN: &str = "4242:test-token";

/// A fake Bot API on its own tokio runtime, for these synchronous tests.
struct Telegram {
    fake: FakeTelegram,
    rt: tokio::runtime::Runtime,
}

impl Telegram {
    fn start() -> Telegram {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let fake = rt.block_on(FakeTelegram::start(TOKEN));
        Telegram { fake, rt }
    }

    /// What the bridge sent to `chat`.
    fn sent_to(&self, chat: i64) -> Vec<SentMessage> {
        self.fake
            .sent()
            .into_iter()
            .filter(|m| m.chat_id == chat)
            .collect()
    }

    /// Waits until `chat` got `n` messages and returns them.
    fn wait_sent(&self, chat: i64, n: usize) -> Vec<SentMessage> {
        wait_until(&format!("{n} message(s) to chat {chat}"), || {
            let sent = self.sent_to(chat);
            (sent.len() >= n).then_some(sent)
        })
    }
}

fn bridge_home(ollama: &Ollama) -> Home {
    group_home(
        ollama,
        "[bridges.telegram]\ntrigger = \"@Andy\"\n",
        "family",
    )
}

fn up(home: &Home, port: u16, telegram: &Telegram) -> Runtime {
    Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_API_URL", &telegram.fake.url()),
        ],
    )
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

#[test]
fn telegram_chats_reach_their_groups_and_hear_back() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let home = bridge_home(&ollama);
    let ann = TestUser::new(5001, "Ann");
    let ann_chat = TestChat::private(&ann);
    cli(
        &home,
        &["bridge", "allow", "telegram:5001", "--group", "family"],
    );
    cli(
        &home,
        &["bridge", "allow", "telegram:-4001", "--group", "family"],
    );
    let port = free_port();
    let _up = up(&home, port, &telegram);

    // A private message: the group's answer, in the same chat, replying to it.
    let pushed = telegram.fake.push_message(&ann_chat, &ann, "hello there");
    let sent = telegram.wait_sent(ann.id, 1);
    assert_eq!(sent[0].plain_text, "echo: hello there", "{sent:?}");
    assert_eq!(sent[0].reply_to_message_id, Some(pushed.message_id));
    assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));
    assert!(
        telegram
            .fake
            .chat_actions()
            .iter()
            .any(|a| a.chat_id == ann.id && a.action == "typing"),
        "typing shown: {:?}",
        telegram.fake.chat_actions()
    );
    // The task carried where it came from; the model saw only the text.
    assert_eq!(asked(&ollama, "hello there"), 1);

    // A long answer: three parts, each accepted by the fake's strict HTML parser, the
    // first replying to the message.
    let paragraph = format!("{}done.\n\n", "word ".repeat(59));
    let long = format!("Fish & <chips>, then:\n\n{}", paragraph.repeat(30));
    assert!(long.chars().count() >= 9_000, "{}", long.chars().count());
    ollama.fake.push(Reply::Text(long));
    let pushed = telegram
        .fake
        .push_message(&ann_chat, &ann, "tell me a long story");
    let sent = telegram.wait_sent(ann.id, 4);
    let parts = &sent[1..];
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0].reply_to_message_id, Some(pushed.message_id));
    assert!(parts[1..].iter().all(|p| p.reply_to_message_id.is_none()));
    assert!(parts
        .iter()
        .all(|p| p.plain_text.encode_utf16().count() <= 4096));
    assert!(
        parts[0].plain_text.starts_with("Fish & <chips>"),
        "{}",
        parts[0].plain_text
    );

    // 429 on sendMessage with retry_after 1: delivered after it.
    telegram.fake.fail_next("sendMessage", 429, Some(1));
    let asked_at = Instant::now();
    telegram
        .fake
        .push_message(&ann_chat, &ann, "after the flood");
    let sent = telegram.wait_sent(ann.id, 5);
    assert_eq!(sent[4].plain_text, "echo: after the flood");
    assert!(asked_at.elapsed() >= Duration::from_secs(1));

    // An unbound chat reaches no agent and is told how to bind it, once.
    let bob = TestUser::new(6001, "Bob");
    let bob_chat = TestChat::private(&bob);
    telegram.fake.push_message(&bob_chat, &bob, "let me in");
    let hint = telegram.wait_sent(bob.id, 1);
    assert!(
        hint[0]
            .plain_text
            .contains("b00t bridge allow telegram:6001 --group"),
        "{hint:?}"
    );
    assert_eq!(asked(&ollama, "let me in"), 0);
    // Bound while the bridge runs: the next message goes through.
    cli(
        &home,
        &["bridge", "allow", "telegram:6001", "--group", "family"],
    );
    telegram.fake.push_message(&bob_chat, &bob, "now?");
    let sent = telegram.wait_sent(bob.id, 2);
    assert_eq!(sent[1].plain_text, "echo: now?");

    // A group: a message without the mention is ignored, one with it answered, and so
    // is one starting with the trigger word.
    let group = TestChat::group(-4001, "Family");
    telegram.fake.push_message(&group, &ann, "just chatting");
    let mention = format!("@{BOT_USERNAME} what now?");
    telegram.fake.push_message(&group, &ann, &mention);
    let sent = telegram.wait_sent(group.id, 1);
    assert_eq!(sent[0].plain_text, format!("echo: {mention}"));
    assert_eq!(asked(&ollama, "just chatting"), 0);
    telegram
        .fake
        .push_message(&group, &ann, "@Andy and the dog?");
    let sent = telegram.wait_sent(group.id, 2);
    assert_eq!(sent[1].plain_text, "echo: @Andy and the dog?");
    assert_eq!(asked(&ollama, "just chatting"), 0);

    // A sender list: only those on it reach the group from that chat.
    let carl = TestUser::new(7001, "Carl");
    cli(
        &home,
        &[
            "bridge",
            "allow",
            "telegram:-4001",
            "--group",
            "family",
            "--sender",
            "5001",
        ],
    );
    telegram
        .fake
        .push_message(&group, &carl, &format!("@{BOT_USERNAME} carl here"));
    telegram
        .fake
        .push_message(&group, &ann, &format!("@{BOT_USERNAME} ann here"));
    let sent = telegram.wait_sent(group.id, 3);
    assert!(sent[2].plain_text.ends_with("ann here"), "{sent:?}");
    assert_eq!(asked(&ollama, "carl here"), 0);
    let out = cli(&home, &["bridge", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("telegram:-4001 -> family (only senders 5001)"),
        "{text}"
    );
    cli(
        &home,
        &[
            "bridge",
            "allow",
            "telegram:-4001",
            "--group",
            "family",
            "--any-sender",
        ],
    );

    // Commands: /help names the group; /agents lists the bus.
    telegram.fake.push_message(&ann_chat, &ann, "/help");
    let sent = telegram.wait_sent(ann.id, 6);
    assert!(
        sent[5].plain_text.contains("`family`") || sent[5].plain_text.contains("family"),
        "{:?}",
        sent[5]
    );
    telegram.fake.push_message(&ann_chat, &ann, "/agents");
    let sent = telegram.wait_sent(ann.id, 7);
    assert!(
        sent[6].plain_text.contains("bridge-telegram"),
        "{:?}",
        sent[6]
    );
    assert_eq!(asked(&ollama, "/help"), 0);

    // /ask another agent: its chat answers, in this chat.
    cli(&home, &["group", "add", "work"]);
    telegram
        .fake
        .push_message(&ann_chat, &ann, "/ask work what is on today?");
    let sent = telegram.wait_sent(ann.id, 8);
    assert_eq!(sent[7].plain_text, "echo: what is on today?");
    let history = std::fs::read_to_string(home.path().join("groups/work/history.json")).unwrap();
    assert!(history.contains("what is on today?"), "{history}");
    // `main` is reached only from its own chats.
    telegram
        .fake
        .push_message(&ann_chat, &ann, "/ask main show me the project");
    let sent = telegram.wait_sent(ann.id, 9);
    assert!(
        sent[8]
            .plain_text
            .contains("Only a chat bound to main may ask it"),
        "{:?}",
        sent[8]
    );
    telegram.fake.push_message(&ann_chat, &ann, "/status");
    let sent = telegram.wait_sent(ann.id, 10);
    assert!(
        sent[9].plain_text.contains("reaches the group family"),
        "{:?}",
        sent[9]
    );

    // `bridge list` shows the bindings and the running bridge.
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bridge = &list["bridges"][0];
    assert_eq!(bridge["bridge"], "telegram", "{list}");
    assert_eq!(bridge["running"], true, "{list}");
    assert_eq!(bridge["chats"]["6001"], "family", "{list}");
    assert_eq!(bridge["failed_replies"], 0, "{list}");

    // Denied: the chat is unbound again.
    cli(&home, &["bridge", "deny", "telegram:6001"]);
    telegram.fake.push_message(&bob_chat, &bob, "still there?");
    // Updates are handled in order: once the next one is answered, this one was seen.
    telegram.fake.push_message(&ann_chat, &ann, "last one");
    telegram.wait_sent(ann.id, 11);
    assert_eq!(asked(&ollama, "still there?"), 0);
    // The hint was given an hour ago at most: not again.
    assert_eq!(telegram.sent_to(bob.id).len(), 2);

    // A 502 on sendMessage: sent again 2 s later.
    telegram.fake.fail_next("sendMessage", 502, None);
    let asked_at = Instant::now();
    telegram
        .fake
        .push_message(&ann_chat, &ann, "after a bad gateway");
    let sent = telegram.wait_sent(ann.id, 12);
    assert_eq!(sent[11].plain_text, "echo: after a bad gateway");
    assert!(asked_at.elapsed() >= Duration::from_secs(2));

    // A forum topic: the answer goes to the same topic, typing too.
    cli(
        &home,
        &["bridge", "allow", "telegram:-1009001", "--group", "family"],
    );
    let forum = TestChat::supergroup(-1009001, "Forum", true);
    let in_topic = format!("@{BOT_USERNAME} in the topic");
    telegram.fake.push_message_with(
        &forum,
        &ann,
        &in_topic,
        MessageOptions {
            message_thread_id: Some(77),
            ..MessageOptions::default()
        },
    );
    let sent = telegram.wait_sent(forum.id, 1);
    assert_eq!(sent[0].message_thread_id, Some(77), "{sent:?}");
    assert!(telegram
        .fake
        .chat_actions()
        .iter()
        .any(|a| a.chat_id == forum.id && a.message_thread_id == Some(77)));

    // A reply Telegram refuses for good (403: the bot was blocked) is counted.
    telegram.fake.fail_next("sendMessage", 403, None);
    telegram.fake.push_message(&ann_chat, &ann, "blocked?");
    wait_until("a failed reply in `bridge list`", || {
        let out = cli(&home, &["bridge", "list", "--json"]);
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        (list["bridges"][0]["failed_replies"] == 1).then_some(())
    });
    assert_eq!(telegram.sent_to(ann.id).len(), 12);
}

/// Another home whose `up` runs the Telegram bridge.
fn up_home_with_token(ollama: &Ollama, telegram: &Telegram) -> (Home, Runtime) {
    let home = bridge_home(ollama);
    let port = free_port();
    let runtime = up(&home, port, telegram);
    let mut cards = Sub::start(port, "b00t.bridge-telegram/status");
    let card = cards.wait("b00t.bridge-telegram/status", "\"online\"");
    assert!(
        card.payload.contains("\"kind\":\"bridge\""),
        "{}",
        card.payload
    );
    (home, runtime)
}

/// Kills a child process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn without_the_token_up_says_so_and_bridge_run_serves_on_its_own() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let home = bridge_home(&ollama);
    let ann = TestUser::new(5003, "Ann");
    let chat = TestChat::private(&ann);
    cli(
        &home,
        &["bridge", "allow", "telegram:5003", "--group", "family"],
    );
    let port = free_port();
    let mut runtime = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("TELEGRAM_API_URL", &telegram.fake.url())],
    );
    runtime.wait_for_line("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather");
    let list = wait_until("the error in `bridge list`", || {
        let out = cli(&home, &["bridge", "list"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("last error: TELEGRAM_BOT_TOKEN is not set")
            .then_some(text)
    });
    assert!(list.contains("not running"), "{list}");
    assert!(list.contains("telegram:5003 -> family"), "{list}");

    // A bridge `up` runs is not run twice.
    let mut twice = up_home_with_token(&ollama, &telegram);
    let out = std::process::Command::new(crate::support::b00t_bin())
        .args(["bridge", "run", "telegram", "--home"])
        .arg(twice.0.path())
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", telegram.fake.url())
        .env("NO_COLOR", "1")
        .env_remove("B00T_BROKER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("bridge `telegram` already runs") && stderr.contains("enabled = false"),
        "{stderr}"
    );
    twice.1.kill9();

    // The bridge as its own process, logged in as the operator of this home.
    let bridge = Child(
        std::process::Command::new(crate::support::b00t_bin())
            .args(["bridge", "run", "telegram", "--home"])
            .arg(home.path())
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_API_URL", telegram.fake.url())
            .env("B00T_LOG", "warn")
            .env_remove("B00T_BROKER")
            .spawn()
            .expect("run b00t bridge run"),
    );
    let pushed = telegram.fake.push_message(&chat, &ann, "from outside");
    let sent = telegram.wait_sent(ann.id, 1);
    assert_eq!(sent[0].plain_text, "echo: from outside");
    assert_eq!(sent[0].reply_to_message_id, Some(pushed.message_id));
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["bridges"][0]["running"], true, "{list}");
    assert_eq!(list["bridges"][0]["last_error"], Value::Null, "{list}");
    // Its card answers `status`.
    let out = cli(
        &home,
        &["send", "b00t.bridge-telegram.status", "{}", "--json"],
    );
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains(&format!("@{BOT_USERNAME}")), "{status}");

    // SIGTERM: it stops cleanly and says so.
    let pid = bridge.0.id().to_string();
    let mut bridge = bridge;
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = wait_until("the bridge to exit", || bridge.0.try_wait().unwrap());
    assert!(status.success(), "{status}");
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["bridges"][0]["running"], false, "{list}");
}

#[test]
fn a_kill_between_task_and_answer_answers_once_and_the_offset_survives() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let home = bridge_home(&ollama);
    let ann = TestUser::new(5002, "Ann");
    let chat = TestChat::private(&ann);
    cli(
        &home,
        &["bridge", "allow", "telegram:5002", "--group", "family"],
    );
    let port = free_port();
    let mut runtime = up(&home, port, &telegram);

    // The model is slow; the runtime dies while it thinks.
    ollama.fake.push(Reply::Delay(
        Duration::from_secs(3),
        Box::new(Reply::Text("the slow answer".into())),
    ));
    let pushed = telegram.fake.push_message(&chat, &ann, "are you there?");
    wait_until("the model asked", || {
        (asked(&ollama, "are you there?") == 1).then_some(())
    });
    runtime.kill9();
    drop(runtime);
    assert!(telegram.sent_to(ann.id).is_empty());

    let runtime = up(&home, port, &telegram);
    let sent = telegram.wait_sent(ann.id, 1);
    assert_eq!(sent[0].reply_to_message_id, Some(pushed.message_id));
    assert!(
        sent[0].plain_text.contains("are you there?") || sent[0].plain_text == "the slow answer",
        "{sent:?}"
    );
    // Exactly one answer, however often it was asked.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        telegram.sent_to(ann.id).len(),
        1,
        "{:?}",
        telegram.sent_to(ann.id)
    );

    // Killed again once answered: after the restart the bridge polls from the journaled
    // offset, and the update is not handled twice.
    let asked_before = ollama.requests().len();
    let polls_before = polls(&telegram).len();
    let mut runtime = runtime;
    runtime.kill9();
    drop(runtime);
    let _runtime = up(&home, port, &telegram);
    let offset = wait_until("a poll after the restart", || {
        polls(&telegram).get(polls_before).cloned()
    });
    assert_eq!(offset, Some(pushed.update_id + 1));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ollama.requests().len(), asked_before);
    assert_eq!(telegram.sent_to(ann.id).len(), 1);
}

/// The `offset` of every `getUpdates` call, in order.
fn polls(telegram: &Telegram) -> Vec<Option<i64>> {
    telegram
        .fake
        .calls()
        .iter()
        .filter(|c| c.method.eq_ignore_ascii_case("getUpdates"))
        .map(|c| c.params.get("offset").and_then(Value::as_i64))
        .collect()
}

const WEBHOOK_URL: &str = "https://bot.example.org/b00t/telegram";
const WEBHOOK_SECRET: &str = "it_webhook-secret-0123";

/// A home whose `[bridges.telegram]` is in webhook mode, listening on `hook_port`.
fn webhook_home(ollama: &Ollama, hook_port: u16) -> Home {
    group_home(
        ollama,
        &format!(
            "[bridges.telegram]\nwebhook_url = \"{WEBHOOK_URL}\"\nlisten = \"127.0.0.1:{hook_port}\"\n"
        ),
        "family",
    )
}

fn up_webhook(home: &Home, port: u16, telegram: &Telegram) -> Runtime {
    Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_API_URL", &telegram.fake.url()),
            ("TELEGRAM_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
}

/// The calls of `method`.
fn calls_of(telegram: &Telegram, method: &str) -> Vec<serde_json::Map<String, Value>> {
    telegram
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method.eq_ignore_ascii_case(method))
        .map(|c| c.params)
        .collect()
}

/// An Update as Telegram writes it, a private text from `user`.
fn update_body(update_id: i64, user: &TestUser, text: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": 900, "date": 1_700_000_000,
            "from": {"id": user.id, "is_bot": false, "first_name": user.first_name},
            "chat": {"id": user.id, "type": "private", "first_name": user.first_name},
            "text": text
        }
    }))
    .unwrap()
}

#[test]
fn telegram_webhook_mode_takes_updates_with_the_secret_once() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let hook_port = free_port();
    let home = webhook_home(&ollama, hook_port);
    let ann = TestUser::new(5101, "Ann");
    let chat = TestChat::private(&ann);
    cli(
        &home,
        &["bridge", "allow", "telegram:5101", "--group", "family"],
    );
    let port = free_port();
    let _up = up_webhook(&home, port, &telegram);

    // On start: setWebhook with the URL, the secret, messages only, pending kept.
    let (url, secret) = wait_until("the webhook set", || telegram.fake.webhook());
    assert_eq!(url, WEBHOOK_URL);
    assert_eq!(secret.as_deref(), Some(WEBHOOK_SECRET));
    let set = calls_of(&telegram, "setWebhook");
    assert_eq!(set.len(), 1, "{set:?}");
    assert_eq!(set[0]["allowed_updates"], serde_json::json!(["message"]));
    assert_eq!(set[0]["drop_pending_updates"], false);
    telegram
        .fake
        .tunnel_webhook(&format!("http://127.0.0.1:{hook_port}"));

    // An update posted by Telegram with the secret: a task, answered in the chat.
    let pushed = telegram.fake.push_message(&chat, &ann, "hello by webhook");
    let sent = telegram.wait_sent(ann.id, 1);
    assert_eq!(sent[0].plain_text, "echo: hello by webhook", "{sent:?}");
    assert_eq!(sent[0].reply_to_message_id, Some(pushed.message_id));
    let delivered = telegram
        .rt
        .block_on(telegram.fake.delivered(pushed.update_id));
    assert_eq!(delivered.status, Some(200));
    assert!(delivered.url.ends_with("/b00t/telegram"), "{delivered:?}");

    // Delivered again: acknowledged, not answered again.
    let again = telegram
        .rt
        .block_on(telegram.fake.redeliver(pushed.update_id));
    assert_eq!(again, Some(200));

    // Without the secret, or with another: refused, reaching no agent.
    let forged = update_body(pushed.update_id + 1000, &ann, "forged words");
    let post = |body: &[u8], secret: Option<&str>| {
        telegram
            .rt
            .block_on(telegram.fake.post_to_webhook(body.to_vec(), secret))
    };
    assert_eq!(post(&forged, None), Some(401));
    assert_eq!(post(&forged, Some("it_webhook-secret-0124")), Some(403));
    assert_eq!(post(&forged, Some("")), Some(403));
    // A body past 1 MiB, with the secret: 413.
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(post(&huge, Some(WEBHOOK_SECRET)), Some(413));

    // The next message is answered; the forged one never reached the model.
    telegram.fake.push_message(&chat, &ann, "and now?");
    let sent = telegram.wait_sent(ann.id, 2);
    assert_eq!(sent[1].plain_text, "echo: and now?");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        telegram.sent_to(ann.id).len(),
        2,
        "{:?}",
        telegram.sent_to(ann.id)
    );
    assert_eq!(asked(&ollama, "hello by webhook"), 1);
    assert_eq!(asked(&ollama, "forged words"), 0);
    // In webhook mode no getUpdates is made (Telegram would refuse it).
    assert!(calls_of(&telegram, "getUpdates").is_empty());
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["bridges"][0]["running"], true, "{list}");
    assert_eq!(list["bridges"][0]["last_error"], Value::Null, "{list}");
}

#[test]
fn telegram_webhook_a_kill_right_after_the_200_answers_once_and_polling_deletes_it() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let hook_port = free_port();
    let home = webhook_home(&ollama, hook_port);
    let ann = TestUser::new(5102, "Ann");
    let chat = TestChat::private(&ann);
    cli(
        &home,
        &["bridge", "allow", "telegram:5102", "--group", "family"],
    );
    let port = free_port();
    let mut runtime = up_webhook(&home, port, &telegram);
    wait_until("the webhook set", || telegram.fake.webhook());
    telegram
        .fake
        .tunnel_webhook(&format!("http://127.0.0.1:{hook_port}"));

    // The model is slow; the runtime dies as soon as the webhook has answered 200.
    ollama.fake.push(Reply::Delay(
        Duration::from_secs(3),
        Box::new(Reply::Text("the slow answer".into())),
    ));
    let pushed = telegram.fake.push_message(&chat, &ann, "are you there?");
    let delivered = telegram
        .rt
        .block_on(telegram.fake.delivered(pushed.update_id));
    assert_eq!(delivered.status, Some(200));
    runtime.kill9();
    drop(runtime);
    assert!(telegram.sent_to(ann.id).is_empty());

    // Restarted: the journaled task is answered; Telegram's redelivery is recognised.
    let runtime = up_webhook(&home, port, &telegram);
    let sent = telegram.wait_sent(ann.id, 1);
    assert_eq!(sent[0].reply_to_message_id, Some(pushed.message_id));
    assert!(
        sent[0].plain_text == "the slow answer" || sent[0].plain_text.contains("are you there?"),
        "{sent:?}"
    );
    let again = wait_until("the webhook to serve again", || {
        telegram
            .rt
            .block_on(telegram.fake.redeliver(pushed.update_id))
    });
    assert_eq!(again, 200);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        telegram.sent_to(ann.id).len(),
        1,
        "{:?}",
        telegram.sent_to(ann.id)
    );

    // webhook_url removed: the bridge polls, deleting the webhook first (getUpdates
    // would get 409 while it is set); the next message comes by getUpdates.
    let mut runtime = runtime;
    runtime.kill9();
    drop(runtime);
    std::fs::write(
        home.path().join("b00t.toml"),
        std::fs::read_to_string(home.path().join("b00t.toml"))
            .unwrap()
            .replace(&format!("webhook_url = \"{WEBHOOK_URL}\"\n"), ""),
    )
    .unwrap();
    let _runtime = up(&home, port, &telegram);
    wait_until("the webhook deleted", || {
        telegram.fake.webhook().is_none().then_some(())
    });
    telegram.fake.push_message(&chat, &ann, "by polling now");
    let sent = telegram.wait_sent(ann.id, 2);
    assert_eq!(sent[1].plain_text, "echo: by polling now");
    assert!(!calls_of(&telegram, "deleteWebhook").is_empty());
    assert_eq!(
        calls_of(&telegram, "deleteWebhook")[0]["drop_pending_updates"],
        false
    );
}

#[test]
fn telegram_webhook_without_its_secret_up_names_it_and_nothing_listens() {
    let ollama = Ollama::start();
    let telegram = Telegram::start();
    let hook_port = free_port();
    let home = webhook_home(&ollama, hook_port);
    let port = free_port();
    let mut runtime = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("TELEGRAM_BOT_TOKEN", TOKEN),
            ("TELEGRAM_API_URL", &telegram.fake.url()),
        ],
    );
    runtime.wait_for_line("`TELEGRAM_WEBHOOK_SECRET` is not set");
    let list = wait_until("the error in `bridge list`", || {
        let out = cli(&home, &["bridge", "list"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("last error: `TELEGRAM_WEBHOOK_SECRET` is not set")
            .then_some(text)
    });
    assert!(list.contains("openssl rand -hex 32"), "{list}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", hook_port)).is_err());
    assert!(telegram.fake.webhook().is_none());
}
