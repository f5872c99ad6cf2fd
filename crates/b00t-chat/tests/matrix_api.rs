//! The Matrix client against the real Synapse (b00t-testkit's `Synapse`, started on
//! loopback): the bot's identity, a first sync, an invite seen and joined, a person's
//! message read back with its mention, members, typing, a reply sent twice in one
//! transaction giving one event, and refusals classified as the retries need them.
//! Skipped when Synapse is not installed, a failure then when `B00T_REQUIRE_TOOLS=1`.

use std::time::{Duration, Instant};

use b00t_bridges::matrix::types::RelatesTo;
use b00t_bridges::matrix::{path_segment, sync_filter, MessageContent, SyncResponse};
use b00t_chat::matrix::{CallError, MatrixApi};
use b00t_chat::retry::Refusal;
use b00t_testkit::synapse::Synapse;
use reqwest::Method;
use serde_json::json;

/// Syncs from `since` until `found` picks something out of an answer.
async fn sync_until<T>(
    api: &MatrixApi,
    since: &mut String,
    what: &str,
    mut found: impl FnMut(&SyncResponse) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "timed out syncing for {what}");
        let answer = api
            .sync(Some(since), Duration::from_secs(5), &sync_filter())
            .await
            .unwrap();
        *since = answer.next_batch.clone();
        if let Some(value) = found(&answer) {
            return value;
        }
    }
}

#[tokio::test]
async fn the_client_speaks_to_synapse() {
    let Some(synapse) = Synapse::start_or_skip("the_client_speaks_to_synapse").await else {
        return;
    };
    eprintln!("Synapse answered after {:?}", synapse.started_in);
    let bot = synapse
        .register("bot", "bot-password", false)
        .await
        .unwrap();
    let ann = synapse
        .register("ann", "ann-password", false)
        .await
        .unwrap();
    let api = MatrixApi::new("matrix", &synapse.url(), &bot.access_token).unwrap();

    let me = api.whoami().await.unwrap();
    assert_eq!(me.user_id, "@bot:localhost");
    assert_eq!(
        api.display_name(&me.user_id).await.unwrap().as_deref(),
        Some("bot")
    );
    let first = api
        .sync(None, Duration::ZERO, &sync_filter())
        .await
        .unwrap();
    assert!(!first.next_batch.is_empty());
    let mut since = first.next_batch;

    // Ann makes a room and invites the bot: the invite comes with its inviter and name.
    let created = synapse
        .call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(&ann.access_token),
            Some(json!({"name": "Kitchen", "invite": [bot.user_id], "preset": "private_chat"})),
        )
        .await
        .unwrap();
    let room = created["room_id"].as_str().unwrap().to_owned();
    // Room version 12 (Synapse's default) names rooms `!<hash>`, without a server.
    assert!(room.starts_with('!'), "{room}");
    let invite = sync_until(&api, &mut since, "the invite", |sync| {
        let invite = sync.rooms.invite.get(&room)?;
        Some((
            invite.inviter(&bot.user_id).map(str::to_owned),
            invite.name().map(str::to_owned),
        ))
    })
    .await;
    assert_eq!(invite, (Some(ann.user_id.clone()), Some("Kitchen".into())));
    assert_eq!(api.join(&room).await.unwrap(), room);

    // Ann writes, mentioning the bot; the bot reads it in its timeline.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/send/m.room.message/ann-1",
        path_segment(&room)
    );
    let sent = synapse
        .call(
            Method::PUT,
            &path,
            Some(&ann.access_token),
            Some(
                json!({"msgtype": "m.text", "body": "bot: hello & <welcome>",
                        "m.mentions": {"user_ids": [bot.user_id]}}),
            ),
        )
        .await
        .unwrap();
    let question = sent["event_id"].as_str().unwrap().to_owned();
    let message = sync_until(&api, &mut since, "Ann's message", |sync| {
        let timeline = &sync.rooms.join.get(&room)?.timeline;
        timeline
            .events
            .iter()
            .find(|e| e.event_id == question)
            .cloned()
    })
    .await;
    assert_eq!(message.sender, ann.user_id);
    let content = message.message().unwrap();
    assert_eq!(content.body, "bot: hello & <welcome>");
    assert_eq!(content.mentions.unwrap().user_ids, [bot.user_id.as_str()]);

    let members = api.joined_members(&room).await.unwrap();
    let ids: Vec<&String> = members.joined.keys().collect();
    assert_eq!(ids, [&ann.user_id, &bot.user_id]);
    api.typing(&room, &bot.user_id, true, Duration::from_secs(10))
        .await
        .unwrap();
    api.typing(&room, &bot.user_id, false, Duration::ZERO)
        .await
        .unwrap();

    // A reply, sent twice in the same transaction (a retry after a crash): one event.
    let mut reply = MessageContent::text("**yes** & more", Some("<b>yes</b> &amp; more"));
    reply.relates_to = Some(RelatesTo::reply(&question, None));
    let once = api.send_message(&room, "mx-test.0", &reply).await.unwrap();
    let twice = api.send_message(&room, "mx-test.0", &reply).await.unwrap();
    assert_eq!(once, twice);
    let event = synapse
        .call(
            Method::GET,
            &format!(
                "/_matrix/client/v3/rooms/{}/event/{}",
                path_segment(&room),
                path_segment(&once)
            ),
            Some(&ann.access_token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        event["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        question
    );
    assert_eq!(event["content"]["formatted_body"], "<b>yes</b> &amp; more");
    let ours = sync_until(&api, &mut since, "the bot's own reply", |sync| {
        let timeline = &sync.rooms.join.get(&room)?.timeline;
        let ours: Vec<String> = timeline
            .events
            .iter()
            .filter(|e| e.sender == bot.user_id && e.kind == "m.room.message")
            .map(|e| e.event_id.clone())
            .collect();
        (!ours.is_empty()).then_some(ours)
    })
    .await;
    assert_eq!(ours, [once]);

    // Refusals: a room the bot is not in is final, so is a wrong token; no homeserver
    // at all is worth another try.
    let other = synapse
        .call(
            Method::POST,
            "/_matrix/client/v3/createRoom",
            Some(&ann.access_token),
            Some(json!({"preset": "private_chat"})),
        )
        .await
        .unwrap();
    let other = other["room_id"].as_str().unwrap();
    let refused = api
        .send_message(other, "mx-test.1", &MessageContent::text("hi", None))
        .await
        .unwrap_err();
    assert_eq!(refused.errcode(), Some("M_FORBIDDEN"), "{refused}");
    assert_eq!(refused.refusal(), Refusal::Final);
    let wrong = MatrixApi::new("matrix", &synapse.url(), "syt_not_a_token").unwrap();
    let refused = wrong.whoami().await.unwrap_err();
    assert_eq!(refused.errcode(), Some("M_UNKNOWN_TOKEN"), "{refused}");
    assert_eq!(refused.refusal(), Refusal::Final);
    assert!(
        refused.to_string().contains("MATRIX_ACCESS_TOKEN"),
        "{refused}"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = MatrixApi::new("matrix", &format!("http://127.0.0.1:{port}"), "t").unwrap();
    let refused = nowhere.whoami().await.unwrap_err();
    assert!(matches!(refused, CallError::Network { .. }), "{refused}");
    assert_eq!(refused.refusal(), Refusal::Transient);
}
