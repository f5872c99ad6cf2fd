//! `b00t.toml`: unknown keys are errors naming the file and the key; `b00t config` shows
//! the effective values; client commands find a bus started with `--listen`.

use std::process::Command;

use crate::support::{b00t_bin, Bus, Home, Mode};

fn b00t(home: &Home, args: &[&str]) -> std::process::Output {
    Command::new(b00t_bin())
        .args(args)
        .arg("--home")
        .arg(home.path())
        .env_remove("B00T_BROKER")
        .output()
        .unwrap()
}

#[test]
fn unknown_keys_are_errors_that_name_file_and_key() {
    let home = Home::new("[delivery]\nack_timout_ms = 5\n");
    for args in [&["config"][..], &["up", "--listen", "127.0.0.1:0"][..]] {
        let out = b00t(&home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("b00t.toml") && stderr.contains("ack_timout_ms"),
            "{stderr}"
        );
    }
}

#[test]
fn config_prints_the_effective_values_with_defaults() {
    let home = Home::new("[delivery]\nack_timeout_ms = 1234\n");
    let out = b00t(&home, &["config"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "ack_timeout_ms = 1234",
        "retry_delay_ms = 5000",
        "max_retries = 3",
        "max_payload_bytes = 1048576",
        "listen = \"127.0.0.1:1883\"",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
    let out = Command::new(b00t_bin())
        .args(["config", "--default"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("# b00t.toml"));
}

#[test]
fn client_commands_find_the_bus_of_their_home() {
    let home = Home::new("");
    let _bus = Bus::start(Mode::Embedded, &home);
    let out = b00t(&home, &["send", "b00t.echo.echo", "found"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("found"));
}

#[test]
fn broker_url_in_b00t_toml_runs_the_runtime_against_that_broker() {
    let mosquitto = crate::support::Mosquitto::start();
    let home = Home::new(&format!(
        "[broker]\nurl = \"mqtt://127.0.0.1:{}\"\n",
        mosquitto.port
    ));
    let mut runtime = crate::support::Runtime::spawn(&home, &[]);
    runtime.wait_for_line(&format!(
        "b00t is up on mqtt://127.0.0.1:{} (external)",
        mosquitto.port
    ));
    let mut sub = crate::support::Sub::start(mosquitto.port, "b00t.echo/status");
    sub.wait("b00t.echo/status", "\"online\"");
    let out = b00t(&home, &["send", "b00t.echo.echo", "via-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("via-config"));
}

#[test]
fn a_second_runtime_on_the_same_broker_stands_by_and_leaves_the_first_alone() {
    let mosquitto = crate::support::Mosquitto::start();
    let first_home = Home::new("");
    let mut first = crate::support::Runtime::external(&first_home, mosquitto.port);
    let second_home = Home::new("");
    let mut second = crate::support::Runtime::spawn_unchecked(
        &second_home,
        &["--broker", &format!("mqtt://127.0.0.1:{}", mosquitto.port)],
    );
    second.wait_for_line("another b00t runtime already serves");
    second.wait_for_line("b00t is standing by on");
    // The first one is untouched: it answers, and the second never claims the bus.
    let out = Command::new(b00t_bin())
        .args([
            "send",
            "b00t.echo.echo",
            "still-first",
            "--broker",
            &format!("mqtt://127.0.0.1:{}", mosquitto.port),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(first.is_alive() && second.is_alive());
    let log = second.drain();
    assert!(!log.contains("b00t is up"), "{log}");
    first.drain();
}
