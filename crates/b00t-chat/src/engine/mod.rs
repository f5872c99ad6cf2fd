//! The bridges' shared engine: what happens to a chat message once a platform has read
//! it, whatever the platform. [`Engine::accept`] checks the chat's binding and sender,
//! answers the chat commands, and otherwise records the message's task in the journal
//! (with the platform's [`Cursor`], in one transaction) before the platform is told the
//! message was received; a conversation per task then asks the group (showing typing)
//! and sends the answer back in parts, each retried as [`crate::retry::Retries`] says.
//! At start, [`Engine::resume`] asks again for every task sent and not answered: the bus
//! runs it once and answers with the stored reply.
//!
//! A platform brings a [`Platform`]: how to send a part, how to show typing, how to cut a
//! text into parts, and the loop ([`Platform::drive`]) that reads its messages and hands
//! them to the engine as [`Inbound`]s. Layout: this file (the types, accepting a
//! message), `conversation` (asking, typing, delivering), `notices` (help, status, the
//! unbound chat's hint, `/agents`).

mod conversation;
mod notices;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use b00t_bus::Requester;
use b00t_config::BridgeConfig;
use b00t_journal::{BridgeStore, BridgeTask, Cursor, JournalError};
use b00t_proto::Address;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::commands::{self, Command};
use crate::origin::{self, Origin};
use crate::retry::Refusal;
use crate::{bindings, ChatError};

/// Conversations waiting for answers at once; a platform's loop waits for a free one
/// past it (notices without one are dropped and logged).
pub const MAX_CONVERSATIONS: usize = 64;
/// The privileged group, which sees the project: `/ask` reaches it only from its own chats.
const MAIN_GROUP: &str = "main";

/// One platform's side of a bridge.
pub trait Platform: Send + Sync + Sized + 'static {
    /// `telegram`, `whatsapp`, `matrix`: the prefix of `b00t bridge allow <kind>:<chat>`.
    fn kind(&self) -> &'static str;
    /// `text` (markdown) as the messages that carry it, formatted for the platform.
    fn parts(&self, text: &str) -> Vec<String>;
    /// Sends one part to `origin`'s chat; the `first` replies to the message.
    fn send(
        &self,
        origin: &Origin,
        part: &str,
        first: bool,
        id: &str,
        n: usize,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
    /// Shows that an answer is being written in `origin`'s chat, once.
    fn typing(&self, origin: &Origin) -> impl Future<Output = Result<(), SendError>> + Send;
    /// How often [`Platform::typing`] is repeated while an answer is awaited.
    fn typing_every(&self) -> Duration;
    /// Reads the platform's messages and hands them to `engine` until `shutdown`.
    fn drive(
        engine: Arc<Engine<Self>>,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// Why a part was not sent, and whether sending it again may work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    pub refusal: Refusal,
    /// The platform's own words, without secrets.
    pub message: String,
}

/// A message a platform read.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// Where it came from: where the answer goes.
    pub origin: Origin,
    /// The chat's id as bound in `[bridges.<name>.chats]`.
    pub chat: String,
    pub text: String,
    /// Whether it is meant for the bot (a private chat, a mention, the trigger word, a
    /// reply to the bot): only those are answered.
    pub addressed: bool,
    /// The task's id: the same for the same message seen again, so that it is recorded
    /// and answered once.
    pub task_id: String,
    /// The bot's user name, stripped from `/command@name`.
    pub bot_username: String,
}

