//! The `b00t` command line: `send` and its exit codes, `tail`, `agent run`, and `up`
//! failing fast on a taken port.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{b00t_bin, json, Bus, Home, Mode, FAST_DELIVERY};

#[test]
fn send_prints_the_result_and_exits_by_outcome() {
    let home =
        Home::new("[delivery]\nack_timeout_ms = 200\nretry_delay_ms = 100\nmax_retries = 1\n");
    let bus = Bus::start(Mode::Embedded, &home);

    let out = bus.cli(&["send", "b00t.echo.echo", r#"{"a":1}"#]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(body["echo"]["a"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ack"));

    let out = bus.cli(&[
        "send",
        "b00t.echo.echo",
        "--json",
        "--id",
        "cli-j1",
        "plain words",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<_> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "ack");
    assert_eq!(lines.last().unwrap()["type"], "result");
    assert_eq!(lines.last().unwrap()["body"]["echo"]["text"], "plain words");

    let out = bus.cli(&["send", "b00t.echo.nope", "x"]);
    assert_eq!(out.status.code(), Some(1), "an error reply exits 1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));

    let out = bus.cli(&["send", "b00t.nobody.work", "x"]);
    assert_eq!(out.status.code(), Some(2), "undeliverable exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("undeliverable"));

    let out = bus.cli(&["send", "b00t.nobody.work", "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(2), "a timeout exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout"));

    let out = bus.cli(&["send", "not-an-address", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("b00t.<agent>.<skill>"));
}

#[test]
fn tail_json_shows_messages_as_they_pass() {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(Mode::Embedded, &home);
    let mut tail = Command::new(b00t_bin())
        .args([
            "tail",
            "--json",
            "-n",
            "1",
            "b00t.echo.echo/task",
            "--broker",
            &bus.url(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run b00t tail");
    // tail prints nothing until it sees a message: publish until it has.
    let deadline = Instant::now() + Duration::from_secs(15);
    while tail.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "b00t tail saw nothing");
        bus.publish("b00t.echo.echo/task", r#"{"id":"tail-1","body":"seen"}"#);
        std::thread::sleep(Duration::from_millis(200));
    }
    let line = BufReader::new(tail.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let line = json(&line);
    assert_eq!(line["topic"], "b00t.echo.echo/task");
    assert_eq!(line["payload"]["body"], "seen");
    assert_eq!(line["retain"], false);
}

#[test]
fn up_fails_at_once_when_the_port_is_taken() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let home = Home::new("");
    let out = Command::new(b00t_bin())
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--home"])
        .arg(home.path())
        .output()
        .expect("run b00t up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port `{port}` is in use")),
        "{stderr}"
    );
    assert!(stderr.contains("--broker"), "{stderr}");
}

#[test]
fn agent_run_refuses_an_unknown_kind_and_a_bad_name() {
    let out = Command::new(b00t_bin())
        .args([
            "agent",
            "run",
            "nonsense",
            "--name",
            "x",
            "--broker",
            "mqtt://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown agent kind `nonsense`: the kinds are `echo`"));
    let out = Command::new(b00t_bin())
        .args([
            "agent",
            "run",
            "echo",
            "--name",
            "Bad.Name",
            "--broker",
            "mqtt://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
}

#[test]
fn client_commands_name_an_unreachable_broker() {
    let port = crate::support::free_port();
    let out = Command::new(b00t_bin())
        .args([
            "send",
            "b00t.echo.echo",
            "x",
            "--broker",
            &format!("mqtt://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("mqtt://127.0.0.1:{port}")) && stderr.contains("b00t up"),
        "{stderr}"
    );
    // The wait past a second said what it waited for, and for how long at most.
    assert!(
        stderr.contains(&format!(
            "waiting for the broker at mqtt://127.0.0.1:{port} (up to 5 s)"
        )),
        "{stderr}"
    );
    // Data only on stdout: nothing there.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
