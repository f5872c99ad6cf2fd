//! [`CardChanges`]: which agents' cards changed on the bus, for MCP clients that listen
//! (`subscriptions/listen` with resource URIs or `resourcesListChanged`). One subscription
//! to `+/status` feeds a broadcast channel; each listening client reads its own receiver,
//! and one that falls [`CAPACITY`] changes behind is told its resources changed.

use std::collections::HashSet;
use std::time::Duration;

use b00t_bus::{Bus, BusError, BusEvent, Events, Qos};
use b00t_proto::AgentChannel;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Changes kept for a slow listener before it skips ahead.
pub(crate) const CAPACITY: usize = 256;
/// The filter of every card topic (`b00t.<agent>/status`).
const CARDS: &str = "+/status";
/// Agents remembered as seen; past it, no card counts as new (a flood of names on a
/// broker without b00t's rules).
const MAX_KNOWN: usize = 10_000;

/// One card published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardChange {
    /// The agent whose card it is.
    pub agent: String,
    /// Whether this server had not seen a card of this agent before: the list changed.
    pub new: bool,
}

/// A source of card changes; cheap to clone.
#[derive(Clone, Debug)]
pub struct CardChanges {
    tx: broadcast::Sender<CardChange>,
}

impl CardChanges {
    /// Subscribes `bus` to every card and reads `events` (the requester's other events)
    /// until `shutdown`.
    pub async fn watch(
        bus: &Bus,
        events: Events,
        limit: Duration,
        shutdown: &CancellationToken,
    ) -> Result<CardChanges, BusError> {
        bus.subscribe_confirmed(CARDS, Qos::AtLeastOnce, limit)
            .await?;
        let (tx, _) = broadcast::channel(CAPACITY);
        tokio::spawn(read(events, tx.clone(), shutdown.clone()));
        Ok(CardChanges { tx })
    }

    /// A source nobody feeds (no bus): listeners hear nothing.
    pub fn none() -> CardChanges {
        CardChanges {
            tx: broadcast::channel(1).0,
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<CardChange> {
        self.tx.subscribe()
    }
}

/// The agent of a card topic: `b00t.<agent>/status` with a valid name.
pub(crate) fn agent_of(topic: &str) -> Option<&str> {
    match AgentChannel::split(topic)? {
        (agent, AgentChannel::Status) => Some(agent),
        (_, AgentChannel::Heartbeat) => None,
    }
}

async fn read(mut events: Events, tx: broadcast::Sender<CardChange>, shutdown: CancellationToken) {
    // Bounded by the number of distinct valid agent names seen, as the broker's own
    // retained cards are.
    let mut known = HashSet::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.recv() => event,
        };
        let Some(event) = event else { break };
        let BusEvent::Message(message) = event else {
            continue;
        };
        let Some(agent) = agent_of(&message.topic) else {
            continue;
        };
        let new = known.len() < MAX_KNOWN && known.insert(agent.to_owned());
        // No listener is not an error: the change is simply not wanted.
        let _ = tx.send(CardChange {
            agent: agent.to_owned(),
            new,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_topics_name_their_agent() {
        assert_eq!(agent_of("b00t.echo/status"), Some("echo"));
        assert_eq!(agent_of("b00t.runtime/status"), Some("runtime"));
        assert_eq!(agent_of("b00t.echo/heartbeat"), None);
        assert_eq!(agent_of("other/status"), None);
        assert_eq!(agent_of("b00t.../status"), None);
        assert_eq!(agent_of("b00t./status"), None);
    }
}
