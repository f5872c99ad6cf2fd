//! [`FakeTelegram`]: a stand-in Bot API server on an ephemeral port, speaking the JSON of
//! <https://core.telegram.org/bots/api>: `/bot<token>/<method>` by GET or POST (query
//! string, form or JSON parameters) for `getMe`, `getUpdates` (long polling, `offset`
//! confirming updates), `sendMessage` (chat, length and `parse_mode` checked as Telegram
//! does, HTML parsed strictly), `sendChatAction`, `setWebhook`, `deleteWebhook` and
//! `getWebhookInfo`; everything in the `{"ok": …}` envelope with Telegram's codes and
//! descriptions. Tests queue incoming messages ([`FakeTelegram::push_message`]), script
//! failures ([`FakeTelegram::fail_next`]) and read what the bridge sent
//! ([`FakeTelegram::sent`]). While a webhook is set, `getUpdates` answers 409, as
//! Telegram's does, and the updates are POSTed to the webhook instead, once a test has
//! said where its HTTPS URL leads ([`FakeTelegram::tunnel_webhook`], the reverse proxy or
//! tunnel of a real set-up): one at a time in order, as JSON with
//! `X-Telegram-Bot-Api-Secret-Token`, each sent again every [`WEBHOOK_RETRY`] until the
//! webhook answers 2xx ([`FakeTelegram::deliveries`] lists every attempt).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ollama::lock;

/// The fake bot's user id, as `getMe` answers it.
pub const BOT_ID: i64 = 7_000_000_001;
/// The fake bot's username, without the `@`.
pub const BOT_USERNAME: &str = "b00t_test_bot";
/// The longest `getUpdates` waits, whatever `timeout` asks (Telegram's own cap is 50 s).
pub const LONG_POLL_CAP: Duration = Duration::from_secs(50);
/// `sendMessage`'s limit: UTF-16 code units of the text after entities parsing.
pub const MAX_TEXT_UTF16: usize = 4096;

/// Largest request body read.
const MAX_BODY: usize = 1024 * 1024;
/// How long the fake waits before it POSTs an update the webhook did not take again.
pub const WEBHOOK_RETRY: Duration = Duration::from_millis(500);
/// The header a webhook delivery carries the `secret_token` in.
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

/// One POST of an update to the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub update_id: i64,
    /// Where it went (through the tunnel).
    pub url: String,
    /// The webhook's HTTP status; `None` when it did not answer.
    pub status: Option<u16>,
}

/// A person (or another bot) who writes to the fake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestUser {
    pub id: i64,
    pub first_name: String,
    /// Without the `@`.
    pub username: Option<String>,
    pub is_bot: bool,
}

impl TestUser {
    pub fn new(id: i64, first_name: &str) -> TestUser {
        TestUser {
            id,
            first_name: first_name.to_owned(),
            username: None,
            is_bot: false,
        }
    }

    pub fn with_username(mut self, username: &str) -> TestUser {
        self.username = Some(username.to_owned());
        self
    }

    fn to_json(&self) -> Value {
        let mut user = json!({"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name});
        if let Some(username) = &self.username {
            user["username"] = json!(username);
        }
        user
    }
}

/// A chat messages come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestChat {
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    pub kind: &'static str,
    pub title: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    /// A supergroup with topics.
    pub is_forum: bool,
}

impl TestChat {
    /// The private chat with `user` (its id is the user's).
    pub fn private(user: &TestUser) -> TestChat {
        TestChat {
            id: user.id,
            kind: "private",
            title: None,
            username: user.username.clone(),
            first_name: Some(user.first_name.clone()),
            is_forum: false,
        }
    }

    /// A basic group; `id` is negative, as Telegram's are.
    pub fn group(id: i64, title: &str) -> TestChat {
        TestChat {
            id,
            kind: "group",
            title: Some(title.to_owned()),
            username: None,
            first_name: None,
            is_forum: false,
        }
    }

    /// A supergroup (`-100…` ids), a forum with topics when `is_forum`.
    pub fn supergroup(id: i64, title: &str, is_forum: bool) -> TestChat {
        TestChat {
            kind: "supergroup",
            is_forum,
            ..TestChat::group(id, title)
        }
    }

    fn to_json(&self) -> Value {
        let mut chat = json!({"id": self.id, "type": self.kind});
        for (key, value) in [
            ("title", &self.title),
            ("username", &self.username),
            ("first_name", &self.first_name),
        ] {
            if let Some(value) = value {
                chat[key] = json!(value);
            }
        }
        if self.is_forum {
            chat["is_forum"] = json!(true);
        }
        chat
    }
}

/// What else an incoming message carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageOptions {
    /// A message of the same chat this one replies to (pushed or sent before).
    pub reply_to_message_id: Option<i64>,
    /// The forum topic.
    pub message_thread_id: Option<i64>,
    /// Delivered as `edited_message` of the message with this id instead of a new one.
    pub edits_message_id: Option<i64>,
}

/// Ids of a pushed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    pub update_id: i64,
    pub message_id: i64,
}

/// A message the fake accepted through `sendMessage`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    /// `text` as sent, markup included.
    pub text: String,
    /// The text after entities parsing, as the user sees it.
    pub plain_text: String,
    pub parse_mode: Option<String>,
    pub message_thread_id: Option<i64>,
    pub reply_to_message_id: Option<i64>,
    /// The `Message` the fake answered with.
    pub message: Value,
}

/// A `sendChatAction` the fake accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatActionSent {
    pub chat_id: i64,
    pub action: String,
    pub message_thread_id: Option<i64>,
}

/// Any call that reached a method (the token was right).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedCall {
    /// As written in the path (`sendMessage`).
    pub method: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// Query, form and JSON parameters merged; form values are strings.
    pub params: Map<String, Value>,
}

/// A running fake Bot API. Stops when dropped or when its shutdown token is cancelled.
pub struct FakeTelegram {
    addr: SocketAddr,
    state: Arc<Shared>,
    /// Stops the accept loop and every connection; cancelled by `Drop` and `stop`.
    stop: CancellationToken,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("addr", &self.addr)
            .finish()
    }
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    /// Woken (all waiters) when an update is queued or a newer `getUpdates` arrives.
    changed: Notify,
    /// Woken (all waiters) when a `sendMessage` is recorded.
    sent_changed: Notify,
    /// Woken (all waiters) when a webhook delivery is recorded.
    delivered: Notify,
}

#[derive(Default)]
struct Inner {
    next_update_id: i64,
    /// Unconfirmed updates: (update_id, kind such as `message`, the update).
    updates: VecDeque<(i64, String, Value)>,
    chats: HashMap<i64, Value>,
    /// Every message per chat (pushed and sent), by message id.
    messages: HashMap<i64, HashMap<i64, Value>>,
    next_message_id: HashMap<i64, i64>,
    /// `(url, secret_token)` while a webhook is set.
    webhook: Option<(String, Option<String>)>,
    /// Where the webhook's HTTPS URL leads (`http://127.0.0.1:<port>`), once a test says.
    tunnel: Option<String>,
    /// Every delivery attempt, in order.
    deliveries: Vec<WebhookDelivery>,
    /// Every update ever queued, by id, for a redelivery.
    queued: HashMap<i64, Value>,
    /// The last failed delivery, as `getWebhookInfo` reports it: (unix time, message).
    webhook_error: Option<(i64, String)>,
    allowed_updates: Option<Vec<String>>,
    /// Scripted answers per lowercased method: (HTTP status, retry_after).
    failures: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    /// Bumped by every `getUpdates`; an older waiting one sees it and answers 409.
    poll_generation: u64,
    sent: Vec<SentMessage>,
    actions: Vec<ChatActionSent>,
    calls: Vec<RecordedCall>,
}