/// What the bridge's card and `/status` show.
#[derive(Debug)]
pub struct Board {
    pub started: Instant,
    /// Conversations waiting for an answer or sending it.
    pub in_flight: AtomicUsize,
    /// The bot's name on the platform, once it is known.
    pub bot: OnceLock<String>,
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

/// What a bridge runs on besides its platform.
pub struct Setup {
    pub name: String,
    pub home: PathBuf,
    pub config: BridgeConfig,
    pub store: Arc<BridgeStore>,
    pub requester: Requester,
}

/// One bridge's engine, shared by its platform's loop and its conversations.
pub struct Engine<P> {
    pub(crate) name: String,
    /// `bridge-<name>`: the `from` of its tasks.
    pub(crate) agent: String,
    home: PathBuf,
    pub(crate) config: BridgeConfig,
    store: Arc<BridgeStore>,
    requester: Requester,
    pub platform: P,
    pub board: Arc<Board>,
    /// When each unbound chat last heard the hint.
    hinted: Mutex<HashMap<String, Instant>>,
    /// One permit per conversation or notice in flight.
    slots: Arc<Semaphore>,
    conversations: TaskTracker,
    shutdown: CancellationToken,
}

impl<P: Platform> Engine<P> {
    pub fn new(setup: Setup, platform: P, shutdown: &CancellationToken) -> Arc<Engine<P>> {
        Arc::new(Engine {
            agent: crate::agent_name(&setup.name),
            name: setup.name,
            home: setup.home,
            config: setup.config,
            store: setup.store,
            requester: setup.requester,
            platform,
            board: Arc::new(Board::default()),
            hinted: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_CONVERSATIONS)),
            conversations: TaskTracker::new(),
            shutdown: shutdown.clone(),
        })
    }

    /// Runs the platform's loop until shutdown, then lets the conversations end (their
    /// tasks stay `sent` and are asked again at the next start).
    pub async fn run(self: Arc<Self>) {
        P::drive(self.clone(), self.shutdown.clone()).await;
        self.conversations.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conversations.wait()).await;
    }

    /// Asks again for every task sent and not answered (at start).
    pub async fn resume(self: &Arc<Self>) {
        match self.journal(|s, name| s.open_tasks(name)).await {
            Ok(open) => {
                if !open.is_empty() {
                    tracing::info!(bridge = %self.name, tasks = open.len(), "asking again for answers not yet sent");
                }
                for task in open {
                    self.spawn_conversation(task).await;
                }
            }
            Err(e) => {
                tracing::error!(bridge = %self.name, error = %e, "cannot read the tasks waiting for answers")
            }
        }
    }

    /// Decides what `message` is and records `cursor` (with its task, when it becomes
    /// one); the platform may confirm the message once this returns `Ok`.
    pub async fn accept(
        self: &Arc<Self>,
        message: Inbound,
        cursor: Cursor,
    ) -> Result<(), ChatError> {
        if !message.addressed || message.text.trim().is_empty() {
            return self.skip(cursor).await;
        }
        let kind = self.platform.kind();
        let chat = message.chat.clone();
        let origin = message.origin.clone();
        let binding = {
            let (home, name, chat) = (self.home.clone(), self.name.clone(), chat.clone());
            tokio::task::spawn_blocking(move || bindings::binding(&home, &name, &chat))
                .await
                .map_err(|e| ChatError::Platform(format!("the bindings reader failed: {e}")))??
        };
        let Some(binding) = binding else {
            self.hint_unbound(&chat, &origin);
            return self.skip(cursor).await;
        };
        let sender = sender_key(&origin);
        if !binding.admits(&sender) {
            tracing::info!(bridge = %self.name, chat = %chat, sender = %sender, "a sender not on the chat's list reached no agent; add them with `b00t bridge allow {kind}:{chat} --group {} --sender {sender}`", binding.group);
            return self.skip(cursor).await;
        }
        let group = binding.group;
        let (address, text) = match commands::parse(&message.text, &message.bot_username) {
            Some(Command::Help) => {
                self.notice(&origin, commands::help(&group));
                return self.skip(cursor).await;
            }
            Some(Command::AskUsage) => {
                self.notice(&origin, commands::ASK_USAGE.to_owned());
                return self.skip(cursor).await;
            }
            Some(Command::Status) => {
                let status = self.status_text(&chat, &group);
                self.notice(&origin, status);
                return self.skip(cursor).await;
            }
            Some(Command::Agents) => {
                self.agents_notice(&origin);
                return self.skip(cursor).await;
            }
            // `main` is the operator's own group: only a chat bound to it reaches it.
            Some(Command::Ask { agent, .. }) if agent == MAIN_GROUP && group != MAIN_GROUP => {
                let text = format!(
                    "Only a chat bound to `{MAIN_GROUP}` may ask it; this chat reaches `{group}`."
                );
                self.notice(&origin, text);
                return self.skip(cursor).await;
            }
            Some(Command::Ask { agent, text }) => {
                match Address::parse(&format!("b00t.{agent}.chat")) {
                    Ok(address) => (address, text),
                    Err(_) => {
                        let text = format!(
                            "`{}` is not an agent name; /agents lists who is there.",
                            origin::shorten(&agent, 64)
                        );
                        self.notice(&origin, text);
                        return self.skip(cursor).await;
                    }
                }
            }
            None => match Address::parse(&format!("b00t.{group}.chat")) {
                Ok(address) => (address, message.text.clone()),
                Err(e) => {
                    return Err(ChatError::BadGroup {
                        group,
                        problem: e.to_string(),
                    })
                }
            },
        };
        let task = BridgeTask {
            id: message.task_id,
            address: address.to_string(),
            body: origin::task_body(&text, &origin).to_string(),
            created_ms: b00t_journal::now_ms(),
        };
        let recorded = task.clone();
        let new = self
            .journal(move |s, name| s.sent(name, &recorded, &cursor))
            .await?;
        if new {
            tracing::info!(bridge = %self.name, id = %task.id, address = %task.address, chat = %chat, "chat message sent as a task");
            self.spawn_conversation(task).await;
        } else {
            tracing::debug!(bridge = %self.name, id = %task.id, "a message seen again; it was recorded the first time");
        }
        Ok(())
    }

    /// Records `cursor` for a message that needs no task.
    pub async fn skip(&self, cursor: Cursor) -> Result<(), ChatError> {
        if cursor != Cursor::Keep {
            self.journal(move |s, name| s.advance(name, &cursor))
                .await?;
        }
        Ok(())
    }

    /// Records the platform's latest error (`None`: it works again), for `bridge list`.
    pub async fn record_error(&self, error: Option<String>) {
        let _ = self
            .journal(move |s, name| s.error(name, error.as_deref()))
            .await;
    }

    /// Runs `op` on the journal's bridge tables on a blocking thread.
    pub async fn journal<T: Send + 'static>(
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

/// The sender's id as `[bridges.<name>.senders]` lists it.
fn sender_key(origin: &Origin) -> String {
    match &origin.sender.id {
        serde_json::Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}
