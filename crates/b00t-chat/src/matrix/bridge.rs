//! [`Matrix`], the Matrix platform of the shared [`Engine`]: a bot account that long
//! polls `/sync` from the `since` token in the journal. Each text message from someone
//! else in a joined room becomes an [`Inbound`] (task id `mx-` and a hash of the event
//! id) journaled by the engine; the batch's `next_batch` is saved only once every message
//! of the batch is, so a crash makes the homeserver send the batch again and the task ids
//! find what was already recorded. The first start without a token skips the history: it
//! begins at the current `next_batch` without answering old messages, and so does a room's
//! timeline before the bot's own join. A sync whose room timeline is `limited` (more
//! messages than one answer carries) has the gap read back through `/messages` before
//! any of it is handed on, so a long absence loses nothing (up to [`MAX_GAP_PAGES`]
//! pages).
//!
//! Invites: joined when the room is bound in `[bridges.<name>.chats]` or `join_invites`
//! is on; otherwise remembered (and listed again by a sync without `since` at every
//! start), and joined as soon as the operator binds the room. Answers go out as
//! `m.room.message`s with HTML, the first a reply (`m.in_reply_to`, in the thread when the
//! message was in one) mentioning the sender, each part in a transaction derived from the
//! task and the part's number, so a part sent again after a crash is one event. Typing
//! is shown every 10 s for 15 s while an answer is awaited, and hidden as it is sent.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use b00t_bridges::format::to_matrix_html;
use b00t_bridges::matrix::types::{JoinedRoom, TEXT, TIMELINE_LIMIT};
use b00t_bridges::matrix::{
    addresses_bot, sync_filter, task_id, txn_id, MatrixBot, Mentions, MessageContent, RelatesTo,
    SyncResponse,
};
use b00t_journal::Cursor;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Inbound, Platform, SendError};
use crate::matrix::api::{CallError, MatrixApi};
use crate::origin::{Origin, Sender};
use crate::retry::Refusal;
use crate::{bindings, ChatError};

/// How often typing is shown again while an answer is awaited.
pub const TYPING_EVERY: Duration = Duration::from_secs(10);
/// How long the homeserver shows one typing notice.
const TYPING_SHOWN: Duration = Duration::from_secs(15);
/// `/sync`'s long-poll timeout.
const SYNC_TIMEOUT: Duration = Duration::from_secs(25);
/// `/sync`'s timeout while an invite waits for its room to be bound: the join follows
/// `b00t bridge allow` within it.
const PENDING_SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Pages of [`TIMELINE_LIMIT`] events read back to fill one room's gap in a sync: the
/// messages of a long absence, within bounded memory.
const MAX_GAP_PAGES: usize = 50;
/// Rooms remembered (member counts, invites waiting); the memory is cleared past it.
const MAX_ROOMS: usize = 10_000;
/// Waits after a failed call, growing to the last.
const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// The Matrix side of a bridge.
pub struct Matrix {
    api: MatrixApi,
    /// The home whose b00t.toml binds the rooms.
    home: PathBuf,
    bot: OnceLock<MatrixBot>,
    /// Joined members by room, as last counted; a membership change forgets the room's.
    members: Mutex<HashMap<String, u64>>,
    /// Invites not joined (the room is not bound): room id to the inviter.
    pending: Mutex<BTreeMap<String, String>>,
    /// Numbers the transactions of notices (help, hints), which have no task.
    notices: AtomicU64,
    /// Makes notices' transaction ids differ from a previous run's.
    run_id: u64,
}

