//! [`Requester`]: the one way b00t's own clients ask an agent something (the CLI's
//! `send`, `agents` and `chat`, the assistant's tools). It owns a private reply base
//! (`<base>/+`, subscribed and confirmed before any task is published), hands each reply
//! to the request waiting for its id, and asks again with the same id when a request
//! hears nothing: the bus runs a task once per id, so asking again only fetches the
//! stored reply, and a reply the broker dropped for a slow subscriber is not lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use b00t_proto::{Address, Channel, Task, TaskId};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::Delivered;
use crate::{Bus, BusError, BusEvent, Events, Qos};

/// Replies queued for one request; a request that falls this far behind loses
/// progress replies, never its final one (it asks again).
const PER_REQUEST: usize = 64;
/// The longest wait between two askings.
const MAX_ASK_AGAIN: Duration = Duration::from_secs(30);

/// The requests waiting for replies, by task id.
type Waiting = HashMap<String, mpsc::Sender<(Channel, Value)>>;

/// How a request ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The `result` reply, whole.
    Result(Value),
    /// The `error` reply, whole.
    Error(Value),
    /// Nothing final before the deadline.
    Timeout,
}

/// A task to ask.
#[derive(Clone, Debug)]
pub struct Request {
    pub address: Address,
    pub id: TaskId,
    pub body: Value,
    /// How long to wait for the final reply in all.
    pub timeout: Duration,
    /// Silence this long (no ack, progress or final reply) publishes the task again with
    /// the same id; the wait doubles each time, up to 30 s.
    pub ask_again_after: Duration,
    /// Whose request it really is, when it is asked for another agent.
    pub on_behalf_of: Option<String>,
}

impl Request {
    /// A request with a fresh id (`<prefix>-<hex>`) that asks again after 5 s of silence.
    pub fn new(address: Address, id_prefix: &str, body: Value, timeout: Duration) -> Request {
        Request {
            address,
            id: TaskId::fresh(id_prefix),
            body,
            timeout,
            ask_again_after: Duration::from_secs(5),
            on_behalf_of: None,
        }
    }
}

/// Requests over one bus connection; cheap to clone.
#[derive(Clone, Debug)]
pub struct Requester {
    bus: Bus,
    /// Replies come on `<reply_base>/<channel>`.
    reply_base: String,
    /// The `from` of every task.
    from: String,
    /// Requests waiting, by task id: inserted by `request`, removed by it when it ends;
    /// the reader task sends.
    waiting: Arc<Mutex<Waiting>>,
}

