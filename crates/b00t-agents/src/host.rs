//! The host loop of one agent: connect with the offline card as will, publish the online
//! card on every (re)connect, subscribe to each skill's `/task`, ack before work, execute
//! each (address, id) once, reply on `reply_to` or the address, beat every
//! `heartbeat_ms`, and on shutdown finish in-flight tasks and publish the offline card.
//! While it runs it reads its own card: one that says offline (the runtime marked it, its
//! heartbeats having gone missing, or a stale will) is answered with the online card.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use b00t_bus::{Bus, BusEvent, BusOptions, Message, Qos, Will};
use b00t_config::BrokerUrl;
use b00t_proto::{
    clock, parse_task, Address, AgentChannel, AgentState, Channel, ErrorCode, Heartbeat, Reply,
    ReplyHead, StatusCard, Task,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ledger::{Begin, Ledger};
use crate::reply::Replier;
use crate::{AgentError, AgentSpec, Progress, TaskContext};

/// How an agent reaches the bus and what limits it applies.
pub struct HostOptions {
    pub url: BrokerUrl,
    /// Tasks larger than this are refused with `too_large`.
    pub max_payload: usize,
    /// Largest MQTT packet the connection accepts.
    pub packet_limit: usize,
    pub heartbeat: Duration,
    pub ledger: Arc<Ledger>,
    /// How long shutdown waits for tasks in flight.
    pub drain: Duration,
}

/// Runs `spec` on the bus until `shutdown` is cancelled. Reconnects on its own, forever:
/// an agent outlives broker restarts.
pub async fn run(
    spec: AgentSpec,
    options: HostOptions,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    let name = spec.name.to_string();
    let mut updates = spec.skill_updates.clone();
    let mut card = StatusCard {
        state: AgentState::Online,
        agent: name.clone(),
        skills: spec.skills.iter().map(|s| s.to_string()).collect(),
        kind: spec.kind.clone(),
        since: clock::now_rfc3339(),
        heartbeat_ms: Some(options.heartbeat.as_millis() as u64),
        // Where it runs, so that a second agent with this name can say where to look.
        host: host_name(),
        pid: Some(std::process::id()),
        reason: None,
        marked_by: None,
        container: spec.container.clone(),
    };
    let status_topic = AgentChannel::Status.topic(&name);
    let offline = card.with_state(AgentState::Offline).to_json();
    let mut bus_options = BusOptions::new(options.url.clone(), format!("b00t-agent-{name}"));
    bus_options.packet_limit = options.packet_limit;
    // On a cluster (a list of brokers) the broker keeps its subscriptions and queued
    // tasks while it moves to another node; its client id is its name, stable.
    bus_options.persistent_session = !options.url.alternates.is_empty();
    // An agent that answers for one container (a CI agent) sends few replies at once,
    // and there may be a hundred of them: a small window keeps each connection small.
    if spec.container.is_some() {
        bus_options.inflight = 32;
    }
    bus_options.will = Some(Will {
        topic: status_topic.clone(),
        payload: offline.clone(),
        retain: true,
    });
    // Not a child of `shutdown`: the connection must outlive it to say goodbye.
    let (bus, mut events) = Bus::connect(bus_options, &CancellationToken::new());
    // A wildcard cannot stand for a skill (`+` fills a whole `/` level, and an address is
    // one level), so each skill is its own filter. Skills that go away keep their filter
    // (the bus has no unsubscribe, and it costs nothing); `on_message` keeps to the list.
    let mut subscribed = std::collections::HashSet::new();
    for skill in &spec.skills {
        subscribe_skill(&bus, &spec.name, skill, &mut subscribed).await?;
    }
    // Its own card, so that it sees someone else mark it offline while it lives.
    bus.subscribe(&status_topic, Qos::AtLeastOnce).await?;
    let host = Arc::new(Host {
        replier: Replier::new(bus.clone(), &name),
        skills: std::sync::RwLock::new(spec.skills.clone()),
        spec,
        ledger: options.ledger,
        max_payload: options.max_payload,
        executed: AtomicU64::new(0),
        tracker: TaskTracker::new(),
    });
    let started = Instant::now();
    let mut heartbeat = tokio::time::interval(options.heartbeat);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut beats = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            event = events.recv() => match event {
                None => break,
                Some(BusEvent::Connected) => {
                    publish(&bus, &status_topic, Qos::AtLeastOnce, true, card.to_json()).await;
                    // Beat now: the tick at start came before the connection.
                    heartbeat.reset_immediately();
                    tracing::info!(agent = %name, url = %bus.url(), "agent online");
                }
                Some(BusEvent::Message(message)) if message.topic == status_topic => {
                    if says_offline(&message.payload, &name) {
                        tracing::warn!(agent = %name, card = %String::from_utf8_lossy(&message.payload), "own card says offline while the agent lives: publishing the online card again");
                        publish(&bus, &status_topic, Qos::AtLeastOnce, true, card.to_json()).await;
                        heartbeat.reset_immediately();
                    }
                }
                Some(BusEvent::Message(message)) => host.on_message(message).await,
                Some(BusEvent::Disconnected { .. }) => {}
            },
            changed = next_skills(&mut updates) => {
                let Some(skills) = changed else {
                    updates = None;
                    continue;
                };
                for skill in &skills {
                    if let Err(e) = subscribe_skill(&bus, &host.spec.name, skill, &mut subscribed).await {
                        tracing::warn!(agent = %name, %skill, error = %e, "cannot subscribe to a new skill");
                    }
                }
                card.skills = skills.iter().map(|s| s.to_string()).collect();
                *host.skills.write().expect("skills lock") = skills;
                if bus.is_connected() {
                    publish(&bus, &status_topic, Qos::AtLeastOnce, true, card.to_json()).await;
                }
                tracing::info!(agent = %name, skills = ?card.skills, "skills changed");
            }
            _ = heartbeat.tick() => {
                if bus.is_connected() {
                    beats += 1;
                    let beat = Heartbeat {
                        agent: name.clone(),
                        ts: clock::now_rfc3339(),
                        seq: beats,
                        uptime_ms: started.elapsed().as_millis() as u64,
                        executed: host.executed.load(Ordering::Relaxed),
                    };
                    let payload = serde_json::to_vec(&beat).expect("a heartbeat serializes");
                    publish(&bus, &AgentChannel::Heartbeat.topic(&name), Qos::AtMostOnce, false, payload).await;
                }
            }
        }
    }
    host.tracker.close();
    if tokio::time::timeout(options.drain, host.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(agent = %name, "tasks still running at shutdown; they will be driven again after restart");
    }
    if bus.is_connected() {
        publish(&bus, &status_topic, Qos::AtLeastOnce, true, offline).await;
    }
    bus.close(Duration::from_secs(1)).await;
    tracing::info!(agent = %name, "agent offline");
    Ok(())
}