impl FakeTelegram {
    /// Starts a fake for bot `token` on `127.0.0.1:<ephemeral>`.
    ///
    /// # Panics
    /// When no loopback port can be bound: a test environment without networking.
    pub async fn start(token: &str) -> FakeTelegram {
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        match FakeTelegram::bind(addr, token, &CancellationToken::new()).await {
            Ok(fake) => fake,
            Err(e) => panic!("cannot bind a fake Telegram on `127.0.0.1:0`: {e}"),
        }
    }

    /// Starts a fake on `addr` that also stops when `shutdown` is cancelled.
    pub async fn bind(
        addr: SocketAddr,
        token: &str,
        shutdown: &CancellationToken,
    ) -> std::io::Result<FakeTelegram> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            token: token.to_owned(),
            inner: Mutex::new(Inner {
                next_update_id: 100_000,
                ..Inner::default()
            }),
            changed: Notify::new(),
            sent_changed: Notify::new(),
            delivered: Notify::new(),
        });
        let stop = shutdown.child_token();
        tokio::spawn(serve(listener, state.clone(), stop.clone()));
        tokio::spawn(deliver_to_webhook(state.clone(), stop.clone()));
        Ok(FakeTelegram { addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`, what `TELEGRAM_API_URL` would hold.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bot as `getMe` answers it.
    pub fn bot_user() -> Value {
        json!({
            "id": BOT_ID, "is_bot": true, "first_name": "b00t test", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false
        })
    }

    /// Queues a text message from `from` in `chat` as a `message` update; mentions and
    /// commands get their entities, as Telegram's servers add them.
    pub fn push_message(&self, chat: &TestChat, from: &TestUser, text: &str) -> Pushed {
        self.push_message_with(chat, from, text, MessageOptions::default())
    }

    /// [`FakeTelegram::push_message`] with a reply, a topic or an edit.
    ///
    /// # Panics
    /// When `reply_to_message_id` or `edits_message_id` names no message of the chat.
    pub fn push_message_with(
        &self,
        chat: &TestChat,
        from: &TestUser,
        text: &str,
        options: MessageOptions,
    ) -> Pushed {
        let chat_json = chat.to_json();
        let mut inner = lock(&self.state.inner);
        inner.chats.insert(chat.id, chat_json.clone());
        let message_id = match options.edits_message_id {
            Some(id) => id,
            None => inner.new_message_id(chat.id),
        };
        let mut message = json!({
            "message_id": message_id,
            "from": from.to_json(),
            "chat": chat_json,
            "date": now(),
            "text": text,
        });
        let entities = incoming_entities(text);
        if !entities.is_empty() {
            message["entities"] = Value::Array(entities);
        }
        if let Some(thread) = options.message_thread_id {
            message["message_thread_id"] = json!(thread);
            message["is_topic_message"] = json!(true);
        }
        if let Some(replied) = options.reply_to_message_id {
            let Some(original) = inner.message(chat.id, replied) else {
                panic!("no message {replied} in chat {} to reply to", chat.id);
            };
            message["reply_to_message"] = original;
        }
        let kind = if let Some(edited) = options.edits_message_id {
            assert!(
                inner.message(chat.id, edited).is_some(),
                "no message {edited} in chat {} to edit",
                chat.id
            );
            message["edit_date"] = json!(now());
            "edited_message"
        } else {
            "message"
        };
        inner
            .messages
            .entry(chat.id)
            .or_default()
            .insert(message_id, message.clone());
        let update_id = inner.queue(kind, message);
        drop(inner);
        self.state.changed.notify_waiters();
        Pushed {
            update_id,
            message_id,
        }
    }

    /// Queues any update (`{"callback_query": …}`); `update_id` is set when absent.
    /// Returns the update's id.
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut inner = lock(&self.state.inner);
        let kind = update
            .as_object()
            .and_then(|fields| fields.keys().find(|key| *key != "update_id").cloned())
            .unwrap_or_default();
        let id = match update["update_id"].as_i64() {
            Some(id) => {
                inner.next_update_id = inner.next_update_id.max(id + 1);
                id
            }
            None => {
                let id = inner.next_update_id;
                inner.next_update_id += 1;
                update["update_id"] = json!(id);
                id
            }
        };
        inner.queued.insert(id, update.clone());
        inner.updates.push_back((id, kind, update));
        drop(inner);
        self.state.changed.notify_waiters();
        id
    }

    /// Makes the next call of `method` fail with `status`: 429 with `retry_after`
    /// seconds (1 when `None`), 5xx, or any other code, in Telegram's envelope.
    pub fn fail_next(&self, method: &str, status: u16, retry_after: Option<u64>) {
        lock(&self.state.inner)
            .failures
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back((status, retry_after));
    }

    /// Every message accepted by `sendMessage`, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.state.inner).sent.clone()
    }

    /// Waits until more than `seen` messages were sent, and returns those past `seen`.
    pub async fn sent_after(&self, seen: usize) -> Vec<SentMessage> {
        loop {
            let changed = self.state.sent_changed.notified();
            {
                let inner = lock(&self.state.inner);
                if inner.sent.len() > seen {
                    return inner.sent[seen..].to_vec();
                }
            }
            changed.await;
        }
    }

    /// Every chat action accepted, in order.
    pub fn chat_actions(&self) -> Vec<ChatActionSent> {
        lock(&self.state.inner).actions.clone()
    }

    /// Every call with the right token, in order (failed ones included).
    pub fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.state.inner).calls.clone()
    }

    /// Updates not yet confirmed by an `offset`.
    pub fn pending_updates(&self) -> usize {
        lock(&self.state.inner).updates.len()
    }

    /// `(url, secret_token)` of the webhook, while one is set.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        lock(&self.state.inner).webhook.clone()
    }

    /// Has webhook deliveries go to `base` (`http://127.0.0.1:<port>`) with the set
    /// URL's path and query, as a reverse proxy or tunnel to the bridge would.
    pub fn tunnel_webhook(&self, base: &str) {
        lock(&self.state.inner).tunnel = Some(base.trim_end_matches('/').to_owned());
        self.state.changed.notify_waiters();
    }

    /// Every webhook delivery attempt, in order.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.state.inner).deliveries.clone()
    }

    /// Waits until a delivery of `update_id` was answered 2xx, and returns it.
    pub async fn delivered(&self, update_id: i64) -> WebhookDelivery {
        loop {
            let changed = self.state.delivered.notified();
            if let Some(done) = lock(&self.state.inner).deliveries.iter().find(|d| {
                d.update_id == update_id && d.status.is_some_and(|s| (200..300).contains(&s))
            }) {
                return done.clone();
            }
            changed.await;
        }
    }

    /// POSTs update `update_id` to the webhook once more, as Telegram does when it did
    /// not see the answer; the webhook's status, `None` when it did not answer or no
    /// webhook is set and tunnelled.
    pub async fn redeliver(&self, update_id: i64) -> Option<u16> {
        let (target, secret, update) = {
            let inner = lock(&self.state.inner);
            let (target, secret) = inner.webhook_target()?;
            (target, secret, inner.queued.get(&update_id)?.clone())
        };
        let status = post_update(&target, secret.as_deref(), update.to_string().into_bytes()).await;
        let mut inner = lock(&self.state.inner);
        inner.deliveries.push(WebhookDelivery {
            update_id,
            url: target,
            status,
        });
        drop(inner);
        self.state.delivered.notify_waiters();
        status
    }

    /// POSTs `body` to the tunnelled webhook with `secret` in
    /// `X-Telegram-Bot-Api-Secret-Token` (none when `None`), as someone other than
    /// Telegram could; not recorded as a delivery. The webhook's status, `None` when it
    /// did not answer or no webhook is set and tunnelled.
    pub async fn post_to_webhook(&self, body: Vec<u8>, secret: Option<&str>) -> Option<u16> {
        let (target, _) = lock(&self.state.inner).webhook_target()?;
        post_update(&target, secret, body).await
    }

    /// Stops the server now; open connections are closed.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Inner {
    fn new_message_id(&mut self, chat: i64) -> i64 {
        let next = self.next_message_id.entry(chat).or_insert(1);
        let id = *next;
        *next += 1;
        id
    }

    fn queue(&mut self, kind: &str, message: Value) -> i64 {
        let id = self.next_update_id;
        self.next_update_id += 1;
        let update = json!({"update_id": id, kind: message});
        self.queued.insert(id, update.clone());
        self.updates.push_back((id, kind.to_owned(), update));
        id
    }

    /// Where a delivery goes and the secret it carries, while a webhook is set and
    /// tunnelled.
    fn webhook_target(&self) -> Option<(String, Option<String>)> {
        let (url, secret) = self.webhook.as_ref()?;
        let tunnel = self.tunnel.as_ref()?;
        let rest = url
            .strip_prefix("https://")
            .map_or("", |rest| rest.find('/').map_or("/", |at| &rest[at..]));
        Some((format!("{tunnel}{rest}"), secret.clone()))
    }

    /// The first update a webhook delivery would carry now (the kinds of
    /// `allowed_updates` only; the others are dropped, as Telegram does).
    fn next_for_webhook(&mut self) -> Option<(i64, Value)> {
        while let Some((id, kind, update)) = self.updates.front() {
            let wanted = self.allowed_updates.as_ref().map_or(
                kind != "chat_member" && kind != "message_reaction",
                |allowed| allowed.contains(kind),
            );
            if wanted {
                return Some((*id, update.clone()));
            }
            self.updates.pop_front();
        }
        None
    }

    /// A stored message as `reply_to_message` shows it: without its own reply.
    fn message(&self, chat: i64, id: i64) -> Option<Value> {
        let mut message = self.messages.get(&chat)?.get(&id)?.clone();
        if let Some(fields) = message.as_object_mut() {
            fields.remove("reply_to_message");
        }
        Some(message)
    }

    fn chat(&self, chat_id: &Value) -> Result<(i64, Value), Answer> {
        let found = match chat_id {
            Value::Null => return Err(bad_request("chat_id is empty")),
            Value::String(s) if s.is_empty() => return Err(bad_request("chat_id is empty")),
            Value::String(s) if s.starts_with('@') => self
                .chats
                .iter()
                .find(|(_, chat)| chat["username"].as_str() == Some(&s[1..]))
                .map(|(id, chat)| (*id, chat.clone())),
            other => integer(other).and_then(|id| self.chats.get(&id).map(|c| (id, c.clone()))),
        };
        found.ok_or_else(|| bad_request("chat not found"))
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An integer parameter, given as a JSON number or (form, query) a decimal string.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON-serialized parameter: an object or array in a JSON body, a string in a form.
fn json_param(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The entities Telegram's servers add to an incoming text: `mention` for `@username`
/// (5 to 32 of `A-Za-z0-9_`) and `bot_command` for `/command[@username]` at a word start.
fn incoming_entities(text: &str) -> Vec<Value> {
    let mut entities = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut offset = 0; // UTF-16 units before chars[i]
    let mut i = 0;
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let (_, c) = chars[i];
        let at_word_start = i == 0 || !is_name(chars[i - 1].1);
        if (c == '@' || c == '/') && at_word_start {
            let name_len = chars[i + 1..]
                .iter()
                .take_while(|(_, c)| is_name(*c))
                .count();
            let mut len = 1 + name_len;
            let kind = if c == '@' { "mention" } else { "bot_command" };
            if c == '/' {
                let after = i + 1 + name_len;
                if after < chars.len() && chars[after].1 == '@' {
                    let bot = chars[after + 1..]
                        .iter()
                        .take_while(|(_, c)| is_name(*c))
                        .count();
                    if (5..=32).contains(&bot) {
                        len += 1 + bot;
                    }
                }
            }
            let valid = if c == '@' {
                (5..=32).contains(&name_len)
            } else {
                (1..=32).contains(&name_len)
            };
            if valid {
                entities.push(json!({"type": kind, "offset": offset, "length": len}));
                offset += len; // every name character is ASCII: one unit each
                i += len;
                continue;
            }
        }
        offset += c.len_utf16();
        i += 1;
    }
    entities
}

/// A Bot API answer: HTTP status and the JSON envelope.
type Answer = (StatusCode, Value);

fn ok(result: Value) -> Answer {
    (StatusCode::OK, json!({"ok": true, "result": result}))
}

fn ok_described(result: Value, description: &str) -> Answer {
    (
        StatusCode::OK,
        json!({"ok": true, "result": result, "description": description}),
    )
}

fn refuse(code: u16, description: &str) -> Answer {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

fn bad_request(what: &str) -> Answer {
    refuse(400, &format!("Bad Request: {what}"))
}

fn scripted_failure(status: u16, retry_after: Option<u64>) -> Answer {
    match status {
        429 => {
            let wait = retry_after.unwrap_or(1);
            let (code, mut body) = refuse(429, &format!("Too Many Requests: retry after {wait}"));
            body["parameters"] = json!({"retry_after": wait});
            (code, body)
        }
        500 => refuse(500, "Internal Server Error"),
        502 => refuse(502, "Bad Gateway"),
        503 => refuse(503, "Service Unavailable"),
        504 => refuse(504, "Gateway Timeout"),
        400 => bad_request("scripted failure"),
        other => refuse(other, "Error"),
    }
}

/// Accepts connections until `stop` is cancelled.
async fn serve(listener: TcpListener, state: Arc<Shared>, stop: CancellationToken) {
    let handler_stop = stop.clone();
    crate::http::serve("fake Telegram", listener, stop, move |request| {
        handle(state.clone(), handler_stop.clone(), request)
    })
    .await;
}

/// Delivers the queued updates to the webhook while one is set and tunnelled, one at a
/// time in order, until `stop`.
async fn deliver_to_webhook(state: Arc<Shared>, stop: CancellationToken) {
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let next = {
            let mut inner = lock(&state.inner);
            match inner.webhook_target() {
                Some((target, secret)) => inner
                    .next_for_webhook()
                    .map(|(id, update)| (target, secret, id, update)),
                None => None,
            }
        };
        let Some((target, secret, id, update)) = next else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut changed => continue,
            }
        };
        let status = tokio::select! {
            _ = stop.cancelled() => return,
            status = post_update(&target, secret.as_deref(), update.to_string().into_bytes()) => status,
        };
        let taken = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut inner = lock(&state.inner);
            inner.deliveries.push(WebhookDelivery {
                update_id: id,
                url: target,
                status,
            });
            if taken {
                inner.updates.retain(|(queued, _, _)| *queued != id);
                inner.webhook_error = None;
            } else {
                let message = match status {
                    Some(status) => format!("Wrong response from the webhook: {status}"),
                    None => "Connection refused".to_owned(),
                };
                inner.webhook_error = Some((now(), message));
            }
        }
        state.delivered.notify_waiters();
        if !taken {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(WEBHOOK_RETRY) => {}
            }
        }
    }
}

