//! Our Bot API types and formatting against the stand-in: updates parse, mentions are
//! found in them, every part of long generated replies is accepted in HTML and MarkdownV2
//! mode, and a scripted 429 reads as `ApiError::TooManyRequests`.

use b00t_bridges::format::telegram_parts_as;
use b00t_bridges::telegram::types::{
    ApiResponse, ChatAction, ChatId, GetUpdates, Message, ParseMode, ReplyParameters,
    SendChatAction, SendMessage, Update, User,
};
use b00t_bridges::{addresses_bot, telegram_parts, ApiError, BotIdentity};
use b00t_testkit::telegram::{
    FakeTelegram, MessageOptions, TestChat, TestUser, BOT_ID, BOT_USERNAME,
};
use serde_json::{json, Value};

use crate::support::{call, TOKEN};

fn bot() -> BotIdentity {
    BotIdentity {
        id: BOT_ID,
        username: BOT_USERNAME.to_owned(),
    }
}

#[tokio::test]
async fn updates_parse_and_mentions_are_found() {
    let fake = FakeTelegram::start(TOKEN).await;
    let ann = TestUser::new(1111, "Ann").with_username("ann");
    let group = TestChat::supergroup(-1001234567890, "Family", true);
    fake.push_message(&group, &ann, "just chatting");
    fake.push_message(&group, &ann, "\u{1F600} @B00T_TEST_BOT what is up?");
    let (_, me) = call(&fake, "getMe", &json!({})).await;
    let me: User = serde_json::from_value::<ApiResponse<User>>(me)
        .unwrap()
        .into_result("getMe")
        .unwrap();
    assert_eq!(me.username.as_deref(), Some(BOT_USERNAME));

    let poll = serde_json::to_value(GetUpdates {
        timeout: Some(0),
        allowed_updates: Some(vec!["message".into(), "edited_message".into()]),
        ..GetUpdates::default()
    })
    .unwrap();
    let (_, body) = call(&fake, "getUpdates", &poll).await;
    let updates: Vec<Update> = serde_json::from_value::<ApiResponse<Vec<Update>>>(body)
        .unwrap()
        .into_result("getUpdates")
        .unwrap();
    let messages: Vec<&Message> = updates.iter().filter_map(|u| u.message.as_ref()).collect();
    assert_eq!(messages.len(), 2);
    assert!(!addresses_bot(messages[0], &bot(), Some("@Andy")));
    assert!(addresses_bot(messages[1], &bot(), Some("@Andy")));

    // Answer in the topic, as a reply; then a reply to the bot addresses it.
    let asked = messages[1];
    let answer = SendMessage {
        chat_id: ChatId::Id(asked.chat.id),
        text: telegram_parts("**Sure**: it is `up`.").remove(0),
        parse_mode: Some(ParseMode::Html),
        message_thread_id: Some(3),
        reply_parameters: Some(ReplyParameters {
            message_id: asked.message_id,
            allow_sending_without_reply: None,
        }),
    };
    let (status, sent) = call(
        &fake,
        "sendMessage",
        &serde_json::to_value(&answer).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let sent: Message = serde_json::from_value::<ApiResponse<Message>>(sent)
        .unwrap()
        .into_result("sendMessage")
        .unwrap();
    assert_eq!(sent.text.as_deref(), Some("Sure: it is up."));
    assert_eq!(
        sent.entities
            .iter()
            .map(|e| e.kind.as_str())
            .collect::<Vec<_>>(),
        ["bold", "code"]
    );
    let reply = fake.push_message_with(
        &group,
        &ann,
        "thanks",
        MessageOptions {
            reply_to_message_id: Some(sent.message_id),
            ..MessageOptions::default()
        },
    );
    let (_, body) = call(&fake, "getUpdates", &json!({"offset": reply.update_id})).await;
    let updates: Vec<Update> = serde_json::from_value::<ApiResponse<Vec<Update>>>(body)
        .unwrap()
        .into_result("getUpdates")
        .unwrap();
    assert!(addresses_bot(
        updates[0].message.as_ref().unwrap(),
        &bot(),
        None
    ));

    let typing = SendChatAction {
        chat_id: ChatId::Id(group.id),
        action: ChatAction::Typing,
        message_thread_id: Some(3),
    };
    let (status, _) = call(
        &fake,
        "sendChatAction",
        &serde_json::to_value(&typing).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

/// Replies the model might write: prose with Telegram-hostile punctuation, lists,
/// headings, links, code spans and long fenced blocks full of `<`, `&` and backticks.
fn long_reply(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "Sure! Here's the plan (v1.2):",
        "a < b && c > d",
        "**important** and *subtle* and _quiet_ and ~~gone~~",
        "see [the docs](https://example.com/a?b=1&c=2)",
        "`inline <code> & more`",
        "snake_case_names and 2 * 3 = 6.",
        "unbalanced **bold and `tick",
        "\u{1F600} emoji \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467} family",
        "#hashtag - dash + plus = equals | pipe {brace} !bang",
    ];
    let mut text = String::new();
    for _ in 0..rng.usize(20..400) {
        match rng.u8(0..12) {
            0 => text.push_str("\n\n"),
            1 => text.push_str("\n# Heading *one*\n"),
            2 => text.push_str("\n- item one\n- item two\n"),
            3 => {
                text.push_str("\n```rust\n");
                for _ in 0..rng.usize(1..60) {
                    text.push_str("    let x = a < b && c; // <tag> & `tick` \\ done\n");
                }
                text.push_str("```\n");
            }
            _ => {
                text.push_str(PIECES[rng.usize(0..PIECES.len())]);
                text.push(' ');
            }
        }
    }
    text
}

#[tokio::test]
async fn every_part_of_long_replies_is_accepted() {
    let fake = FakeTelegram::start(TOKEN).await;
    let ann = TestUser::new(1111, "Ann");
    fake.push_message(&TestChat::private(&ann), &ann, "hi");
    let mut rng = fastrand::Rng::with_seed(4096);
    let mut parts_sent = 0;
    for round in 0..12 {
        let reply = long_reply(&mut rng);
        for mode in [ParseMode::Html, ParseMode::MarkdownV2] {
            let parts = telegram_parts_as(&reply, mode);
            assert!(!parts.is_empty());
            for part in parts {
                let body = serde_json::to_value(SendMessage {
                    chat_id: ChatId::Id(ann.id),
                    text: part.clone(),
                    parse_mode: Some(mode),
                    message_thread_id: None,
                    reply_parameters: None,
                })
                .unwrap();
                let (status, answer) = call(&fake, "sendMessage", &body).await;
                assert_eq!(
                    status, 200,
                    "round {round} {mode:?}: {answer}\npart: {part}"
                );
                parts_sent += 1;
            }
        }
    }
    assert!(parts_sent > 24, "{parts_sent}");
    assert!(fake
        .sent()
        .iter()
        .any(|s| s.text.encode_utf16().count() > 3500));
}

#[tokio::test]
async fn refusals_become_api_errors() {
    let fake = FakeTelegram::start(TOKEN).await;
    let ann = TestUser::new(1111, "Ann");
    fake.push_message(&TestChat::private(&ann), &ann, "hi");
    let body = json!({"chat_id": 1111, "text": "x"});
    fake.fail_next("sendMessage", 429, Some(7));
    fake.fail_next("sendMessage", 503, None);
    let envelope = |answer: Value| serde_json::from_value::<ApiResponse<Message>>(answer).unwrap();

    let (status, answer) = call(&fake, "sendMessage", &body).await;
    assert_eq!(status, 429);
    let error = envelope(answer).into_result("sendMessage").unwrap_err();
    assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert!(error.is_transient());

    let (_, answer) = call(&fake, "sendMessage", &body).await;
    let error = envelope(answer).into_result("sendMessage").unwrap_err();
    assert!(
        matches!(
            error,
            ApiError::Refused {
                error_code: 503,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_transient());

    let (_, answer) = call(
        &fake,
        "sendMessage",
        &json!({"chat_id": 1111, "text": "<b>x", "parse_mode": "HTML"}),
    )
    .await;
    let error = envelope(answer).into_result("sendMessage").unwrap_err();
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .starts_with("Telegram `sendMessage` answered 400 `Bad Request: can't parse entities"),
        "{error}"
    );
}
