//! The Matrix client-server API's JSON as serde types (spec v1.x, `/_matrix/client/v3`):
//! the `/sync` answer (`next_batch`, joined rooms' timelines, invites' stripped state),
//! room events with the contents the bridge reads (`m.room.message` text with its HTML,
//! replies, threads, `m.mentions`; `m.room.member`), the text message it sends, the sync
//! filter, and the `{errcode, error, retry_after_ms}` error body. Unknown fields and
//! event types are tolerated: a homeserver sends more than the bridge reads.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `msgtype` of a plain text message.
pub const TEXT: &str = "m.text";
/// `format` of an HTML `formatted_body`.
pub const HTML_FORMAT: &str = "org.matrix.custom.html";
/// `rel_type` of a thread.
pub const THREAD: &str = "m.thread";
/// `rel_type` of an edit.
pub const REPLACE: &str = "m.replace";
/// Timeline events kept per room in one sync answer; more arriving between two syncs
/// makes the room's timeline `limited`.
pub const TIMELINE_LIMIT: u32 = 100;

/// The answer of `GET /_matrix/client/v3/sync`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct SyncResponse {
    /// The `since` of the next sync.
    pub next_batch: String,
    #[serde(default)]
    pub rooms: Rooms,
}

/// The rooms part of a sync answer, by membership.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Rooms {
    /// Rooms the user is in, by room id.
    #[serde(default)]
    pub join: BTreeMap<String, JoinedRoom>,
    /// Rooms the user is invited to, by room id.
    #[serde(default)]
    pub invite: BTreeMap<String, InvitedRoom>,
    /// Rooms the user left or was removed from (only the ids are read).
    #[serde(default)]
    pub leave: BTreeMap<String, Value>,
}

/// A joined room's news.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct JoinedRoom {
    #[serde(default)]
    pub timeline: Timeline,
    /// Sent with lazy-loaded members; the member counts when they changed.
    #[serde(default)]
    pub summary: RoomSummary,
    /// State before the timeline: with lazy-loaded members, the member events of the
    /// timeline's senders (their display names).
    #[serde(default)]
    pub state: StateEvents,
}

impl JoinedRoom {
    /// `user_id`'s display name in this room, when the answer carries its member event.
    pub fn display_name(&self, user_id: &str) -> Option<&str> {
        self.state
            .events
            .iter()
            .chain(&self.timeline.events)
            .rev()
            .find(|e| e.kind == "m.room.member" && e.state_key.as_deref() == Some(user_id))
            .and_then(|e| e.content["displayname"].as_str())
    }
}

/// `state` of a joined room.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct StateEvents {
    #[serde(default)]
    pub events: Vec<RoomEvent>,
}

/// A room's timeline in a sync answer.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Timeline {
    #[serde(default)]
    pub events: Vec<RoomEvent>,
    /// More events happened than were sent (older ones are before `prev_batch`).
    #[serde(default)]
    pub limited: bool,
    #[serde(default)]
    pub prev_batch: Option<String>,
}

/// The answer of `GET /_matrix/client/v3/rooms/{roomId}/messages`: a page of a room's
/// timeline (newest first with `dir=b`) and the token of the next page, absent at the end.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct MessagesPage {
    #[serde(default)]
    pub chunk: Vec<RoomEvent>,
    #[serde(default)]
    pub end: Option<String>,
}

/// The `RoomEventFilter` of the pages that fill a `limited` timeline's gap: the same
/// event types as [`sync_filter`]'s timeline.
pub fn gap_filter() -> Value {
    json!({"types": ["m.room.message", "m.room.member"]})
}

/// `summary` of a joined room.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct RoomSummary {
    #[serde(rename = "m.joined_member_count", default)]
    pub joined_member_count: Option<u64>,
    #[serde(rename = "m.invited_member_count", default)]
    pub invited_member_count: Option<u64>,
}

/// An invite's news: the stripped state the inviter shared.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct InvitedRoom {
    #[serde(default)]
    pub invite_state: InviteState,
}

/// `invite_state` of an invited room.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct InviteState {
    #[serde(default)]
    pub events: Vec<StrippedState>,
}

/// A stripped state event of an invite (no event id, no timestamp).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct StrippedState {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub state_key: String,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub content: Value,
}

impl InvitedRoom {
    /// Who invited `user_id`: the sender of its `invite` membership event.
    pub fn inviter(&self, user_id: &str) -> Option<&str> {
        self.invite_state
            .events
            .iter()
            .find(|e| {
                e.kind == "m.room.member"
                    && e.state_key == user_id
                    && e.content["membership"] == "invite"
            })
            .map(|e| e.sender.as_str())
    }