/// POSTs `update` to `target` as Telegram does; the status, `None` without an answer.
async fn post_update(target: &str, secret: Option<&str>, body: Vec<u8>) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .ok()?;
    let mut request = client
        .post(target)
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    request.send().await.ok().map(|r| r.status().as_u16())
}

async fn handle(
    state: Arc<Shared>,
    stop: CancellationToken,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = route(&state, &stop, request).await;
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn route(state: &Shared, stop: &CancellationToken, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return refuse(404, "Not Found");
    };
    if token != state.token {
        return refuse(401, "Unauthorized");
    }
    let method = method.to_owned();
    let http_method = request.method().as_str().to_owned();
    let params = match params(request).await {
        Ok(params) => params,
        Err(answer) => return answer,
    };
    let scripted = {
        let mut inner = lock(&state.inner);
        inner.calls.push(RecordedCall {
            method: method.clone(),
            http_method,
            params: params.clone(),
        });
        inner
            .failures
            .get_mut(&method.to_ascii_lowercase())
            .and_then(VecDeque::pop_front)
    };
    if let Some((status, retry_after)) = scripted {
        return scripted_failure(status, retry_after);
    }
    let param = |name: &str| params.get(name).cloned().unwrap_or(Value::Null);
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(FakeTelegram::bot_user()),
        "getupdates" => get_updates(state, stop, &param).await,
        "sendmessage" => send_message(state, &param),
        "sendchataction" => send_chat_action(state, &param),
        "setwebhook" => set_webhook(state, &param),
        "deletewebhook" => delete_webhook(state, &param),
        "getwebhookinfo" => {
            let inner = lock(&state.inner);
            let url = inner.webhook.as_ref().map_or("", |(url, _)| url.as_str());
            let mut info = json!({"url": url, "has_custom_certificate": false,
                      "pending_update_count": inner.updates.len()});
            if let (Some((date, message)), Some(_)) = (&inner.webhook_error, &inner.webhook) {
                info["last_error_date"] = json!(date);
                info["last_error_message"] = json!(message);
            }
            if let (Some(allowed), Some(_)) = (&inner.allowed_updates, &inner.webhook) {
                info["allowed_updates"] = json!(allowed);
            }
            ok(info)
        }
        _ => refuse(404, "Not Found"),
    }
}

