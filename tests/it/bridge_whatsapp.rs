//! The WhatsApp bridge end to end: `b00t up` with `[bridges.whatsapp]` listening on a free
//! loopback port, b00t-testkit's `FakeWhatsApp` as the Graph API, its `WebhookSender` as
//! Meta delivering signed notifications (`entry[].changes[].value.messages[]`), the fake
//! Ollama as the model and the group agent as a local process. A message in and its 200
//! at once, the answer out as a reply; redeliveries answered once; forged signatures; an
//! unbound number; long replies; 429; and `kill -9` right after the 200.

use std::time::{Duration, Instant};

use b00t_testkit::whatsapp::{
    encode_like_meta, status_notification, text_notification, Answer, Failure, FakeWhatsApp,
    IncomingText, SentMessage, WebhookSender, PHONE_NUMBER_ID,
};
use b00t_testkit::Reply;
use serde_json::{json, Value};

use crate::assistant::{cli, group_home, Ollama};
use crate::support::{free_port, wait_until, Home, Runtime};

const TOKEN: &str = "EAAJB-whatsapp-test-token";
const APP_SECRET: &str = "the-app-secret";
const VERIFY_TOKEN: &str = "the-verify-token";
/// The person writing to the business number, bound to `family`.
const ANN: &str = "16505551234";

/// Meta's side: the fake Graph API and the webhook sender, on a tokio runtime of their
/// own for these synchronous tests.
struct Meta {
    graph: FakeWhatsApp,
    sender: WebhookSender,
    rt: tokio::runtime::Runtime,
}

impl Meta {
    fn start() -> Meta {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let graph = rt.block_on(FakeWhatsApp::start(TOKEN));
        Meta {
            graph,
            sender: WebhookSender::new(APP_SECRET),
            rt,
        }
    }

    fn deliver(&self, url: &str, message: &IncomingText) -> Answer {
        self.rt
            .block_on(self.sender.deliver(url, message))
            .expect("the webhook answers")
    }

    fn deliver_body(&self, url: &str, body: &[u8]) -> Answer {
        self.rt
            .block_on(self.sender.deliver_body(url, body))
            .expect("the webhook answers")
    }

    fn deliver_forged(&self, url: &str, message: &IncomingText) -> Answer {
        self.rt
            .block_on(self.sender.deliver_forged(url, message))
            .expect("the webhook answers")
    }

    /// What the bridge sent to `to`.
    fn sent_to(&self, to: &str) -> Vec<SentMessage> {
        self.graph
            .sent()
            .into_iter()
            .filter(|m| m.to == to)
            .collect()
    }

    /// Waits until `to` got `n` messages and returns them.
    fn wait_sent(&self, to: &str, n: usize) -> Vec<SentMessage> {
        wait_until(&format!("{n} message(s) to {to}"), || {
            let sent = self.sent_to(to);
            (sent.len() >= n).then_some(sent)
        })
    }

    /// Waits until the webhook at `url` answers Meta's verification.
    fn wait_verified(&self, url: &str) {
        wait_until("the webhook to answer the verification", || {
            let answer = self
                .rt
                .block_on(
                    self.sender
                        .verify_subscription(url, VERIFY_TOKEN, "1158201444"),
                )
                .ok()?;
            (answer.status == 200 && answer.body == "1158201444").then_some(())
        });
    }
}

/// A home with the group `family`, `[bridges.whatsapp]` listening on `port`, and ANN
/// bound to `family`.
fn whatsapp_home(ollama: &Ollama, port: u16) -> Home {
    let home = group_home(
        ollama,
        &format!("[bridges.whatsapp]\nlisten = \"127.0.0.1:{port}\"\n"),
        "family",
    );
    cli(
        &home,
        &[
            "bridge",
            "allow",
            &format!("whatsapp:{ANN}"),
            "--group",
            "family",
        ],
    );
    home
}

