//! The loop that owns rumqttc's event loop: polls it, restores subscriptions on every
//! ConnAck, forwards messages, and on a lost connection or a failed attempt moves to the
//! next broker of the list (round robin), backing off once a round has found none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use b00t_config::BrokerAddr;

use crate::{BusEvent, BusOptions, Message, Qos};

/// Filters to restore, and whether the connection is up (so `subscribe` knows whether to
/// send now or leave it to the next ConnAck). One lock keeps the two consistent.
#[derive(Default)]
pub(crate) struct Subscriptions {
    pub connected: bool,
    pub filters: Vec<(String, Qos)>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ConnState {
    pub connected: bool,
    pub last_error: Option<String>,
    /// SubAcks received on this client, across reconnects.
    pub subacks: u64,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The brokers of the list and which one is next; the driver's own.
pub(crate) struct Brokers {
    pub endpoints: Vec<BrokerAddr>,
    pub rotation: Rotation,
    /// To build rumqttc's options for the next broker.
    pub options: BusOptions,
}

/// Which broker to try next and how long to wait first: after a lost connection or a
/// failed attempt, the next one in turn (round robin), at once while the round has
/// brokers not yet tried, then a backoff that doubles with each round that found none,
/// up to `max`. One broker is tried again after the backoff each time.
#[derive(Debug)]
pub(crate) struct Rotation {
    count: usize,
    current: usize,
    /// Brokers tried without success since the last connection or the last backoff.
    tried: usize,
    backoff: Duration,
    max: Duration,
}

impl Rotation {
    pub(crate) fn new(count: usize, max: Duration) -> Rotation {
        Rotation {
            count: count.max(1),
            current: 0,
            tried: 0,
            backoff: FIRST_BACKOFF,
            max,
        }
    }

    /// The index of the broker to connect to.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// A broker accepted the connection.
    pub(crate) fn connected(&mut self) {
        self.tried = 0;
        self.backoff = FIRST_BACKOFF;
    }

    /// The connection was lost or refused: moves to the next broker and says how long to
    /// wait before trying it.
    pub(crate) fn failed(&mut self) -> Duration {
        self.current = (self.current + 1) % self.count;
        self.tried += 1;
        if self.tried < self.count {
            return Duration::ZERO;
        }
        self.tried = 0;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.max);
        wait
    }
}

pub(crate) async fn drive(
    mut eventloop: rumqttc::EventLoop,
    client: rumqttc::AsyncClient,
    subscriptions: Arc<Mutex<Subscriptions>>,
    state: watch::Sender<ConnState>,
    events: mpsc::UnboundedSender<BusEvent>,
    stop: CancellationToken,
    mut brokers: Brokers,
) {
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = eventloop.poll() => polled,
        };
        match polled {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let message = Message {
                    topic: p.topic,
                    payload: p.payload,
                    retain: p.retain,
                };
                let _ = events.send(BusEvent::Message(message));
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                state.send_modify(|s| s.subacks += 1);
            }
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                brokers.rotation.connected();
                if brokers.endpoints.len() > 1 {
                    let broker = &brokers.endpoints[brokers.rotation.current()];
                    tracing::info!(%broker, session_present = connack.session_present, "bus connected");
                }
                let filters = {
                    let mut subs = subscriptions.lock().expect("subscriptions lock");
                    subs.connected = true;
                    subs.filters.clone()
                };
                if !filters.is_empty() {
                    let many = filters
                        .iter()
                        .map(|(f, q)| rumqttc::SubscribeFilter::new(f.clone(), q.mqtt()));
                    // try_: the driver must not wait on the queue it drains itself.
                    if let Err(e) = client.try_subscribe_many(many) {
                        tracing::warn!(error = %e, "re-subscribe failed");
                    }
                }
                state.send_modify(|s| {
                    s.connected = true;
                    s.last_error = None;
                });
                let _ = events.send(BusEvent::Connected);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                // `close` asked for a goodbye; give it a moment on the wire, then stop.
                let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
                break;
            }
            Ok(_) => {}
            Err(e) => {
                let error = e.to_string();
                let was_connected = {
                    let mut subs = subscriptions.lock().expect("subscriptions lock");
                    std::mem::replace(&mut subs.connected, false)
                };
                state.send_modify(|s| {
                    s.connected = false;
                    s.last_error = Some(error.clone());
                });
                let broker = brokers.endpoints[brokers.rotation.current()].clone();
                let wait = brokers.rotation.failed();
                let next = &brokers.endpoints[brokers.rotation.current()];
                if was_connected {
                    tracing::warn!(%error, %broker, %next, "bus connection lost; reconnecting");
                    let _ = events.send(BusEvent::Disconnected { error });
                } else {
                    tracing::debug!(%error, %broker, %next, ?wait, "bus connection attempt failed");
                }
                if brokers.endpoints.len() > 1 {
                    // The event loop keeps its queue and unacked publishes; only where
                    // it connects changes.
                    eventloop.mqtt_options = brokers.options.mqtt(next);
                }
                if !wait.is_zero() {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
    state.send_modify(|s| s.connected = false);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brokers tried after each failure, with the wait before each, as `index+ms`.
    fn order(count: usize, failures: usize) -> String {
        let mut rotation = Rotation::new(count, Duration::from_millis(300));
        let mut seen = vec![rotation.current().to_string()];
        for _ in 0..failures {
            let wait = rotation.failed();
            seen.push(format!("{}+{}", rotation.current(), wait.as_millis()));
        }
        seen.join(" ")
    }

    #[test]
    fn moves_round_robin_and_backs_off_per_round() {
        assert_eq!(order(3, 6), "0 1+0 2+0 0+50 1+0 2+0 0+100");
        assert_eq!(order(1, 5), "0 0+50 0+100 0+200 0+300 0+300");
        assert_eq!(order(2, 4), "0 1+0 0+50 1+0 0+100");
    }

    #[test]
    fn a_connection_resets_the_round_and_the_backoff() {
        let mut rotation = Rotation::new(3, Duration::from_secs(5));
        for _ in 0..6 {
            rotation.failed();
        }
        assert_eq!(rotation.current(), 0);
        rotation.connected();
        // The node under the client dies: the next one at once, then the one after.
        assert_eq!((rotation.failed(), rotation.current()), (Duration::ZERO, 1));
        assert_eq!((rotation.failed(), rotation.current()), (Duration::ZERO, 2));
        assert_eq!(
            (rotation.failed(), rotation.current()),
            (Duration::from_millis(50), 0)
        );
    }
}
