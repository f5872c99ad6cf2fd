//! Broker lists with failover on real clusters: `b00t up --broker n1,n2,n3` on a
//! three-node NATS cluster (MQTT and JetStream on), and on two bridged Mosquitto brokers.
//! The node under the runtime is killed: the runtime's card is online again, read through
//! another node, within 10 s, and tasks sent through the other nodes during the outage are
//! answered, each once. Skipped with a message when `nats-server` or `mosquitto` is
//! missing, unless `B00T_REQUIRE_TOOLS=1`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use b00t_testkit::mosquitto_pair::MosquittoPair;
use b00t_testkit::nats::NatsCluster;

use crate::support::procs::Runtime;
use crate::support::sub::Sub;
use crate::support::{b00t_bin, json, Home};

/// Tasks sent while the node is down.
const OUTAGE_TASKS: usize = 4;
/// Delivery settings that outlast a node's failover (the defaults do, by far).
const RIDE_OUT_DELIVERY: &str =
    "[delivery]\nack_timeout_ms = 2000\nretry_delay_ms = 1000\nmax_retries = 6\n";
/// The longest the runtime may be away from the cluster.
const FAILOVER_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn nats_cluster_the_runtime_moves_when_its_node_dies() {
    nats_cluster_case("nats_cluster_the_runtime_moves_when_its_node_dies", 0);
}

/// Tasks sent through the surviving nodes while the runtime's node is down. Once
/// quarantined: with deliveries spread over 1.3 s (the tests' usual fast settings), a task
/// whose agent was still waiting for NATS to load its session was dead-lettered; and a
/// `b00t send` never saw its result because NATS refused its reply subscription (a
/// SubAck failure, which b00t-bus ignored) while its streams elected leaders. Now the
/// deliveries ride the failover out, b00t-bus asks again after a refused SubAck, `send`
/// on a broker list waits up to 20 s for it, and the observer subscribes at QoS 0 (a
/// core NATS subscription, which the elections do not stall).
#[test]
fn nats_cluster_tasks_sent_during_the_outage_are_answered_once() {
    nats_cluster_case(
        "nats_cluster_tasks_sent_during_the_outage_are_answered_once",
        OUTAGE_TASKS,
    );
}

fn nats_cluster_case(test: &str, outage_tasks: usize) {
    let Some(mut cluster) = NatsCluster::start_or_skip(test, 3) else {
        return;
    };
    // The runtime's node first, one that does not lead JetStream: losing the leader
    // stalls every node's MQTT for NATS's election (about 12 s), which no client can
    // shorten (ARCHITECTURE.md says so, and the bench measures it).
    let leader = cluster.meta_leader().unwrap_or(2);
    let mut order: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    order.push(leader);
    let ports: Vec<u16> = order
        .iter()
        .map(|i| port_of(&cluster.mqtt_url(*i)))
        .collect();
    let list = order
        .iter()
        .map(|i| cluster.mqtt_url(*i))
        .collect::<Vec<_>>()
        .join(",");
    let first = order[0];
    the_runtime_moves_when_its_node_dies(&list, &ports, outage_tasks, || cluster.kill(first));
}

#[test]
fn bridged_mosquitto_the_runtime_moves_when_its_broker_dies() {
    let test = "bridged_mosquitto_the_runtime_moves_when_its_broker_dies";
    let Some(mut pair) = MosquittoPair::start_or_skip(test) else {
        return;
    };
    let ports: Vec<u16> = (0..2).map(|i| port_of(&pair.mqtt_url(i))).collect();
    let list = pair.broker_list();
    the_runtime_moves_when_its_node_dies(&list, &ports, OUTAGE_TASKS, || pair.kill(0));
}

