//! The delivery watcher: one loop over one closed [`Event`] enum. It sees every message
//! on the bus (the broker's tap, or `#` on an external broker: see `intake`), journals
//! each task that has an id before the front door lets it through, waits for its ack,
//! publishes it again when none comes, and finally dead-letters it with an
//! `undeliverable` error. It also keeps the presence table, marks offline (a retained
//! card saying why) every online agent whose heartbeats stopped for three periods, and
//! answers what the gate says the runtime answers.
//!
//! A standby's watcher is *passive* ([`Watcher::passive`]): it journals what it sees as
//! the active runtime's watcher does (so its journal follows the bus), keeps the presence
//! table warm, and does nothing else: no retries, dead letters, answers, offline marks or
//! load reports, until [`Command::Activate`].

use std::time::Duration;

use b00t_broker::Refusal;
use b00t_bus::{Bus, Bytes, Qos};
use b00t_config::DeliveryConfig;
use b00t_journal::{Committed, Final, JournalHandle, OpenTask};
use b00t_proto::{
    Address, AgentChannel, Channel, ErrorCode, Heartbeat, Reply, ReplyHead, StatusCard,
    HEARTBEATS_STOPPED, PREFIX,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::gate::{self, Verdict};
use crate::intake::Feed;
use crate::load::LoadBoard;
use crate::presence::Presence;
use crate::tracked::{Due, Key, Table};

/// Requests to the watcher from `up` and the group supervisor.
#[derive(Debug)]
pub enum Command {
    /// Drive these journaled, unfinished tasks again (after a restart).
    Redrive(Vec<OpenTask>),
    /// The agent could not be started: answer every task waiting for it with `failed`.
    Fail { agent: String, message: String },
    /// A standby's watcher takes over: from now on it acts. What it tracked while it
    /// followed is forgotten; `up` then drives every open task of the journal again,
    /// as after a restart.
    Activate,
}

/// Whether an offline agent can be started on demand (a group with a folder).
pub type Launchable = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Everything the watcher loop reacts to.
enum Event {
    Feed(Feed),
    Command(Command),
    Due(Key),
    /// The journal could not commit this task: the front door refused it.
    Refused(Key, String),
    /// Time to look for agents whose heartbeats stopped.
    PresenceTick,
    Stop,
}

/// How often the watcher looks for agents whose heartbeats stopped: a silent agent is
/// marked offline at most this long after its third missed period.
pub const PRESENCE_TICK: Duration = Duration::from_millis(250);

/// The watcher's state.
pub struct Watcher {
    pub bus: Bus,
    pub journal: JournalHandle,
    pub presence: Presence,
    pub delivery: DeliveryConfig,
    pub max_payload: usize,
    table: Table,
    launchable: Launchable,
    /// What the group supervisor reads about the agents it can start.
    board: Option<LoadBoard>,
    /// Tasks whose journal commit failed, from the tasks that await commits; the loop
    /// holds the receiver.
    refused: mpsc::Sender<(Key, String)>,
    refused_rx: Option<mpsc::Receiver<(Key, String)>>,
    /// A standby's: journal, never act.
    passive: bool,
}

impl Watcher {
    pub fn new(
        bus: Bus,
        journal: JournalHandle,
        presence: Presence,
        delivery: DeliveryConfig,
        max_payload: usize,
    ) -> Watcher {
        let (refused, refused_rx) = mpsc::channel(256);
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
            board: None,
            refused,
            refused_rx: Some(refused_rx),
            passive: false,
        }
    }

    /// A standby's watcher: it follows (journals) and does not act until
    /// [`Command::Activate`].
    pub fn passive(mut self) -> Watcher {
        self.passive = true;
        self
    }

    /// Starts agents on demand: tasks for an offline agent that `launchable` accepts are
    /// held (never dead-lettered while it starts) and `board` tells the supervisor.
    pub fn with_launcher(mut self, launchable: Launchable, board: LoadBoard) -> Watcher {
        self.launchable = launchable;
        self.board = Some(board);
        self
    }

    /// Whether tasks for `agent` start it: it names a group and a supervisor listens.
    fn starts(&self, agent: &str) -> bool {
        self.board.is_some() && (self.launchable)(agent)
    }

    /// The board, to report on an agent; none for a standby, which does not act.
    fn board(&mut self) -> Option<&mut LoadBoard> {
        if self.passive {
            return None;
        }
        self.board.as_mut()
    }

    /// Runs until `shutdown` is cancelled or the bus's events end.
    pub async fn run(
        mut self,
        mut feed: mpsc::Receiver<Feed>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let Some(mut refused) = self.refused_rx.take() else {
            return;
        };
        let mut presence_tick = tokio::time::interval(PRESENCE_TICK);
        presence_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Event::Stop,
                Some(command) = commands.recv() => Event::Command(command),
                message = feed.recv() => message.map_or(Event::Stop, Event::Feed),
                Some((key, why)) = refused.recv() => Event::Refused(key, why),
                key = self.table.expired() => Event::Due(key),
                _ = presence_tick.tick() => Event::PresenceTick,
            };
            match event {
                Event::Stop => break,
                Event::Feed(message) => self.on_message(message).await,
                Event::Command(Command::Redrive(tasks)) => self.redrive(tasks).await,
                Event::Command(Command::Fail { agent, message }) => {
                    self.fail_waiting(&agent, &message).await
                }
                Event::Command(Command::Activate) => self.activate(),
                Event::Due(key) => self.on_due(key).await,
                Event::Refused(key, why) => self.on_refused(key, why).await,
                Event::PresenceTick if self.passive => {}
                Event::PresenceTick => self.mark_silent(std::time::Instant::now()).await,
            }
        }
        if !self.table.is_empty() {
            tracing::info!(open = self.table.len(), "tasks still open at shutdown stay journaled and are driven again at the next start");
        }
    }

    async fn on_message(&mut self, mut message: Feed) {
        if let Some(forbidden) = message.forbidden.take() {
            return self.on_forbidden(&message.topic, forbidden).await;
        }
        let done = message.done.take();
        if let Some((agent, channel)) = AgentChannel::split(&message.topic) {
            let_through(done);
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
            let_through(done);
            return;
        };
        if channel == Channel::Task && !message.retain {
            self.on_task(base, message.payload, done).await;
            return;
        }
        let_through(done);
        match channel {
            Channel::Ack => {
                if let Some((key, agent)) = reply_key(&message.payload) {
                    // Only acks of tasks it tracks count: a forged ack for an id nobody
                    // sent must not make the supervisor hold an agent busy for ever. And
                    // only on the topic the task's replies go to.
                    if self.table.expects(&key, base) && self.table.ack(&key) {
                        self.journal.ack(&key.address, &key.id);
                        if self.starts(&agent) {
                            if let Some(board) = self.board() {
                                board.acked(&agent, &key.id);
                            }
                        }
                    }
                }
            }
            Channel::Result | Channel::Error => {
                if let Some((key, agent)) = reply_key(&message.payload) {
                    if self.starts(&agent) {
                        if let Some(board) = self.board() {
                            board.finished(&agent, &key.id);
                        }
                    }
                    if self.table.expects(&key, base) && self.table.finish(&key) {
                        let how = if channel == Channel::Result {
                            Final::Result
                        } else {
                            Final::Error
                        };
                        self.journal.finish(&key.address, &key.id, how, None);
                    }
                }
            }
            _ => {}
        }
    }

    /// Answers a task the rules refused, on its sender's reply topic.
    async fn on_forbidden(&mut self, topic: &str, forbidden: crate::intake::Forbidden) {
        let Some((address, _)) = Channel::split(topic) else {
            return;
        };
        let Ok(address) = b00t_proto::Address::parse(address) else {
            return;
        };
        let reply = Reply::error(
            &forbidden.id,
            address.agent().as_str(),
            address.skill().as_str(),
            ErrorCode::Forbidden,
            forbidden.why,
        );
        self.publish(&format!("{}/error", forbidden.base), reply.to_json())
            .await;
    }

    async fn on_card(&mut self, card: StatusCard) {
        let agent = card.agent.clone();
        let was_online = self.presence.is_online(&agent);
        self.presence.card(card);
        let online = self.presence.is_online(&agent);
        if was_online == online || !self.starts(&agent) {
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
            if let Some(board) = self.board() {
                board.offline(&agent);
            }
            return;
        }
        if let Some(board) = self.board() {
            board.online(&agent);
        }
        // The tasks that waited for it, in the order they came.
        let waiting = self.table.unacked_for(&agent);
        if !waiting.is_empty() {
            tracing::info!(%agent, count = waiting.len(), "agent is online: delivering the tasks that waited for it");
        }
        for key in waiting {
            if let Some(task) = self.table.get(&key) {
                let payload = task.payload.clone();
                self.table.hold(&key);
                self.publish(&format!("{}/task", key.address), payload)
                    .await;
            }
        }
    }

    /// Marks offline every online agent silent for three heartbeat periods at `now`: its
    /// will cannot be trusted to fire (the broker node that held its connection may be
    /// gone). The card is published retained, as the runtime, saying why; the watcher
    /// takes it as it takes a will (held tasks, the supervisor). The agent, if it lives
    /// after all, answers with its own online card.
    async fn mark_silent(&mut self, now: std::time::Instant) {
        for card in self
            .presence
            .silent(now, b00t_acl::RUNTIME, HEARTBEATS_STOPPED)
        {
            let agent = card.agent.clone();
            tracing::warn!(%agent, heartbeat_ms = ?card.heartbeat_ms, "no heartbeat for three periods: marking the agent offline");
            let topic = AgentChannel::Status.topic(&agent);
            if let Err(e) = self
                .bus
                .publish(&topic, Qos::AtLeastOnce, true, card.to_json())
                .await
            {
                tracing::warn!(%topic, error = %e, "cannot publish the offline card");
            }
            self.on_card(card).await;
        }
    }

    /// Answers every task waiting for `agent` with `failed`: it could not be started.
    async fn fail_waiting(&mut self, agent: &str, message: &str) {
        for key in self.table.all_for(agent) {
            self.fail_tracked(&key, message.to_owned(), true).await;
        }
    }

    /// Answers the tracked task `key` with a `failed` error on its reply topic and
    /// forgets it; `journal_it` also records that answer as the task's end.
    async fn fail_tracked(&mut self, key: &Key, message: String, journal_it: bool) {
        let Some(task) = self.table.get(key) else {
            return;
        };
        let base = task.reply_to.clone().unwrap_or_else(|| key.address.clone());
        // Tracked keys come from validated addresses (the gate, or the journal).
        let Ok(address) = Address::parse(&key.address) else {
            self.table.finish(key);
            return;
        };
        let (agent, skill) = (address.agent().as_str(), address.skill().as_str());
        let reply = Reply::error(&key.id, agent, skill, ErrorCode::Failed, message).to_json();
        if journal_it {
            self.journal
                .finish(&key.address, &key.id, Final::Error, Some(&reply));
        }
        self.table.finish(key);
        self.publish(&format!("{base}/error"), reply).await;
    }

    /// Judges and journals a task; `done` is answered once the journal holds it, so that
    /// the front door lets the task through only then.
    async fn on_task(
        &mut self,
        base: &str,
        payload: Bytes,
        done: Option<oneshot::Sender<Result<(), Refusal>>>,
    ) {
        let launchable = self.launchable.clone();
        let mut journaled: Option<(Key, Committed)> = None;
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
                    journaled = self
                        .record(&key, &payload, reply_to.as_deref(), done.is_some())
                        .map(|c| (key.clone(), c));
                    self.want_if_offline(&key.address);
                    self.table.track(key, payload, reply_to, 0);
                }
            }
            Verdict::Hold {
                key,
                payload,
                reply_to,
            } => {
                tracing::info!(address = %key.address, id = %key.id, "holding a task for an agent that is starting");
                journaled = self
                    .record(&key, &payload, reply_to.as_deref(), done.is_some())
                    .map(|c| (key.clone(), c));
                self.want_if_offline(&key.address);
                self.table.track(key, Bytes::from(payload), reply_to, 0);
            }
            Verdict::Answer { base, reply, key } => {
                let bytes = reply.to_json();
                // Journal the answer once; every copy of the task gets it.
                if let Some(key) = key.filter(|k| !self.table.knows(k)) {
                    self.journal
                        .task(&key.address, &key.id, &payload, Some(&base));
                    self.journal
                        .finish(&key.address, &key.id, Final::Error, Some(&bytes));
                    self.table.finish(&key);
                }
                self.publish(&format!("{base}/{}", reply.channel().as_str()), bytes)
                    .await;
            }
        }
        self.release_when_committed(done, journaled);
    }

    /// Lets the front door pass a task on once what was just journaled is committed.
    /// The runtime's own answers (`journaled` is `None`) go on at once, as before.
    fn release_when_committed(
        &self,
        done: Option<oneshot::Sender<Result<(), Refusal>>>,
        journaled: Option<(Key, Committed)>,
    ) {
        let Some(done) = done else {
            return;
        };
        let Some((key, committed)) = journaled else {
            let_through(Some(done));
            return;
        };
        let refused = self.refused.clone();
        tokio::spawn(async move {
            match committed.await {
                Ok(()) => {
                    let _ = done.send(Ok(()));
                }
                Err(e) => {
                    let why = e.to_string();
                    let _ = done.send(Err(Refusal(why.clone())));
                    let _ = refused.send((key, why)).await;
                }
            }
        });
    }

    /// Journals a new task. When someone waits for it (the front door), returns the
    /// commit to wait on; a failed commit is then final, never retried behind the
    /// refusal's back. Otherwise the writer may retry it.
    fn record(
        &self,
        key: &Key,
        payload: &[u8],
        reply_to: Option<&str>,
        waited_for: bool,
    ) -> Option<Committed> {
        if waited_for {
            return Some(
                self.journal
                    .task_durable(&key.address, &key.id, payload, reply_to),
            );
        }
        self.journal.task(&key.address, &key.id, payload, reply_to);
        None
    }

    /// A task the journal could not hold was refused: forget it and tell its sender
    /// (nothing is journaled: the journal is what failed).
    async fn on_refused(&mut self, key: Key, why: String) {
        let message = format!(
            "the bus could not journal task `{}`, so it was not delivered: {why}; send it again once the journal's disk has room",
            key.id
        );
        if self.table.get(&key).is_some() {
            tracing::error!(address = %key.address, id = %key.id, "refused a task: {message}");
        }
        self.fail_tracked(&key, message, false).await;
    }

    /// Asks for the agent of `address` when it can be started and is offline.
    fn want_if_offline(&mut self, address: &str) {
        if self.board.is_none() {
            return;
        }
        if let Ok(parsed) = Address::parse(address) {
            let agent = parsed.agent().as_str();
            if !self.presence.is_online(agent) && self.starts(agent) {
                if let Some(board) = self.board() {
                    board.wanted(agent);
                }
            }
        }
    }

    /// Ends a standby's following: from now on this watcher acts.
    fn activate(&mut self) {
        if !self.passive {
            return;
        }
        tracing::info!(
            followed = self.table.len(),
            "taking over: the watcher acts from now on"
        );
        self.passive = false;
        self.table = Table::new(
            self.delivery.ack_timeout(),
            self.delivery.retry_delay(),
            self.delivery.max_retries,
        );
    }

    async fn on_due(&mut self, key: Key) {
        if self.passive {
            // The active runtime retries; a standby keeps following.
            self.table.hold_expired(&key);
            return;
        }
        if let Ok(parsed) = Address::parse(&key.address) {
            let agent = parsed.agent().as_str();
            if !self.presence.is_online(agent) && self.starts(agent) {
                // Its agent is starting or waiting for a slot: keep waiting, uncounted.
                self.table.hold_expired(&key);
                if let Some(board) = self.board() {
                    board.wanted(agent);
                }
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
        let (address, id) = (&key.address, &key.id);
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
                self.journal.finish(address, id, Final::Dead, Some(&reply));
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
            let key = Key::new(task.address, task.id);
            if self.table.knows(&key) {
                continue;
            }
            self.want_if_offline(&key.address);
            let payload = Bytes::from(task.payload);
            let topic = format!("{}/task", key.address);
            self.table
                .track(key, payload.clone(), task.reply_to, task.attempts);
            self.publish(&topic, payload).await;
        }
    }

    async fn publish(&self, topic: &str, payload: impl Into<Bytes>) {
        if self.passive {
            return;
        }
        if let Err(e) = self
            .bus
            .publish(topic, Qos::AtLeastOnce, false, payload)
            .await
        {
            tracing::warn!(%topic, error = %e, "runtime publish failed");
        }
    }
}