/// Whether `payload`, read on the agent's own status topic, is an offline card for it
/// (the runtime's mark, or a will of an older connection): a living agent corrects it.
fn says_offline(payload: &[u8], name: &str) -> bool {
    StatusCard::parse(payload).is_some_and(|c| c.agent == name && c.state == AgentState::Offline)
}

/// This machine's (or container's) host name, when it has one.
pub fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy();
    (!name.is_empty()).then(|| name.into_owned())
}

/// Subscribes to `<agent>.<skill>/task` once.
async fn subscribe_skill(
    bus: &Bus,
    agent: &b00t_proto::Name,
    skill: &b00t_proto::Name,
    subscribed: &mut std::collections::HashSet<b00t_proto::Name>,
) -> Result<(), AgentError> {
    if subscribed.insert(skill.clone()) {
        bus.subscribe(
            &Address::new(agent.clone(), skill.clone()).topic(Channel::Task),
            Qos::AtLeastOnce,
        )
        .await?;
    }
    Ok(())
}

/// The next skill list, or `None` when the sender is gone; pending forever without one.
async fn next_skills(
    updates: &mut Option<tokio::sync::watch::Receiver<Vec<b00t_proto::Name>>>,
) -> Option<Vec<b00t_proto::Name>> {
    match updates {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn publish(bus: &Bus, topic: &str, qos: Qos, retain: bool, payload: Vec<u8>) {
    if let Err(e) = bus.publish(topic, qos, retain, payload).await {
        tracing::warn!(error = %e, "publish failed");
    }
}

/// What the task handlers of one agent share.
struct Host {
    spec: AgentSpec,
    /// The skills served now: the spec's, or the last update's.
    skills: std::sync::RwLock<Vec<b00t_proto::Name>>,
    replier: Replier,
    ledger: Arc<Ledger>,
    max_payload: usize,
    /// Tasks executed by this process: echo's `seq`.
    executed: AtomicU64,
    /// Handlers in flight, awaited (for a while) on shutdown.
    tracker: TaskTracker,
}

impl Host {
    async fn on_message(self: &Arc<Self>, message: Message) {
        let Some((base, Channel::Task)) = Channel::split(&message.topic) else {
            return;
        };
        let Ok(address) = Address::parse(base) else {
            return;
        };
        let known = self
            .skills
            .read()
            .expect("skills lock")
            .contains(address.skill());
        if address.agent() != &self.spec.name || !known {
            return;
        }
        match parse_task(&message.payload, self.max_payload) {
            Err(rejection) => {
                let reply = Reply::error(
                    rejection.id.as_str(),
                    self.spec.name.as_str(),
                    address.skill().as_str(),
                    rejection.code,
                    rejection.message,
                );
                let reply_base = rejection.reply_to.as_deref().unwrap_or(base);
                self.replier.send(reply_base, &reply).await;
            }
            Ok(task) => self.accept(address, task).await,
        }
    }

    async fn accept(self: &Arc<Self>, address: Address, task: Task) {
        let base = task.reply_to.clone().unwrap_or_else(|| address.to_string());
        let id = task.id.to_string();
        let agent = self.spec.name.as_str();
        let skill = address.skill().as_str();
        let address_key = address.to_string();
        let once = task.source.id_is_senders();
        // Executed once per (address, sender, id): the broker verifies `from`, so one
        // sender's ids cannot be taken first by another.
        let ledger_id = b00t_proto::sender_scoped_id(&id, task.from.as_deref());
        if once {
            match self.ledger.begin(&address_key, &ledger_id, &base).await {
                Begin::New => {}
                Begin::Running => {
                    self.replier
                        .send(&base, &Reply::ack(&id, agent, skill))
                        .await;
                    return;
                }
                Begin::Done(stored) => {
                    self.replier
                        .send(&base, &Reply::ack(&id, agent, skill))
                        .await;
                    let channel = match ReplyHead::parse(&stored) {
                        Some(head) if head.kind == "result" => Channel::Result,
                        _ => Channel::Error,
                    };
                    self.replier.send_raw(&base, channel, stored).await;
                    return;
                }
            }
        }
        self.replier
            .send(&base, &Reply::ack(&id, agent, skill))
            .await;
        let seq = self.executed.fetch_add(1, Ordering::Relaxed) + 1;
        let ctx = TaskContext {
            agent: self.spec.name.clone(),
            skill: address.skill().clone(),
            progress: Progress {
                replier: self.replier.clone(),
                base: base.clone(),
                id: id.clone(),
                skill: skill.to_owned(),
            },
            task,
            seq,
        };
        let host = self.clone();
        let skill = ctx.skill.to_string();
        // Made here, in the order tasks arrive, so that a handler can keep that order.
        let work = self.spec.handler.handle(ctx);
        self.tracker.spawn(async move {
            let started = Instant::now();
            // A task of its own, so that a panicking handler becomes an error reply.
            let outcome = tokio::spawn(work).await;
            let agent = host.spec.name.as_str();
            let reply = match outcome {
                Ok(Ok(body)) => Reply::result(
                    &id,
                    agent,
                    &skill,
                    body,
                    started.elapsed().as_millis() as u64,
                ),
                Ok(Err(failure)) => Reply::error_with(
                    &id,
                    agent,
                    &skill,
                    failure.code,
                    failure.message,
                    failure.detail,
                ),
                Err(crashed) => Reply::error(
                    &id,
                    agent,
                    &skill,
                    ErrorCode::Failed,
                    format!(
                        "agent `{agent}` crashed on task `{id}`: {crashed}; see the agent's log"
                    ),
                ),
            };
            let mut payload = reply.to_json();
            let mut reply = reply;
            let owed = if once {
                match host.ledger.finish(&address_key, &ledger_id, &payload).await {
                    Ok(owed) => owed,
                    Err(not_recorded) => {
                        // Never publish a result that is not recorded: a copy of the
                        // task would run it again and answer differently.
                        tracing::error!(agent, id = %id, error = %not_recorded.error, "execution record not committed; the task gets an error instead of its reply");
                        reply = Reply::error(
                            &id,
                            agent,
                            &skill,
                            ErrorCode::Failed,
                            format!(
                                "{}; task `{id}` ran but its reply is withheld because it could not be recorded; send the task again once that is fixed",
                                not_recorded.error
                            ),
                        );
                        payload = reply.to_json();
                        not_recorded.owed
                    }
                }
            } else {
                Vec::new()
            };
            for other in owed.iter().filter(|b| **b != base) {
                host.replier
                    .send_raw(other, reply.channel(), payload.clone())
                    .await;
            }
            host.replier.send_raw(&base, reply.channel(), payload).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Failure, Handler, HandlerFuture};
    use b00t_broker::{BrokerSettings, EmbeddedBroker};
    use b00t_bus::BusEvent;
    use b00t_proto::Name;
    use serde_json::{json, Value};

    /// Sends two progress steps, then answers; `"fail"` fails, `"panic"` panics, `"slow"`
    /// answers its `seq` after 300 ms.
    struct Steps;

    impl Handler for Steps {
        fn handle(&self, ctx: TaskContext) -> crate::HandlerFuture {
            Box::pin(async move {
                match ctx.task.body.as_str() {
                    Some("panic") => panic!("the handler blew up"),
                    Some("slow") => {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok(json!({"seq": ctx.seq}))
                    }
                    Some("fail") => Err(Failure::new(ErrorCode::Failed, "it did not work")),
                    _ => {
                        ctx.progress.step("first", Some(1), Some(2)).await;
                        ctx.progress.step("second", Some(2), Some(2)).await;
                        Ok(json!({"done": true}))
                    }
                }
            }) as HandlerFuture
        }
    }

    async fn start() -> (CancellationToken, Bus, b00t_bus::Events) {
        let broker = EmbeddedBroker::start(BrokerSettings::loopback())
            .await
            .unwrap();
        let url = BrokerUrl::for_listen(broker.addr());
        let stop = CancellationToken::new();
        let spec = AgentSpec {
            name: Name::parse("steps").unwrap(),
            kind: "test".into(),
            skills: vec![Name::parse("work").unwrap()],
            handler: Arc::new(Steps),
            skill_updates: None,
            container: None,
        };
        let options = HostOptions {
            url: url.clone(),
            max_payload: 1024,
            packet_limit: 1 << 20,
            heartbeat: Duration::from_secs(60),
            ledger: Arc::new(Ledger::in_memory("steps")),
            drain: Duration::from_secs(1),
        };
        tokio::spawn(run(spec, options, stop.clone()));
        let (client, events) = Bus::connect(
            BusOptions::new(url, "test-client"),
            &CancellationToken::new(),
        );
        client.wait_connected(Duration::from_secs(5)).await.unwrap();
        client
            .subscribe_confirmed("#", Qos::AtLeastOnce, Duration::from_secs(5))
            .await
            .unwrap();
        (stop, client, events)
    }

    /// Collects `(topic, payload)` until one on `last` containing `id` arrives.
    async fn until(events: &mut b00t_bus::Events, last: &str, id: &str) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .unwrap_or_else(|_| panic!("nothing on `{last}` for `{id}`; seen {seen:?}"))
                .unwrap();
            let BusEvent::Message(m) = event else {
                continue;
            };
            let payload: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
            let done = m.topic == last && payload["id"] == id;
            seen.push((m.topic, payload));
            if done {
                return seen;
            }
        }
    }

    async fn wait_online(events: &mut b00t_bus::Events) {
        until_card(events, AgentState::Online).await;
    }

    async fn until_card(events: &mut b00t_bus::Events, state: AgentState) {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap();
            if let BusEvent::Message(m) = event {
                if m.topic == "b00t.steps/status"
                    && StatusCard::parse(&m.payload).is_some_and(|c| c.state == state)
                {
                    return;
                }
            }
        }
    }

    #[tokio::test]
    async fn a_living_agent_answers_an_offline_mark_with_its_online_card() {
        let (stop, client, mut events) = start().await;
        wait_online(&mut events).await;
        let marked = br#"{"state":"offline","agent":"steps","skills":["work"],"reason":"heartbeats stopped","marked_by":"runtime"}"#;
        client
            .publish("b00t.steps/status", Qos::AtLeastOnce, true, marked.to_vec())
            .await
            .unwrap();
        until_card(&mut events, AgentState::Offline).await;
        // Online again, its own card (no mark), and it beats at once (a heartbeat of the
        // regular beat may come first: collect until one follows the card).
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|(t, _): &(String, Value)| t == "b00t.steps/status")
        {
            seen.extend(until_beat(&mut events).await);
        }
        let card = seen
            .iter()
            .find(|(t, _)| t == "b00t.steps/status")
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no card before the heartbeat: {seen:?}"));
        assert_eq!(card["state"], "online", "{card}");
        assert!(card.get("marked_by").is_none(), "{card}");
        assert_eq!(card["pid"], std::process::id());
        // An online card, or another agent's mark, is left alone.
        assert!(!says_offline(
            br#"{"state":"online","agent":"steps"}"#,
            "steps"
        ));
        assert!(!says_offline(
            br#"{"state":"offline","agent":"other"}"#,
            "steps"
        ));
        assert!(!says_offline(b"junk", "steps"));
        stop.cancel();
    }

    /// Collects `(topic, payload)` until the agent's next heartbeat.
    async fn until_beat(events: &mut b00t_bus::Events) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .unwrap_or_else(|_| panic!("no heartbeat; seen {seen:?}"))
                .unwrap();
            if let BusEvent::Message(m) = event {
                let payload: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                let done = m.topic == "b00t.steps/heartbeat";
                seen.push((m.topic, payload));
                if done {
                    return seen;
                }
            }
        }
    }

    #[tokio::test]
    async fn progress_comes_between_ack_and_result() {
        let (stop, client, mut events) = start().await;
        wait_online(&mut events).await;
        client
            .publish(
                "b00t.steps.work/task",
                Qos::AtLeastOnce,
                false,
                r#"{"id":"p-1","body":"go"}"#.as_bytes().to_vec(),
            )
            .await
            .unwrap();
        let seen = until(&mut events, "b00t.steps.work/result", "p-1").await;
        let replies: Vec<_> = seen
            .iter()
            .filter(|(t, p)| t.starts_with("b00t.steps.work/") && p["id"] == "p-1")
            .map(|(t, p)| (t.rsplit('/').next().unwrap().to_owned(), p.clone()))
            .collect();
        let kinds: Vec<_> = replies.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["task", "ack", "progress", "progress", "result"]);
        assert_eq!(replies[2].1["step"], "first");
        assert_eq!(replies[2].1["n"], 1);
        assert_eq!(replies[2].1["of"], 2);
        assert_eq!(replies[4].1["body"], json!({"done": true}));
        stop.cancel();
    }

    #[tokio::test]
    async fn a_failure_and_a_panic_become_error_replies_and_the_agent_goes_on() {
        let (stop, client, mut events) = start().await;
        wait_online(&mut events).await;
        let send = |id: &str, body: &str| {
            let payload = format!(r#"{{"id":"{id}","body":"{body}"}}"#).into_bytes();
            let client = client.clone();
            async move {
                client
                    .publish("b00t.steps.work/task", Qos::AtLeastOnce, false, payload)
                    .await
                    .unwrap()
            }
        };
        send("f-1", "fail").await;
        let seen = until(&mut events, "b00t.steps.work/error", "f-1").await;
        let error = &seen.last().unwrap().1;
        assert_eq!(
            error["error"],
            json!({"code": "failed", "message": "it did not work"})
        );

        send("x-1", "panic").await;
        let seen = until(&mut events, "b00t.steps.work/error", "x-1").await;
        let error = &seen.last().unwrap().1;
        assert_eq!(error["error"]["code"], "failed");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("crashed on task `x-1`"),
            "{error}"
        );

        send("ok-1", "fine").await;
        until(&mut events, "b00t.steps.work/result", "ok-1").await;

        stop.cancel();
        until_card(&mut events, AgentState::Offline).await;
    }

    #[tokio::test]
    async fn a_duplicate_while_running_is_acked_and_gets_the_one_result() {
        let (stop, client, mut events) = start().await;
        wait_online(&mut events).await;
        for reply_to in ["r1", "r2"] {
            let payload = format!(r#"{{"id":"s-1","reply_to":"{reply_to}","body":"slow"}}"#);
            client
                .publish(
                    "b00t.steps.work/task",
                    Qos::AtLeastOnce,
                    false,
                    payload.into_bytes(),
                )
                .await
                .unwrap();
        }
        let mut seen = until(&mut events, "r1/result", "s-1").await;
        if !seen.iter().any(|(t, _)| t == "r2/result") {
            seen.extend(until(&mut events, "r2/result", "s-1").await);
        }
        let of = |topic: &str| {
            seen.iter()
                .filter(|(t, _)| t == topic)
                .map(|(_, p)| p.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(of("r2/ack").len(), 1, "the duplicate is acked: {seen:?}");
        let (first, second) = (of("r1/result"), of("r2/result"));
        assert_eq!((first.len(), second.len()), (1, 1), "{seen:?}");
        assert_eq!(first[0], second[0], "one execution, one result");
        stop.cancel();
    }
}