fn up(home: &Home, port: u16, meta: &Meta) -> Runtime {
    Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("WHATSAPP_TOKEN", TOKEN),
            ("WHATSAPP_APP_SECRET", APP_SECRET),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
            ("WHATSAPP_API_URL", &meta.graph.url()),
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

/// The notification Meta sends for a photo: `type: image` and its `image` object.
fn image_notification(message: &IncomingText) -> Vec<u8> {
    let mut notification = text_notification(message);
    let incoming = &mut notification["entry"][0]["changes"][0]["value"]["messages"][0];
    incoming["type"] = json!("image");
    incoming.as_object_mut().unwrap().remove("text");
    incoming["image"] = json!({
        "mime_type": "image/jpeg",
        "sha256": "HgsadKLH4dkc2B3nFOEEbEh9LkHsG1ZCGXLPVjvTnZo=",
        "id": "1003383421387256",
    });
    encode_like_meta(&notification)
}

#[test]
fn whatsapp_messages_reach_their_group_and_hear_back_once() {
    let ollama = Ollama::start();
    let meta = Meta::start();
    let webhook_port = free_port();
    let home = whatsapp_home(&ollama, webhook_port);
    let port = free_port();
    let _up = up(&home, port, &meta);
    let url = format!("http://127.0.0.1:{webhook_port}/whatsapp");
    meta.wait_verified(&url);

    // A message: 200 at once, before the (slow) answer; the answer replies to it, from the
    // number it reached, with typing shown (mark as read with the typing indicator).
    ollama.fake.push(Reply::Delay(
        Duration::from_secs(2),
        Box::new(Reply::Text("hello to you".into())),
    ));
    let hello = IncomingText::new(ANN, "hello there");
    let posted = Instant::now();
    let answer = meta.deliver(&url, &hello);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        posted.elapsed() < Duration::from_secs(1),
        "{:?}",
        posted.elapsed()
    );
    assert!(meta.sent_to(ANN).is_empty());
    let sent = meta.wait_sent(ANN, 1);
    assert_eq!(sent[0].text, "hello to you");
    assert_eq!(sent[0].reply_to.as_deref(), Some(hello.id.as_str()));
    assert_eq!(sent[0].phone_number_id, PHONE_NUMBER_ID);
    assert_eq!(sent[0].version, "v21.0");
    assert_eq!(sent[0].request["recipient_type"], "individual");
    assert!(
        meta.graph
            .reads()
            .iter()
            .any(|r| r.message_id == hello.id && r.typing),
        "typing shown: {:?}",
        meta.graph.reads()
    );
    assert_eq!(asked(&ollama, "hello there"), 1);

    // Meta delivers the same notification again: acknowledged, not answered again.
    let again = meta.deliver(&url, &hello);
    assert_eq!(again.status, 200);

    // A forged signature: refused, reaches no agent.
    let forged = IncomingText::new(ANN, "forged words");
    assert_eq!(meta.deliver_forged(&url, &forged).status, 403);

    // A status update: acknowledged, nothing happens.
    let status = encode_like_meta(&status_notification(&sent[0].wamid, "delivered", ANN));
    assert_eq!(meta.deliver_body(&url, &status).status, 200);

    // Messages are taken in order: once the next one is answered, those were seen.
    let next = IncomingText::new(ANN, "and now?");
    assert_eq!(meta.deliver(&url, &next).status, 200);
    let sent = meta.wait_sent(ANN, 2);
    assert_eq!(sent[1].text, "echo: and now?");
    assert_eq!(sent[1].reply_to.as_deref(), Some(next.id.as_str()));
    assert_eq!(asked(&ollama, "hello there"), 1);
    assert_eq!(asked(&ollama, "forged words"), 0);

    // An unbound number reaches no agent and hears how to bind it, once.
    let bob = "447700900123";
    let knock = IncomingText::new(bob, "let me in");
    assert_eq!(meta.deliver(&url, &knock).status, 200);
    let hint = meta.wait_sent(bob, 1);
    assert!(
        hint[0]
            .text
            .contains(&format!("b00t bridge allow whatsapp:{bob} --group")),
        "{hint:?}"
    );
    assert_eq!(hint[0].reply_to.as_deref(), Some(knock.id.as_str()));
    assert_eq!(
        meta.deliver(&url, &IncomingText::new(bob, "please?"))
            .status,
        200
    );

    // A photo from a bound number: only text is read.
    let photo = IncomingText::new(ANN, "");
    assert_eq!(
        meta.deliver_body(&url, &image_notification(&photo)).status,
        200
    );
    let sent = meta.wait_sent(ANN, 3);
    assert!(sent[2].text.contains("only text"), "{:?}", sent[2]);

    // A long answer: three parts of at most 4,096 characters, cut between paragraphs, the
    // first replying to the message.
    let paragraph = format!("{}done.\n\n", "word ".repeat(59));
    let long = paragraph.repeat(30);
    assert!(long.chars().count() >= 9_000);
    ollama.fake.push(Reply::Text(long.clone()));
    let story = IncomingText::new(ANN, "tell me a long story");
    assert_eq!(meta.deliver(&url, &story).status, 200);
    let sent = meta.wait_sent(ANN, 6);
    let parts = &sent[3..];
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0].reply_to.as_deref(), Some(story.id.as_str()));
    assert!(parts[1..].iter().all(|p| p.reply_to.is_none()));
    for part in parts {
        assert!(part.text.chars().count() <= 4096);
        assert!(part.text.starts_with("word "), "{}", part.text);
        assert!(part.text.trim_end().ends_with("done."), "{}", part.text);
    }
    let joined: Vec<&str> = parts.iter().map(|p| p.text.trim()).collect();
    assert_eq!(joined.join("\n\n"), long.trim());
    // The unbound number heard the hint only once, and reached no agent.
    assert_eq!(meta.sent_to(bob).len(), 1);
    assert_eq!(asked(&ollama, "let me in") + asked(&ollama, "please?"), 0);

    // 429 (throughput reached) on the answer: sent again after the wait.
    meta.graph.fail_next(Failure::Throughput);
    let asked_at = Instant::now();
    let flood = IncomingText::new(ANN, "after the flood");
    assert_eq!(meta.deliver(&url, &flood).status, 200);
    let sent = meta.wait_sent(ANN, 7);
    assert_eq!(sent[6].text, "echo: after the flood");
    assert!(asked_at.elapsed() >= Duration::from_secs(2));
    assert!(meta.graph.requests().iter().any(|r| r.status == 429));

    // `bridge list` shows the binding and the running bridge, nothing failed or waiting.
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bridge = &list["bridges"][0];
    assert_eq!(bridge["bridge"], "whatsapp", "{list}");
    assert_eq!(bridge["kind"], "whatsapp", "{list}");
    assert_eq!(bridge["running"], true, "{list}");
    assert_eq!(bridge["chats"][ANN], "family", "{list}");
    assert_eq!(bridge["failed_replies"], 0, "{list}");
    assert_eq!(bridge["waiting"], 0, "{list}");
    // The first message was answered once, whatever was delivered.
    assert_eq!(
        meta.sent_to(ANN)
            .iter()
            .filter(|m| m.reply_to.as_deref() == Some(hello.id.as_str()))
            .count(),
        1
    );
}

