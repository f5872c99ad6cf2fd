//! The tools' own bus connection, opened on first use and kept: publish a task with an
//! id and a private `reply_to` base, and wait for its `result` or `error` until a
//! deadline. The replies base is subscribed (and confirmed by the broker) before the first
//! task is published; one reader task hands each final reply to the request waiting for
//! its id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_proto::{clock, Address, Channel, Name, TaskId};
use serde_json::{json, Value};
use tokio::sync::{oneshot, OnceCell};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a request ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The `result` reply, whole.
    Result(Value),
    /// The `error` reply, whole.
    Error(Value),
}

/// Why a request got no reply.
#[derive(Debug)]
pub(crate) enum RequestError {
    /// Nothing final before the deadline.
    Timeout,
    /// The broker could not be reached or the publish failed.
    Bus(String),
    /// The agent is shutting down.
    Shutdown,
}

/// Requests from one group's tools.
pub(crate) struct Requester {
    options: BusOptions,
    group: Name,
    /// Stops the connection's driver and reader; the agent's own token.
    shutdown: CancellationToken,
    /// The connection, made by the first request that needs it.
    connection: OnceCell<Connection>,
}

struct Connection {
    bus: Bus,
    /// `b00t.<group>-tools-<random>.reply`: replies come on `<reply_base>/<channel>`.
    reply_base: String,
    /// Requests waiting for their final reply, by task id. Inserted by `request`, removed
    /// by the reader (which sends) or by `request` itself on timeout.
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
}

impl Requester {
    pub(crate) fn new(options: BusOptions, group: Name, shutdown: CancellationToken) -> Requester {
        Requester {
            options,
            group,
            shutdown,
            connection: OnceCell::new(),
        }
    }

    /// Publishes `body` as a task to `address` from this group and waits up to `limit`
    /// (connecting included) for its final reply.
    pub(crate) async fn request(
        &self,
        address: &Address,
        body: Value,
        limit: Duration,
    ) -> Result<Outcome, RequestError> {
        let deadline = Instant::now() + limit;
        // Not raced against the deadline: a connect dropped halfway would leave its driver
        // reconnecting under the same client id. It bounds its own waits instead.
        let connection = tokio::select! {
            _ = self.shutdown.cancelled() => return Err(RequestError::Shutdown),
            connection = self.connection.get_or_try_init(|| self.connect(deadline)) => connection?,
        };
        let id = TaskId::fresh(&format!("{}-tool", self.group));
        let (sender, receiver) = oneshot::channel();
        lock(&connection.waiting).insert(id.to_string(), sender);
        let envelope = json!({
            "id": id.as_str(),
            "from": self.group.as_str(),
            "reply_to": connection.reply_base,
            "ts": clock::now_rfc3339(),
            "body": body,
        });
        let payload = serde_json::to_vec(&envelope).expect("a JSON value serializes");
        if let Err(e) = connection
            .bus
            .publish(
                &address.topic(Channel::Task),
                Qos::AtLeastOnce,
                false,
                payload,
            )
            .await
        {
            lock(&connection.waiting).remove(id.as_str());
            return Err(RequestError::Bus(e.to_string()));
        }
        let outcome = tokio::select! {
            _ = self.shutdown.cancelled() => Err(RequestError::Shutdown),
            _ = tokio::time::sleep_until(deadline) => Err(RequestError::Timeout),
            outcome = receiver => outcome.map_err(|_| RequestError::Shutdown),
        };
        lock(&connection.waiting).remove(id.as_str());
        outcome
    }

    /// Connects and subscribes to a fresh replies base, each wait at most 10 s and
    /// ending by `deadline`; on failure the connection is closed again.
    async fn connect(&self, deadline: Instant) -> Result<Connection, RequestError> {
        let (bus, events) = Bus::connect(self.options.clone(), &self.shutdown);
        let wait = || {
            deadline
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(100), Duration::from_secs(10))
        };
        if let Err(e) = bus.wait_connected(wait()).await {
            bus.close(Duration::from_millis(100)).await;
            return Err(RequestError::Bus(e.to_string()));
        }
        let reply_base = format!("b00t.{}-tools-{:08x}.reply", self.group, fastrand::u32(..));
        if let Err(e) = bus
            .subscribe_confirmed(&format!("{reply_base}/+"), Qos::AtLeastOnce, wait())
            .await
        {
            bus.close(Duration::from_millis(100)).await;
            return Err(RequestError::Bus(e.to_string()));
        }
        let waiting = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(read_replies(
            events,
            reply_base.clone(),
            waiting.clone(),
            self.shutdown.clone(),
        ));
        tracing::debug!(group = %self.group, url = %bus.url(), "the tools' bus connection is up");
        Ok(Connection {
            bus,
            reply_base,
            waiting,
        })
    }
}

/// Hands each final reply on `<reply_base>/result|error` to the request waiting for it.
async fn read_replies(
    mut events: Events,
    reply_base: String,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = events.recv() => event,
        };
        let Some(event) = event else { return };
        let BusEvent::Message(message) = event else {
            continue;
        };
        let Some((base, channel)) = Channel::split(&message.topic) else {
            continue;
        };
        if base != reply_base || !matches!(channel, Channel::Result | Channel::Error) {
            continue;
        }
        let Ok(reply) = serde_json::from_slice::<Value>(&message.payload) else {
            continue;
        };
        let Some(id) = reply["id"].as_str() else {
            continue;
        };
        let Some(sender) = lock(&waiting).remove(id) else {
            continue;
        };
        let outcome = if channel == Channel::Result {
            Outcome::Result(reply)
        } else {
            Outcome::Error(reply)
        };
        let _ = sender.send(outcome);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