/// Lets the front door pass a message on at once.
fn let_through(done: Option<oneshot::Sender<Result<(), Refusal>>>) {
    if let Some(done) = done {
        let _ = done.send(Ok(()));
    }
}

/// The task key a reply refers to, `(b00t.<agent>.<skill>, id)`, and the agent.
fn reply_key(payload: &[u8]) -> Option<(Key, String)> {
    let head = ReplyHead::parse(payload)?;
    let key = Key::new(format!("{PREFIX}.{}.{}", head.agent, head.skill), head.id);
    Some((key, head.agent))
}

/// How long `up` waits for the watcher's subscription to be confirmed.
pub const SUBSCRIBE_LIMIT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    //! The watcher loop driven directly: its feed is what the tap would show it, and what
    //! it publishes is read back by a client of a real embedded broker. Table-driven over
    //! active and passive (a standby's) watchers, with and without an ack.

    use std::time::Duration;

    use b00t_broker::{BrokerSettings, EmbeddedBroker};
    use b00t_bus::{BusEvent, BusOptions, Events};
    use b00t_config::BrokerUrl;
    use b00t_journal::Journal;

    use super::*;

    const ADDRESS: &str = "b00t.echo.echo";

    fn feed(topic: &str, payload: String) -> Feed {
        Feed {
            topic: topic.to_owned(),
            payload: Bytes::from(payload),
            retain: false,
            done: None,
            forbidden: None,
        }
    }

    /// Every topic published within `window`, in order.
    async fn published(events: &mut Events, window: Duration) -> Vec<String> {
        let mut topics = Vec::new();
        let _ = tokio::time::timeout(window, async {
            while let Some(event) = events.recv().await {
                if let BusEvent::Message(m) = event {
                    topics.push(m.topic.to_string());
                }
            }
        })
        .await;
        topics
    }

    #[tokio::test]
    async fn retries_and_dead_letters_only_when_acting_and_unacked() {
        struct Case {
            passive: bool,
            acked: bool,
            retries: usize,
            dead: bool,
        }
        let cases = [
            Case {
                passive: false,
                acked: false,
                retries: 2,
                dead: true,
            },
            Case {
                passive: false,
                acked: true,
                retries: 0,
                dead: false,
            },
            Case {
                passive: true,
                acked: false,
                retries: 0,
                dead: false,
            },
            Case {
                passive: true,
                acked: true,
                retries: 0,
                dead: false,
            },
        ];
        for (n, case) in cases.iter().enumerate() {
            let stop = CancellationToken::new();
            let broker = EmbeddedBroker::start(BrokerSettings::loopback())
                .await
                .unwrap();
            let url = BrokerUrl::for_listen(broker.addr());
            let (bus, _) = Bus::connect(BusOptions::new(url.clone(), "watcher"), &stop);
            bus.wait_connected(Duration::from_secs(5)).await.unwrap();
            let (observer, mut seen) = Bus::connect(BusOptions::new(url, "observer"), &stop);
            observer
                .wait_connected(Duration::from_secs(5))
                .await
                .unwrap();
            observer
                .subscribe_confirmed("b00t.echo.echo/+", Qos::AtLeastOnce, SUBSCRIBE_LIMIT)
                .await
                .unwrap();

            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
            let delivery = DeliveryConfig {
                ack_timeout_ms: 150,
                retry_delay_ms: 100,
                max_retries: 2,
            };
            let mut watcher = Watcher::new(
                bus,
                journal.handle(),
                Presence::default(),
                delivery,
                1 << 20,
            );
            if case.passive {
                watcher = watcher.passive();
            }
            let (feed_tx, feed_rx) = mpsc::channel(16);
            let (_commands_tx, commands_rx) = mpsc::channel(16);
            let task = tokio::spawn(watcher.run(feed_rx, commands_rx, stop.clone()));

            let id = format!("case-{n}");
            feed_tx
                .send(feed(
                    &format!("{ADDRESS}/task"),
                    format!(r#"{{"id":"{id}"}}"#),
                ))
                .await
                .unwrap();
            if case.acked {
                let ack = Reply::ack(&id, "echo", "echo").to_json();
                let ack = String::from_utf8(ack).unwrap();
                feed_tx
                    .send(feed(&format!("{ADDRESS}/ack"), ack))
                    .await
                    .unwrap();
            }
            // Past the last retry and the dead letter's time (150 + 2 × 100 ms), with room.
            let topics = published(&mut seen, Duration::from_millis(2000)).await;
            let retries = topics.iter().filter(|t| t.ends_with("/task")).count();
            let dead = topics.iter().any(|t| t.ends_with("/dead"))
                && topics.iter().any(|t| t.ends_with("/error"));
            assert_eq!(
                (retries, dead),
                (case.retries, case.dead),
                "case {n} (passive {}, acked {}): {topics:?}",
                case.passive,
                case.acked
            );
            stop.cancel();
            let _ = task.await;
            journal.close().await;
        }
    }
}