/// The query string, then a form or JSON body, as one map.
async fn params(request: Request<Incoming>) -> Result<Map<String, Value>, Answer> {
    let mut params = Map::new();
    if let Some(query) = request.uri().query() {
        for (key, value) in form_pairs(query) {
            params.insert(key, Value::String(value));
        }
    }
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(refuse(413, "Request Entity Too Large")),
    };
    if body.is_empty() {
        return Ok(params);
    }
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(fields)) => params.extend(fields),
            _ => return Err(bad_request("can't parse JSON request body")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        let body = String::from_utf8_lossy(&body);
        for (key, value) in form_pairs(&body) {
            params.insert(key, Value::String(value));
        }
    }
    Ok(params)
}

fn form_pairs(encoded: &str) -> Vec<(String, String)> {
    encoded
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn get_updates(
    state: &Shared,
    stop: &CancellationToken,
    param: &(dyn Fn(&str) -> Value + Sync),
) -> Answer {
    let offset = integer(&param("offset"));
    let limit = integer(&param("limit")).unwrap_or(100).clamp(1, 100) as usize;
    let timeout = integer(&param("timeout")).unwrap_or(0).max(0) as u64;
    let wait = Duration::from_secs(timeout).min(LONG_POLL_CAP);
    let allowed = json_param(&param("allowed_updates"));
    let generation = {
        let mut inner = lock(&state.inner);
        if inner.webhook.is_some() {
            return refuse(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
        }
        match offset {
            Some(offset) if offset > 0 => inner.updates.retain(|(id, _, _)| *id >= offset),
            Some(offset) if offset < 0 => {
                let keep = offset.unsigned_abs() as usize;
                let drop = inner.updates.len().saturating_sub(keep);
                inner.updates.drain(..drop);
            }
            _ => {}
        }
        if let Some(Value::Array(kinds)) = allowed {
            let kinds: Vec<String> = kinds
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            inner.allowed_updates = (!kinds.is_empty()).then_some(kinds);
        }
        inner.poll_generation += 1;
        inner.poll_generation
    };
    // An older poll still waiting is ended by this one.
    state.changed.notify_waiters();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let notified = state.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let inner = lock(&state.inner);
            if inner.poll_generation != generation {
                return refuse(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            let wanted: Vec<Value> = inner
                .updates
                .iter()
                .filter(|(_, kind, _)| {
                    inner.allowed_updates.as_ref().map_or(
                        kind != "chat_member" && kind != "message_reaction",
                        |allowed| allowed.contains(kind),
                    )
                })
                .take(limit)
                .map(|(_, _, update)| update.clone())
                .collect();
            if !wanted.is_empty() || tokio::time::Instant::now() >= deadline {
                return ok(Value::Array(wanted));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return ok(json!([])),
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn send_message(state: &Shared, param: &(dyn Fn(&str) -> Value + Sync)) -> Answer {
    let mut inner = lock(&state.inner);
    let (chat_id, chat) = match inner.chat(&param("chat_id")) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let text = match param("text") {
        Value::String(text) => text,
        Value::Null => return bad_request("message text is empty"),
        other => other.to_string(),
    };
    let parse_mode = match param("parse_mode") {
        Value::Null => None,
        Value::String(mode) if mode.is_empty() => None,
        Value::String(mode) => Some(mode),
        _ => return bad_request("unsupported parse_mode"),
    };
    let parsed = match parse_mode.as_deref() {
        None => Ok((text.clone(), Vec::new())),
        Some(mode) if mode.eq_ignore_ascii_case("html") => parse_html(&text),
        Some(mode) if mode.eq_ignore_ascii_case("markdownv2") => {
            parse_markdown_v2(&text).map(|plain| (plain, Vec::new()))
        }
        Some(mode) if mode.eq_ignore_ascii_case("markdown") => Ok((text.clone(), Vec::new())),
        Some(_) => return bad_request("unsupported parse_mode"),
    };
    let (plain, entities) = match parsed {
        Ok(parsed) => parsed,
        Err(reason) => return bad_request(&format!("can't parse entities: {reason}")),
    };
    if plain.trim().is_empty() {
        return bad_request("message text is empty");
    }
    if utf16_len(&plain) > MAX_TEXT_UTF16 {
        return bad_request("message is too long");
    }
    let reply_parameters = json_param(&param("reply_parameters"));
    let reply_to = reply_parameters
        .as_ref()
        .and_then(|p| integer(&p["message_id"]))
        .or_else(|| integer(&param("reply_to_message_id")));
    let without_reply = reply_parameters
        .as_ref()
        .and_then(|p| p["allow_sending_without_reply"].as_bool())
        .unwrap_or(false);
    let replied = reply_to.and_then(|id| inner.message(chat_id, id));
    if reply_to.is_some() && replied.is_none() && !without_reply {
        return bad_request("message to be replied not found");
    }
    let thread = integer(&param("message_thread_id"));
    let message_id = inner.new_message_id(chat_id);
    let mut message = json!({
        "message_id": message_id,
        "from": FakeTelegram::bot_user(),
        "chat": chat,
        "date": now(),
        "text": plain,
    });
    if !entities.is_empty() {
        message["entities"] = Value::Array(entities);
    }
    if let Some(thread) = thread {
        message["message_thread_id"] = json!(thread);
    }
    if let Some(replied) = replied {
        message["reply_to_message"] = replied;
    }
    inner
        .messages
        .entry(chat_id)
        .or_default()
        .insert(message_id, message.clone());
    inner.sent.push(SentMessage {
        chat_id,
        message_id,
        text,
        plain_text: plain,
        parse_mode,
        message_thread_id: thread,
        reply_to_message_id: reply_to,
        message: message.clone(),
    });
    drop(inner);
    state.sent_changed.notify_waiters();
    ok(message)
}

/// `sendChatAction`'s documented actions.
const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

fn send_chat_action(state: &Shared, param: &(dyn Fn(&str) -> Value + Sync)) -> Answer {
    let mut inner = lock(&state.inner);
    let (chat_id, _) = match inner.chat(&param("chat_id")) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let action = match param("action") {
        Value::String(action) if CHAT_ACTIONS.contains(&action.as_str()) => action,
        Value::Null => return bad_request("action is empty"),
        _ => return bad_request("wrong parameter action in request"),
    };
    inner.actions.push(ChatActionSent {
        chat_id,
        action,
        message_thread_id: integer(&param("message_thread_id")),
    });
    ok(json!(true))
}

fn set_webhook(state: &Shared, param: &(dyn Fn(&str) -> Value + Sync)) -> Answer {
    let url = param("url").as_str().unwrap_or("").to_owned();
    let secret = match param("secret_token") {
        Value::String(secret) if !secret.is_empty() => Some(secret),
        _ => None,
    };
    if let Some(secret) = &secret {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if secret.len() > 256 || !secret.chars().all(allowed) {
            return bad_request("secret token contains unallowed characters");
        }
    }
    let mut inner = lock(&state.inner);
    if url.is_empty() {
        let had = inner.webhook.take().is_some();
        return ok_described(
            json!(true),
            if had {
                "Webhook was deleted"
            } else {
                "Webhook is already deleted"
            },
        );
    }
    if !url.starts_with("https://") {
        return bad_request("bad webhook: An HTTPS URL must be provided for webhook");
    }
    let authority = url["https://".len()..]
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let port = match authority.rsplit_once(':') {
        Some((_, port)) if !authority.ends_with(']') => port.parse::<u16>().ok(),
        _ => Some(443),
    };
    if !matches!(port, Some(443 | 80 | 88 | 8443)) {
        return bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443");
    }
    if let Some(Value::Array(kinds)) = json_param(&param("allowed_updates")) {
        let kinds: Vec<String> = kinds
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        inner.allowed_updates = (!kinds.is_empty()).then_some(kinds);
    }
    inner.webhook_error = None;
    if param("drop_pending_updates").as_bool() == Some(true)
        || param("drop_pending_updates").as_str() == Some("true")
    {
        inner.updates.clear();
    }
    inner.webhook = Some((url, secret));
    drop(inner);
    state.changed.notify_waiters();
    ok_described(json!(true), "Webhook was set")
}

fn delete_webhook(state: &Shared, param: &(dyn Fn(&str) -> Value + Sync)) -> Answer {
    let mut inner = lock(&state.inner);
    if param("drop_pending_updates").as_bool() == Some(true)
        || param("drop_pending_updates").as_str() == Some("true")
    {
        inner.updates.clear();
    }
    let had = inner.webhook.take().is_some();
    ok_described(
        json!(true),
        if had {
            "Webhook was deleted"
        } else {
            "Webhook is already deleted"
        },
    )
}

/// Telegram's HTML parse mode, strictly: only its tags (`b`, `strong`, `i`, `em`, `u`,
/// `ins`, `s`, `strike`, `del`, `span class="tg-spoiler"`, `tg-spoiler`, `a href`, `code`,
/// `pre`, `blockquote`, `tg-emoji`), balanced and properly nested; a `<` that starts no
/// tag is an error; `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities are decoded.
/// Returns the plain text and its entities (UTF-16 offsets).
fn parse_html(text: &str) -> Result<(String, Vec<Value>), String> {
    struct Open {
        name: String,
        start: usize,
        /// A `code` inside `pre`: the `pre` entity carries its language.
        in_pre: bool,
        extra: Option<(&'static str, String)>,
    }
    let mut plain = String::new();
    let mut units = 0;
    let mut stack: Vec<Open> = Vec::new();
    let mut entities = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or('\0');
        if c == '<' {
            if !rest[1..].starts_with(|n: char| n.is_ascii_alphabetic() || n == '/') {
                return Err(format!("Unsupported start tag \"\" at byte offset {i}"));
            }
            let Some(close) = rest.find('>') else {
                return Err(format!("Unclosed start tag at byte offset {i}"));
            };
            let inside = &rest[1..close];
            if let Some(name) = inside.strip_prefix('/') {
                let name = name.trim().to_ascii_lowercase();
                let Some(open) = stack.pop() else {
                    return Err(format!("Unexpected end tag at byte offset {i}"));
                };
                if open.name != name {
                    return Err(format!(
                        "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                        open.name
                    ));
                }
                let kind = match name.as_str() {
                    "b" | "strong" => "bold",
                    "i" | "em" => "italic",
                    "u" | "ins" => "underline",
                    "s" | "strike" | "del" => "strikethrough",
                    "span" | "tg-spoiler" => "spoiler",
                    "a" => "text_link",
                    "code" => "code",
                    "pre" => "pre",
                    "blockquote" => "blockquote",
                    _ => "custom_emoji",
                };
                if units > open.start && !open.in_pre {
                    let mut entity =
                        json!({"type": kind, "offset": open.start, "length": units - open.start});
                    if let Some((key, value)) = open.extra {
                        entity[key] = json!(value);
                    }
                    entities.push(entity);
                }
            } else {
                let name: String = inside
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
                    .to_ascii_lowercase();
                let attributes = html_attributes(&inside[name.len()..]).ok_or_else(|| {
                    format!("Unsupported start tag \"{name}\" at byte offset {i}")
                })?;
                let attribute = |key: &str| {
                    attributes
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| v.clone())
                };
                let in_code = stack.iter().any(|o| o.name == "code" || o.name == "pre");
                let extra = match name.as_str() {
                    "b" | "strong" | "i" | "em" | "u" | "ins" | "s" | "strike" | "del"
                    | "tg-spoiler" | "blockquote" => None,
                    "span" if attribute("class").as_deref() == Some("tg-spoiler") => None,
                    "a" => Some(("url", attribute("href").unwrap_or_default())),
                    "tg-emoji" => {
                        Some(("custom_emoji_id", attribute("emoji-id").unwrap_or_default()))
                    }
                    "code" => attribute("class")
                        .and_then(|class| class.strip_prefix("language-").map(str::to_owned))
                        .map(|language| ("language", language)),
                    "pre" => None,
                    _ => {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {i}"
                        ))
                    }
                };
                let code_in_pre = name == "code" && stack.last().is_some_and(|o| o.name == "pre");
                if in_code && !code_in_pre {
                    return Err(format!(
                        "Can't parse entities: tag \"{name}\" inside code at byte offset {i}"
                    ));
                }
                let extra = if code_in_pre {
                    // <pre><code class="language-x"> is one pre entity with a language.
                    if let (Some(pre), Some((_, language))) = (stack.last_mut(), extra.clone()) {
                        pre.extra = Some(("language", language));
                    }
                    None
                } else {
                    extra
                };
                stack.push(Open {
                    name,
                    start: units,
                    in_pre: code_in_pre,
                    extra,
                });
            }
            i += close + 1;
            continue;
        }
        let (decoded, used) = if c == '&' {
            html_entity(rest).unwrap_or(('&', 1))
        } else {
            (c, c.len_utf8())
        };
        plain.push(decoded);
        units += decoded.len_utf16();
        i += used;
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.name
        ));
    }
    entities.sort_by_key(|e| e["offset"].as_u64());
    Ok((plain, entities))
}

/// `key="value"` pairs after a tag's name; `None` when they do not parse.
fn html_attributes(mut rest: &str) -> Option<Vec<(String, String)>> {
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() || rest == "/" {
            return Some(attributes);
        }
        let key_len = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = rest[..key_len].to_ascii_lowercase();
        if key.is_empty() {
            return None;
        }
        rest = rest[key_len..].trim_start();
        let Some(after) = rest.strip_prefix('=') else {
            attributes.push((key, String::new()));
            continue;
        };
        let after = after.trim_start();
        let (value, remaining) = match after.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let end = after[1..].find(quote)?;
                (&after[1..1 + end], &after[end + 2..])
            }
            _ => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let mut decoded = String::new();
        let mut j = 0;
        while j < value.len() {
            let (c, used) = html_entity(&value[j..])
                .unwrap_or_else(|| (value[j..].chars().next().unwrap_or(' '), 0));
            let used = if used == 0 { c.len_utf8() } else { used };
            decoded.push(c);
            j += used;
        }
        attributes.push((key, decoded));
        rest = remaining;
    }
}

