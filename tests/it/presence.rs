//! Presence: the retained status card, the will that turns it `offline` when an agent
//! process dies, heartbeats, a clean shutdown, and `b00t agents`.

use std::time::Duration;

use crate::support::{json, Agent, Bus, Home, Mode, FAST_DELIVERY};

crate::both_modes!(
    kill9_of_an_agent_turns_its_retained_card_offline,
    a_stop_signal_stops_the_runtime_within_5s_with_offline_cards
);

fn kill9_of_an_agent_turns_its_retained_card_offline(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut agent = Agent::start("echo", "crashy", bus.port);
    let mut sub = bus.sub("b00t.crashy/status");
    let card = json(&sub.wait("b00t.crashy/status", "\"online\"").payload);
    assert_eq!(card["agent"], "crashy");
    assert_eq!(card["kind"], "echo");
    assert_eq!(card["skills"], serde_json::json!(["echo"]));
    assert!(card["since"].is_string());
    drop(sub);

    agent.kill9();
    // A subscriber that comes later is handed the retained card: now offline.
    let mut late = bus.sub("b00t.crashy/status");
    let card = json(&late.wait("b00t.crashy/status", "\"offline\"").payload);
    assert_eq!(card["agent"], "crashy");
    assert_eq!(card["skills"], serde_json::json!(["echo"]));
}

fn a_stop_signal_stops_the_runtime_within_5s_with_offline_cards(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let mut bus = Bus::start(mode, &home);
    if mode == Mode::Embedded {
        // The broker goes with the runtime: watch the card through the runtime's log.
        // SIGINT here, SIGTERM below: both are the stop signal.
        bus.runtime.signal("INT");
        let status = bus
            .runtime
            .wait_exit(Duration::from_secs(5))
            .expect("stopped within 5 s");
        assert!(status.success(), "exit status {status}");
        let log = bus.runtime.drain();
        assert!(log.contains("agent offline agent=echo"), "{log}");
        assert!(log.contains("b00t stopped"), "{log}");
        return;
    }
    let mut sub = bus.sub("b00t.echo/status");
    sub.wait("b00t.echo/status", "\"online\"");
    bus.runtime.signal("TERM");
    let status = bus
        .runtime
        .wait_exit(Duration::from_secs(5))
        .expect("stopped within 5 s");
    assert!(status.success(), "exit status {status}");
    sub.wait("b00t.echo/status", "\"offline\"");
}

#[test]
fn heartbeats_come_every_heartbeat_ms() {
    let home = Home::new("[agents]\nheartbeat_ms = 200\n");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.echo/heartbeat");
    sub.wait_count("b00t.echo/heartbeat", "\"echo\"", 3);
    let beat = json(&sub.seen[0].payload);
    assert_eq!(beat["agent"], "echo");
    assert!(beat["ts"].is_string() && beat["seq"].is_u64() && beat["uptime_ms"].is_u64());
}

#[test]
fn b00t_agents_lists_who_is_online_with_their_last_heartbeat() {
    let home = Home::new("[agents]\nheartbeat_ms = 200\n");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.helper/heartbeat");
    let _agent = Agent::start("echo", "helper", bus.port);
    sub.wait("b00t.helper/heartbeat", "helper");
    let out = bus.cli(&["agents", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agents = json(&String::from_utf8_lossy(&out.stdout));
    let find = |name: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == name)
            .unwrap_or_else(|| panic!("no `{name}` in {agents}"))
            .clone()
    };
    let helper = find("helper");
    assert_eq!(helper["state"], "online");
    assert_eq!(helper["skills"], serde_json::json!(["echo"]));
    assert!(helper["last_heartbeat"].is_string(), "{helper}");
    assert_eq!(find("echo")["state"], "online");

    let table = bus.cli(&["agents"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("AGENT") && text.contains("helper") && text.contains("online"),
        "{text}"
    );
}

#[test]
fn agents_and_runtime_reconnect_and_resubscribe_after_a_broker_restart() {
    let home = Home::new(FAST_DELIVERY);
    let mut bus = Bus::start(Mode::External, &home);
    let _agent = Agent::start("echo", "survivor", bus.port);
    let mut sub = bus.sub("b00t.survivor/status");
    sub.wait("b00t.survivor/status", "\"online\"");
    drop(sub);

    bus.restart_external_broker();
    // The new broker has no retained cards and no subscriptions: the agents publish their
    // cards again and restore their subscriptions on their own.
    let mut sub = bus.sub("b00t.survivor/status");
    sub.wait("b00t.survivor/status", "\"online\"");
    let mut replies = bus.sub("b00t.survivor.echo/#");
    bus.publish(
        "b00t.survivor.echo/task",
        r#"{"id":"after-restart","body":"still here"}"#,
    );
    let result = json(
        &replies
            .wait("b00t.survivor.echo/result", "after-restart")
            .payload,
    );
    assert_eq!(result["body"]["echo"], "still here");
    // The runtime's watcher is back too: it tracks and dead-letters tasks again.
    bus.publish("b00t.gone.work/task", r#"{"id":"after-restart-dead"}"#);
    let mut dead = bus.sub("b00t.gone.work/#");
    dead.wait("b00t.gone.work/dead", "after-restart-dead");
}
