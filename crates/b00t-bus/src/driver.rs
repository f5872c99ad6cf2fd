//! The loop that owns rumqttc's event loop: polls it, restores subscriptions on every
//! ConnAck, forwards messages, and backs off between reconnection attempts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::{BusEvent, Message, Qos};

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

pub(crate) async fn drive(
    mut eventloop: rumqttc::EventLoop,
    client: rumqttc::AsyncClient,
    subscriptions: Arc<Mutex<Subscriptions>>,
    state: watch::Sender<ConnState>,
    events: mpsc::UnboundedSender<BusEvent>,
    stop: CancellationToken,
    max_backoff: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
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
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = FIRST_BACKOFF;
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
                if was_connected {
                    tracing::warn!(%error, "bus connection lost; reconnecting");
                    let _ = events.send(BusEvent::Disconnected { error });
                } else {
                    tracing::debug!(%error, ?backoff, "bus connection attempt failed");
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
    state.send_modify(|s| s.connected = false);
}
