//! [`TelegramBridge`]: long polls `getUpdates`; each message from a bound chat that
//! addresses the bot becomes a task on `b00t.<group>.chat` (id `tg-<bot id>-<update id>`),
//! recorded in the journal with the offset past it in one transaction before the next
//! poll confirms the update to Telegram; a conversation per task shows `typing` every 4 s
//! while it asks (through b00t-bus's requester, which asks again with the same id on
//! silence) and sends the answer back, split and formatted, as a reply to the message.
//! At start every task sent and not answered is asked again: the bus runs it once and
//! answers with the stored reply.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use b00t_bridges::telegram::types::{
    ChatAction, ChatId, GetUpdates, Message, ParseMode, ReplyParameters, SendChatAction,
    SendMessage, Update,
};
use b00t_bridges::{addresses_bot, telegram_parts, BotIdentity};
use b00t_bus::{Outcome, Request, Requester};
use b00t_config::BridgeConfig;
use b00t_journal::{BridgeStore, BridgeTask, JournalError};
use b00t_proto::{Address, TaskId};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::commands::{self, Command};
use crate::origin::{self, Origin, Sender};
use crate::retry::Retries;
use crate::telegram::api::{BotApi, CallError};
use crate::{bindings, ChatError};

/// How often `typing` is shown while an answer is awaited (Telegram shows it for 5 s).
pub const TYPING_EVERY: Duration = Duration::from_secs(4);
/// `getUpdates`' long-poll timeout, in seconds.
const POLL_TIMEOUT_S: u32 = 25;
/// Conversations waiting for answers at once; the poll waits for a free one past it.
const MAX_CONVERSATIONS: usize = 64;
/// Silence this long asks the group again (same id).
const ASK_AGAIN: Duration = Duration::from_secs(5);
/// The wait before asking again an agent that stopped while it worked on the task.
const ASK_LATER: Duration = Duration::from_secs(2);
/// The privileged group, which sees the project: `/ask` reaches it only from its own chats.
const MAIN_GROUP: &str = "main";
/// An unbound chat hears the hint at most this often.
const HINT_EVERY: Duration = Duration::from_secs(3600);
/// Chats remembered for the hint's rate limit; the memory is cleared past it.
const MAX_HINTED: usize = 10_000;
/// Waits after a failed poll, growing to the last.
const POLL_BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// What the bridge's card and `/status` show.
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) started: Instant,
    /// Conversations waiting for an answer or sending it.
    pub(crate) in_flight: AtomicUsize,
    /// `@username` of the bot, once `getMe` answered.
    pub(crate) bot: OnceLock<String>,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            bot: OnceLock::new(),
        }
    }
}

/// One Telegram bridge.
pub struct TelegramBridge {
    name: String,
    /// `bridge-<name>`: the `from` of its tasks.
    agent: String,
    home: PathBuf,
    config: BridgeConfig,
    api: BotApi,
    store: Arc<BridgeStore>,
    requester: Requester,
    pub(crate) board: Arc<Board>,
    /// When each unbound chat last heard the hint.
    hinted: Mutex<HashMap<i64, Instant>>,
    /// One permit per conversation or notice in flight: the poll waits for a free one
    /// before a task's conversation; a notice without one is dropped (and logged).
    slots: Arc<Semaphore>,
}

/// Why an answer did not reach the chat.
enum Undelivered {
    Shutdown,
    Failed(String),
}

