//! [`Telegram`], the Telegram platform of the shared [`Engine`], in one of two modes.
//! Polling (no `webhook_url`): `deleteWebhook` first (Telegram refuses `getUpdates`
//! while a webhook is set), then long polls `getUpdates` from the journaled offset; each
//! message becomes an [`Inbound`] (task id `tg-<bot id>-<update id>`) recorded with the
//! offset past it before the next poll confirms the update to Telegram. Webhook
//! (`webhook_url`): the webhook (`webhook.rs`) serves on `listen`, then `setWebhook`
//! names the URL and the secret; each update's task is journaled before the webhook
//! answers 200 (no cursor: the task id, the same as polling's, is the de-duplication).
//! Answers go out as HTML `sendMessage`s, the first a
//! reply to the message (plain text when Telegram refuses the HTML); typing is
//! `sendChatAction` every 4 s.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use b00t_bridges::telegram::types::{
    ChatAction, ChatId, GetUpdates, Message, ParseMode, ReplyParameters, SendChatAction,
    SendMessage, SetWebhook, Update,
};
use b00t_bridges::{addresses_bot, telegram_parts, BotIdentity};
use b00t_journal::Cursor;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Inbound, Platform, SendError};
use crate::origin::{Origin, Sender};
use crate::telegram::api::{BotApi, CallError};
use crate::telegram::settings::Webhook;
use crate::telegram::webhook::{self, Accept, Route};
use crate::webhook_server::{NotTaken, Takers};
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
    /// Webhook mode's settings and bound listener, taken by [`Platform::drive`] (once);
    /// `None` from the start: polling.
    webhook: Mutex<Option<(Webhook, TcpListener)>>,
}

impl Telegram {
    /// The platform of `api`, polling.
    pub fn new(api: BotApi) -> Telegram {
        Telegram {
            api,
            bot: OnceLock::new(),
            webhook: Mutex::new(None),
        }
    }

    /// The platform of `api` in webhook mode, serving on `listener` (bound by the
    /// caller, so that an address in use fails the start).
    pub fn with_webhook(api: BotApi, webhook: Webhook, listener: TcpListener) -> Telegram {
        Telegram {
            webhook: Mutex::new(Some((webhook, listener))),
            ..Telegram::new(api)
        }
    }

    /// `getMe`, again with backoff until it answers or `shutdown`.
    async fn identify(
        engine: &Engine<Telegram>,
        shutdown: &CancellationToken,
    ) -> Option<BotIdentity> {
        let user = until_done(engine, shutdown, "getMe", || engine.platform.api.get_me()).await?;
        let username = user.username.unwrap_or_default();
        tracing::info!(bridge = %engine.name, bot = %format!("@{username}"), "Telegram bridge started");
        let _ = engine.board.bot.set(format!("@{username}"));
        engine.record_error(None).await;
        let bot = BotIdentity {
            id: user.id,
            username,
        };
        let _ = engine.platform.bot.set(bot.clone());
        Some(bot)
    }

    /// Polling: the webhook deleted, then `getUpdates` until `shutdown`.
    async fn poll(engine: Arc<Engine<Telegram>>, bot: BotIdentity, shutdown: CancellationToken) {
        // A webhook left by an earlier webhook mode makes every getUpdates a 409.
        let deleted = until_done(&engine, &shutdown, "deleteWebhook", || {
            engine.platform.api.delete_webhook()
        })
        .await;
        if deleted.is_none() {
            return;
        }
        engine.resume().await;
        tracing::info!(bridge = %engine.name, "Telegram bridge polling");
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

    /// Webhook mode: the webhook served on `listener` and `setWebhook` called, until
    /// `shutdown`. The webhook stays set when the bridge stops, so that Telegram keeps
    /// the updates until it is back.
    async fn serve_webhook(
        engine: Arc<Engine<Telegram>>,
        bot: BotIdentity,
        hook: Webhook,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) {
        // Every task journaled and not answered is asked for before the webhook serves,
        // so that none is both resumed and taken as new.
        engine.resume().await;
        let takers = Takers::default();
        let accept: Accept = {
            let engine = engine.clone();
            Arc::new(move |update| {
                let (engine, bot, takers) = (engine.clone(), bot.clone(), takers.clone());
                Box::pin(async move { takers.take(Telegram::take(engine, bot, update)).await })
            })
        };
        let route = Route {
            path: hook.path.clone(),
            secret: hook.secret.clone(),
        };
        let server = tokio::spawn(webhook::run(listener, route, accept, shutdown.clone()));
        let set = SetWebhook {
            url: hook.url.clone(),
            secret_token: Some(hook.secret.clone()),
            allowed_updates: Some(vec!["message".to_owned()]),
            drop_pending_updates: Some(false),
        };
        let was_set = until_done(&engine, &shutdown, "setWebhook", || {
            engine.platform.api.set_webhook(&set)
        })
        .await;
        if was_set.is_some() {
            tracing::info!(bridge = %engine.name, url = %hook.url, listen = %hook.listen, "Telegram webhook set; Telegram posts the updates to the URL, which must reach the listen address");
        }
        if let Err(e) = server.await {
            tracing::error!(bridge = %engine.name, error = %e, "the Telegram webhook failed");
        }
    }

    /// Hands `update` to the engine. `Err` when it could not be recorded (the webhook
    /// answers 500).
    async fn take(
        engine: Arc<Engine<Telegram>>,
        bot: BotIdentity,
        update: Update,
    ) -> Result<(), NotTaken> {
        match inbound(&update, &bot, engine.config.trigger()) {
            Some(message) => engine
                .accept(message, Cursor::Keep)
                .await
                .map_err(|e| NotTaken(e.to_string())),
            None => Ok(()),
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
        let webhook = engine
            .platform
            .webhook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match webhook {
            Some((hook, listener)) => {
                Telegram::serve_webhook(engine, bot, hook, listener, shutdown).await
            }
            None => Telegram::poll(engine, bot, shutdown).await,
        }
    }
}

/// Calls `call` until it answers, waiting [`POLL_BACKOFF`] between failures, each
/// logged and recorded for `bridge list` (cleared once it answers); `None` at
/// `shutdown`.
async fn until_done<T, F, Fut>(
    engine: &Engine<Telegram>,
    shutdown: &CancellationToken,
    method: &str,
    mut call: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut failures = 0usize;
    loop {
        let answer = tokio::select! {
            _ = shutdown.cancelled() => return None,
            answer = call() => answer,
        };
        match answer {
            Ok(answer) => {
                if failures > 0 {
                    engine.record_error(None).await;
                }
                return Some(answer);
            }
            Err(e) => {
                let wait = POLL_BACKOFF[failures.min(POLL_BACKOFF.len() - 1)];
                failures += 1;
                tracing::error!(bridge = %engine.name, error = %e, "Telegram {method} failed; trying again in {} s", wait.as_secs());
                engine.record_error(Some(e.to_string())).await;
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(wait) => {}
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