#[test]
fn a_kill_right_after_the_200_answers_once_after_the_restart() {
    let ollama = Ollama::start();
    let meta = Meta::start();
    let webhook_port = free_port();
    let home = whatsapp_home(&ollama, webhook_port);
    let port = free_port();
    let mut runtime = up(&home, port, &meta);
    let url = format!("http://127.0.0.1:{webhook_port}/");
    meta.wait_verified(&url);

    // The model is slow; the runtime dies as soon as the webhook has answered 200.
    ollama.fake.push(Reply::Delay(
        Duration::from_secs(3),
        Box::new(Reply::Text("the slow answer".into())),
    ));
    let message = IncomingText::new(ANN, "are you there?");
    assert_eq!(meta.deliver(&url, &message).status, 200);
    runtime.kill9();
    drop(runtime);
    assert!(meta.sent_to(ANN).is_empty());

    let _runtime = up(&home, port, &meta);
    meta.wait_verified(&url);
    // Meta delivers the notification again after the crash: recognised, not a new task.
    assert_eq!(meta.deliver(&url, &message).status, 200);
    let sent = meta.wait_sent(ANN, 1);
    assert_eq!(sent[0].reply_to.as_deref(), Some(message.id.as_str()));
    assert!(
        sent[0].text == "the slow answer" || sent[0].text.contains("are you there?"),
        "{sent:?}"
    );
    // Exactly one answer, however often it was delivered and asked.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(meta.sent_to(ANN).len(), 1, "{:?}", meta.sent_to(ANN));
    let out = cli(&home, &["bridge", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["bridges"][0]["waiting"], 0, "{list}");
}

#[test]
fn without_a_secret_up_names_it_and_bridge_list_shows_it() {
    let ollama = Ollama::start();
    let meta = Meta::start();
    let webhook_port = free_port();
    let home = whatsapp_home(&ollama, webhook_port);
    let port = free_port();
    let mut runtime = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("WHATSAPP_TOKEN", TOKEN),
            ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
            ("WHATSAPP_API_URL", &meta.graph.url()),
        ],
    );
    runtime.wait_for_line("`WHATSAPP_APP_SECRET` is not set");
    let list = wait_until("the error in `bridge list`", || {
        let out = cli(&home, &["bridge", "list"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("last error: `WHATSAPP_APP_SECRET` is not set")
            .then_some(text)
    });
    assert!(list.contains("App settings, Basic, App secret"), "{list}");
    assert!(
        list.contains(&format!("whatsapp:{ANN} -> family")),
        "{list}"
    );
    // Nothing listens: no webhook runs without the secret that checks it.
    assert!(std::net::TcpStream::connect(("127.0.0.1", webhook_port)).is_err());
}
