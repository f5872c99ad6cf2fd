//! The tools' own bus connection, opened on first use and kept: b00t-bus's
//! [`Requester`] on the group's reply base (`b00t.<group>/reply`, in the group's own
//! namespace: only it may read there), which
//! publishes each task with an id, asks again with the same id when it hears nothing,
//! and waits for its `result` or `error` until a deadline.

use std::time::Duration;

use b00t_bus::{Bus, BusOptions, Request};
use b00t_proto::{Address, Name, TaskId};
use serde_json::Value;
use tokio::sync::OnceCell;
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
    connection: OnceCell<b00t_bus::Requester>,
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
        on_behalf_of: Option<&str>,
    ) -> Result<Outcome, RequestError> {
        let deadline = Instant::now() + limit;
        // Not raced against the deadline: a connect dropped halfway would leave its driver
        // reconnecting under the same client id. It bounds its own waits instead.
        let requester = tokio::select! {
            _ = self.shutdown.cancelled() => return Err(RequestError::Shutdown),
            connection = self.connection.get_or_try_init(|| self.connect(deadline)) => connection?,
        };
        let request = Request {
            id: TaskId::fresh(&format!("{}-tool", self.group)),
            on_behalf_of: on_behalf_of.map(str::to_owned),
            ..Request::new(
                address.clone(),
                "tool",
                body,
                deadline.saturating_duration_since(Instant::now()),
            )
        };
        let outcome = tokio::select! {
            _ = self.shutdown.cancelled() => return Err(RequestError::Shutdown),
            outcome = requester.request(&request, |_, _| {}) => outcome,
        };
        match outcome {
            Ok(b00t_bus::Outcome::Result(reply)) => Ok(Outcome::Result(reply)),
            Ok(b00t_bus::Outcome::Error(reply)) => Ok(Outcome::Error(reply)),
            Ok(b00t_bus::Outcome::Timeout) => Err(RequestError::Timeout),
            Err(e) => Err(RequestError::Bus(e.to_string())),
        }
    }

    /// Connects and subscribes to a fresh replies base, each wait at most 10 s and
    /// ending by `deadline`; on failure the connection is closed again.
    async fn connect(&self, deadline: Instant) -> Result<b00t_bus::Requester, RequestError> {
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
        // One base per group, kept across restarts: the broker keeps every filter it was
        // ever given. Only this group's agent subscribes to it.
        let reply_base = format!("b00t.{}/reply", self.group);
        match b00t_bus::Requester::open(
            bus.clone(),
            events,
            reply_base,
            self.group.as_str(),
            wait(),
            &self.shutdown,
        )
        .await
        {
            Ok((requester, _rest)) => {
                tracing::debug!(group = %self.group, url = %bus.url(), "the tools' bus connection is up");
                Ok(requester)
            }
            Err(e) => {
                bus.close(Duration::from_millis(100)).await;
                Err(RequestError::Bus(e.to_string()))
            }
        }
    }
}
