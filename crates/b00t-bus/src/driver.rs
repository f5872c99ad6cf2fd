//! The loop that owns rumqttc's event loop: polls it, restores subscriptions on every
//! ConnAck (and after a refused SubAck), forwards messages, and on a lost connection, a
//! failed attempt or a node that keeps refusing subscriptions moves to the next broker of
//! the list (round robin), backing off once a round has found none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{Event, Outgoing, Packet};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use b00t_config::BrokerAddr;

use crate::events::{Delivered, Qos0Queue};
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

/// Where the driver reports: the connection's state, its events, and the count of
/// queued QoS 0 ones.
pub(crate) struct Reports {
    pub state: watch::Sender<ConnState>,
    pub events: mpsc::UnboundedSender<Delivered>,
    pub qos0_queue: Qos0Queue,
}

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
    reports: Reports,
    stop: CancellationToken,
    mut brokers: Brokers,
) {
    let Reports {
        state,
        events,
        qos0_queue,
    } = &reports;
    let mut retry = SubscribeRetry::default();
    let mut dropped = Dropped::default();
    // DISCONNECTs the driver sent itself to leave a node that refuses subscriptions.
    let mut leaving = 0u32;
    loop {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = eventloop.poll() => polled,
        };
        match polled {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(qos0) = qos0_queue.admit(&p) else {
                    dropped.one(&brokers.options.client_id);
                    continue;
                };
                let message = Message {
                    topic: p.topic,
                    payload: p.payload,
                    retain: p.retain,
                };
                let sent = events.send(Delivered {
                    event: BusEvent::Message(message),
                    qos0,
                });
                // Nobody reads any more: the message is gone, and so is its slot.
                if let Err(mpsc::error::SendError(mut unread)) = sent {
                    qos0_queue.settle(&mut unread);
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused = ack
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    .count();
                if refused == 0 {
                    retry.succeeded();
                    state.send_modify(|s| s.subacks += 1);
                } else {
                    // A broker may refuse for a while (NATS, while the JetStream stream
                    // behind MQTT subscriptions elects a leader): ask again, or the
                    // subscription is silently missing until the next reconnect.
                    let broker = &brokers.endpoints[brokers.rotation.current()];
                    let of = ack.return_codes.len();
                    match retry.failed(brokers.endpoints.len()) {
                        AfterRefusal::Again(wait) => {
                            tracing::warn!(%broker, refused, of, ?wait, "the broker refused a subscription; subscribing again");
                            retry.schedule(wait, &client, &subscriptions, &stop);
                        }
                        AfterRefusal::NextBroker => {
                            // A node of a cluster can refuse for long after a peer died
                            // (NATS: its JetStream assets still without a leader) while
                            // another serves at once. A DISCONNECT first, so that the
                            // node drops the will rather than publishing it.
                            tracing::warn!(%broker, refused, of, "the broker refused a subscription; moving to the next broker of the list");
                            if client.try_disconnect().is_ok() {
                                leaving += 1;
                            }
                        }
                        AfterRefusal::GiveUp => {
                            tracing::error!(%broker, refused, of, "the broker keeps refusing a subscription; giving up until the next reconnection: check its ACL for this client")
                        }
                    }
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                brokers.rotation.connected();
                retry.connected();
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
                    // try_: the driver must not wait on the queue it drains itself.
                    if let Err(e) = client.try_subscribe_many(mqtt_filters(&filters)) {
                        tracing::warn!(error = %e, "re-subscribe failed");
                    }
                }
                state.send_modify(|s| {
                    s.connected = true;
                    s.last_error = None;
                });
                let _ = events.send(Delivered::plain(BusEvent::Connected));
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if leaving > 0 => {
                // Ours, sent and flushed: drop this connection and take the next broker,
                // as after a lost one (unacked publishes go out again there).
                leaving -= 1;
                eventloop.clean();
                let error = "the broker kept refusing subscriptions".to_owned();
                lost(
                    &mut eventloop,
                    &subscriptions,
                    &reports,
                    &mut brokers,
                    error,
                );
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                // `close` asked for a goodbye; give it a moment on the wire, then stop.
                let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
                break;
            }
            Ok(_) => {}
            Err(e) => {
                let wait = lost(
                    &mut eventloop,
                    &subscriptions,
                    &reports,
                    &mut brokers,
                    e.to_string(),
                );
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

/// The connection is gone (lost, refused, or left): marks it down, says so, and points the
/// event loop at the next broker; returns how long to wait before connecting.
fn lost(
    eventloop: &mut rumqttc::EventLoop,
    subscriptions: &Mutex<Subscriptions>,
    reports: &Reports,
    brokers: &mut Brokers,
    error: String,
) -> Duration {
    let Reports { state, events, .. } = reports;
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
        let _ = events.send(Delivered::plain(BusEvent::Disconnected { error }));
    } else {
        tracing::debug!(%error, %broker, %next, ?wait, "bus connection attempt failed");
    }
    if brokers.endpoints.len() > 1 {
        // The event loop keeps its queue and unacked publishes; only where
        // it connects changes.
        eventloop.mqtt_options = brokers.options.mqtt(next);
    }
    wait
}

/// QoS 0 messages dropped for a consumer that lags, told at most every ten seconds.
#[derive(Default)]
struct Dropped {
    count: u64,
    told: Option<tokio::time::Instant>,
}

impl Dropped {
    fn one(&mut self, client_id: &str) {
        self.count += 1;
        let now = tokio::time::Instant::now();
        if self
            .told
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        self.told = Some(now);
        tracing::warn!(
            client_id,
            dropped = self.count,
            queued = crate::events::MAX_QUEUED_QOS0,
            "dropped QoS 0 messages: this client reads its events slower than they come"
        );
    }
}

/// `filters` as rumqttc subscribes them.
fn mqtt_filters(filters: &[(String, Qos)]) -> impl Iterator<Item = rumqttc::SubscribeFilter> + '_ {
    filters
        .iter()
        .map(|(f, q)| rumqttc::SubscribeFilter::new(f.clone(), q.mqtt()))
}

/// Subscribing again after a refused SubAck: one attempt pending at a time, each after a
/// wait that doubles from [`FIRST_RESUBSCRIBE`] up to [`MAX_RESUBSCRIBE`], at most
/// [`RESUBSCRIBE_ATTEMPTS`] times in a row (about half a minute): a broker that refuses
/// for good (its ACL) is not asked for ever. On a list of brokers, a node that refuses is
/// left for the next one at once, within the same count of attempts: a NATS node takes
/// about 5 s to refuse, and may go on refusing long after its peers serve again.
#[derive(Debug)]
struct SubscribeRetry {
    wait: Duration,
    attempts: u32,
    /// The next ConnAck comes from leaving a refusing node: it keeps the count.
    moving: bool,
    pending: Arc<std::sync::atomic::AtomicBool>,
}

/// What the driver does about a refused SubAck.
#[derive(Debug, PartialEq, Eq)]
enum AfterRefusal {
    /// Subscribe again on this connection after the wait.
    Again(Duration),
    /// Leave this node for the next broker of the list.
    NextBroker,
    /// The attempts are spent.
    GiveUp,
}

const FIRST_RESUBSCRIBE: Duration = Duration::from_millis(250);
const MAX_RESUBSCRIBE: Duration = Duration::from_secs(5);
const RESUBSCRIBE_ATTEMPTS: u32 = 8;

impl Default for SubscribeRetry {
    fn default() -> SubscribeRetry {
        SubscribeRetry {
            wait: FIRST_RESUBSCRIBE,
            attempts: 0,
            moving: false,
            pending: Arc::default(),
        }
    }
}

impl SubscribeRetry {
    /// A SubAck granted everything: the next refusal starts over.
    fn succeeded(&mut self) {
        self.wait = FIRST_RESUBSCRIBE;
        self.attempts = 0;
    }

    /// A new connection: it starts over too, unless it is the one that left a refusing
    /// node (then the count goes on, so that a list that refuses everywhere is given up).
    fn connected(&mut self) {
        if !std::mem::take(&mut self.moving) {
            self.succeeded();
        }
    }

    /// What to do about a refusal, on a list of `brokers`.
    fn failed(&mut self, brokers: usize) -> AfterRefusal {
        if self.attempts >= RESUBSCRIBE_ATTEMPTS {
            return AfterRefusal::GiveUp;
        }
        self.attempts += 1;
        if brokers > 1 {
            self.moving = true;
            return AfterRefusal::NextBroker;
        }
        let wait = self.wait;
        self.wait = (self.wait * 2).min(MAX_RESUBSCRIBE);
        AfterRefusal::Again(wait)
    }

    /// Sends every filter again after `wait`, from a task of its own (the driver must
    /// not wait on the queue it drains), unless an attempt is already pending.
    fn schedule(
        &self,
        wait: Duration,
        client: &rumqttc::AsyncClient,
        subscriptions: &Arc<Mutex<Subscriptions>>,
        stop: &CancellationToken,
    ) {
        use std::sync::atomic::Ordering;
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pending, client, subscriptions, stop) = (
            self.pending.clone(),
            client.clone(),
            subscriptions.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(wait) => {
                    let filters = {
                        let subs = subscriptions.lock().expect("subscriptions lock");
                        // Not connected: the next ConnAck subscribes them all anyway.
                        if subs.connected {
                            subs.filters.clone()
                        } else {
                            Vec::new()
                        }
                    };
                    if !filters.is_empty() {
                        let _ = client.subscribe_many(mqtt_filters(&filters)).await;
                    }
                }
            }
            pending.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_subscriptions_are_asked_again_with_backoff_then_given_up() {
        let mut retry = SubscribeRetry::default();
        let waits: Vec<Option<u128>> = (0..9)
            .map(|_| match retry.failed(1) {
                AfterRefusal::Again(w) => Some(w.as_millis()),
                AfterRefusal::GiveUp => None,
                AfterRefusal::NextBroker => panic!("one broker has no next"),
            })
            .collect();
        assert_eq!(
            waits,
            [
                Some(250),
                Some(500),
                Some(1000),
                Some(2000),
                Some(4000),
                Some(5000),
                Some(5000),
                Some(5000),
                None
            ]
        );
        retry.succeeded();
        assert_eq!(retry.failed(1), AfterRefusal::Again(FIRST_RESUBSCRIBE));
        // A reconnection starts over.
        retry.connected();
        assert_eq!(retry.failed(1), AfterRefusal::Again(FIRST_RESUBSCRIBE));
    }

    /// Each refusal on a list of two, with a reconnection after every move, as
    /// `a` (again), `n` (next broker) or `x` (given up).
    fn refusals_on_a_list(count: usize) -> String {
        let mut retry = SubscribeRetry::default();
        (0..count)
            .map(|_| match retry.failed(2) {
                AfterRefusal::Again(_) => "a",
                AfterRefusal::NextBroker => {
                    retry.connected();
                    "n"
                }
                AfterRefusal::GiveUp => "x",
            })
            .collect()
    }

    #[test]
    fn a_node_that_refuses_is_left_for_the_next_within_the_same_attempts() {
        assert_eq!(refusals_on_a_list(10), "nnnnnnnnxx");
        // Granted on the next node: a later refusal starts a fresh count there.
        let mut retry = SubscribeRetry::default();
        assert_eq!(retry.failed(2), AfterRefusal::NextBroker);
        retry.connected();
        assert_eq!(retry.attempts, 1);
        retry.succeeded();
        assert_eq!(retry.failed(2), AfterRefusal::NextBroker);
        assert_eq!(retry.attempts, 1);
        // A reconnection of its own (not a move) starts over as well.
        retry.connected();
        retry.connected();
        assert_eq!(retry.attempts, 0);
    }

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
