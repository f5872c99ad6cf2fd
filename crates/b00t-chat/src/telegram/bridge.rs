//! [`Telegram`], the Telegram platform of the shared [`Engine`]: long polls `getUpdates`
//! from the journaled offset; each message becomes an [`Inbound`] (task id
//! `tg-<bot id>-<update id>`) recorded with the offset past it before the next poll
//! confirms the update to Telegram. Answers go out as HTML `sendMessage`s, the first a
//! reply to the message (plain text when Telegram refuses the HTML); typing is
//! `sendChatAction` every 4 s.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use b00t_bridges::telegram::types::{
    ChatAction, ChatId, GetUpdates, Message, ParseMode, ReplyParameters, SendChatAction,
    SendMessage, Update,
};
use b00t_bridges::{addresses_bot, telegram_parts, BotIdentity};
use b00t_journal::Cursor;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Inbound, Platform, SendError};
use crate::origin::{Origin, Sender};
use crate::telegram::api::{BotApi, CallError};
use crate::ChatError;

/// How often `typing` is shown while an answer is awaited (Telegram shows it for 5 s).
pub const TYPING_EVERY: Duration = Duration::from_secs(4);
/// `getUpdates`' long-poll timeout, in seconds.
const POLL_TIMEOUT_S: u32 = 25;
/// Waits after a failed poll, growing to the last.
pub(crate) const POLL_BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// The Telegram side of a bridge.
pub struct Telegram {
    api: BotApi,
    bot: OnceLock<BotIdentity>,
}

impl Telegram {
    pub fn new(api: BotApi) -> Telegram {
        Telegram {
            api,
            bot: OnceLock::new(),
        }
    }

    /// `getMe`, again with backoff until it answers or `shutdown`.
    async fn identify(
        engine: &Engine<Telegram>,
        shutdown: &CancellationToken,
    ) -> Option<BotIdentity> {
        let mut failures = 0usize;
        loop {
            let answer = tokio::select! {
                _ = shutdown.cancelled() => return None,
                answer = engine.platform.api.get_me() => answer,
            };
            match answer {
                Ok(user) => {
                    let username = user.username.unwrap_or_default();
                    tracing::info!(bridge = %engine.name, bot = %format!("@{username}"), "Telegram bridge polling");
                    let _ = engine.board.bot.set(format!("@{username}"));
                    engine.record_error(None).await;
                    let bot = BotIdentity {
                        id: user.id,
                        username,
                    };
                    let _ = engine.platform.bot.set(bot.clone());
                    return Some(bot);
                }
                Err(e) => {
                    let wait = POLL_BACKOFF[failures.min(POLL_BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::error!(bridge = %engine.name, error = %e, "Telegram getMe failed; trying again in {} s", wait.as_secs());
                    engine.record_error(Some(e.to_string())).await;
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// One `getUpdates` from the journaled offset, and every update it brought.
    async fn poll_once(engine: &Arc<Engine<Telegram>>, bot: &BotIdentity) -> Result<(), ChatError> {
        let offset = engine.journal(|s, name| s.offset(name)).await?;
        let poll = GetUpdates {
            offset,
            limit: None,
            timeout: Some(POLL_TIMEOUT_S),
            allowed_updates: Some(vec!["message".to_owned()]),
        };
        let updates = engine
            .platform
            .api
            .get_updates(&poll)
            .await
            .map_err(|e| ChatError::Platform(e.to_string()))?;
        for update in updates {
            let cursor = Cursor::Offset(update.update_id + 1);
            match inbound(&update, bot, engine.config.trigger()) {
                Some(message) => engine.accept(message, cursor).await?,
                None => engine.skip(cursor).await?,
            }
        }
        Ok(())
    }
}

impl Platform for Telegram {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn parts(&self, text: &str) -> Vec<String> {
        telegram_parts(text)
    }

    async fn send(
        &self,
        origin: &Origin,
        part: &str,
        first: bool,
        _id: &str,
        _n: usize,
    ) -> Result<(), SendError> {
        let Some(chat_id) = origin.chat_id.as_i64() else {
            return Err(SendError {
                refusal: crate::retry::Refusal::Final,
                message: format!("the chat id `{}` is not a Telegram chat id", origin.chat_id),
            });
        };
        let message = SendMessage {
            chat_id: ChatId::Id(chat_id),
            text: part.to_owned(),
            parse_mode: Some(ParseMode::Html),
            message_thread_id: origin.thread_id.as_ref().and_then(Value::as_i64),
            reply_parameters: first.then(|| origin.message_id.as_i64()).flatten().map(
                |message_id| ReplyParameters {
                    message_id,
                    allow_sending_without_reply: Some(true),
                },
            ),
        };
        let error = match self.api.send_message(&message).await {
            Ok(_) => return Ok(()),
            Err(error) if refused_html(&error) => {
                tracing::warn!(error = %error, "Telegram refused the formatted answer; sending it as plain text");
                let plain = SendMessage {
                    text: crate::telegram::plain::plain_of_html(&message.text),
                    parse_mode: None,
                    ..message
                };
                match self.api.send_message(&plain).await {
                    Ok(_) => return Ok(()),
                    Err(error) => error,
                }
            }
            Err(error) => error,
        };
        Err(SendError {
            refusal: error.refusal(),
            message: error.to_string(),
        })
    }

    async fn typing(&self, origin: &Origin) -> Result<(), SendError> {
        let Some(chat_id) = origin.chat_id.as_i64() else {
            return Ok(());
        };
        let action = SendChatAction {
            chat_id: ChatId::Id(chat_id),
            action: ChatAction::Typing,
            message_thread_id: origin.thread_id.as_ref().and_then(Value::as_i64),
        };
        self.api
            .send_chat_action(&action)
            .await
            .map(drop)
            .map_err(|error| SendError {
                refusal: error.refusal(),
                message: error.to_string(),
            })
    }

    fn typing_every(&self) -> Duration {
        TYPING_EVERY
    }

    async fn drive(engine: Arc<Engine<Self>>, shutdown: CancellationToken) {
        let Some(bot) = Telegram::identify(&engine, &shutdown).await else {
            return;
        };
        engine.resume().await;
        let mut failures = 0usize;
        loop {
            let outcome = tokio::select! {
                _ = shutdown.cancelled() => break,
                outcome = Telegram::poll_once(&engine, &bot) => outcome,
            };
            match outcome {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(bridge = %engine.name, "polling works again");
                        engine.record_error(None).await;
                    }
                    failures = 0;
                }
                Err(e) => {
                    let wait = POLL_BACKOFF[failures.min(POLL_BACKOFF.len() - 1)];
                    failures += 1;
                    tracing::warn!(bridge = %engine.name, error = %e, "polling Telegram failed; trying again in {} s", wait.as_secs());
                    engine.record_error(Some(e.to_string())).await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

/// The engine's view of `update`, when it is a text message.
fn inbound(update: &Update, bot: &BotIdentity, trigger: Option<&str>) -> Option<Inbound> {
    let message = update.message.as_ref()?;
    let text = message.text.clone()?;
    Some(Inbound {
        origin: origin_of(message),
        chat: message.chat.id.to_string(),
        addressed: addresses_bot(message, bot, trigger),
        text,
        task_id: format!("tg-{}-{}", bot.id, update.update_id),
        bot_username: bot.username.clone(),
    })
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
