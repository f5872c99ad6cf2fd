//! The delivery watcher: one loop over one closed [`Event`] enum. It sees every message
//! on the bus (`#`), journals each task that has an id, waits for its ack, publishes it
//! again when none comes, and finally dead-letters it with an `undeliverable` error. It
//! also keeps the presence table and answers what the gate says the runtime answers.

use std::time::Duration;

use b00t_bus::{Bus, BusEvent, Bytes, Events, Message, Qos};
use b00t_config::DeliveryConfig;
use b00t_journal::{Final, JournalHandle, OpenTask};
use b00t_proto::{
    Address, AgentChannel, Channel, ErrorCode, Heartbeat, Reply, ReplyHead, StatusCard, PREFIX,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::gate::{self, Verdict};
use crate::presence::Presence;
use crate::tracked::{Due, Key, Table};

/// Requests to the watcher from `up` and the group supervisor.
#[derive(Debug)]
pub enum Command {
    /// Drive these journaled, unfinished tasks again (after a restart).
    Redrive(Vec<OpenTask>),
    /// The agent could not be started: answer every task waiting for it with `failed`.
    Fail { agent: String, message: String },
}

/// What the watcher tells the group supervisor about agents it can start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Demand {
    /// A task came for the agent while it is offline: start it.
    Wanted(String),
    /// The agent acked task `id`: it is busy until the task's final reply.
    Acked { agent: String, id: String },
    /// The agent sent the final reply of task `id`.
    Finished { agent: String, id: String },
    /// The agent's card says online.
    Online(String),
    /// The agent's card says offline (or its connection died).
    Offline(String),
}

/// Whether an offline agent can be started on demand (a group with a folder).
pub type Launchable = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Everything the watcher loop reacts to.
enum Event {
    Bus(BusEvent),
    Command(Command),
    Due(Key),
    Stop,
}

/// The watcher's state.
pub struct Watcher {
    pub bus: Bus,
    pub journal: JournalHandle,
    pub presence: Presence,
    pub delivery: DeliveryConfig,
    pub max_payload: usize,
    table: Table,
    launchable: Launchable,
    demand: Option<mpsc::UnboundedSender<Demand>>,
}

impl Watcher {
    pub fn new(
        bus: Bus,
        journal: JournalHandle,
        presence: Presence,
        delivery: DeliveryConfig,
        max_payload: usize,
    ) -> Watcher {
        let table = Table::new(
            delivery.ack_timeout(),
            delivery.retry_delay(),
            delivery.max_retries,
        );
        Watcher {
            bus,
            journal,
            presence,
            delivery,
            max_payload,
            table,
            launchable: std::sync::Arc::new(|_| false),
            demand: None,
        }
    }

    /// Starts agents on demand: tasks for an offline agent that `launchable` accepts are
    /// held (never dead-lettered while it starts) and `demand` hears about them.
    pub fn with_launcher(
        mut self,
        launchable: Launchable,
        demand: mpsc::UnboundedSender<Demand>,
    ) -> Watcher {
        self.launchable = launchable;
        self.demand = Some(demand);
        self
    }

    fn tell(&self, demand: Demand) {
        if let Some(tx) = &self.demand {
            let _ = tx.send(demand);
        }
    }

