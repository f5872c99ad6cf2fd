//! A task's conversation: ask the group for the answer (through b00t-bus's requester,
//! which asks again with the same id on silence, and again later when the agent stopped
//! while it worked), show typing meanwhile, send the answer back in parts, and record
//! the outcome. Left `sent` when shutdown or the bus ends it first: the next start asks
//! again.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use b00t_bus::{Outcome, Request};
use b00t_journal::BridgeTask;
use b00t_proto::{Address, TaskId};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Engine, Platform};
use crate::origin::{self, Origin};
use crate::retry::Retries;

/// Silence this long asks the group again (same id).
const ASK_AGAIN: Duration = Duration::from_secs(5);
/// The wait before asking again an agent that stopped while it worked on the task.
const ASK_LATER: Duration = Duration::from_secs(2);

/// Why an answer did not reach the chat.
pub(crate) enum Undelivered {
    Shutdown,
    Failed(String),
}

impl<P: Platform> Engine<P> {
    /// Starts the conversation of `task` once a slot is free.
    pub(crate) async fn spawn_conversation(self: &Arc<Self>, task: BridgeTask) {
        let permit = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            permit = self.slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let this = self.clone();
        self.conversations.spawn(async move {
            this.board.in_flight.fetch_add(1, Ordering::Relaxed);
            this.converse(task).await;
            this.board.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }

    async fn converse(self: &Arc<Self>, task: BridgeTask) {
        let shutdown = &self.shutdown;
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
        match self.deliver(&origin, &text, &task.id).await {
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

    /// Shows typing in the chat every [`Platform::typing_every`] until `stop`.
    async fn keep_typing(self: Arc<Self>, origin: Origin, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                shown = self.platform.typing(&origin) => if let Err(e) = shown {
                    tracing::debug!(bridge = %self.name, error = %e.message, "typing was not shown");
                },
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.platform.typing_every()) => {}
            }
        }
    }

    /// Sends `text` to the origin's chat in parts, the first replying to the message,
    /// each sent again as [`Retries`] says. `id` names the answer (a platform may make
    /// each part's transaction id of it).
    pub(crate) async fn deliver(
        &self,
        origin: &Origin,
        text: &str,
        id: &str,
    ) -> Result<(), Undelivered> {
        for (n, part) in self.platform.parts(text).into_iter().enumerate() {
            let mut retries = Retries::default();
            loop {
                let sent = tokio::select! {
                    _ = self.shutdown.cancelled() => return Err(Undelivered::Shutdown),
                    sent = self.platform.send(origin, &part, n == 0, id, n) => sent,
                };
                let Err(error) = sent else { break };
                let Some(wait) = retries.next(error.refusal) else {
                    return Err(Undelivered::Failed(error.message));
                };
                tracing::warn!(bridge = %self.name, error = %error.message, "sending again in {} ms", wait.as_millis());
                tokio::select! {
                    _ = self.shutdown.cancelled() => return Err(Undelivered::Shutdown),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        Ok(())
    }
}
