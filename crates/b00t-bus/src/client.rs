//! [`Bus`]: the cloneable handle to one broker connection. Publishing never waits on the
//! loop that reads from the connection, so a handler may publish while messages arrive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::driver::{self, ConnState, Subscriptions};
use crate::events::{Events, Qos0Queue};
use crate::{BusError, BusOptions, Qos};

/// A handle to one connection (to whichever broker of the list it is on); clones share it.
#[derive(Clone)]
pub struct Bus {
    client: rumqttc::AsyncClient,
    /// Filters to restore after every reconnect; the driver reads it on each ConnAck.
    subscriptions: Arc<Mutex<Subscriptions>>,
    /// Whether the connection is up, and the last error; written by the driver only.
    state: watch::Receiver<ConnState>,
    /// Stops the driver; cancelled by `close` (or by the parent token given to `connect`).
    stop: CancellationToken,
    /// The driver task, taken by the first `close`.
    driver: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    url: String,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("url", &self.url).finish()
    }
}

impl Bus {
    /// Starts connecting in the background and returns at once. `shutdown` stops the
    /// driver when cancelled. Use [`Bus::wait_connected`] to wait for the broker.
    pub fn connect(options: BusOptions, shutdown: &CancellationToken) -> (Bus, Events) {
        let endpoints = options.endpoints();
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options.mqtt(&endpoints[0]), 4096);
        eventloop.set_network_options(options.network());
        let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
        let (state_tx, state) = watch::channel(ConnState::default());
        // QoS 0 in it is bounded by MAX_QUEUED_QOS0: see `events`.
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let qos0_queue = Qos0Queue::default();
        let events = Events::new(events_rx, qos0_queue.clone());
        let stop = shutdown.child_token();
        let task = tokio::spawn(driver::drive(
            eventloop,
            client.clone(),
            subscriptions.clone(),
            driver::Reports {
                state: state_tx,
                events: events_tx,
                qos0_queue,
            },
            stop.clone(),
            driver::Brokers {
                rotation: driver::Rotation::new(endpoints.len(), options.max_backoff),
                endpoints,
                options: options.clone(),
            },
        ));
        let bus = Bus {
            client,
            subscriptions,
            state,
            stop,
            driver: Arc::new(Mutex::new(Some(task))),
            url: options.url.to_string(),
        };
        (bus, events)
    }

    /// Waits until the broker accepted the connection, or fails after `limit` naming the
    /// broker and the last error.
    pub async fn wait_connected(&self, limit: Duration) -> Result<(), BusError> {
        let mut state = self.state.clone();
        let waited = tokio::time::timeout(limit, state.wait_for(|s| s.connected)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(BusError::Unreachable {
                url: self.url.clone(),
                seconds: limit.as_secs().max(1),
                last_error: self
                    .state
                    .borrow()
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no answer".to_owned()),
            }),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.state.borrow().connected
    }

    /// Subscribes now (when connected) and after every reconnect.
    pub async fn subscribe(&self, filter: &str, qos: Qos) -> Result<(), BusError> {
        let send_now = {
            let mut subs = self.subscriptions.lock().expect("subscriptions lock");
            subs.filters.push((filter.to_owned(), qos));
            subs.connected
        };
        if send_now {
            self.client
                .subscribe(filter, qos.mqtt())
                .await
                .map_err(|_| self.closed())?;
        }
        Ok(())
    }

    /// Subscribes and waits until the broker confirms it (a SubAck that grants every
    /// filter; a refused one is asked again by the driver), so that a message published
    /// afterwards is sure to be seen. Fails after `limit`.
    pub async fn subscribe_confirmed(
        &self,
        filter: &str,
        qos: Qos,
        limit: Duration,
    ) -> Result<(), BusError> {
        let before = self.state.borrow().subacks;
        self.subscribe(filter, qos).await?;
        let mut state = self.state.clone();
        let confirmed =
            tokio::time::timeout(limit, state.wait_for(|s| s.connected && s.subacks > before))
                .await;
        match confirmed {
            Ok(Ok(_)) => Ok(()),
            _ => Err(BusError::NotSubscribed {
                url: self.url.clone(),
                filter: filter.to_owned(),
                seconds: limit.as_secs().max(1),
            }),
        }
    }

    /// Publishes; waits only for room in the request queue, not for the broker.
    pub async fn publish(
        &self,
        topic: &str,
        qos: Qos,
        retain: bool,
        payload: impl Into<bytes::Bytes>,
    ) -> Result<(), BusError> {
        self.client
            .publish_bytes(topic, qos.mqtt(), retain, payload.into())
            .await
            .map_err(|_| BusError::Closed {
                url: self.url.clone(),
                topic: topic.to_owned(),
            })
    }

    /// Says goodbye to the broker (so no will is published) and stops the driver,
    /// waiting at most `limit` for the goodbye to be sent.
    pub async fn close(&self, limit: Duration) {
        let task = self.driver.lock().expect("driver lock").take();
        if let Some(task) = task {
            if self.client.try_disconnect().is_ok() {
                let _ = tokio::time::timeout(limit, task).await;
            }
        }
        self.stop.cancel();
    }

    /// The broker URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn closed(&self) -> BusError {
        BusError::ClosedConnection {
            url: self.url.clone(),
        }
    }
}