/// `ports[0]` is the node the runtime connects to first (the first of `list`); `kill`
/// kills it; `outage_tasks` tasks are sent through the others while it is down.
fn the_runtime_moves_when_its_node_dies(
    list: &str,
    ports: &[u16],
    outage_tasks: usize,
    kill: impl FnOnce(),
) {
    // Deliveries spread over about 20 s: a NATS node that lost a peer may hold new MQTT
    // sessions for several seconds while JetStream elects the leaders of its streams,
    // and a task whose agent cannot reconnect meanwhile is retried, not dead-lettered.
    let home = Home::new(&format!(
        "{RIDE_OUT_DELIVERY}[agents]\nheartbeat_ms = 500\n"
    ));
    let mut runtime = Runtime::spawn(&home, &["--broker", list]);
    let others = &ports[1..];
    // Through another node: the runtime's card, and echo answering (which also waits
    // for a bridge to carry messages both ways).
    let mut status = Sub::start(others[0], "b00t.runtime/status");
    status.wait("b00t.runtime/status", "\"online\"");
    drop(status);
    let before = send(list_of(others[0]), "before-kill");
    assert!(before.contains("before-kill"), "{before}");

    // At most once: see Sub::start_with_qos.
    let mut everything = Sub::start_with_qos(others[0], "#", 0);
    kill();
    let killed = Instant::now();
    // Tasks through each surviving node, sent at once, while the runtime moves.
    let senders: Vec<_> = (0..outage_tasks)
        .map(|i| {
            // Each through a surviving node first, the others after it.
            let first = i % others.len();
            let list = (0..others.len())
                .map(|k| list_of(others[(first + k) % others.len()]))
                .collect::<Vec<_>>()
                .join(",");
            spawn_send(list, &format!("outage-{i}"))
        })
        .collect();
    // The runtime is back on the cluster: its card published online again (it sends it
    // on every reconnect) and a heartbeat, both after the kill and through another node.
    // Read on a subscription made before the kill: when the dead node led JetStream, NATS
    // takes about 12 s to elect another leader, and new MQTT subscriptions wait for it.
    for (topic, needle) in [
        ("b00t.runtime/status", "\"online\""),
        ("b00t.runtime/heartbeat", "\"runtime\""),
    ] {
        everything
            .try_wait(
                |l| l.topic == topic && l.payload.contains(needle),
                FAILOVER_LIMIT.saturating_sub(killed.elapsed()),
            )
            .unwrap_or_else(|| {
                panic!(
                    "nothing on `{topic}` within {FAILOVER_LIMIT:?} of the kill; the runtime's log:\n{}",
                    runtime.drain()
                )
            });
    }
    let back_in = killed.elapsed();
    assert!(
        back_in <= FAILOVER_LIMIT,
        "the runtime was back after {back_in:?}"
    );
    eprintln!("runtime online again {back_in:?} after its node was killed");

    let mut answered = Vec::new();
    for (i, sender) in senders.into_iter().enumerate() {
        let out = sender.wait_with_output().expect("b00t send");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.code() != Some(0) {
            let id = format!("outage-{i}");
            everything.settle(Duration::from_millis(300));
            let seen: Vec<String> = everything
                .seen
                .iter()
                .filter(|l| l.payload.contains(&id) || l.topic.contains("runtime/status"))
                .map(|l| format!("{} {}", l.topic, l.payload))
                .collect();
            panic!(
                "task {id}: {stdout}{}\nseen about it:\n{}\nthe runtime's log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                seen.join("\n"),
                runtime.drain()
            );
        }
        let last = stdout.lines().last().map(json).unwrap_or_default();
        assert_eq!(last["body"]["echo"]["text"], format!("task outage-{i}"));
        answered.push(last["body"].clone());
    }
    // Once each: the answers carry echo's execution counter, each its own, and asking
    // again with the same id fetches the stored reply (the same counter) rather than
    // running the task again. Every result the observer saw is that one too; on NATS the
    // observer itself may miss some while its node's streams elect leaders, so what it
    // saw is checked, not counted.
    let mut seqs: Vec<u64> = answered.iter().filter_map(|b| b["seq"].as_u64()).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), outage_tasks, "each ran once: {answered:?}");
    everything.settle(Duration::from_millis(500));
    for (i, body) in answered.iter().enumerate() {
        // Through every surviving node: new QoS 1 subscriptions may still be refused
        // for a few seconds on the node first tried.
        let survivors = others.iter().map(|p| list_of(*p)).collect::<Vec<_>>();
        let out = send(survivors.join(","), &format!("outage-{i}"));
        let again = out
            .lines()
            .find(|l| l.contains("\"type\":\"result\""))
            .map(json);
        assert_eq!(
            again.as_ref().map(|r| &r["body"]),
            Some(body),
            "outage-{i} asked again: {out}"
        );
        let id = format!("\"id\":\"outage-{i}\"");
        for seen in everything
            .seen
            .iter()
            .filter(|l| l.topic.ends_with("/result") && l.payload.contains(&id))
        {
            assert_eq!(
                &json(&seen.payload)["body"],
                body,
                "outage-{i} answered twice"
            );
        }
    }
    assert!(runtime.is_alive(), "the runtime died: {}", runtime.drain());
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

/// The URL of one node.
fn list_of(port: u16) -> String {
    format!("mqtt://127.0.0.1:{port}")
}

fn spawn_send(broker: String, id: &str) -> std::process::Child {
    Command::new(b00t_bin())
        .args([
            "send",
            "--broker",
            &broker,
            "b00t.echo.echo",
            "--json",
            "--id",
            id,
            &format!("task {id}"),
        ])
        .env_remove("B00T_BROKER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run b00t send")
}

fn send(broker: String, id: &str) -> String {
    let out = spawn_send(broker, id)
        .wait_with_output()
        .expect("b00t send");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
