//! python-telegram-bot, a maintained client nobody here wrote, reads the stand-in's
//! updates with its own `telegram.Update.de_json`: skipped when the module is missing,
//! a failure then when `B00T_REQUIRE_TOOLS=1`.

use std::io::Write;
use std::process::{Command, Stdio};

use b00t_config::env::{self, B00T_REQUIRE_TOOLS};
use b00t_testkit::telegram::{FakeTelegram, MessageOptions, TestChat, TestUser};
use serde_json::json;

use crate::support::{call, TOKEN};

/// Reads JSON updates on stdin with python-telegram-bot and prints what it understood.
const READER: &str = r#"
import json, sys
import telegram
updates = [telegram.Update.de_json(u, None) for u in json.load(sys.stdin)]
out = []
for u in updates:
    m = u.effective_message
    out.append({
        "update_id": u.update_id,
        "kind": "edited_message" if u.edited_message else "message",
        "message_id": m.message_id,
        "chat_id": m.chat.id,
        "chat_type": m.chat.type,
        "from": m.from_user.id,
        "text": m.text,
        "thread": m.message_thread_id,
        "reply_to": m.reply_to_message.message_id if m.reply_to_message else None,
        "mentions": [m.parse_entity(e) for e in m.entities if e.type == "mention"],
        "commands": [m.parse_entity(e) for e in m.entities if e.type == "bot_command"],
    })
print(json.dumps(out))
"#;

fn python_telegram_available() -> bool {
    Command::new("python3")
        .args(["-c", "import telegram"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn python_telegram_bot_reads_the_fakes_updates() {
    if !python_telegram_available() {
        let required = env::var(B00T_REQUIRE_TOOLS).as_deref() == Some("1");
        assert!(
            !required,
            "{B00T_REQUIRE_TOOLS}=1 but python3 cannot import `telegram`: pip install python-telegram-bot"
        );
        eprintln!(
            "skipped: python3 cannot import `telegram` (pip install python-telegram-bot; set {B00T_REQUIRE_TOOLS}=1 to make this a failure)"
        );
        return;
    }
    let fake = FakeTelegram::start(TOKEN).await;
    let ann = TestUser::new(1111, "Ann").with_username("ann");
    let forum = TestChat::supergroup(-1001234567890, "Family", true);
    let first = fake.push_message_with(
        &forum,
        &ann,
        "\u{1F600} @b00t_test_bot /help@b00t_test_bot héllo",
        MessageOptions {
            message_thread_id: Some(5),
            ..MessageOptions::default()
        },
    );
    fake.push_message_with(
        &forum,
        &ann,
        "again",
        MessageOptions {
            reply_to_message_id: Some(first.message_id),
            ..MessageOptions::default()
        },
    );
    fake.push_message_with(
        &forum,
        &ann,
        "edited",
        MessageOptions {
            edits_message_id: Some(first.message_id),
            ..MessageOptions::default()
        },
    );
    let (_, body) = call(&fake, "getUpdates", &json!({})).await;
    let updates = body["result"].clone();

    let mut child = Command::new("python3")
        .args(["-c", READER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(updates.to_string().as_bytes())
        .expect("write the updates");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(
        output.status.success(),
        "python-telegram-bot refused the fake's updates:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        read,
        json!([
            {"update_id": first.update_id, "kind": "message", "message_id": first.message_id,
             "chat_id": -1001234567890_i64, "chat_type": "supergroup", "from": 1111,
             "text": "\u{1F600} @b00t_test_bot /help@b00t_test_bot héllo", "thread": 5,
             "reply_to": null, "mentions": ["@b00t_test_bot"],
             "commands": ["/help@b00t_test_bot"]},
            {"update_id": first.update_id + 1, "kind": "message", "message_id": first.message_id + 1,
             "chat_id": -1001234567890_i64, "chat_type": "supergroup", "from": 1111,
             "text": "again", "thread": null, "reply_to": first.message_id,
             "mentions": [], "commands": []},
            {"update_id": first.update_id + 2, "kind": "edited_message", "message_id": first.message_id,
             "chat_id": -1001234567890_i64, "chat_type": "supergroup", "from": 1111,
             "text": "edited", "thread": null, "reply_to": null,
             "mentions": [], "commands": []}
        ])
    );
}
