//! [`WhatsApp`], the WhatsApp platform of the shared [`Engine`]: the webhook
//! (`webhook.rs`) hands over each message of a signed notification; a text becomes an
//! [`Inbound`] (task id `wa-<hash of the wamid>`, chat and sender the person's `wa_id`,
//! always addressed: the Cloud API has only one-to-one chats) that the engine journals
//! before the webhook answers 200 (no cursor: the task id is the de-duplication, so a
//! redelivery after a crash is recognised). Answers go out as WhatsApp-formatted texts
//! from the business number the message reached (kept as the origin's `thread_id`), the
//! first a reply to the message; typing is "mark as read" with the typing indicator,
//! every 20 s (WhatsApp shows it for 25). A bound chat's photo, voice note or other
//! media hears, at most every 10 minutes, that only text is read; reactions and other
//! kinds are ignored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use b00t_bridges::whatsapp::{task_id, Content, Incoming, MarkRead, SendText};
use b00t_bridges::whatsapp_parts;
use b00t_journal::Cursor;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::{Engine, Inbound, Platform, SendError};
use crate::origin::{Origin, Sender};
use crate::retry::Refusal;
use crate::webhook_server::Takers;
use crate::whatsapp::api::{CallError, GraphApi};
use crate::whatsapp::webhook::{self, Accept, NotTaken, Secrets};
use crate::whatsapp::Settings;

/// How often typing is shown again while an answer is awaited (WhatsApp shows it for
/// 25 s, or until the answer).
pub const TYPING_EVERY: Duration = Duration::from_secs(20);
/// A bound chat hears that only text is read at most this often.
const ONLY_TEXT_EVERY: Duration = Duration::from_secs(600);
/// Chats remembered for that notice's rate limit; the memory is cleared past it.
const MAX_NOTICED: usize = 10_000;
/// What a bound chat hears for a photo, a voice note or another medium.
const ONLY_TEXT: &str = "I can read only text messages: please write your question.";
/// The message kinds that are a person's content, answered with [`ONLY_TEXT`]; any
/// other (a reaction, `unsupported`, `system`, a button) is ignored.
const MEDIA_KINDS: [&str; 8] = [
    "image", "audio", "video", "document", "sticker", "location", "contacts", "voice",
];

/// The WhatsApp side of a bridge.
pub struct WhatsApp {
    api: GraphApi,
    /// The webhook's bound listener and secrets, taken by [`Platform::drive`] (once).
    webhook: Mutex<Option<(TcpListener, Secrets)>>,
    /// The home, whose b00t.toml says which chats are bound (for the media notice).
    home: PathBuf,
    /// When each bound chat last heard [`ONLY_TEXT`].
    noticed: Mutex<HashMap<String, Instant>>,
}

impl WhatsApp {
    /// The platform of `settings`, serving the webhook on `listener` (bound by the
    /// caller, so that an address in use fails the start).
    pub fn new(settings: Settings, listener: TcpListener, home: PathBuf) -> WhatsApp {
        WhatsApp {
            api: settings.api,
            webhook: Mutex::new(Some((listener, settings.secrets))),
            home,
            noticed: Mutex::new(HashMap::new()),
        }
    }

    /// Hands `message` to the engine: a text to [`Engine::accept`], a medium to the
    /// only-text notice. `Err` when it could not be recorded (the webhook answers 500).
    async fn take(engine: Arc<Engine<WhatsApp>>, message: Incoming) -> Result<(), NotTaken> {
        let engine = &engine;
        if message.from.is_empty()
            || message.from.len() > 32
            || !message.from.bytes().all(|b| b.is_ascii_digit())
        {
            tracing::warn!(bridge = %engine.name, id = %message.message_id, "a message whose sender is not a WhatsApp id is ignored");
            return Ok(());
        }
        match &message.content {
            Content::Text { body } => {
                let inbound = inbound(&message, body);
                engine
                    .accept(inbound, Cursor::Keep)
                    .await
                    .map_err(|e| NotTaken(e.to_string()))
            }
            Content::Unsupported { kind } if MEDIA_KINDS.contains(&kind.as_str()) => {
                engine.platform.only_text(engine, &message).await;
                Ok(())
            }
            Content::Unsupported { kind } => {
                tracing::debug!(bridge = %engine.name, kind = %kind, "a WhatsApp message of a kind the bridge does not answer is ignored");
                Ok(())
            }
        }
    }

    /// Tells a bound chat that sent a medium that only text is read, at most every
    /// [`ONLY_TEXT_EVERY`]; an unbound chat hears nothing (it hears the hint once it
    /// writes).
    async fn only_text(&self, engine: &Arc<Engine<WhatsApp>>, message: &Incoming) {
        let bound = {
            let (home, name, chat) = (self.home.clone(), engine.name.clone(), message.from.clone());
            tokio::task::spawn_blocking(move || crate::bindings::binding(&home, &name, &chat))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
                .is_some()
        };
        if !bound {
            return;
        }
        let now = Instant::now();
        {
            let mut noticed = self.noticed.lock().unwrap_or_else(|p| p.into_inner());
            if noticed
                .get(&message.from)
                .is_some_and(|last| now.duration_since(*last) < ONLY_TEXT_EVERY)
            {
                return;
            }
            if noticed.len() >= MAX_NOTICED {
                noticed.clear();
            }
            noticed.insert(message.from.clone(), now);
        }
        engine.notice(&origin_of(message), ONLY_TEXT.to_owned());
    }
}

