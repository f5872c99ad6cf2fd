//! Messages that need no record: `/help`, `/status`, `/agents`, and the hint an unbound
//! chat hears (at most once an hour, the attempt logged every time). Each takes a slot
//! of the same [`super::MAX_CONVERSATIONS`] as the conversations, so nothing a chat can
//! trigger grows without bound; one finding none is dropped and logged.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use b00t_bus::{Outcome, Request};
use b00t_proto::Address;
use serde_json::Value;

use super::conversation::Undelivered;
use super::{Engine, Platform};
use crate::origin::{self, Origin};

/// An unbound chat hears the hint at most this often.
const HINT_EVERY: Duration = Duration::from_secs(3600);
/// Chats remembered for the hint's rate limit; the memory is cleared past it.
const MAX_HINTED: usize = 10_000;

impl<P: Platform> Engine<P> {
    /// Sends `text` to the chat in the background.
    pub(crate) fn notice(self: &Arc<Self>, origin: &Origin, text: String) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(bridge = %self.name, chat = %origin.chat_id, "too many answers in flight; a notice is dropped");
            return;
        };
        let this = self.clone();
        let origin = origin.clone();
        self.conversations.spawn(async move {
            if let Err(Undelivered::Failed(why)) = this.deliver(&origin, &text, "notice").await {
                tracing::warn!(bridge = %this.name, chat = %origin.chat_id, error = %why, "a notice could not be delivered");
            }
            drop(permit);
        });
    }

    /// `/agents`, answered in the background.
    pub(crate) fn agents_notice(self: &Arc<Self>, origin: &Origin) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(bridge = %self.name, chat = %origin.chat_id, "too many answers in flight; /agents is dropped");
            return;
        };
        let this = self.clone();
        let origin = origin.clone();
        self.conversations.spawn(async move {
            let text = this.agents_text().await;
            let _ = this.deliver(&origin, &text, "agents").await;
            drop(permit);
        });
    }

    /// Tells an unbound chat, at most once an hour, how the operator binds it; logs it.
    pub(crate) fn hint_unbound(self: &Arc<Self>, chat: &str, origin: &Origin) {
        let kind = self.platform.kind();
        tracing::warn!(bridge = %self.name, chat = %chat, sender = %origin.sender.name, "a message from a chat not bound to a group reached no agent; bind it with `b00t bridge allow {kind}:{chat} --group <group>`");
        let now = Instant::now();
        {
            let mut hinted = self.hinted.lock().unwrap_or_else(|p| p.into_inner());
            if hinted
                .get(chat)
                .is_some_and(|last| now.duration_since(*last) < HINT_EVERY)
            {
                return;
            }
            if hinted.len() >= MAX_HINTED {
                hinted.clear();
            }
            hinted.insert(chat.to_owned(), now);
        }
        let text = format!(
            "This chat is not bound to a group: the operator can run `b00t bridge allow {kind}:{chat} --group <group>`"
        );
        self.notice(origin, text);
    }

    pub(crate) fn status_text(&self, chat: &str, group: &str) -> String {
        format!(
            "Bridge `{}` (agent `{}`, bot {}), up {} min, {} answer(s) in progress. This chat (`{}:{chat}`) reaches the group `{group}`.",
            self.name,
            self.agent,
            self.board.bot.get().map(String::as_str).unwrap_or("?"),
            self.board.started.elapsed().as_secs() / 60,
            self.board.in_flight.load(Ordering::Relaxed),
            self.platform.kind(),
        )
    }

    /// `/agents`: asks `b00t.runtime.agents`, one line per agent.
    async fn agents_text(&self) -> String {
        let Ok(address) = Address::parse("b00t.runtime.agents") else {
            return "cannot name the runtime".to_owned();
        };
        let request = Request::new(
            address,
            &format!("{}-agents", self.platform.kind()),
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
}
