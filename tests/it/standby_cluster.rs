//! A standby runtime on a three-node NATS cluster (MQTT and JetStream on): the active
//! runtime and the standby (`b00t up --standby`) each have the node list in another
//! order, so they sit on different nodes. The active is killed with `kill -9`: tasks
//! published meanwhile through a node are answered by the standby once it takes over,
//! each run once: its echo ran exactly those (nothing twice); the old active, started
//! again in its home, stands by. Skipped with a message when `nats-server` is missing,
//! unless `B00T_REQUIRE_TOOLS=1`.

use std::time::Duration;

use b00t_testkit::nats::NatsCluster;

use crate::standby::{
    assert_restart_stands_by, assert_took_over, home, lease_holder, results, spawn_standby, task,
};
use crate::support::procs::Runtime;
use crate::support::sub::Sub;

/// Tasks answered by the active before it dies, and tasks sent while no runtime acts.
const BEFORE: usize = 5;
const OUTAGE: usize = 8;
/// The ceiling for anything after the kill: the takeover itself takes about 3 s.
const CEILING: Duration = Duration::from_secs(60);

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

fn wait_result(sub: &mut Sub, id: &str, runtime: &mut Runtime) {
    let needle = format!("\"id\":\"{id}\"");
    sub.try_wait(
        |l| l.topic == "b00t.echo.echo/result" && l.payload.contains(&needle),
        CEILING,
    )
    .unwrap_or_else(|| {
        panic!(
            "no result for `{id}` within {CEILING:?}; seen:\n{}\nthe serving runtime's log:\n{}",
            sub.dump(),
            runtime.drain()
        )
    });
}

#[test]
fn standby_cluster_the_standby_takes_over_from_a_killed_active_on_nats() {
    let test = "standby_cluster_the_standby_takes_over_from_a_killed_active_on_nats";
    let Some(cluster) = NatsCluster::start_or_skip(test, 3) else {
        return;
    };
    // JetStream's leader last in both lists: nobody here kills a node, but a runtime
    // should not start on the node whose loss stalls every node's MQTT.
    let leader = cluster.meta_leader().unwrap_or(2);
    let others: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let list = |order: &[usize]| {
        order
            .iter()
            .map(|i| cluster.mqtt_url(*i))
            .collect::<Vec<_>>()
            .join(",")
    };
    let active_list = list(&[others[0], others[1], leader]);
    let standby_list = list(&[others[1], others[0], leader]);
    // Tasks and the test's subscriber go through the active's node: the standby, on
    // another node, hears them through the cluster.
    let port = port_of(&cluster.mqtt_url(others[0]));

    let active_home = home();
    let mut active = Runtime::spawn(&active_home, &["--broker", &active_list]);
    let standby_home = home();
    let mut standby = spawn_standby(&standby_home, &standby_list);

    let mut sub = Sub::start(port, "#");
    for i in 0..BEFORE {
        task(port, &format!("before-{i}"));
    }
    for i in 0..BEFORE {
        wait_result(&mut sub, &format!("before-{i}"), &mut active);
    }
    // The lease card is retained: the subscriber has it, or the next renewal brings it.
    sub.try_wait(|l| l.topic == "b00t.runtime/lease", Duration::from_secs(5));
    let first = lease_holder(&sub).expect("the active's lease card");

    active.kill9();
    // Sent while nobody acts: only the standby's journal, on another node, holds them.
    for i in 0..OUTAGE {
        task(port, &format!("outage-{i}"));
    }
    standby.wait_for_line("b00t is up on");
    for i in 0..OUTAGE {
        wait_result(&mut sub, &format!("outage-{i}"), &mut standby);
    }
    sub.settle(Duration::from_millis(2000));

    // Each outage task ran once, on the new active's echo, which ran exactly those. Its
    // result may be published twice, the same reply both times: the new echo agent
    // resumes the dead one's persistent session (the same client id, `b00t-agent-echo`,
    // on a broker list), which held the outage tasks, and the runtime then drives the
    // journal's open tasks again, which only fetches the stored reply.
    let mut seqs = Vec::new();
    for i in 0..OUTAGE {
        let answers = results(&sub, &format!("outage-{i}"));
        assert!(!answers.is_empty(), "outage-{i}: no result\n{}", sub.dump());
        assert!(
            answers.iter().all(|a| a == &answers[0]),
            "outage-{i} ran more than once: {answers:?}"
        );
        assert_eq!(answers[0]["body"]["echo"], format!("outage-{i}"));
        seqs.push(answers[0]["body"]["seq"].as_u64().expect("a seq"));
    }
    let holder = assert_took_over(&sub, seqs, OUTAGE, BEFORE, first, &mut standby);
    // The old active, started again in its home with its list, stands by.
    assert_restart_stands_by(&active_home, &active_list, &mut sub, &holder, &mut standby);
}