impl Matrix {
    pub fn new(api: MatrixApi, home: PathBuf) -> Matrix {
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Matrix {
            api,
            home,
            bot: OnceLock::new(),
            members: Mutex::new(HashMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            notices: AtomicU64::new(0),
            run_id,
        }
    }

    /// `whoami` (and the display name), again with backoff until it answers or `shutdown`.
    async fn identify(engine: &Engine<Matrix>, shutdown: &CancellationToken) -> Option<MatrixBot> {
        let mut failures = 0usize;
        loop {
            let answer = tokio::select! {
                _ = shutdown.cancelled() => return None,
                answer = engine.platform.api.whoami() => answer,
            };
            match answer {
                Ok(me) => {
                    let display_name = engine
                        .platform
                        .api
                        .display_name(&me.user_id)
                        .await
                        .unwrap_or_else(|e| {
                            tracing::warn!(bridge = %engine.name, error = %e, "the bot's display name is unknown; it is mentioned by its user id and localpart only");
                            None
                        });
                    tracing::info!(bridge = %engine.name, bot = %me.user_id, "Matrix bridge syncing");
                    let _ = engine.board.bot.set(me.user_id.clone());
                    engine.record_error(None).await;
                    let bot = MatrixBot {
                        user_id: me.user_id,
                        display_name,
                    };
                    let _ = engine.platform.bot.set(bot.clone());
                    return Some(bot);
                }
                Err(e) => {
                    let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::error!(bridge = %engine.name, error = %e, "Matrix whoami failed; trying again in {} s", wait.as_secs());
                    engine.record_error(Some(e.to_string())).await;
                    if !pause(shutdown, wait).await {
                        return None;
                    }
                }
            }
        }
    }

    /// The token to sync from: the journal's, or (a first start) the current
    /// `next_batch`, saved, so that history is not answered. Either way a sync without
    /// `since` lists the invites waiting, which are taken first.
    async fn start_token(
        engine: &Arc<Engine<Matrix>>,
        bot: &MatrixBot,
    ) -> Result<String, ChatError> {
        let saved = engine.journal(|s, name| s.token(name)).await?;
        let now = engine
            .platform
            .api
            .sync(None, Duration::ZERO, &start_filter())
            .await
            .map_err(|e| ChatError::Platform(e.to_string()))?;
        Matrix::invites(engine, bot, &now).await;
        match saved {
            Some(token) => Ok(token),
            None => {
                tracing::info!(bridge = %engine.name, "first sync: earlier messages are not answered");
                engine.skip(Cursor::Token(now.next_batch.clone())).await?;
                Ok(now.next_batch)
            }
        }
    }

    /// One `/sync` from `since`: its invites, every message of it handed to the engine,
    /// then its `next_batch` saved (and returned).
    async fn sync_once(
        engine: &Arc<Engine<Matrix>>,
        bot: &MatrixBot,
        since: &str,
    ) -> Result<String, ChatError> {
        let timeout = if engine.platform.lock_pending().is_empty() {
            SYNC_TIMEOUT
        } else {
            PENDING_SYNC_TIMEOUT
        };
        let sync = engine
            .platform
            .api
            .sync(Some(since), timeout, &sync_filter())
            .await
            .map_err(|e| ChatError::Platform(e.to_string()))?;
        Matrix::invites(engine, bot, &sync).await;
        Matrix::join_bound(engine).await;
        for room in sync.rooms.leave.keys() {
            engine.platform.lock_pending().remove(room);
            engine.platform.lock_members().remove(room);
        }
        for (room_id, room) in &sync.rooms.join {
            let room = Matrix::fill_gap(engine, room_id, room, since).await?;
            Matrix::room_news(engine, bot, room_id, &room).await?;
        }
        engine.skip(Cursor::Token(sync.next_batch.clone())).await?;
        Ok(sync.next_batch)
    }

    /// Joins the rooms of `sync`'s invites that may be joined; remembers the others.
    async fn invites(engine: &Arc<Engine<Matrix>>, bot: &MatrixBot, sync: &SyncResponse) {
        for (room, invite) in &sync.rooms.invite {
            let inviter = invite.inviter(&bot.user_id).unwrap_or("someone").to_owned();
            let bound = engine.platform.bound(&engine.name, room).await;
            if engine.config.join_invites || bound {
                Matrix::join(engine, room, &inviter).await;
            } else {
                tracing::warn!(bridge = %engine.name, room = %room, inviter = %inviter, "invited to a room not bound to a group; it is joined once the operator runs `b00t bridge allow matrix:{room} --group <group>` (or sets join_invites = true)");
                let mut pending = engine.platform.lock_pending();
                if pending.len() >= MAX_ROOMS {
                    pending.clear();
                }
                pending.insert(room.clone(), inviter);
            }
        }
    }

    /// Joins the rooms invited to that the operator has bound since.
    async fn join_bound(engine: &Arc<Engine<Matrix>>) {
        let waiting: Vec<(String, String)> = engine
            .platform
            .lock_pending()
            .iter()
            .map(|(room, inviter)| (room.clone(), inviter.clone()))
            .collect();
        for (room, inviter) in waiting {
            if engine.platform.bound(&engine.name, &room).await {
                Matrix::join(engine, &room, &inviter).await;
            }
        }
    }

    /// Joins `room`: forgotten as an invite once joined or refused for good; kept to be
    /// tried again after a transient failure.
    async fn join(engine: &Arc<Engine<Matrix>>, room: &str, inviter: &str) {
        match engine.platform.api.join(room).await {
            Ok(_) => {
                tracing::info!(bridge = %engine.name, room = %room, inviter = %inviter, "joined the room invited to");
                engine.platform.lock_pending().remove(room);
            }
            Err(e) if e.refusal() == Refusal::Final => {
                tracing::warn!(bridge = %engine.name, room = %room, error = %e, "cannot join the room invited to; the invite is dropped");
                engine.platform.lock_pending().remove(room);
            }
            Err(e) => {
                tracing::warn!(bridge = %engine.name, room = %room, error = %e, "joining the room failed; trying again at the next sync");
                engine
                    .platform
                    .lock_pending()
                    .insert(room.to_owned(), inviter.to_owned());
            }
        }
    }

    /// `room` with its timeline's gap filled: a `limited` timeline (more events than one
    /// sync carries arrived since `since`) gets the events before it, read back from its
    /// `prev_batch` to `since` through `/messages`, page by page, oldest first. A failed
    /// page fails the sync, so the token is not saved past messages not yet journaled;
    /// a gap longer than [`MAX_GAP_PAGES`] pages is logged and only its latest part kept.
    async fn fill_gap<'a>(
        engine: &Arc<Engine<Matrix>>,
        room_id: &str,
        room: &'a JoinedRoom,
        since: &str,
    ) -> Result<Cow<'a, JoinedRoom>, ChatError> {
        let (true, Some(mut from)) = (room.timeline.limited, room.timeline.prev_batch.clone())
        else {
            return Ok(Cow::Borrowed(room));
        };
        let mut older = Vec::new();
        let mut complete = false;
        for _ in 0..MAX_GAP_PAGES {
            let page = engine
                .platform
                .api
                .messages_back(room_id, &from, since, TIMELINE_LIMIT)
                .await
                .map_err(|e| ChatError::Platform(e.to_string()))?;
            let empty = page.chunk.is_empty();
            older.extend(page.chunk);
            match page.end {
                Some(end) if !empty && end != from => from = end,
                _ => {
                    complete = true;
                    break;
                }
            }
        }
        tracing::info!(bridge = %engine.name, room = %room_id, events = older.len(), "filled a sync's gap from the room's history");
        let mut filled = room.clone();
        let mut seen: HashSet<String> = filled
            .timeline
            .events
            .iter()
            .map(|e| e.event_id.clone())
            .collect();
        older.reverse();
        older.retain(|e| seen.insert(e.event_id.clone()));
        older.append(&mut filled.timeline.events);
        filled.timeline.events = older;
        filled.timeline.limited = !complete;
        Ok(Cow::Owned(filled))
    }

    /// A joined room's timeline: member counts kept current, every text message from
    /// someone else after the bot's join handed to the engine, in order.
    async fn room_news(
        engine: &Arc<Engine<Matrix>>,
        bot: &MatrixBot,
        room_id: &str,
        room: &JoinedRoom,
    ) -> Result<(), ChatError> {
        let platform = &engine.platform;
        platform.lock_pending().remove(room_id);
        let events = &room.timeline.events;
        if room.timeline.limited {
            tracing::warn!(bridge = %engine.name, room = %room_id, "more than {} messages arrived while the bridge was away; only the latest are answered", MAX_GAP_PAGES * TIMELINE_LIMIT as usize);
        }
        // Before the bot's own join in this batch is history it was not there for.
        let start = events
            .iter()
            .rposition(|e| {
                e.state_key.as_deref() == Some(bot.user_id.as_str())
                    && e.member().is_some_and(|m| m.membership == "join")
            })
            .map_or(0, |join| join + 1);
        if events.iter().any(|e| e.kind == "m.room.member") {
            platform.lock_members().remove(room_id);
        }
        if let Some(count) = room.summary.joined_member_count {
            platform.remember_members(room_id, count);
        }
        for event in &events[start..] {
            if event.sender == bot.user_id {
                continue;
            }
            let Some(content) = event.message() else {
                continue;
            };
            if content.msgtype != TEXT || content.is_edit() {
                continue;
            }
            let members = platform.member_count(room_id).await;
            let origin = Origin {
                platform: "matrix".to_owned(),
                chat_id: Value::String(room_id.to_owned()),
                sender: Sender {
                    id: Value::String(event.sender.clone()),
                    name: room
                        .display_name(&event.sender)
                        .unwrap_or(&event.sender)
                        .to_owned(),
                },
                message_id: Value::String(event.event_id.clone()),
                thread_id: content
                    .thread_root()
                    .map(|root| Value::String(root.to_owned())),
            };
            let message = Inbound {
                origin,
                chat: room_id.to_owned(),
                text: content.without_fallback().to_owned(),
                addressed: addresses_bot(&content, bot, engine.config.trigger(), members),
                task_id: task_id(&event.event_id),
                bot_username: bot.localpart().to_owned(),
            };
            engine.accept(message, Cursor::Keep).await?;
        }
        Ok(())
    }

    /// Whether `room` is bound in b00t.toml now.
    async fn bound(&self, bridge: &str, room: &str) -> bool {
        let (home, name, room) = (self.home.clone(), bridge.to_owned(), room.to_owned());
        match tokio::task::spawn_blocking(move || bindings::binding(&home, &name, &room)).await {
            Ok(Ok(binding)) => binding.is_some(),
            Ok(Err(e)) => {
                tracing::warn!(bridge = %bridge, error = %e, "cannot read the bindings");
                false
            }
            Err(_) => false,
        }
    }

    /// The room's joined members, counted by the homeserver when not known.
    async fn member_count(&self, room: &str) -> Option<u64> {
        if let Some(count) = self.lock_members().get(room) {
            return Some(*count);
        }
        match self.api.joined_members(room).await {
            Ok(members) => {
                let count = members.joined.len() as u64;
                self.remember_members(room, count);
                Some(count)
            }
            Err(e) => {
                tracing::debug!(room = %room, error = %e, "the room's members could not be counted");
                None
            }
        }
    }

    fn remember_members(&self, room: &str, count: u64) {
        let mut members = self.lock_members();
        if members.len() >= MAX_ROOMS {
            members.clear();
        }
        members.insert(room.to_owned(), count);
    }

    fn lock_members(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Part `n`'s transaction id: derived from the task (`mx-…`), so a part sent again is
    /// the same event; a notice's (no task) numbered within this run.
    fn transaction(&self, id: &str, n: usize) -> String {
        if id.starts_with("mx-") {
            txn_id(id, n)
        } else {
            let count = self.notices.fetch_add(1, Ordering::Relaxed);
            format!("{id}-{:x}-{count}.{n}", self.run_id)
        }
    }
}

