//! How the watcher learns of messages. With the embedded broker, the front door shows it
//! every `b00t.…` message through [`Intake`], the broker's tap, and holds each task until
//! the watcher has journaled it, so no task is PUBACKed (or delivered) and then missing
//! from the journal. With an external broker, the watcher's `#` subscription
//! feeds the same [`Feed`] ([`from_bus`]); there the journal follows the broker.
//!
//! The tap is also where the topic rules hold for what a client publishes
//! ([`b00t_acl::Acl::check_publish`]): a refused message goes nowhere (a QoS 1 one is
//! acknowledged and dropped), is logged with who sent it, and a refused task is answered
//! `forbidden` when its sender may read the reply topic.

use std::sync::Arc;

use b00t_acl::Acl;
use b00t_broker::{Hold, Refusal, Tap, Tapped};
use b00t_bus::{BusEvent, Bytes, Events};
use b00t_proto::PREFIX;
use tokio::sync::{mpsc, oneshot};

/// Messages waiting for the watcher, at most. A full feed holds the publishing
/// connection (backpressure) rather than dropping anything.
pub const FEED_CAPACITY: usize = 4096;

/// One message for the watcher.
#[derive(Debug)]
pub struct Feed {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    /// Answered once the message may go on to subscribers: for a task, once it is
    /// journaled (or with why it was refused). `None` when nobody waits.
    pub done: Option<oneshot::Sender<Result<(), Refusal>>>,
    /// A task the rules refused, to answer `forbidden`: the reply base, the task's id and
    /// why. Such a message is never delivered.
    pub forbidden: Option<Forbidden>,
}

/// A refused task whose sender hears why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden {
    pub base: String,
    pub id: String,
    pub why: String,
}

/// The broker's tap: feeds the watcher.
pub struct Intake {
    /// To the watcher; the watcher holds the receiver for as long as `up` runs.
    feed: mpsc::Sender<Feed>,
    /// The watcher's own connection: what it publishes (retries, dead letters, its own
    /// answers) it already knows, and waiting on itself could deadlock a full feed.
    own_client_id: String,
    /// The topic rules; `None` when `[broker] acl = false`.
    acl: Option<Arc<Acl>>,
}

impl Intake {
    pub fn new(feed: mpsc::Sender<Feed>, own_client_id: String, acl: Option<Arc<Acl>>) -> Intake {
        Intake {
            feed,
            own_client_id,
            acl,
        }
    }

    /// Holds `message` to the rules; a refusal is final.
    fn refuse(&self, message: &Tapped<'_>) -> Option<Hold> {
        let who = crate::door::who(message.identity);
        let denied = self
            .acl
            .as_ref()?
            .check_publish(&who, message.topic, message.payload)
            .err()?;
        tracing::warn!(client_id = %message.client_id, identity = %who, topic = %message.topic.escape_debug(), "refused a publish: {}", denied.why);
        if let Some((base, id)) = denied.answer {
            let feed = Feed {
                topic: message.topic.to_owned(),
                payload: Bytes::new(),
                retain: false,
                done: None,
                forbidden: Some(Forbidden {
                    base,
                    id,
                    why: denied.why.clone(),
                }),
            };
            // Best effort: a full feed drops the answer, never the refusal.
            let _ = self.feed.try_send(feed);
        }
        let why = Refusal(denied.why);
        Some(Box::pin(async move { Err(why) }))
    }
}

impl Tap for Intake {
    fn publish(&self, message: &Tapped<'_>) -> Option<Hold> {
        let ours = message
            .topic
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with('.'));
        if message.client_id == self.own_client_id {
            return None;
        }
        if let Some(refused) = self.refuse(message) {
            return Some(refused);
        }
        if !ours {
            return None;
        }
        // Every task waits for its journal row, QoS 0 too: it reaches its agent only once
        // the journal holds it (a QoS 1 or 2 task is acknowledged only then, too).
        let is_task = message.topic.ends_with("/task") && !message.retain;
        let (done, wait) = if is_task {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let feed = Feed {
            topic: message.topic.to_owned(),
            payload: message.payload.clone(),
            retain: message.retain,
            done,
            forbidden: None,
        };
        let feed = match self.feed.try_send(feed) {
            Ok(()) => {
                return wait
                    .map(|wait| -> Hold { Box::pin(async move { wait.await.unwrap_or(Ok(())) }) })
            }
            // The watcher has stopped: `up` is shutting down.
            Err(mpsc::error::TrySendError::Closed(_)) => return None,
            Err(mpsc::error::TrySendError::Full(feed)) => feed,
        };
        let sender = self.feed.clone();
        Some(Box::pin(async move {
            if sender.send(feed).await.is_err() {
                return Ok(());
            }
            match wait {
                Some(wait) => wait.await.unwrap_or(Ok(())),
                None => Ok(()),
            }
        }))
    }
}

/// Feeds the watcher from a bus subscription (an external broker).
pub fn from_bus(mut events: Events) -> mpsc::Receiver<Feed> {
    let (tx, rx) = mpsc::channel(FEED_CAPACITY);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let BusEvent::Message(m) = event {
                let feed = Feed {
                    topic: m.topic,
                    payload: m.payload,
                    retain: m.retain,
                    done: None,
                    forbidden: None,
                };
                if tx.send(feed).await.is_err() {
                    break;
                }
            }
        }
    });
    rx
}