impl TelegramBridge {
    pub(crate) fn new(
        name: &str,
        home: PathBuf,
        config: BridgeConfig,
        api: BotApi,
        store: Arc<BridgeStore>,
        requester: Requester,
    ) -> TelegramBridge {
        TelegramBridge {
            name: name.to_owned(),
            agent: crate::agent_name(name),
            home,
            config,
            api,
            store,
            requester,
            board: Arc::new(Board::default()),
            hinted: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_CONVERSATIONS)),
        }
    }

    /// Polls until `shutdown`; conversations in flight end with it (their tasks stay
    /// `sent` and are asked again at the next start).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(bot) = self.identify(&shutdown).await else {
            return;
        };
        let conversations = TaskTracker::new();
        let slots = self.slots.clone();
        match self.journal(|s, name| s.open_tasks(name)).await {
            Ok(open) => {
                if !open.is_empty() {
                    tracing::info!(bridge = %self.name, tasks = open.len(), "asking again for answers not yet sent");
                }
                for task in open {
                    self.spawn_conversation(task, &conversations, &slots, &shutdown)
                        .await;
                }
            }
            Err(e) => {
                tracing::error!(bridge = %self.name, error = %e, "cannot read the tasks waiting for answers")
            }
        }
        let mut failures = 0usize;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                outcome = self.poll_once(&bot, &conversations, &slots, &shutdown) => outcome,
            };
            match outcome {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(bridge = %self.name, "polling works again");
                        let _ = self.journal(|s, name| s.error(name, None)).await;
                    }
                    failures = 0;
                }
                Err(e) => {
                    let wait = POLL_BACKOFF[failures.min(POLL_BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::warn!(bridge = %self.name, error = %e, "polling Telegram failed; trying again in {} s", wait.as_secs());
                    let message = e.to_string();
                    let _ = self
                        .journal(move |s, name| s.error(name, Some(&message)))
                        .await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        conversations.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), conversations.wait()).await;
    }

    /// `getMe`, again with backoff until it answers or `shutdown`.
    async fn identify(&self, shutdown: &CancellationToken) -> Option<BotIdentity> {
        let mut failures = 0usize;
        loop {
            let answer = tokio::select! {
                _ = shutdown.cancelled() => return None,
                answer = self.api.get_me() => answer,
            };
            match answer {
                Ok(user) => {
                    let username = user.username.unwrap_or_default();
                    tracing::info!(bridge = %self.name, bot = %format!("@{username}"), "Telegram bridge polling");
                    let _ = self.board.bot.set(format!("@{username}"));
                    let _ = self.journal(|s, name| s.error(name, None)).await;
                    return Some(BotIdentity {
                        id: user.id,
                        username,
                    });
                }
                Err(e) => {
                    let wait = POLL_BACKOFF[failures.min(POLL_BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::error!(bridge = %self.name, error = %e, "Telegram getMe failed; trying again in {} s", wait.as_secs());
                    let message = e.to_string();
                    let _ = self
                        .journal(move |s, name| s.error(name, Some(&message)))
                        .await;
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One `getUpdates` from the journaled offset, and every update it brought.
    async fn poll_once(
        self: &Arc<Self>,
        bot: &BotIdentity,
        conversations: &TaskTracker,
        slots: &Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) -> Result<(), ChatError> {
        let offset = self.journal(|s, name| s.offset(name)).await?;
        let poll = GetUpdates {
            offset,
            limit: None,
            timeout: Some(POLL_TIMEOUT_S),
            allowed_updates: Some(vec!["message".to_owned()]),
        };
        let updates = self
            .api
            .get_updates(&poll)
            .await
            .map_err(|e| ChatError::Platform(e.to_string()))?;
        for update in updates {
            self.handle(update, bot, conversations, slots, shutdown)
                .await?;
        }
        Ok(())
    }

    /// Decides what one update is, and records the offset past it (with its task, when
    /// it becomes one).
    async fn handle(
        self: &Arc<Self>,
        update: Update,
        bot: &BotIdentity,
        conversations: &TaskTracker,
        slots: &Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) -> Result<(), ChatError> {
        let next = update.update_id + 1;
        let Some(message) = update.message else {
            return self.skip(next).await;
        };
        let Some(text) = message.text.clone().filter(|t| !t.trim().is_empty()) else {
            return self.skip(next).await;
        };
        if !addresses_bot(&message, bot, self.config.trigger()) {
            return self.skip(next).await;
        }
        let origin = origin_of(&message);
        let chat_id = message.chat.id;
        let binding = {
            let (home, name, chat) = (self.home.clone(), self.name.clone(), chat_id.to_string());
            tokio::task::spawn_blocking(move || bindings::binding(&home, &name, &chat))
                .await
                .map_err(|e| ChatError::Platform(format!("the bindings reader failed: {e}")))??
        };
        let Some(binding) = binding else {
            self.hint_unbound(&message, &origin, conversations, shutdown);
            return self.skip(next).await;
        };
        let sender = origin.sender.id.to_string();
        if !binding.admits(&sender) {
            tracing::info!(bridge = %self.name, chat = chat_id, sender = %sender, "a sender not on the chat's list reached no agent; add them with `b00t bridge allow telegram:{chat_id} --group {} --sender {sender}`", binding.group);
            return self.skip(next).await;
        }
        let group = binding.group;
        let (address, text) = match commands::parse(&text, &bot.username) {
            Some(Command::Help) => {
                self.notice(&origin, commands::help(&group), conversations, shutdown);
                return self.skip(next).await;
            }
            Some(Command::AskUsage) => {
                self.notice(
                    &origin,
                    commands::ASK_USAGE.to_owned(),
                    conversations,
                    shutdown,
                );
                return self.skip(next).await;
            }
            Some(Command::Status) => {
                let status = self.status_text(chat_id, &group);
                self.notice(&origin, status, conversations, shutdown);
                return self.skip(next).await;
            }
            Some(Command::Agents) => {
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    tracing::warn!(bridge = %self.name, chat = chat_id, "too many answers in flight; /agents is dropped");
                    return self.skip(next).await;
                };
                let this = self.clone();
                let stop = shutdown.clone();
                conversations.spawn(async move {
                    let text = this.agents_text().await;
                    let _ = this.deliver(&origin, &text, &stop).await;
                    drop(permit);
                });
                return self.skip(next).await;
            }
            // `main` is the operator's own group: only a chat bound to it reaches it.
            Some(Command::Ask { agent, .. }) if agent == MAIN_GROUP && group != MAIN_GROUP => {
                let text = format!(
                    "Only a chat bound to `{MAIN_GROUP}` may ask it; this chat reaches `{group}`."
                );
                self.notice(&origin, text, conversations, shutdown);
                return self.skip(next).await;
            }
            Some(Command::Ask { agent, text }) => {
                match Address::parse(&format!("b00t.{agent}.chat")) {
                    Ok(address) => (address, text),
                    Err(_) => {
                        let text = format!(
                            "`{}` is not an agent name; /agents lists who is there.",
                            origin::shorten(&agent, 64)
                        );
                        self.notice(&origin, text, conversations, shutdown);
                        return self.skip(next).await;
                    }
                }
            }
            None => match Address::parse(&format!("b00t.{group}.chat")) {
                Ok(address) => (address, text),
                Err(e) => {
                    return Err(ChatError::BadGroup {
                        group,
                        problem: e.to_string(),
                    })
                }
            },
        };
        let task = BridgeTask {
            id: format!("tg-{}-{}", bot.id, update.update_id),
            address: address.to_string(),
            body: origin::task_body(&text, &origin).to_string(),
            created_ms: b00t_journal::now_ms(),
        };
        let recorded = task.clone();
        let new = self
            .journal(move |s, name| s.sent(name, &recorded, next))
            .await?;
        if new {
            tracing::info!(bridge = %self.name, id = %task.id, address = %task.address, chat = chat_id, "chat message sent as a task");
            self.spawn_conversation(task, conversations, slots, shutdown)
                .await;
        }
        Ok(())
    }

    /// Records the offset past an update that needs no task.
    async fn skip(&self, next: i64) -> Result<(), ChatError> {
        self.journal(move |s, name| s.advance(name, next)).await?;
        Ok(())
    }

    /// Starts the conversation of `task` once a slot is free.
    async fn spawn_conversation(
        self: &Arc<Self>,
        task: BridgeTask,
        conversations: &TaskTracker,
        slots: &Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let this = self.clone();
        let stop = shutdown.clone();
        conversations.spawn(async move {
            this.board.in_flight.fetch_add(1, Ordering::Relaxed);
            this.converse(task, &stop).await;
            this.board.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    /// Asks for `task`'s answer (showing `typing`) and sends it to the chat; records the
    /// outcome. Left `sent` when shutdown or the bus ends it first.
    async fn converse(self: &Arc<Self>, task: BridgeTask, shutdown: &CancellationToken) {
        let body: Value = serde_json::from_str(&task.body).unwrap_or(Value::Null);
        let (Some(origin), Ok(address), Ok(id)) = (
            origin::origin_of(&body),
            Address::parse(&task.address),
            TaskId::parse(&task.id),
        ) else {
            let id = task.id.clone();
            tracing::error!(bridge = %self.name, id = %id, "a journaled task cannot be read back; it is dropped");
            let _ = self
                .journal(move |s, name| {
                    s.failed(name, &id, "the journaled task could not be read back")
                })
                .await;
            return;
        };
        let typing_stop = shutdown.child_token();
        let typing = tokio::spawn(
            self.clone()
                .keep_typing(origin.clone(), typing_stop.clone()),
        );
        let deadline = tokio::time::Instant::now() + self.config.reply_timeout();
        let mut request = Request {
            address: address.clone(),
            id,
            body,
            timeout: self.config.reply_timeout(),
            ask_again_after: ASK_AGAIN,
            on_behalf_of: None,
        };
        let outcome = loop {
            request.timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => None,
                outcome = self.requester.request(&request, |_, _| {}) => Some(outcome),
            };
            // An agent that stopped while it worked on the task asks for it again later:
            // the same id, once it is back (a new process runs it).
            let later =
                matches!(&outcome, Some(Ok(Outcome::Error(reply))) if origin::retry_later(reply));
            if !later || tokio::time::Instant::now() + ASK_LATER >= deadline {
                break outcome;
            }
            tracing::info!(bridge = %self.name, id = %task.id, "the agent stopped while it worked on the task; asking again in {} s", ASK_LATER.as_secs());
            tokio::select! {
                _ = shutdown.cancelled() => break None,
                _ = tokio::time::sleep(ASK_LATER) => {}
            }
        };
        typing_stop.cancel();
        let _ = typing.await;
        let agent = address.agent().to_string();
        let text = match outcome {
            None => return,
            Some(Ok(Outcome::Result(reply) | Outcome::Error(reply))) => {
                origin::answer_text(&agent, &reply)
            }
            Some(Ok(Outcome::Timeout)) => format!(
                "No answer from `{agent}` within {} s; try again later.",
                self.config.reply_timeout().as_secs()
            ),
            Some(Err(e)) => {
                tracing::warn!(bridge = %self.name, id = %task.id, error = %e, "the bus connection ended before the answer; it is asked again at the next start");
                return;
            }
        };
        let id = task.id.clone();
        match self.deliver(&origin, &text, shutdown).await {
            Ok(()) => {
                if let Err(e) = self.journal(move |s, name| s.answered(name, &id)).await {
                    tracing::error!(bridge = %self.name, id = %task.id, error = %e, "the answer was sent but could not be recorded; it may be sent again after a restart");
                }
            }
            Err(Undelivered::Shutdown) => {}
            Err(Undelivered::Failed(why)) => {
                tracing::error!(bridge = %self.name, id = %task.id, chat = %origin.chat_id, error = %why, "the answer could not be delivered to the chat");
                let _ = self.journal(move |s, name| s.failed(name, &id, &why)).await;
            }
        }
    }

    /// Sends `typing` to the chat every [`TYPING_EVERY`] until `stop`.
    async fn keep_typing(self: Arc<Self>, origin: Origin, stop: CancellationToken) {
        let Some(chat_id) = origin.chat_id.as_i64() else {
            return;
        };
        let action = SendChatAction {
            chat_id: ChatId::Id(chat_id),
            action: ChatAction::Typing,
            message_thread_id: origin.thread_id.as_ref().and_then(Value::as_i64),
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                sent = self.api.send_chat_action(&action) => if let Err(e) = sent {
                    tracing::debug!(bridge = %self.name, error = %e, "typing was not shown");
                },
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(TYPING_EVERY) => {}
            }
        }
    }

    /// Sends `text` to the origin's chat in parts (HTML), the first replying to the
    /// message, each sent again as [`Retries`] says.
    async fn deliver(
        &self,
        origin: &Origin,
        text: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), Undelivered> {
        let Some(chat_id) = origin.chat_id.as_i64() else {
            return Err(Undelivered::Failed(format!(
                "the chat id `{}` is not a Telegram chat id",
                origin.chat_id
            )));
        };
        let thread = origin.thread_id.as_ref().and_then(Value::as_i64);
        for (n, part) in telegram_parts(text).into_iter().enumerate() {
            let message = SendMessage {
                chat_id: ChatId::Id(chat_id),
                text: part,
                parse_mode: Some(ParseMode::Html),
                message_thread_id: thread,
                reply_parameters: (n == 0).then(|| origin.message_id.as_i64()).flatten().map(
                    |message_id| ReplyParameters {
                        message_id,
                        allow_sending_without_reply: Some(true),
                    },
                ),
            };
            self.send_with_retries(&message, shutdown).await?;
        }
        Ok(())
    }

    async fn send_with_retries(
        &self,
        message: &SendMessage,
        shutdown: &CancellationToken,
    ) -> Result<(), Undelivered> {
        let mut retries = Retries::default();
        loop {
            let sent = tokio::select! {
                _ = shutdown.cancelled() => return Err(Undelivered::Shutdown),
                sent = self.api.send_message(message) => sent,
            };
            let error: CallError = match sent {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if refused_html(&error) && message.parse_mode.is_some() {
                tracing::warn!(bridge = %self.name, error = %error, "Telegram refused the formatted answer; sending it as plain text");
                let plain = SendMessage {
                    text: crate::telegram::plain::plain_of_html(&message.text),
                    parse_mode: None,
                    ..message.clone()
                };
                return Box::pin(self.send_with_retries(&plain, shutdown)).await;
            }
            let Some(wait) = retries.next(error.refusal()) else {
                return Err(Undelivered::Failed(error.to_string()));
            };
            tracing::warn!(bridge = %self.name, error = %error, "sending again in {} ms", wait.as_millis());
            tokio::select! {
                _ = shutdown.cancelled() => return Err(Undelivered::Shutdown),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// A message that needs no record (help, a hint): sent in the background.
    fn notice(
        self: &Arc<Self>,
        origin: &Origin,
        text: String,
        conversations: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(bridge = %self.name, chat = %origin.chat_id, "too many answers in flight; a notice is dropped");
            return;
        };
        let this = self.clone();
        let origin = origin.clone();
        let stop = shutdown.clone();
        conversations.spawn(async move {
            if let Err(Undelivered::Failed(why)) = this.deliver(&origin, &text, &stop).await {
                tracing::warn!(bridge = %this.name, chat = %origin.chat_id, error = %why, "a notice could not be delivered");
            }
            drop(permit);
        });
    }

    /// Tells an unbound chat, at most once an hour, how the operator binds it; logs it.
    fn hint_unbound(
        self: &Arc<Self>,
        message: &Message,
        origin: &Origin,
        conversations: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let chat_id = message.chat.id;
        tracing::warn!(bridge = %self.name, chat = chat_id, sender = %origin.sender.name, "a message from a chat not bound to a group reached no agent; bind it with `b00t bridge allow telegram:{chat_id} --group <group>`");
        let now = Instant::now();
        {
            let mut hinted = self.hinted.lock().unwrap_or_else(|p| p.into_inner());
            if hinted
                .get(&chat_id)
                .is_some_and(|last| now.duration_since(*last) < HINT_EVERY)
            {
                return;
            }
            if hinted.len() >= MAX_HINTED {
                hinted.clear();
            }
            hinted.insert(chat_id, now);
        }
        let text = format!(
            "This chat is not bound to a group: the operator can run `b00t bridge allow telegram:{chat_id} --group <group>`"
        );
        self.notice(origin, text, conversations, shutdown);
    }

    fn status_text(&self, chat_id: i64, group: &str) -> String {
        format!(
            "Bridge `{}` (agent `{}`, bot {}), up {} min, {} answer(s) in progress. This chat (`telegram:{chat_id}`) reaches the group `{group}`.",
            self.name,
            self.agent,
            self.board.bot.get().map(String::as_str).unwrap_or("?"),
            self.board.started.elapsed().as_secs() / 60,
            self.board.in_flight.load(Ordering::Relaxed),
        )
    }

    /// `/agents`: asks `b00t.runtime.agents`, one line per agent.
    async fn agents_text(&self) -> String {
        let Ok(address) = Address::parse("b00t.runtime.agents") else {
            return "cannot name the runtime".to_owned();
        };
        let request = Request::new(
            address,
            "tg-agents",
            serde_json::json!({}),
            Duration::from_secs(10),
        );
        match self.requester.request(&request, |_, _| {}).await {
            Ok(Outcome::Result(reply)) => {
                let agents = reply["body"]["agents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let lines: Vec<String> = agents
                    .iter()
                    .map(|card| {
                        let skills: Vec<&str> = card["skills"]
                            .as_array()
                            .map(|s| s.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        format!(
                            "• {} ({}): {}",
                            card["agent"].as_str().unwrap_or("?"),
                            card["state"].as_str().unwrap_or("?"),
                            skills.join(", ")
                        )
                    })
                    .collect();
                if lines.is_empty() {
                    "No agents on the bus.".to_owned()
                } else {
                    lines.join("\n")
                }
            }
            Ok(Outcome::Error(reply)) => origin::answer_text("runtime", &reply),
            Ok(Outcome::Timeout) => "The runtime did not answer within 10 s.".to_owned(),
            Err(e) => format!("The bus is not reachable: {e}"),
        }
    }

    /// Runs `op` on the journal's bridge tables on a blocking thread.
    async fn journal<T: Send + 'static>(
        &self,
        op: impl FnOnce(&BridgeStore, &str) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let store = self.store.clone();
        let name = self.name.clone();
        match tokio::task::spawn_blocking(move || op(&store, &name)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JournalError::Stopped {
                path: self.store.path().to_owned(),
            }),
        }
    }
}

/// Whether Telegram refused a message's HTML (`can't parse entities`).
fn refused_html(error: &CallError) -> bool {
    matches!(error, CallError::Api(b00t_bridges::ApiError::Refused { error_code: 400, description, .. })
        if description.contains("can't parse entities"))
}

/// Where `message` came from.
fn origin_of(message: &Message) -> Origin {
    let sender = match &message.from {
        Some(user) => Sender {
            id: user.id.into(),
            name: match &user.last_name {
                Some(last) => format!("{} {last}", user.first_name),
                None => user.first_name.clone(),
            },
        },
        None => Sender {
            id: message.chat.id.into(),
            name: message.chat.title.clone().unwrap_or_default(),
        },
    };
    Origin {
        platform: "telegram".to_owned(),
        chat_id: message.chat.id.into(),
        sender,
        message_id: message.message_id.into(),
        thread_id: message.message_thread_id.map(Value::from),
    }
}