    /// The room's name, when the inviter shared it.
    pub fn name(&self) -> Option<&str> {
        self.invite_state
            .events
            .iter()
            .find(|e| e.kind == "m.room.name")
            .and_then(|e| e.content["name"].as_str())
    }
}

/// A room event of a timeline.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RoomEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub event_id: String,
    pub sender: String,
    #[serde(default)]
    pub origin_server_ts: i64,
    /// Present on state events (`m.room.member`: the member's user id).
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub content: Value,
}

impl RoomEvent {
    /// The content of an `m.room.message`, when it is one and reads as one.
    pub fn message(&self) -> Option<MessageContent> {
        (self.kind == "m.room.message")
            .then(|| serde_json::from_value(self.content.clone()).ok())
            .flatten()
    }

    /// The content of an `m.room.member`, when it is one.
    pub fn member(&self) -> Option<MemberContent> {
        (self.kind == "m.room.member")
            .then(|| serde_json::from_value(self.content.clone()).ok())
            .flatten()
    }
}

/// The content of an `m.room.message` (text, notice, emote, … by `msgtype`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct MessageContent {
    pub msgtype: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted_body: Option<String>,
    #[serde(
        rename = "m.relates_to",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub relates_to: Option<RelatesTo>,
    #[serde(
        rename = "m.mentions",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mentions: Option<Mentions>,
}

impl MessageContent {
    /// A text message: `body` as the plain text, `html` as its `formatted_body` when
    /// given.
    pub fn text(body: &str, html: Option<&str>) -> MessageContent {
        MessageContent {
            msgtype: TEXT.to_owned(),
            body: body.to_owned(),
            format: html.map(|_| HTML_FORMAT.to_owned()),
            formatted_body: html.map(str::to_owned),
            relates_to: None,
            mentions: None,
        }
    }

    /// The thread this message is in, by its root event id.
    pub fn thread_root(&self) -> Option<&str> {
        let relation = self.relates_to.as_ref()?;
        (relation.rel_type.as_deref() == Some(THREAD))
            .then_some(relation.event_id.as_deref())
            .flatten()
    }

    /// Whether this message edits an earlier one (answered already, if at all).
    pub fn is_edit(&self) -> bool {
        self.relates_to
            .as_ref()
            .is_some_and(|r| r.rel_type.as_deref() == Some(REPLACE))
    }

    /// The body without a reply's fallback (the `> <@user> quoted` lines before a blank
    /// line that older clients put in front), which only repeats the message replied to.
    pub fn without_fallback(&self) -> &str {
        if self.reply_to().is_none() || !self.body.starts_with("> ") {
            return &self.body;
        }
        let mut rest = self.body.as_str();
        while rest.starts_with('>') {
            rest = rest.split_once('\n').map_or("", |(_, after)| after);
        }
        rest.strip_prefix('\n').unwrap_or(rest)
    }

    /// The event this message replies to.
    pub fn reply_to(&self) -> Option<&str> {
        Some(
            self.relates_to
                .as_ref()?
                .in_reply_to
                .as_ref()?
                .event_id
                .as_str(),
        )
    }
}

/// `m.relates_to`: a reply (`m.in_reply_to`), a thread (`rel_type: m.thread` with the
/// root's `event_id`), or another relation (an edit's `m.replace`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct RelatesTo {
    #[serde(
        rename = "m.in_reply_to",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub in_reply_to: Option<InReplyTo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rel_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// In a thread: whether `m.in_reply_to` is only there for clients without threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_falling_back: Option<bool>,
}

impl RelatesTo {
    /// A reply to `event_id`; inside the thread of `thread_root` when given (as the spec
    /// writes a threaded reply: the thread relation plus a real, not fallback, reply).
    pub fn reply(event_id: &str, thread_root: Option<&str>) -> RelatesTo {
        RelatesTo {
            in_reply_to: Some(InReplyTo {
                event_id: event_id.to_owned(),
            }),
            rel_type: thread_root.map(|_| THREAD.to_owned()),
            event_id: thread_root.map(str::to_owned),
            is_falling_back: thread_root.map(|_| false),
        }
    }
}

/// `m.in_reply_to`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct InReplyTo {
    pub event_id: String,
}

/// `m.mentions`: whom a message mentions on purpose.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct Mentions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub room: bool,
}

/// The content of an `m.room.member` state event.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct MemberContent {
    /// `invite`, `join`, `leave`, `ban` or `knock`.
    pub membership: String,
    #[serde(default)]
    pub displayname: Option<String>,
    #[serde(default)]
    pub is_direct: Option<bool>,
}

/// The answer of `GET /_matrix/client/v3/account/whoami`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WhoAmI {
    pub user_id: String,
    #[serde(default)]
    pub device_id: Option<String>,
}

/// The answer of `PUT …/send/…`: the new event's id.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct EventIdAnswer {
    pub event_id: String,
}

