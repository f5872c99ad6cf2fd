//! The bus keeps its promise under load: every task the broker PUBACKs is in the
//! journal, whatever else floods the broker. Driven by `mosquitto_pub -l` (one message
//! per line, as fast as it can), and checked in the SQLite file itself with Python's
//! sqlite3, so nothing of b00t's own reads its own journal.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{mosquitto_pub_command, Bus, Home, Mode};

/// Publishes `lines` on `topic`, one message each, with `mosquitto_pub -l`; returns once
/// every message was sent (and, at QoS 1, acknowledged).
fn publish_lines(port: u16, topic: &str, qos: &str, lines: impl Iterator<Item = String>) {
    let mut child = mosquitto_pub_command(port, topic, qos)
        .arg("-l")
        .stdin(Stdio::piped())
        .spawn()
        .expect("run mosquitto_pub");
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().expect("stdin"));
        for line in lines {
            writeln!(stdin, "{line}").expect("write to mosquitto_pub");
        }
    }
    let status = child.wait().expect("mosquitto_pub");
    assert!(status.success(), "mosquitto_pub -l to `{topic}` failed");
}

/// Runs one SQL query on the journal with Python's sqlite3 and returns its one number.
fn journal_count(home: &Path, sql: &str) -> i64 {
    let db = home.join("state/journal.db");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(sys.argv[2]).fetchone()[0])",
        ])
        .arg(&db)
        .arg(sql)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 sqlite3 on {}: {}",
        db.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a number")
}

/// Polls `sql` until it counts `want`, failing after `limit` with how many were `what`.
fn wait_for_count(home: &Path, sql: &str, want: usize, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = journal_count(home, sql);
        if got == want as i64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {want} tasks were {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Padding that makes each burst task about 550 bytes.
const PAD: &str = concat!(
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
);

#[test]
fn every_task_of_a_qos1_burst_is_journaled_and_answered() {
    const TASKS: usize = 20_000;
    let home = Home::new("[delivery]\nack_timeout_ms = 60000\n");
    let bus = Bus::start(Mode::Embedded, &home);
    publish_lines(
        bus.port,
        "b00t.echo.echo/task",
        "1",
        // About 10 MiB in all, four times the log rumqttd keeps for a subscriber that
        // lags (the watcher's `#` subscription once lost tasks past it).
        (0..TASKS).map(|i| format!(r#"{{"id":"burst-{i}","body":{{"n":{i},"pad":"{PAD}"}}}}"#)),
    );
    // Every task was PUBACKed, so every one is in the journal now.
    let journaled = journal_count(
        home.path(),
        "select count(*) from tasks where address = 'b00t.echo.echo' and id like 'burst-%'",
    );
    assert_eq!(
        journaled, TASKS as i64,
        "tasks PUBACKed but missing from the journal"
    );
    // And every one is answered, once.
    wait_for_count(
        home.path(),
        "select count(*) from executions where address = 'b00t.echo.echo' and id like 'burst-%'",
        TASKS,
        "executed",
        Duration::from_secs(60),
    );
    assert!(bus.runtime_is_alive());
}

#[test]
fn a_qos0_flood_costs_no_task_of_an_offline_agent() {
    const TASKS: usize = 100;
    let home =
        Home::new("[delivery]\nack_timeout_ms = 300\nretry_delay_ms = 200\nmax_retries = 1\n");
    let bus = Bus::start(Mode::Embedded, &home);
    let port = bus.port;
    let flood = std::thread::spawn(move || {
        let junk = "x".repeat(1000);
        publish_lines(
            port,
            "flood/unrelated",
            "0",
            (0..100_000).map(|_| junk.clone()),
        );
    });
    publish_lines(
        bus.port,
        "b00t.nobody.work/task",
        "1",
        (0..TASKS).map(|i| format!(r#"{{"id":"off-{i}"}}"#)),
    );
    flood.join().expect("the flood");
    assert_eq!(
        journal_count(
            home.path(),
            "select count(*) from tasks where id like 'off-%'"
        ),
        TASKS as i64
    );
    // Each is retried once and then dead-lettered: none is left open.
    wait_for_count(
        home.path(),
        "select count(*) from tasks where id like 'off-%' and state = 'dead'",
        TASKS,
        "dead-lettered",
        Duration::from_secs(30),
    );
    assert!(bus.runtime_is_alive());
}
