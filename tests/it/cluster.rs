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
use crate::support::{b00t_bin, json, Home, FAST_DELIVERY};

/// Tasks sent while the node is down.
const OUTAGE_TASKS: usize = 4;
/// The longest the runtime may be away from the cluster.
const FAILOVER_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn nats_cluster_the_runtime_moves_when_its_node_dies() {
    nats_cluster_case("nats_cluster_the_runtime_moves_when_its_node_dies", 0);
}

/// Quarantined: in about half of the runs a task sent through a surviving node during
/// the outage got no answer within 60 s although the runtime was back on the cluster and
/// `b00t send` asked again; the cause is not found yet (issue 15). Run it with
/// `cargo nextest run -p b00t --test it --run-ignored only -E 'test(outage)'`.
#[test]
#[ignore = "flaky on NATS: a task sent during the outage is sometimes never answered (issue 15)"]
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
    let home = Home::new(&format!("{FAST_DELIVERY}[agents]\nheartbeat_ms = 500\n"));
    let mut runtime = Runtime::spawn(&home, &["--broker", list]);
    let others = &ports[1..];
    // Through another node: the runtime's card, and echo answering (which also waits
    // for a bridge to carry messages both ways).
    let mut status = Sub::start(others[0], "b00t.runtime/status");
    status.wait("b00t.runtime/status", "\"online\"");
    drop(status);
    let before = send(list_of(others[0]), "before-kill");
    assert!(before.contains("before-kill"), "{before}");

    let mut everything = Sub::start(others[0], "#");
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

    for (i, sender) in senders.into_iter().enumerate() {
        let out = sender.wait_with_output().expect("b00t send");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "task outage-{i}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().map(json).unwrap_or_default();
        assert_eq!(last["body"]["echo"]["text"], format!("task outage-{i}"));
    }
    // Once each: echo answered every task one time (asking again with the same id would
    // only have fetched the stored reply, with the same `since`-free body).
    everything.settle(Duration::from_millis(500));
    for i in 0..outage_tasks {
        let id = format!("\"id\":\"outage-{i}\"");
        let results: Vec<_> = everything
            .seen
            .iter()
            .filter(|l| l.topic.ends_with("/result") && l.payload.contains(&id))
            .map(|l| l.payload.clone())
            .collect();
        assert!(
            !results.is_empty(),
            "no result for outage-{i}; seen:\n{}",
            everything.dump()
        );
        assert!(
            results.iter().all(|r| r == &results[0]),
            "outage-{i} answered differently: {results:?}"
        );
        let acks = everything
            .seen
            .iter()
            .filter(|l| l.topic.ends_with("/ack") && l.payload.contains(&id))
            .count();
        assert!(acks >= 1, "outage-{i} was never acknowledged");
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