/// The character an entity at the start of `text` stands for, and its length in bytes.
fn html_entity(text: &str) -> Option<(char, usize)> {
    let end = text.find(';')?;
    if end > 10 {
        return None;
    }
    let name = &text[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// Telegram's MarkdownV2, strictly enough to catch what a formatter gets wrong: every
/// reserved character outside an entity escaped, markers balanced and nested, inside code
/// only `` ` `` and `\` escaped. Returns the plain text.
fn parse_markdown_v2(text: &str) -> Result<String, String> {
    const RESERVED: &str = "_*[]()~`>#+-=|{}.!";
    let mut plain = String::new();
    let mut stack: Vec<(&'static str, usize)> = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or('\0');
        let was_line_start = line_start;
        line_start = c == '\n';
        if c == '\\' {
            match rest[1..].chars().next() {
                Some(escaped) if (escaped as u32) >= 1 && (escaped as u32) <= 126 => {
                    plain.push(escaped);
                    i += 1 + escaped.len_utf8();
                }
                _ => {
                    return Err(
                        "Character '\\' is reserved and must be escaped with the preceding '\\'"
                            .to_owned(),
                    )
                }
            }
            continue;
        }
        if c == '`' {
            let pre = rest.starts_with("```");
            let marker = if pre { "```" } else { "`" };
            let mut j = marker.len();
            if pre {
                // The language: up to the end of the first line.
                let first_line = rest[j..].find('\n').map_or(0, |n| n + 1);
                j += first_line;
            }
            let body_start = plain.len();
            loop {
                let Some(inner) = rest[j..].chars().next() else {
                    let kind = if pre { "Pre" } else { "Code" };
                    return Err(format!(
                        "Can't find end of {kind} entity at byte offset {i}"
                    ));
                };
                if inner == '\\' {
                    match rest[j + 1..].chars().next() {
                        Some(e) => {
                            plain.push(e);
                            j += 1 + e.len_utf8();
                        }
                        None => {
                            return Err(format!("Can't find end of Code entity at byte offset {i}"))
                        }
                    }
                    continue;
                }
                if rest[j..].starts_with(marker) {
                    j += marker.len();
                    break;
                }
                if inner == '`' {
                    return Err(format!("Can't find end of Code entity at byte offset {i}"));
                }
                plain.push(inner);
                j += inner.len_utf8();
            }
            if pre && plain.ends_with('\n') && plain.len() > body_start {
                plain.pop();
            }
            i += j;
            continue;
        }
        let marker: Option<&'static str> = match c {
            '*' => Some("*"),
            '_' if rest.starts_with("__") => Some("__"),
            '_' => Some("_"),
            '~' => Some("~"),
            '|' if rest.starts_with("||") => Some("||"),
            '[' => Some("["),
            _ => None,
        };
        if let Some(marker) = marker {
            if marker == "[" {
                stack.push(("[", i));
                i += 1;
                continue;
            }
            match stack.iter().rposition(|(m, _)| *m == marker) {
                Some(at) if at == stack.len() - 1 => {
                    stack.pop();
                }
                Some(_) => {
                    return Err(format!(
                        "Can't find end of the entity starting at byte offset {}",
                        stack[stack.len() - 1].1
                    ))
                }
                None => stack.push((marker, i)),
            }
            i += marker.len();
            continue;
        }
        if c == ']' {
            if stack.last().map(|(m, _)| *m) != Some("[") {
                return Err(
                    "Character ']' is reserved and must be escaped with the preceding '\\'".into(),
                );
            }
            stack.pop();
            if let Some(url) = rest[1..].strip_prefix('(') {
                let mut j = 0;
                loop {
                    match url[j..].chars().next() {
                        None => return Err(format!("Can't find end of a URL at byte offset {i}")),
                        Some('\\') => {
                            j += 1 + url[j + 1..].chars().next().map_or(0, char::len_utf8)
                        }
                        Some(')') => break,
                        Some(other) => j += other.len_utf8(),
                    }
                }
                i += 2 + j + 1;
            } else {
                i += 1;
            }
            continue;
        }
        if c == '>' && was_line_start {
            i += 1;
            continue;
        }
        if RESERVED.contains(c) {
            return Err(format!(
                "Character '{c}' is reserved and must be escaped with the preceding '\\'"
            ));
        }
        plain.push(c);
        i += c.len_utf8();
    }
    if let Some((marker, at)) = stack.pop() {
        return Err(format!(
            "Can't find end of the entity starting at byte offset {at} ({marker})"
        ));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

    async fn call(fake: &FakeTelegram, method: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/bot{TOKEN}/{method}", fake.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn ann() -> TestUser {
        TestUser::new(1111, "Ann").with_username("ann")
    }

    #[tokio::test]
    async fn get_me_and_a_wrong_token() {
        let fake = FakeTelegram::start(TOKEN).await;
        let (status, me) = call(&fake, "getMe", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(me["ok"], true);
        assert_eq!(me["result"]["username"], BOT_USERNAME);
        assert_eq!(me["result"]["is_bot"], true);
        // GET with the method's case changed works too, as Telegram's methods are
        // case-insensitive.
        let got = reqwest::get(format!("{}/bot{TOKEN}/GETME", fake.url()))
            .await
            .unwrap();
        assert_eq!(got.status().as_u16(), 200);
        let wrong = reqwest::get(format!("{}/bot1:wrong/getMe", fake.url()))
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        let body: Value = serde_json::from_slice(&wrong.bytes().await.unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
        );
        let (status, body) = call(&fake, "sendSticker", json!({})).await;
        assert_eq!(
            (status, body["description"].clone()),
            (404, json!("Not Found"))
        );
    }

    #[tokio::test]
    async fn updates_are_confirmed_by_offset() {
        let fake = FakeTelegram::start(TOKEN).await;
        let chat = TestChat::private(&ann());
        let first = fake.push_message(&chat, &ann(), "hello");
        let second = fake.push_message(&chat, &ann(), "/start");
        let (_, body) = call(&fake, "getUpdates", json!({})).await;
        let updates = body["result"].as_array().unwrap();
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0]["update_id"], first.update_id);
        assert_eq!(updates[0]["message"]["text"], "hello");
        assert_eq!(
            updates[0]["message"]["chat"],
            json!({"id": 1111, "type": "private", "username": "ann", "first_name": "Ann"})
        );
        assert_eq!(
            updates[1]["message"]["entities"],
            json!([{"type": "bot_command", "offset": 0, "length": 6}])
        );
        // Not confirmed: the same again.
        let (_, again) = call(&fake, "getUpdates", json!({"limit": 1})).await;
        assert_eq!(again["result"].as_array().unwrap().len(), 1);
        let (_, rest) = call(&fake, "getUpdates", json!({"offset": first.update_id + 1})).await;
        assert_eq!(rest["result"][0]["update_id"], second.update_id);
        let (_, none) = call(&fake, "getUpdates", json!({"offset": second.update_id + 1})).await;
        assert_eq!(none["result"], json!([]));
        assert_eq!(fake.pending_updates(), 0);
    }

    #[tokio::test]
    async fn long_polling_waits_for_an_update() {
        let fake = FakeTelegram::start(TOKEN).await;
        let url = fake.url();
        let poll = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let response = reqwest::Client::new()
                .get(format!(
                    "{url}/bot{TOKEN}/getUpdates?timeout=20&allowed_updates=%5B%22message%22%5D"
                ))
                .send()
                .await
                .unwrap();
            let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (started.elapsed(), body)
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let group = TestChat::group(-4001, "Family");
        fake.push_message(&group, &ann(), "hey @b00t_test_bot, /help@b00t_test_bot");
        let (waited, body) = poll.await.unwrap();
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(10),
            "{waited:?}"
        );
        let message = &body["result"][0]["message"];
        assert_eq!(message["chat"]["type"], "group");
        assert_eq!(
            message["entities"],
            json!([{"type": "mention", "offset": 4, "length": 14},
                   {"type": "bot_command", "offset": 20, "length": 19}])
        );
        // A timeout with nothing queued answers an empty list once it passes.
        let (_, empty) = call(&fake, "getUpdates", json!({"offset": -1, "timeout": 1})).await;
        assert_eq!(empty["result"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_newer_poll_ends_the_older_one_and_a_webhook_forbids_polling() {
        let fake = FakeTelegram::start(TOKEN).await;
        let url = fake.url();
        let older = tokio::spawn(async move {
            let response = reqwest::get(format!("{url}/bot{TOKEN}/getUpdates?timeout=30"))
                .await
                .unwrap();
            response.status().as_u16()
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, _) = call(&fake, "getUpdates", json!({"timeout": 0})).await;
        assert_eq!(status, 200);
        assert_eq!(older.await.unwrap(), 409);
        let (status, set) = call(
            &fake,
            "setWebhook",
            json!({"url": "https://example.com/hook", "secret_token": "s3cr3t_-x"}),
        )
        .await;
        assert_eq!(
            (status, set["description"].clone()),
            (200, json!("Webhook was set"))
        );
        assert_eq!(
            fake.webhook(),
            Some(("https://example.com/hook".into(), Some("s3cr3t_-x".into())))
        );
        let (status, conflict) = call(&fake, "getUpdates", json!({})).await;
        assert_eq!(status, 409);
        assert!(conflict["description"]
            .as_str()
            .unwrap()
            .contains("webhook is active"));
        let (status, _) = call(
            &fake,
            "setWebhook",
            json!({"url": "https://e.x/", "secret_token": "no spaces"}),
        )
        .await;
        assert_eq!(status, 400);
        let (_, deleted) = call(
            &fake,
            "deleteWebhook",
            json!({"drop_pending_updates": true}),
        )
        .await;
        assert_eq!(deleted["description"], "Webhook was deleted");
        let (status, _) = call(&fake, "getUpdates", json!({})).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn send_message_is_checked_as_telegram_checks_it() {
        let fake = FakeTelegram::start(TOKEN).await;
        let group = TestChat::supergroup(-1001234567890, "Family", true);
        let pushed = fake.push_message_with(
            &group,
            &ann(),
            "question",
            MessageOptions {
                message_thread_id: Some(7),
                ..MessageOptions::default()
            },
        );
        let (status, body) = call(&fake, "sendMessage", json!({
            "chat_id": group.id, "text": "<b>bold</b> &amp; <a href=\"https://e.x/?a=1&amp;b=2\">link</a> \u{1F600}",
            "parse_mode": "HTML", "message_thread_id": 7,
            "reply_parameters": {"message_id": pushed.message_id}
        })).await;
        assert_eq!(status, 200, "{body}");
        let message = &body["result"];
        assert_eq!(message["text"], "bold & link \u{1F600}");
        assert_eq!(message["from"]["id"], BOT_ID);
        assert_eq!(message["reply_to_message"]["message_id"], pushed.message_id);
        assert_eq!(
            message["entities"],
            json!([{"type": "bold", "offset": 0, "length": 4},
                   {"type": "text_link", "offset": 7, "length": 4, "url": "https://e.x/?a=1&b=2"}])
        );
        let sent = fake.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].message_thread_id, sent[0].reply_to_message_id),
            (Some(7), Some(pushed.message_id))
        );
        assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));

        let refusals = [
            (json!({"text": "x"}), "Bad Request: chat_id is empty"),
            (json!({"chat_id": 99, "text": "x"}), "Bad Request: chat not found"),
            (json!({"chat_id": group.id}), "Bad Request: message text is empty"),
            (json!({"chat_id": group.id, "text": ""}), "Bad Request: message text is empty"),
            (json!({"chat_id": group.id, "text": "\u{1F600}".repeat(2049)}), "Bad Request: message is too long"),
            (json!({"chat_id": group.id, "text": "<b>open", "parse_mode": "HTML"}),
             "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
            (json!({"chat_id": group.id, "text": "a < b", "parse_mode": "HTML"}),
             "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2"),
            (json!({"chat_id": group.id, "text": "<b><i>x</b></i>", "parse_mode": "HTML"}),
             "Bad Request: can't parse entities: Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\""),
            (json!({"chat_id": group.id, "text": "<script>x</script>", "parse_mode": "HTML"}),
             "Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 0"),
            (json!({"chat_id": group.id, "text": "done.", "parse_mode": "MarkdownV2"}),
             "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"),
            (json!({"chat_id": group.id, "text": "x", "parse_mode": "BBCode"}), "Bad Request: unsupported parse_mode"),
            (json!({"chat_id": group.id, "text": "x", "reply_parameters": {"message_id": 999}}),
             "Bad Request: message to be replied not found"),
        ];
        for (body, description) in refusals {
            let (status, answer) = call(&fake, "sendMessage", body.clone()).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(
                answer,
                json!({"ok": false, "error_code": 400, "description": description}),
                "{body}"
            );
        }
        // 4096 UTF-16 units after parsing are fine, tags not counted.
        let (status, _) = call(&fake, "sendMessage", json!({"chat_id": group.id, "text": format!("<b>{}</b>", "a".repeat(4096)), "parse_mode": "HTML"})).await;
        assert_eq!(status, 200);
        let (status, _) = call(&fake, "sendMessage", json!({"chat_id": group.id, "text": "*bold* \\. `a.b` [l](https://e.x/\\))", "parse_mode": "MarkdownV2"})).await;
        assert_eq!(status, 200);
        assert_eq!(fake.sent().last().unwrap().plain_text, "bold . a.b l");
    }

    #[tokio::test]
    async fn chat_actions_and_scripted_failures() {
        let fake = FakeTelegram::start(TOKEN).await;
        let chat = TestChat::private(&ann());
        fake.push_message(&chat, &ann(), "hi");
        let (status, body) = call(
            &fake,
            "sendChatAction",
            json!({"chat_id": 1111, "action": "typing"}),
        )
        .await;
        assert_eq!((status, body), (200, json!({"ok": true, "result": true})));
        let (status, _) = call(
            &fake,
            "sendChatAction",
            json!({"chat_id": 1111, "action": "dancing"}),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            fake.chat_actions(),
            [ChatActionSent {
                chat_id: 1111,
                action: "typing".into(),
                message_thread_id: None
            }]
        );

        fake.fail_next("sendMessage", 429, Some(3));
        fake.fail_next("sendMessage", 502, None);
        let (status, body) =
            call(&fake, "sendMessage", json!({"chat_id": 1111, "text": "x"})).await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})
        );
        let (status, body) =
            call(&fake, "sendMessage", json!({"chat_id": 1111, "text": "x"})).await;
        assert_eq!(
            (status, body["description"].clone()),
            (502, json!("Bad Gateway"))
        );
        let (status, _) = call(&fake, "sendMessage", json!({"chat_id": 1111, "text": "x"})).await;
        assert_eq!(status, 200);
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(
            fake.calls()
                .iter()
                .filter(|c| c.method == "sendMessage")
                .count(),
            3
        );
    }

    #[tokio::test]
    async fn form_encoded_parameters_and_replies_and_edits() {
        let fake = FakeTelegram::start(TOKEN).await;
        let group = TestChat::group(-4002, "Team");
        let bob = TestUser::new(2222, "Bob");
        let asked = fake.push_message(&group, &bob, "first");
        let response = reqwest::Client::new()
            .post(format!("{}/bot{TOKEN}/sendMessage", fake.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "chat_id=-4002&text=a+%26+b&reply_parameters=%7B%22message_id%22%3A{}%7D",
                asked.message_id
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let answer = fake.sent()[0].clone();
        assert_eq!(answer.text, "a & b");
        let reply = fake.push_message_with(
            &group,
            &bob,
            "thanks",
            MessageOptions {
                reply_to_message_id: Some(answer.message_id),
                ..MessageOptions::default()
            },
        );
        fake.push_message_with(
            &group,
            &bob,
            "first!",
            MessageOptions {
                edits_message_id: Some(asked.message_id),
                ..MessageOptions::default()
            },
        );
        let (_, body) = call(&fake, "getUpdates", json!({"offset": reply.update_id})).await;
        let updates = body["result"].as_array().unwrap();
        assert_eq!(
            updates[0]["message"]["reply_to_message"]["from"]["id"],
            BOT_ID
        );
        assert_eq!(updates[1]["edited_message"]["message_id"], asked.message_id);
        assert_eq!(updates[1]["edited_message"]["text"], "first!");
    }

    #[tokio::test]
    async fn a_set_webhook_gets_the_updates_posted_with_the_secret_until_it_takes_them() {
        let fake = FakeTelegram::start(TOKEN).await;
        // The bridge's side: answers 500 to the first delivery, then 200; records each.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook_addr = listener.local_addr().unwrap();
        // (path, secret header, update) of each delivery.
        type Received = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;
        let received: Received = Arc::default();
        let stop = CancellationToken::new();
        tokio::spawn(crate::http::serve("hook", listener, stop.clone(), {
            let received = received.clone();
            move |request: Request<Incoming>| {
                let received = received.clone();
                async move {
                    let path = request.uri().path().to_owned();
                    let secret = request
                        .headers()
                        .get(SECRET_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let update: Value = serde_json::from_slice(&body).unwrap();
                    let status = {
                        let mut received = received.lock().unwrap();
                        received.push((path, secret, update));
                        if received.len() == 1 {
                            500
                        } else {
                            200
                        }
                    };
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(response)
                }
            }
        }));
        let (status, refused) = call(&fake, "setWebhook", json!({"url": "http://e.x/hook"})).await;
        assert_eq!(
            (status, refused["description"].as_str()),
            (
                400,
                Some("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            )
        );
        let (status, _) = call(&fake, "setWebhook", json!({"url": "https://e.x:9000/hook"})).await;
        assert_eq!(status, 400);
        let (status, _) = call(
            &fake,
            "setWebhook",
            json!({"url": "https://bot.example.org/tg/hook?x=1", "secret_token": "s3cret",
                   "allowed_updates": ["message"], "drop_pending_updates": false}),
        )
        .await;
        assert_eq!(status, 200);
        fake.push_update(json!({"callback_query": {"id": "1", "data": "x"}}));
        let pushed = fake.push_message(&TestChat::private(&ann()), &ann(), "over the hook");
        // Nothing goes out until the test says where the URL leads.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(fake.deliveries().is_empty());
        fake.tunnel_webhook(&format!("http://{hook_addr}"));
        let done = tokio::time::timeout(Duration::from_secs(10), fake.delivered(pushed.update_id))
            .await
            .expect("delivered");
        assert_eq!(done.url, format!("http://{hook_addr}/tg/hook?x=1"));
        let deliveries = fake.deliveries();
        assert_eq!(
            deliveries.iter().map(|d| d.status).collect::<Vec<_>>(),
            [Some(500), Some(200)]
        );
        let received = received.lock().unwrap().clone();
        assert_eq!(received.len(), 2);
        for (path, secret, update) in &received {
            assert_eq!(path, "/tg/hook");
            assert_eq!(secret.as_deref(), Some("s3cret"));
            assert_eq!(update["update_id"], pushed.update_id);
            assert_eq!(update["message"]["text"], "over the hook");
        }
        // The callback query was not among allowed_updates: dropped, not delivered.
        let (_, info) = call(&fake, "getWebhookInfo", json!({})).await;
        assert_eq!(info["result"]["pending_update_count"], 0, "{info}");
        assert_eq!(info["result"]["url"], "https://bot.example.org/tg/hook?x=1");
        assert_eq!(info["result"]["allowed_updates"], json!(["message"]));
        // A redelivery on demand: the same update again.
        assert_eq!(fake.redeliver(pushed.update_id).await, Some(200));
        assert_eq!(fake.deliveries().len(), 3);
        stop.cancel();
    }

    #[test]
    fn html_entities_and_nesting() {
        let (plain, entities) =
            parse_html("<pre><code class=\"language-rust\">a &lt; b</code></pre>").unwrap();
        assert_eq!(plain, "a < b");
        assert_eq!(
            entities,
            [json!({"type": "pre", "offset": 0, "length": 5, "language": "rust"})]
        );
        assert!(parse_html("<code><b>x</b></code>").is_err());
        assert_eq!(
            parse_html("&#x1F600;&#65;&foo").unwrap().0,
            "\u{1F600}A&foo"
        );
        assert!(parse_html("</b>").is_err());
    }
}