impl Platform for WhatsApp {
    fn kind(&self) -> &'static str {
        "whatsapp"
    }

    fn parts(&self, text: &str) -> Vec<String> {
        whatsapp_parts(text)
    }

    async fn send(
        &self,
        origin: &Origin,
        part: &str,
        first: bool,
        _id: &str,
        _n: usize,
    ) -> Result<(), SendError> {
        let (Some(to), Some(from)) = (
            origin.chat_id.as_str(),
            origin.thread_id.as_ref().and_then(Value::as_str),
        ) else {
            return Err(SendError {
                refusal: Refusal::Final,
                message: format!(
                    "the chat `{}` has no WhatsApp id and business number to answer from",
                    origin.chat_id
                ),
            });
        };
        let mut message = SendText::new(to, part);
        if let (true, Some(wamid)) = (first, origin.message_id.as_str()) {
            message = message.replying_to(wamid);
        }
        self.api
            .send_text(from, &message)
            .await
            .map(drop)
            .map_err(send_error)
    }

    async fn typing(&self, origin: &Origin) -> Result<(), SendError> {
        let (Some(from), Some(wamid)) = (
            origin.thread_id.as_ref().and_then(Value::as_str),
            origin.message_id.as_str(),
        ) else {
            return Ok(());
        };
        self.api
            .mark_read(from, &MarkRead::new(wamid).typing())
            .await
            .map_err(send_error)
    }

    fn typing_every(&self) -> Duration {
        TYPING_EVERY
    }

    async fn drive(engine: Arc<Engine<Self>>, shutdown: CancellationToken) {
        let taken = engine
            .platform
            .webhook
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some((listener, secrets)) = taken else {
            tracing::error!(bridge = %engine.name, "the WhatsApp webhook was already served");
            return;
        };
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let _ = engine.board.bot.set(format!("webhook {addr}"));
        // Every task journaled and not answered is asked for before the webhook serves,
        // so that none is both resumed and taken as new.
        engine.resume().await;
        tracing::info!(bridge = %engine.name, %addr, "WhatsApp webhook listening");
        let takers = Takers::default();
        let accept: Accept = {
            let engine = engine.clone();
            Arc::new(move |message| {
                let engine = engine.clone();
                let takers = takers.clone();
                Box::pin(async move { takers.take(WhatsApp::take(engine, message)).await })
            })
        };
        webhook::run(listener, secrets, accept, shutdown).await;
    }
}

/// A failed call as the engine's [`SendError`].
fn send_error(error: CallError) -> SendError {
    SendError {
        refusal: error.refusal(),
        message: error.to_string(),
    }
}

/// The engine's view of a text message.
fn inbound(message: &Incoming, body: &str) -> Inbound {
    Inbound {
        origin: origin_of(message),
        chat: message.from.clone(),
        text: body.to_owned(),
        addressed: true,
        task_id: task_id(&message.message_id),
        bot_username: String::new(),
    }
}

/// Where `message` came from: the person (`chat_id` and sender, their `wa_id`), the
/// message, and the business number it reached as `thread_id` (WhatsApp has no threads;
/// a conversation is a person and a business number, the one the answer is sent from).
fn origin_of(message: &Incoming) -> Origin {
    Origin {
        platform: "whatsapp".to_owned(),
        chat_id: Value::String(message.from.clone()),
        sender: Sender {
            id: Value::String(message.from.clone()),
            name: message.contact_name.clone().unwrap_or_default(),
        },
        message_id: Value::String(message.message_id.clone()),
        thread_id: Some(Value::String(message.phone_number_id.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(content: Content) -> Incoming {
        Incoming {
            phone_number_id: "106540352242922".to_owned(),
            from: "16505551234".to_owned(),
            contact_name: Some("Zoë".to_owned()),
            message_id: "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQTRB".to_owned(),
            timestamp: "1749416383".to_owned(),
            reply_to: None,
            content,
        }
    }

    #[test]
    fn a_text_becomes_an_addressed_inbound_from_the_person_to_the_number() {
        let incoming = message(Content::Text {
            body: "hello".to_owned(),
        });
        let inbound = inbound(&incoming, "hello");
        assert_eq!(inbound.chat, "16505551234");
        assert_eq!(inbound.text, "hello");
        assert!(inbound.addressed);
        assert_eq!(inbound.task_id, task_id(&incoming.message_id));
        assert!(b00t_proto::TaskId::parse(&inbound.task_id).is_ok());
        let origin = inbound.origin;
        assert_eq!(origin.platform, "whatsapp");
        assert_eq!(origin.chat_id, "16505551234");
        assert_eq!(origin.sender.id, "16505551234");
        assert_eq!(origin.sender.name, "Zoë");
        assert_eq!(origin.message_id, incoming.message_id.as_str());
        assert_eq!(origin.thread_id, Some(Value::from("106540352242922")));
        // Kept in the task body, it still says where the answer goes.
        let body = crate::origin::task_body("hello", &origin);
        assert_eq!(crate::origin::origin_of(&body), Some(origin));
    }
}