/// The answer of `POST /_matrix/client/v3/join/{roomIdOrAlias}`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RoomIdAnswer {
    pub room_id: String,
}

/// The answer of `GET /_matrix/client/v3/rooms/{roomId}/joined_members`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct JoinedMembers {
    /// By user id: `display_name` and `avatar_url`.
    #[serde(default)]
    pub joined: BTreeMap<String, Value>,
}

/// The body of `PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Typing {
    pub typing: bool,
    /// Milliseconds the indicator stays without a renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
}

/// A refused call's body: `{"errcode": "M_…", "error": "…", "retry_after_ms": …}`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(default)]
    pub errcode: String,
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// How long the homeserver asked to wait (`M_LIMIT_EXCEEDED`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_ms.map(Duration::from_millis)
    }
}

/// The sync filter the bridge uses: timelines of messages and memberships only (up to
/// [`TIMELINE_LIMIT`] a room), room state limited to memberships and lazily loaded, and
/// no presence, account data, receipts or typing, so answers stay small.
pub fn sync_filter() -> Value {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {
                "types": ["m.room.message", "m.room.member"],
                "limit": TIMELINE_LIMIT,
            },
            "state": {"types": ["m.room.member"], "lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/messages` page as Synapse writes it (trimmed of `unsigned`); the last page has
    /// no `end`.
    #[test]
    fn a_messages_page_reads_its_events_and_next_token() {
        let page: MessagesPage = serde_json::from_str(
            r#"{"chunk":[{"type":"m.room.message","event_id":"$b","sender":"@p:hs","origin_server_ts":2,
                "content":{"msgtype":"m.text","body":"two"},"room_id":"!r:hs"}],
               "start":"t2-1","end":"t1-1"}"#,
        )
        .expect("a page");
        assert_eq!(page.chunk.len(), 1);
        assert_eq!(page.chunk[0].event_id, "$b");
        assert_eq!(page.end.as_deref(), Some("t1-1"));
        let last: MessagesPage = serde_json::from_str(r#"{"chunk":[],"start":"t1-1"}"#).unwrap();
        assert!(last.chunk.is_empty() && last.end.is_none());
        assert_eq!(
            gap_filter()["types"],
            sync_filter()["room"]["timeline"]["types"]
        );
    }

    /// A sync answer as Synapse 1.163 writes it (trimmed of `unsigned` and of the parts
    /// the filter leaves empty).
    const SYNC: &str = r#"{
      "next_batch": "s72595_4483_1934",
      "account_data": {"events": []},
      "rooms": {
        "join": {
          "!family:localhost": {
            "summary": {"m.joined_member_count": 2, "m.heroes": ["@ann:localhost"]},
            "timeline": {
              "limited": false,
              "prev_batch": "t34-23535_0_0",
              "events": [
                {"type": "m.room.member", "state_key": "@ann:localhost", "sender": "@ann:localhost",
                 "event_id": "$m1", "origin_server_ts": 1, "content": {"membership": "join", "displayname": "Ann"}},
                {"type": "m.room.message", "sender": "@ann:localhost", "event_id": "$e1:localhost",
                 "origin_server_ts": 1432735824653,
                 "content": {"msgtype": "m.text", "body": "**hi** bot", "format": "org.matrix.custom.html",
                   "formatted_body": "<strong>hi</strong> bot",
                   "m.mentions": {"user_ids": ["@bot:localhost"]},
                   "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": true,
                                    "m.in_reply_to": {"event_id": "$last"}}}},
                {"type": "m.room.message", "sender": "@ann:localhost", "event_id": "$e2",
                 "content": {"msgtype": "m.image", "body": "cat.png", "url": "mxc://localhost/x"}},
                {"type": "m.room.message", "sender": "@ann:localhost", "event_id": "$e3",
                 "content": {"msgtype": "m.text", "body": "* fixed", "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": "$e1:localhost"}}},
                {"type": "m.room.encrypted", "sender": "@ann:localhost", "event_id": "$e4", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
              ]
            },
            "state": {"events": []},
            "ephemeral": {"events": []},
            "unread_notifications": {"highlight_count": 0, "notification_count": 1}
          }
        },
        "invite": {
          "!new:localhost": {
            "invite_state": {"events": [
              {"type": "m.room.name", "state_key": "", "sender": "@ann:localhost", "content": {"name": "Kitchen"}},
              {"type": "m.room.member", "state_key": "@bot:localhost", "sender": "@ann:localhost",
               "content": {"membership": "invite", "is_direct": true}}
            ]}
          }
        },
        "leave": {"!old:localhost": {"timeline": {"events": []}}}
      }
    }"#;

    #[test]
    fn a_sync_answer_reads_with_its_rooms_messages_and_invites() {
        let sync: SyncResponse = serde_json::from_str(SYNC).unwrap();
        assert_eq!(sync.next_batch, "s72595_4483_1934");
        let room = &sync.rooms.join["!family:localhost"];
        assert_eq!(room.summary.joined_member_count, Some(2));
        assert_eq!(room.display_name("@ann:localhost"), Some("Ann"));
        assert_eq!(room.display_name("@bob:localhost"), None);
        let events = &room.timeline.events;
        assert_eq!(events.len(), 5);
        let member = events[0].member().unwrap();
        assert_eq!(member.membership, "join");
        assert_eq!(member.displayname.as_deref(), Some("Ann"));
        assert_eq!(events[0].state_key.as_deref(), Some("@ann:localhost"));
        assert!(events[0].message().is_none());

        let text = events[1].message().unwrap();
        assert_eq!(text.msgtype, TEXT);
        assert_eq!(text.body, "**hi** bot");
        assert_eq!(text.format.as_deref(), Some(HTML_FORMAT));
        assert_eq!(text.thread_root(), Some("$root"));
        assert_eq!(text.reply_to(), Some("$last"));
        assert_eq!(text.mentions.as_ref().unwrap().user_ids, ["@bot:localhost"]);
        assert!(!text.is_edit());

        assert_eq!(text.without_fallback(), "**hi** bot");
        assert_eq!(events[2].message().unwrap().msgtype, "m.image");
        assert!(events[3].message().unwrap().is_edit());
        assert!(events[4].message().is_none());

        let invite = &sync.rooms.invite["!new:localhost"];
        assert_eq!(invite.inviter("@bot:localhost"), Some("@ann:localhost"));
        assert_eq!(invite.inviter("@someone:localhost"), None);
        assert_eq!(invite.name(), Some("Kitchen"));
        assert!(sync.rooms.leave.contains_key("!old:localhost"));
        // An answer with nothing new: only next_batch.
        let empty: SyncResponse = serde_json::from_str(r#"{"next_batch": "s1"}"#).unwrap();
        assert!(empty.rooms.join.is_empty() && empty.rooms.invite.is_empty());
    }

    #[test]
    fn a_replys_fallback_is_not_the_text() {
        let reply = |body: &str| MessageContent {
            relates_to: Some(RelatesTo::reply("$q", None)),
            ..MessageContent::text(body, None)
        };
        assert_eq!(
            reply("> <@bot:localhost> the answer\n> second line\n\nthanks!").without_fallback(),
            "thanks!"
        );
        assert_eq!(reply("no fallback").without_fallback(), "no fallback");
        assert_eq!(reply("> only a quote").without_fallback(), "");
        // Not a reply: a quote is the text.
        assert_eq!(
            MessageContent::text("> quoted\n\nmine", None).without_fallback(),
            "> quoted\n\nmine"
        );
    }

    #[test]
    fn a_reply_is_written_as_the_spec_writes_it() {
        let mut content = MessageContent::text("**yes**", Some("<b>yes</b>"));
        content.relates_to = Some(RelatesTo::reply("$question", None));
        content.mentions = Some(Mentions {
            user_ids: vec!["@ann:localhost".into()],
            room: false,
        });
        assert_eq!(
            serde_json::to_value(&content).unwrap(),
            json!({
                "msgtype": "m.text",
                "body": "**yes**",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>yes</b>",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$question"}},
                "m.mentions": {"user_ids": ["@ann:localhost"]}
            })
        );
        let in_thread = RelatesTo::reply("$question", Some("$root"));
        assert_eq!(
            serde_json::to_value(&in_thread).unwrap(),
            json!({
                "m.in_reply_to": {"event_id": "$question"},
                "rel_type": "m.thread",
                "event_id": "$root",
                "is_falling_back": false
            })
        );
        let plain = MessageContent::text("just text", None);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            json!({"msgtype": "m.text", "body": "just text"})
        );
    }

    #[test]
    fn errors_and_the_filter() {
        let error: ErrorBody = serde_json::from_str(
            r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 2000}"#,
        )
        .unwrap();
        assert_eq!(error.errcode, "M_LIMIT_EXCEEDED");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        let forbidden: ErrorBody =
            serde_json::from_str(r#"{"errcode": "M_FORBIDDEN", "error": "not in room"}"#).unwrap();
        assert_eq!(forbidden.retry_after(), None);
        let filter = sync_filter();
        assert_eq!(
            filter["room"]["timeline"]["types"],
            json!(["m.room.message", "m.room.member"])
        );
        assert_eq!(filter["presence"]["types"], json!([]));
        assert_eq!(
            serde_json::to_value(Typing {
                typing: true,
                timeout: Some(30_000)
            })
            .unwrap(),
            json!({"typing": true, "timeout": 30000})
        );
    }
}
