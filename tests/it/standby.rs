//! A standby runtime (`b00t up --standby`) on a shared broker: it follows the active
//! runtime's journal through the bus and takes over when the active's lease
//! (`b00t.runtime/lease`) lapses. The active is killed with `kill -9`: the standby serves
//! the tasks sent meanwhile, each once, and runs nothing the active already ran; the old
//! active, started again, stands by; one paused past its lease stops when it wakes
//! (exit 6) rather than act beside the new one.

use std::time::Duration;

use crate::support::procs::{Mosquitto, Runtime};
use crate::support::sub::Sub;
use crate::support::{json, publish, Home, FAST_DELIVERY};

/// Tasks answered by the active before it dies, and tasks sent while no runtime acts.
const BEFORE: usize = 10;
const OUTAGE: usize = 10;

/// A home whose lease lapses after 3 s; shared with `standby_cluster`.
pub(crate) fn home() -> Home {
    Home::new(&format!("{FAST_DELIVERY}[agents]\nheartbeat_ms = 1000\n"))
}

fn broker_arg(mosquitto: &Mosquitto) -> String {
    format!("mqtt://127.0.0.1:{}", mosquitto.port)
}

/// Publishes task `id` to the runtime's echo at QoS 1 through the broker at `port`, as
/// any script would.
pub(crate) fn task(port: u16, id: &str) {
    publish(
        port,
        "b00t.echo.echo/task",
        &format!(r#"{{"id":"{id}","body":"{id}"}}"#),
    );
}

/// The result bodies seen for task `id`.
pub(crate) fn results(sub: &Sub, id: &str) -> Vec<serde_json::Value> {
    let needle = format!("\"id\":\"{id}\"");
    sub.seen
        .iter()
        .filter(|l| l.topic == "b00t.echo.echo/result" && l.payload.contains(&needle))
        .map(|l| json(&l.payload))
        .collect()
}

/// The holder and epoch of the last lease card seen.
pub(crate) fn lease_holder(sub: &Sub) -> Option<(String, u64)> {
    sub.seen
        .iter()
        .rev()
        .find(|l| l.topic == "b00t.runtime/lease" && !l.payload.is_empty())
        .map(|l| {
            let lease = json(&l.payload);
            (
                lease["holder"].as_str().unwrap_or_default().to_owned(),
                lease["epoch"].as_u64().unwrap_or_default(),
            )
        })
}

/// `b00t up --standby` in `home` on `broker`, once it says it stands by.
pub(crate) fn spawn_standby(home: &Home, broker: &str) -> Runtime {
    let mut standby = Runtime::spawn_unchecked(home, &["--broker", broker, "--standby"]);
    standby.wait_for_line("b00t is standing by on");
    standby
}

/// What every takeover shows once the outage tasks are answered: the new active's echo
/// ran exactly those (`seqs`, its execution counter, went 1..=`outage`), none of the
/// `before` tasks ran again, and the lease passed from `first` to another holder at the
/// next epoch. Returns the new holder.
pub(crate) fn assert_took_over(
    sub: &Sub,
    mut seqs: Vec<u64>,
    outage: usize,
    before: usize,
    first: (String, u64),
    standby: &mut Runtime,
) -> String {
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=outage as u64).collect::<Vec<_>>(),
        "{}\nthe new active's log:\n{}",
        sub.dump(),
        standby.drain()
    );
    for i in 0..before {
        let answers = results(sub, &format!("before-{i}"));
        assert_eq!(answers.len(), 1, "before-{i} ran again: {answers:?}");
    }
    let (holder, epoch) = lease_holder(sub).expect("the new lease card");
    assert_ne!(holder, first.0);
    assert_eq!(epoch, first.1 + 1);
    holder
}

/// The old active, started again in `home` with `broker`, stands by: the lease stays
/// `holder`'s and the new active runs on.
pub(crate) fn assert_restart_stands_by(
    home: &Home,
    broker: &str,
    sub: &mut Sub,
    holder: &str,
    standby: &mut Runtime,
) {
    let mut again = Runtime::spawn_unchecked(home, &["--broker", broker]);
    again.wait_for_line("b00t is standing by on");
    sub.settle(Duration::from_millis(2500));
    assert_eq!(lease_holder(sub).map(|l| l.0).as_deref(), Some(holder));
    let log = again.drain();
    assert!(!log.contains("b00t is up on"), "{log}");
    assert!(standby.is_alive(), "{}", standby.drain());
}