    /// Runs until `shutdown` is cancelled or the bus's events end.
    pub async fn run(
        mut self,
        mut events: Events,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Event::Stop,
                Some(command) = commands.recv() => Event::Command(command),
                event = events.recv() => event.map_or(Event::Stop, Event::Bus),
                key = self.table.expired() => Event::Due(key),
            };
            match event {
                Event::Stop => break,
                Event::Bus(BusEvent::Message(message)) => self.on_message(message).await,
                Event::Bus(BusEvent::Connected | BusEvent::Disconnected { .. }) => {}
                Event::Command(Command::Redrive(tasks)) => self.redrive(tasks).await,
                Event::Command(Command::Fail { agent, message }) => {
                    self.fail_waiting(&agent, &message).await
                }
                Event::Due(key) => self.on_due(key).await,
            }
        }
        if !self.table.is_empty() {
            tracing::info!(open = self.table.len(), "tasks still open at shutdown stay journaled and are driven again at the next start");
        }
    }

    async fn on_message(&mut self, message: Message) {
        if let Some((agent, channel)) = AgentChannel::split(&message.topic) {
            match channel {
                AgentChannel::Status if message.payload.is_empty() => self.presence.forget(agent),
                AgentChannel::Status => match StatusCard::parse(&message.payload) {
                    Some(card) if card.agent == agent => self.on_card(card).await,
                    _ => {
                        tracing::debug!(topic = %message.topic, "ignored a status card that does not parse")
                    }
                },
                AgentChannel::Heartbeat => {
                    if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&message.payload) {
                        self.presence.heartbeat(beat);
                    }
                }
            }
            return;
        }
        let Some((base, channel)) = Channel::split(&message.topic) else {
            return;
        };
        match channel {
            Channel::Task if !message.retain => self.on_task(base, message.payload).await,
            Channel::Ack => {
                if let Some((key, agent)) = reply_key(&message.payload) {
                    if self.table.ack(&key) {
                        self.journal.ack(&key.0, &key.1);
                    }
                    if self.demand.is_some() && (self.launchable)(&agent) {
                        self.tell(Demand::Acked { agent, id: key.1 });
                    }
                }
            }
            Channel::Result | Channel::Error => {
                if let Some((key, agent)) = reply_key(&message.payload) {
                    if self.demand.is_some() && (self.launchable)(&agent) {
                        self.tell(Demand::Finished {
                            agent,
                            id: key.1.clone(),
                        });
                    }
                    if self.table.finish(&key) {
                        let how = if channel == Channel::Result {
                            Final::Result
                        } else {
                            Final::Error
                        };
                        self.journal.finish(&key.0, &key.1, how, &message.payload);
                    }
                }
            }
            _ => {}
        }
    }

    async fn on_card(&mut self, card: StatusCard) {
        let agent = card.agent.clone();
        let was_online = self.presence.is_online(&agent);
        self.presence.card(card);
        let online = self.presence.is_online(&agent);
        if self.demand.is_none() || was_online == online || !(self.launchable)(&agent) {
            return;
        }
        if !online {
            // Tasks it acked but never answered went down with it: deliver them again
            // when it comes back, rather than wait for ever.
            for key in self.table.all_for(&agent) {
                if self.table.get(&key).is_some_and(|t| t.timer.is_none()) {
                    self.table.hold(&key);
                }
            }
            self.tell(Demand::Offline(agent));
            return;
        }
        self.tell(Demand::Online(agent.clone()));
        // The tasks that waited for it, in the order they came.
        let waiting = self.table.unacked_for(&agent);
        if !waiting.is_empty() {
            tracing::info!(%agent, count = waiting.len(), "agent is online: delivering the tasks that waited for it");
        }
        for key in waiting {
            if let Some(task) = self.table.get(&key) {
                let payload = task.payload.clone();
                self.table.hold(&key);
                self.publish(&format!("{}/task", key.0), payload).await;
            }
        }
    }

    /// Answers every task waiting for `agent` with `failed`: it could not be started.
    async fn fail_waiting(&mut self, agent: &str, message: &str) {
        for key in self.table.all_for(agent) {
            let Some(task) = self.table.get(&key) else {
                continue;
            };
            let base = task.reply_to.clone().unwrap_or_else(|| key.0.clone());
            let skill = key.0.rsplit('.').next().unwrap_or_default().to_owned();
            let reply = Reply::error(&key.1, agent, &skill, ErrorCode::Failed, message.to_owned())
                .to_json();
            self.journal.finish(&key.0, &key.1, Final::Error, &reply);
            self.table.finish(&key);
            self.publish(&format!("{base}/error"), reply).await;
        }
    }

    async fn on_task(&mut self, base: &str, payload: Bytes) {
        let launchable = self.launchable.clone();
        match gate::judge(
            base,
            &payload,
            self.max_payload,
            &self.presence,
            &*launchable,
        ) {
            Verdict::Ignore | Verdict::LeaveToAgent => {}
            Verdict::Track { key, reply_to } => {
                if !self.table.knows(&key) {
                    self.journal
                        .task(&key.0, &key.1, &payload, reply_to.as_deref());
                    self.want_if_offline(&key.0);
                    self.table.track(key, payload, reply_to, 0);
                }
            }
            Verdict::Hold {
                key,
                payload,
                reply_to,
            } => {
                tracing::info!(address = %key.0, id = %key.1, "holding a task for an agent that is starting");
                self.journal
                    .task(&key.0, &key.1, &payload, reply_to.as_deref());
                self.want_if_offline(&key.0);
                self.table.track(key, Bytes::from(payload), reply_to, 0);
            }
            Verdict::Answer { base, reply, key } => {
                let bytes = reply.to_json();
                // Journal the answer once; every copy of the task gets it.
                if let Some(key) = key.filter(|k| !self.table.knows(k)) {
                    self.journal.task(&key.0, &key.1, &payload, Some(&base));
                    self.journal.finish(&key.0, &key.1, Final::Error, &bytes);
                    self.table.finish(&key);
                }
                self.publish(&format!("{base}/{}", reply.channel().as_str()), bytes)
                    .await;
            }
        }
    }

    /// Asks for the agent of `address` when it can be started and is offline.
    fn want_if_offline(&self, address: &str) {
        if self.demand.is_none() {
            return;
        }
        if let Ok(parsed) = Address::parse(address) {
            let agent = parsed.agent().as_str();
            if !self.presence.is_online(agent) && (self.launchable)(agent) {
                self.tell(Demand::Wanted(agent.to_owned()));
            }
        }
    }

    async fn on_due(&mut self, key: Key) {
        if let Ok(parsed) = Address::parse(&key.0) {
            let agent = parsed.agent().as_str();
            if self.demand.is_some() && !self.presence.is_online(agent) && (self.launchable)(agent)
            {
                // Its agent is starting or waiting for a slot: keep waiting, uncounted.
                self.table.hold_expired(&key);
                self.tell(Demand::Wanted(agent.to_owned()));
                return;
            }
        }
        let Some(due) = self.table.due(&key) else {
            return;
        };
        let Some(task) = self.table.get(&key) else {
            return;
        };
        let (payload, reply_to) = (task.payload.clone(), task.reply_to.clone());
        let (address, id) = (&key.0, &key.1);
        match due {
            Due::Retry { attempt } => {
                tracing::info!(%address, %id, attempt, "no ack yet; publishing the task again");
                self.journal.attempt(address, id, attempt);
                self.publish(&format!("{address}/task"), payload).await;
            }
            Due::Dead { attempts } => {
                // Tracked keys come from validated addresses (the gate, or the journal).
                let Ok(parsed) = Address::parse(address) else {
                    self.table.finish(&key);
                    return;
                };
                let (agent, skill) = (parsed.agent().as_str(), parsed.skill().as_str());
                let waited = self.delivery.give_up_after();
                let why = if self.presence.is_online(agent) {
                    format!("agent `{agent}` is online but never acked it")
                } else {
                    format!("agent `{agent}` is not online; start it, for example `b00t agent run <kind> --name {agent}`")
                };
                let message = format!(
                    "no agent took task `{id}` on `{address}` after {} deliveries over {:.1} s: {why}",
                    attempts + 1,
                    waited.as_secs_f64()
                );
                tracing::warn!(%address, %id, "dead letter: {message}");
                let reply =
                    Reply::error(id, agent, skill, ErrorCode::Undeliverable, message).to_json();
                self.journal.finish(address, id, Final::Dead, &reply);
                self.publish(&format!("{address}/dead"), payload).await;
                let base = reply_to.unwrap_or_else(|| address.clone());
                self.publish(&format!("{base}/error"), reply).await;
                self.table.finish(&key);
            }
        }
    }

    async fn redrive(&mut self, tasks: Vec<OpenTask>) {
        if !tasks.is_empty() {
            tracing::info!(
                count = tasks.len(),
                "driving journaled tasks that have no result again"
            );
        }
        for task in tasks {
            let key = (task.address, task.id);
            if self.table.knows(&key) {
                continue;
            }
            self.want_if_offline(&key.0);
            let payload = Bytes::from(task.payload);
            let topic = format!("{}/task", key.0);
            self.table
                .track(key, payload.clone(), task.reply_to, task.attempts);
            self.publish(&topic, payload).await;
        }
    }

    async fn publish(&self, topic: &str, payload: impl Into<Bytes>) {
        if let Err(e) = self
            .bus
            .publish(topic, Qos::AtLeastOnce, false, payload)
            .await
        {
            tracing::warn!(%topic, error = %e, "runtime publish failed");
        }
    }
}

/// The task key a reply refers to, `(b00t.<agent>.<skill>, id)`, and the agent.
fn reply_key(payload: &[u8]) -> Option<(Key, String)> {
    let head = ReplyHead::parse(payload)?;
    let key = (format!("{PREFIX}.{}.{}", head.agent, head.skill), head.id);
    Some((key, head.agent))
}

/// How long `up` waits for the watcher's subscription to be confirmed.
pub const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(5);