impl Requester {
    /// Subscribes to `<reply_base>/+` at QoS 1 on `bus` (confirmed within `limit`) and
    /// starts the task that reads `events`, the connection's events, until `shutdown`.
    /// Returns the requester and the connection's other events (everything not a reply
    /// for it).
    pub async fn open(
        bus: Bus,
        events: Events,
        reply_base: String,
        from: &str,
        limit: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(Requester, Events), BusError> {
        let qos = Qos::AtLeastOnce;
        Requester::open_at(bus, events, reply_base, from, limit, qos, shutdown).await
    }

    /// As [`Requester::open`], with the replies' subscription at `qos`. QoS 0 suits a
    /// short-lived client on a NATS cluster: it needs no JetStream consumer, so the
    /// cluster grants it while JetStream elects leaders (QoS 1 subscriptions are refused
    /// then, for tens of seconds after a node died), and a reply it misses is fetched by
    /// asking again with the same id.
    pub async fn open_at(
        bus: Bus,
        events: Events,
        reply_base: String,
        from: &str,
        limit: Duration,
        qos: Qos,
        shutdown: &CancellationToken,
    ) -> Result<(Requester, Events), BusError> {
        bus.subscribe_confirmed(&format!("{reply_base}/+"), qos, limit)
            .await?;
        let waiting = Arc::new(Mutex::new(HashMap::new()));
        let (rest_tx, rest_rx) = mpsc::unbounded_channel();
        let rest = events.sibling(rest_rx);
        tokio::spawn(read_replies(
            events,
            reply_base.clone(),
            waiting.clone(),
            rest_tx,
            shutdown.child_token(),
        ));
        let requester = Requester {
            bus,
            reply_base,
            from: from.to_owned(),
            waiting,
        };
        Ok((requester, rest))
    }

    /// Where replies come.
    pub fn reply_base(&self) -> &str {
        &self.reply_base
    }

    /// Publishes `request` and calls `on_reply` for each reply (ack, progress, result,
    /// error) until the final one or the deadline.
    pub async fn request(
        &self,
        request: &Request,
        mut on_reply: impl FnMut(Channel, &Value),
    ) -> Result<Outcome, BusError> {
        let (tx, mut rx) = mpsc::channel(PER_REQUEST);
        lock(&self.waiting).insert(request.id.to_string(), tx);
        let _forget = Forget {
            waiting: &self.waiting,
            id: request.id.as_str(),
        };
        let task = Task::outgoing(
            request.id.clone(),
            Some(&self.from),
            Some(&self.reply_base),
            request.body.clone(),
        )
        .on_behalf_of(request.on_behalf_of.as_deref());
        let payload = task.to_envelope();
        let topic = request.address.topic(Channel::Task);
        self.bus
            .publish(&topic, Qos::AtLeastOnce, false, payload.clone())
            .await?;
        let deadline = Instant::now() + request.timeout;
        let mut silence = request.ask_again_after.max(Duration::from_millis(50));
        let mut ask_again = Instant::now() + silence;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(Outcome::Timeout),
                _ = tokio::time::sleep_until(ask_again) => {
                    tracing::debug!(%topic, id = %request.id, "no reply yet; asking again with the same id");
                    self.bus.publish(&topic, Qos::AtLeastOnce, false, payload.clone()).await?;
                    silence = (silence * 2).min(MAX_ASK_AGAIN);
                    ask_again = Instant::now() + silence;
                }
                reply = rx.recv() => {
                    let Some((channel, reply)) = reply else {
                        return Err(BusError::ClosedConnection { url: self.bus.url().to_owned() });
                    };
                    // Only the agent asked answers: a reply naming another agent is not
                    // this task's, whoever managed to publish it.
                    let from_agent = reply.get("agent").and_then(Value::as_str);
                    if from_agent != Some(request.address.agent().as_str()) {
                        tracing::warn!(%topic, id = %request.id, agent = ?from_agent, "ignored a reply from another agent than the one asked");
                        continue;
                    }
                    on_reply(channel, &reply);
                    match channel {
                        Channel::Result => return Ok(Outcome::Result(reply)),
                        Channel::Error => return Ok(Outcome::Error(reply)),
                        // The agent has it: only a long silence asks again.
                        _ => ask_again = Instant::now() + silence,
                    }
                }
            }
        }
    }
}

/// Removes a request's entry when it ends, however it ends.
struct Forget<'a> {
    waiting: &'a Mutex<Waiting>,
    id: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.waiting).remove(self.id);
    }
}

/// Hands each reply on `<reply_base>/<channel>` to the request waiting for its id, and
/// every other event to `rest` with its slot in the QoS 0 count (so that the limit
/// bounds `rest` too); what nobody reads any more gives its slot back here.
async fn read_replies(
    mut events: Events,
    reply_base: String,
    waiting: Arc<Mutex<Waiting>>,
    rest: mpsc::UnboundedSender<Delivered>,
    shutdown: CancellationToken,
) {
    loop {
        let delivered = tokio::select! {
            _ = shutdown.cancelled() => break,
            delivered = events.recv_counted() => delivered,
        };
        let Some(mut delivered) = delivered else {
            break;
        };
        let ours = match &delivered.event {
            BusEvent::Message(message) => Channel::split(&message.topic)
                .filter(|(base, channel)| {
                    *base == reply_base && !matches!(channel, Channel::Task | Channel::Dead)
                })
                .map(|(_, channel)| channel),
            _ => None,
        };
        let Some(channel) = ours else {
            if let Err(mpsc::error::SendError(mut unread)) = rest.send(delivered) {
                events.settle(&mut unread);
            }
            continue;
        };
        events.settle(&mut delivered);
        let BusEvent::Message(message) = &delivered.event else {
            continue;
        };
        let Ok(reply) = serde_json::from_slice::<Value>(&message.payload) else {
            continue;
        };
        let Some(id) = reply.get("id").and_then(Value::as_str) else {
            continue;
        };
        let Some(sender) = lock(&waiting).get(id).cloned() else {
            continue;
        };
        // A full queue drops this reply: progress is only shown, and a lost final
        // reply is asked for again.
        let _ = sender.try_send((channel, reply));
    }
    // Waiting requests see their channel close.
    lock(&waiting).clear();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