#[test]
fn the_standby_takes_over_from_a_killed_active_and_runs_nothing_twice() {
    let mosquitto = Mosquitto::start();
    let broker = broker_arg(&mosquitto);
    let active_home = home();
    let mut active = Runtime::spawn(&active_home, &["--broker", &broker]);
    let standby_home = home();
    let mut standby = spawn_standby(&standby_home, &broker);

    let mut sub = Sub::start(mosquitto.port, "#");
    for i in 0..BEFORE {
        task(mosquitto.port, &format!("before-{i}"));
    }
    for i in 0..BEFORE {
        sub.wait("b00t.echo.echo/result", &format!("\"id\":\"before-{i}\""));
    }
    let first = lease_holder(&sub).expect("the active's lease card");

    active.kill9();
    // Sent while nobody acts: the active is dead, the standby has not taken over yet,
    // and no echo agent is subscribed. Only the standby's journal holds them.
    for i in 0..OUTAGE {
        task(mosquitto.port, &format!("outage-{i}"));
    }
    standby.wait_for_line("b00t is up on");
    for i in 0..OUTAGE {
        sub.wait_cold("b00t.echo.echo/result", &format!("\"id\":\"outage-{i}\""));
    }
    sub.settle(Duration::from_millis(1500));

    // Each outage task answered once, by the new active's echo, which ran exactly
    // those: its execution counter went 1..=OUTAGE, so it re-ran none of the tasks
    // the old active had answered.
    let mut seqs = Vec::new();
    for i in 0..OUTAGE {
        let answers = results(&sub, &format!("outage-{i}"));
        assert_eq!(answers.len(), 1, "outage-{i}: {answers:?}\n{}", sub.dump());
        assert_eq!(answers[0]["body"]["echo"], format!("outage-{i}"));
        seqs.push(answers[0]["body"]["seq"].as_u64().expect("a seq"));
    }
    let holder = assert_took_over(&sub, seqs, OUTAGE, BEFORE, first, &mut standby);
    // The old active, started again in its home, stands by.
    assert_restart_stands_by(&active_home, &broker, &mut sub, &holder, &mut standby);
}

#[test]
fn an_active_paused_past_its_lease_stops_when_it_wakes() {
    let mosquitto = Mosquitto::start();
    let broker = broker_arg(&mosquitto);
    let active_home = home();
    let mut active = Runtime::spawn(&active_home, &["--broker", &broker]);
    let standby_home = home();
    let mut standby = spawn_standby(&standby_home, &broker);

    active.signal("STOP");
    standby.wait_for_line("b00t is up on");
    active.signal("CONT");
    let status = active
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("the old active still runs: {}", active.drain()));
    assert_eq!(status.code(), Some(6), "{}", active.drain());
    assert!(active.drain().contains("took the lease"));
    // The new active is unharmed: it answers.
    let mut sub = Sub::start(mosquitto.port, "b00t.echo.echo/result");
    task(mosquitto.port, "after-wake");
    sub.wait("b00t.echo.echo/result", "\"id\":\"after-wake\"");
    assert!(standby.is_alive(), "{}", standby.drain());
}

#[test]
fn standby_needs_a_broker_both_runtimes_reach() {
    let home = home();
    let out = std::process::Command::new(crate::support::b00t_bin())
        .args(["up", "--standby", "--home"])
        .arg(home.path())
        .env_remove("B00T_BROKER")
        .output()
        .expect("run b00t up");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`--standby` needs a broker"), "{stderr}");
    assert!(!home.path().join("state/journal.db").exists());
}

/// `b00t send <address> <body> --json` through `broker`: the final reply.
fn ask(broker: &str, address: &str, body: &str) -> serde_json::Value {
    let out = std::process::Command::new(crate::support::b00t_bin())
        .args(["send", "--broker", broker, address, body, "--json"])
        .env_remove("B00T_BROKER")
        .output()
        .expect("run b00t send");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{address} {body}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(stdout.lines().last().unwrap_or_default())
}

/// The ids of the schedules the acting runtime lists.
fn schedule_ids(broker: &str) -> Vec<String> {
    let reply = ask(broker, "b00t.scheduler.list", "{}");
    let mut ids: Vec<String> = reply["body"]["schedules"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {reply}"))
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_standby_takes_over_the_schedules_without_those_removed_while_it_was_away() {
    let mosquitto = Mosquitto::start();
    let broker = broker_arg(&mosquitto);
    let active_home = home();
    let mut active = Runtime::spawn(&active_home, &["--broker", &broker]);
    let add = |text: &str| {
        let body = format!(r#"{{"group":"main","text":"{text}","every":"1h"}}"#);
        let reply = ask(&broker, "b00t.scheduler.add", &body);
        reply["body"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("an id: {reply}"))
            .to_owned()
    };
    let kept = add("water the plants");
    let dropped = add("feed the cat");

    // The standby copies both, then stops; meanwhile one is removed.
    let standby_home = home();
    let mut standby = spawn_standby(&standby_home, &broker);
    let mut rows = Sub::start(mosquitto.port, "b00t.runtime/schedules/+");
    rows.wait(&format!("b00t.runtime/schedules/{dropped}"), "feed the cat");
    std::thread::sleep(Duration::from_millis(500));
    standby.signal("TERM");
    standby
        .wait_exit(Duration::from_secs(10))
        .expect("the standby stops on SIGTERM");
    let reply = ask(
        &broker,
        "b00t.scheduler.remove",
        &format!(r#"{{"id":"{dropped}"}}"#),
    );
    assert_eq!(reply["type"], "result", "{reply}");

    // Back as standby, then the active dies: the new active has the schedule that
    // still exists, not the one removed while it was away.
    let mut standby = spawn_standby(&standby_home, &broker);
    active.kill9();
    standby.wait_for_line("b00t is up on");
    assert_eq!(schedule_ids(&broker), [kept]);
    assert!(standby.is_alive(), "{}", standby.drain());
}