impl Platform for Matrix {
    fn kind(&self) -> &'static str {
        "matrix"
    }

    fn parts(&self, text: &str) -> Vec<String> {
        // The Markdown of each part: `send` writes its HTML beside it.
        b00t_bridges::matrix_parts(text)
            .into_iter()
            .map(|part| part.body)
            .collect()
    }

    async fn send(
        &self,
        origin: &Origin,
        part: &str,
        first: bool,
        id: &str,
        n: usize,
    ) -> Result<(), SendError> {
        let Some(room) = origin.chat_id.as_str() else {
            return Err(SendError {
                refusal: Refusal::Final,
                message: format!("the chat id `{}` is not a Matrix room id", origin.chat_id),
            });
        };
        let event = origin.message_id.as_str();
        let thread = origin.thread_id.as_ref().and_then(Value::as_str);
        let mut content = MessageContent::text(part, Some(&to_matrix_html(part)));
        content.relates_to = match (event, thread, first) {
            (Some(event), _, true) => Some(RelatesTo::reply(event, thread)),
            // Later parts stay in the thread, replying only for clients without threads.
            (Some(event), Some(root), false) => Some(RelatesTo {
                is_falling_back: Some(true),
                ..RelatesTo::reply(event, Some(root))
            }),
            _ => None,
        };
        // The first part notifies the sender; later parts mention nobody.
        let sender = origin.sender.id.as_str().filter(|_| first);
        content.mentions = Some(Mentions {
            user_ids: sender.map(str::to_owned).into_iter().collect(),
            room: false,
        });
        if first {
            if let Some(bot) = self.bot.get() {
                let _ = self
                    .api
                    .typing(room, &bot.user_id, false, Duration::ZERO)
                    .await;
            }
        }
        self.api
            .send_message(room, &self.transaction(id, n), &content)
            .await
            .map(drop)
            .map_err(send_error)
    }

    async fn typing(&self, origin: &Origin) -> Result<(), SendError> {
        let (Some(room), Some(bot)) = (origin.chat_id.as_str(), self.bot.get()) else {
            return Ok(());
        };
        self.api
            .typing(room, &bot.user_id, true, TYPING_SHOWN)
            .await
            .map_err(send_error)
    }

    fn typing_every(&self) -> Duration {
        TYPING_EVERY
    }

    async fn drive(engine: Arc<Engine<Self>>, shutdown: CancellationToken) {
        let Some(bot) = Matrix::identify(&engine, &shutdown).await else {
            return;
        };
        engine.resume().await;
        let mut failures = 0usize;
        let mut since: Option<String> = None;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                outcome = async {
                    match &since {
                        None => Matrix::start_token(&engine, &bot).await,
                        Some(token) => Matrix::sync_once(&engine, &bot, token).await,
                    }
                } => outcome,
            };
            match outcome {
                Ok(next) => {
                    if failures > 0 {
                        tracing::info!(bridge = %engine.name, "syncing works again");
                        engine.record_error(None).await;
                    }
                    failures = 0;
                    since = Some(next);
                }
                Err(e) => {
                    let wait = BACKOFF[failures.min(BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::warn!(bridge = %engine.name, error = %e, "syncing with the homeserver failed; trying again in {} s", wait.as_secs());
                    engine.record_error(Some(e.to_string())).await;
                    if !pause(&shutdown, wait).await {
                        break;
                    }
                }
            }
        }
    }
}

/// The filter of the sync without `since` at start: only `next_batch` and the invites
/// are read, so no timeline and no state.
fn start_filter() -> Value {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"limit": 0},
            "state": {"types": []},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    })
}

fn send_error(error: CallError) -> SendError {
    SendError {
        refusal: error.refusal(),
        message: error.to_string(),
    }
}

/// Sleeps `wait`; `false` when `shutdown` came first.
async fn pause(shutdown: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_parts_keep_their_transactions_and_notices_never_share_one() {
        let api = MatrixApi::new("matrix", "http://127.0.0.1:1", "token").unwrap();
        let matrix = Matrix::new(api, PathBuf::from("/home"));
        let task = task_id("$event");
        // The same part of the same answer, sent again after a crash: one transaction.
        assert_eq!(matrix.transaction(&task, 1), matrix.transaction(&task, 1));
        assert_ne!(matrix.transaction(&task, 0), matrix.transaction(&task, 1));
        // Two `/help`s in one room are two messages, not one transaction seen twice.
        assert_ne!(
            matrix.transaction("notice", 0),
            matrix.transaction("notice", 0)
        );
        let filter = start_filter();
        assert_eq!(filter["room"]["timeline"]["limit"], 0);
    }
}
