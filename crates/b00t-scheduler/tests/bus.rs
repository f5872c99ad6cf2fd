//! The scheduler on a real bus: an embedded broker on an ephemeral port, the `scheduler`
//! agent and the firing loop as `b00t up` runs them, and a client that adds, lists and
//! removes schedules through the skills and watches `b00t.<group>.chat/task`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use b00t_agents::{HostOptions, Ledger};
use b00t_broker::{BrokerSettings, EmbeddedBroker};
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{AgentState, StatusCard};
use b00t_scheduler::{Schedule, Store, When};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// A deadline for things that happen within a second or two: generous, never a speed test.
const DEADLINE: Duration = Duration::from_secs(10);
const REPLY_BASE: &str = "b00t.test-client.reply";

/// One running scheduler and a client of its bus.
struct Harness {
    client: Bus,
    events: Events,
    /// Fires seen while waiting for something else, oldest first.
    fires: Vec<Value>,
    stop: CancellationToken,
    calls: u32,
}

/// A home folder: `groups/{family,main,global}` and `state/`.
fn home() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for group in ["family", "main", "global"] {
        std::fs::create_dir_all(dir.path().join("groups").join(group)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    dir
}

fn journal(home: &Path) -> PathBuf {
    home.join("state").join("journal.db")
}

fn now_ms() -> i64 {
    b00t_journal::now_ms()
}

impl Harness {
    async fn start(home: &Path) -> Harness {
        let broker = EmbeddedBroker::start(BrokerSettings::loopback())
            .await
            .unwrap();
        let url = BrokerUrl::for_listen(broker.addr());
        let (client, events) = Bus::connect(
            BusOptions::new(url.clone(), "test-client"),
            &CancellationToken::new(),
        );
        client.wait_connected(DEADLINE).await.unwrap();
        for filter in [
            "b00t.family.chat/task",
            "b00t.main.chat/task",
            &format!("{REPLY_BASE}/+"),
            "b00t.scheduler/status",
        ] {
            client
                .subscribe_confirmed(filter, Qos::AtLeastOnce, DEADLINE)
                .await
                .unwrap();
        }
        // The client listens before the scheduler starts, so it sees every fire.
        let stop = CancellationToken::new();
        let (fire_bus, _fire_events) =
            Bus::connect(BusOptions::new(url.clone(), "b00t-scheduler-fire"), &stop);
        fire_bus.wait_connected(DEADLINE).await.unwrap();
        let (spec, firing) = b00t_scheduler::start(
            &journal(home),
            home.join("groups"),
            fire_bus,
            b00t_scheduler::FireKey::new([3; 32]),
            None,
            stop.clone(),
        )
        .unwrap();
        let options = HostOptions {
            url,
            max_payload: 1 << 20,
            packet_limit: 1 << 20,
            heartbeat: Duration::from_secs(60),
            ledger: Arc::new(Ledger::in_memory("scheduler")),
            drain: Duration::from_secs(1),
        };
        tokio::spawn(b00t_agents::run(spec, options, stop.clone()));
        tokio::spawn(firing);

        let mut harness = Harness {
            client,
            events,
            fires: Vec::new(),
            stop,
            calls: 0,
        };
        harness.wait_online().await;
        harness
    }

    async fn next_message(&mut self, waiting_for: &str) -> (String, Value) {
        loop {
            let event = tokio::time::timeout(DEADLINE, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("nothing within {DEADLINE:?} while waiting for {waiting_for}")
                })
                .expect("the client's connection is open");
            if let BusEvent::Message(m) = event {
                let payload = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                return (m.topic, payload);
            }
        }
    }

    async fn wait_online(&mut self) {
        loop {
            let (topic, payload) = self.next_message("the scheduler's online card").await;
            if topic == "b00t.scheduler/status" {
                let card = StatusCard::parse(payload.to_string().as_bytes()).unwrap();
                if card.state == AgentState::Online {
                    assert_eq!(card.skills, ["add", "list", "remove"]);
                    return;
                }
            } else if topic.ends_with("/task") {
                self.fires.push(payload);
            }
        }
    }

    /// Sends `body` to `b00t.scheduler.<skill>`; returns the result or error reply.
    async fn call(&mut self, skill: &str, body: Value) -> Value {
        self.calls += 1;
        let id = format!("call-{}", self.calls);
        let task = json!({"id": id, "reply_to": REPLY_BASE, "body": body});
        self.client
            .publish(
                &format!("b00t.scheduler.{skill}/task"),
                Qos::AtLeastOnce,
                false,
                serde_json::to_vec(&task).unwrap(),
            )
            .await
            .unwrap();
        loop {
            let (topic, payload) = self.next_message(&format!("the reply to {task}")).await;
            if topic.ends_with(".chat/task") {
                self.fires.push(payload);
            } else if (topic == format!("{REPLY_BASE}/result")
                || topic == format!("{REPLY_BASE}/error"))
                && payload["id"] == id
            {
                return payload;
            }
        }
    }

    async fn result(&mut self, skill: &str, body: Value) -> Value {
        let reply = self.call(skill, body).await;
        assert_eq!(reply["type"], "result", "{reply}");
        reply["body"].clone()
    }

    async fn error(&mut self, skill: &str, body: Value) -> (String, String) {
        let reply = self.call(skill, body).await;
        assert_eq!(reply["type"], "error", "{reply}");
        (
            reply["error"]["code"].as_str().unwrap().to_owned(),
            reply["error"]["message"].as_str().unwrap().to_owned(),
        )
    }

    /// The next fire, on `b00t.<group>.chat/task`.
    async fn next_fire(&mut self) -> Value {
        if !self.fires.is_empty() {
            return self.fires.remove(0);
        }
        loop {
            let (topic, payload) = self.next_message("a fired task").await;
            if topic.ends_with(".chat/task") {
                assert_eq!(topic, "b00t.family.chat/task", "{payload}");
                return payload;
            }
        }
    }

    /// Fires until one of schedule `id`; returns it and those of other schedules before it.
    async fn fire_of(&mut self, id: &str) -> (Value, Vec<Value>) {
        let mut others = Vec::new();
        loop {
            let fire = self.next_fire().await;
            if fire["body"]["schedule"] == id {
                return (fire, others);
            }
            others.push(fire);
        }
    }

    /// The listed schedule `id`, once `ready` holds for it.
    async fn listed_until(
        &mut self,
        id: &str,
        ready: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let list = self.result("list", json!({})).await;
            let found = list["schedules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id)
                .cloned();
            if ready(found.as_ref()) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "schedule `{id}` never got there: {list}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The due time in a fired task's id, `sched-<schedule>-<due ms>-<tag>`.
fn due_of(fire: &Value, schedule: &str) -> i64 {
    let id = fire["id"].as_str().unwrap();
    let rest = id
        .strip_prefix(&format!("sched-{schedule}-"))
        .unwrap_or_else(|| panic!("fire id `{id}` is not of schedule `{schedule}`"));
    let (due, tag) = rest.split_once('-').expect("a tag after the due time");
    assert_eq!(tag.len(), 16, "the tag of `{id}`");
    due.parse().unwrap()
}

fn rfc3339_ms(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_once_schedule_fires_its_task_on_the_groups_chat_address() {
    let home = home();
    let mut h = Harness::start(home.path()).await;
    let added = h
        .result(
            "add",
            json!({"group": "family", "text": "remember the milk", "in": "300ms"}),
        )
        .await;
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(b00t_scheduler::schedule::is_id(&id), "{added}");
    assert_eq!(added["group"], "family");
    assert!(
        added["when"].as_str().unwrap().starts_with("once "),
        "{added}"
    );
    let next = rfc3339_ms(added["next"].as_str().unwrap());

    let fire = h.next_fire().await;
    let due = due_of(&fire, &id);
    assert!((due - next).abs() < 1000, "due {due}, announced {next}");
    assert_eq!(
        fire,
        json!({
            "id": fire["id"],
            "from": "scheduler",
            "ts": fire["ts"],
            "body": {"text": "remember the milk", "schedule": id},
        })
    );
    // Fired once, then gone from the list.
    h.listed_until(&id, |s| s.is_none()).await;
    h.stop.cancel();
}

#[tokio::test]
async fn an_interval_fires_again_and_again_until_removed() {
    let home = home();
    let mut h = Harness::start(home.path()).await;
    let added = h
        .result(
            "add",
            json!({"group": "family", "text": "ping", "every": "1s"}),
        )
        .await;
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(added["when"], "every 1s");

    let listed = h.result("list", json!({"group": "family"})).await;
    let shown = &listed["schedules"][0];
    assert_eq!(shown["id"], id.as_str(), "{listed}");
    assert_eq!(shown["group"], "family");
    assert_eq!(shown["text"], "ping");
    assert_eq!(shown["when"], "every 1s");
    assert!(shown["next"].is_string(), "{listed}");
    assert_eq!(
        h.result("list", json!({"group": "main"})).await,
        json!({"schedules": []})
    );

    let (first, _) = h.fire_of(&id).await;
    let (second, _) = h.fire_of(&id).await;
    let (a, b) = (due_of(&first, &id), due_of(&second, &id));
    assert!(
        b > a && (b - a) % 1000 == 0,
        "slots on a 1 s grid: {a}, {b}"
    );
    assert_ne!(first["id"], second["id"]);
    let fired = h
        .listed_until(&id, |s| s.is_some_and(|s| s["fired"].as_u64() >= Some(2)))
        .await
        .unwrap();
    assert!(fired["last_fired"].is_string(), "{fired}");

    assert_eq!(
        h.result("remove", json!({"id": id})).await,
        json!({"removed": id})
    );
    let removed_at = now_ms();
    // A later schedule fires; no slot of the removed one due after its removal came
    // before it (a fire already under way as it was removed may still arrive).
    let marker = h
        .result(
            "add",
            json!({"group": "family", "text": "marker", "in": "2500ms"}),
        )
        .await;
    let (_, before) = h.fire_of(marker["id"].as_str().unwrap()).await;
    for fire in &before {
        assert!(
            due_of(fire, &id) <= removed_at,
            "fired after its removal: {fire}"
        );
    }
    h.listed_until(&id, |s| s.is_none()).await;
    let (code, message) = h.error("remove", json!({"id": id})).await;
    assert_eq!(code, "not_found");
    assert!(
        message.contains(&format!("no schedule `{id}`")),
        "{message}"
    );
    h.stop.cancel();
}

#[tokio::test]
async fn bad_requests_name_the_field_and_unknown_groups_are_not_found() {
    let home = home();
    let mut h = Harness::start(home.path()).await;
    let cases = [
        (
            json!({"group": "family", "text": "x", "evry": "1m"}),
            "bad_request",
            "unknown field `evry` in the `add` body",
        ),
        (
            json!({"group": "family", "text": "x", "every": "10ms"}),
            "bad_request",
            "field `every`: `10ms` is shorter than 1 s",
        ),
        (
            json!({"group": "family", "text": "x", "cron": "0 9 * *"}),
            "bad_request",
            "field `cron`: `0 9 * *` has 4 fields",
        ),
        (
            json!({"group": "family", "text": "x", "every": "1m", "in": "1m"}),
            "bad_request",
            "give exactly one of the fields `cron`, `every`, `at` and `in`, but `every` and `in` were given",
        ),
        (
            json!({"group": "family", "text": "", "every": "1m"}),
            "bad_request",
            "field `text`: is empty",
        ),
        (
            json!({"group": "work", "text": "x", "every": "1m"}),
            "not_found",
            "no group `work` in",
        ),
        (
            json!({"group": "global", "text": "x", "every": "1m"}),
            "not_found",
            "`global` holds files shared by the groups",
        ),
    ];
    for (body, code, needle) in cases {
        let (got_code, message) = h.error("add", body.clone()).await;
        assert_eq!(got_code, code, "{body}: {message}");
        assert!(
            message.contains(needle),
            "{body}\n got: {message}\nwant: {needle}"
        );
        if code == "not_found" {
            assert!(
                message.ends_with("the groups are `family`, `main`"),
                "{message}"
            );
        }
    }
    let (code, message) = h.error("list", json!({"group": 5})).await;
    assert_eq!(code, "bad_request");
    assert!(
        message.contains("field `group`: must be a string"),
        "{message}"
    );
    let (code, _) = h.error("remove", json!({"id": "s-00000000"})).await;
    assert_eq!(code, "not_found");
    assert_eq!(
        h.result("list", json!(null)).await,
        json!({"schedules": []})
    );
    h.stop.cancel();
}

#[tokio::test]
async fn schedules_survive_a_restart_and_a_missed_slot_fires_once() {
    let home = home();
    let mut first = Harness::start(home.path()).await;
    let daily = first
        .result(
            "add",
            json!({"group": "main", "text": "good morning", "cron": "0 9 * * *"}),
        )
        .await;
    first.stop.cancel();
    drop(first);

    // While nothing ran, an hourly schedule missed five slots.
    let store = Store::open(&journal(home.path())).unwrap();
    let missed_due = now_ms() - 5 * 3_600_000 - 60_000;
    let hourly = Schedule {
        id: "s-0000abcd".into(),
        group: b00t_proto::Name::parse("family").unwrap(),
        text: "stretch".into(),
        when: When::Every(Duration::from_secs(3600)),
        next_ms: Some(missed_due),
        created_ms: missed_due - 3_600_000,
        last_fired_ms: None,
        fired: 0,
    };
    store.add(&hourly, 100).await.unwrap();
    drop(store);

    let started = now_ms();
    let mut second = Harness::start(home.path()).await;
    let listed = second.result("list", json!({"group": "main"})).await;
    assert_eq!(listed["schedules"][0]["id"], daily["id"], "{listed}");
    assert_eq!(listed["schedules"][0]["next"], daily["next"]);

    let (fire, _) = second.fire_of(&hourly.id).await;
    assert_eq!(
        due_of(&fire, &hourly.id),
        missed_due,
        "the missed slot, once"
    );
    let after = second
        .listed_until(&hourly.id, |s| s.is_some_and(|s| s["fired"] == 1))
        .await
        .unwrap();
    let next = rfc3339_ms(after["next"].as_str().unwrap());
    assert!(
        next > started && next <= now_ms() + 3_600_000,
        "the next fire is the next slot after now, not a missed one: {after}"
    );
    // A later schedule fires; the hourly one did not fire again before it.
    let marker = second
        .result(
            "add",
            json!({"group": "family", "text": "marker", "in": "500ms"}),
        )
        .await;
    let (_, before) = second.fire_of(marker["id"].as_str().unwrap()).await;
    assert!(
        before.is_empty(),
        "only one fire for the missed slots: {before:?}"
    );
    second.stop.cancel();
}
