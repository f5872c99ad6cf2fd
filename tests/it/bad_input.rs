//! Bad input gets an error with the right code, and the runtime keeps serving everyone.

use crate::support::{json, publish_bytes, Bus, Home, Mode, FAST_DELIVERY};

crate::both_modes!(each_bad_input_gets_its_code_and_the_bus_keeps_serving);

fn each_bad_input_gets_its_code_and_the_bus_keeps_serving(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("b00t.echo.echo/error");
    let error = |sub: &mut crate::support::Sub, needle: &str| {
        json(&sub.wait("b00t.echo.echo/error", needle).payload)
    };

    bus.publish("b00t.echo.echo/task", r#"{"id": "x", "body": "#);
    let e = error(&mut sub, "invalid JSON");
    assert_eq!(e["error"]["code"], "bad_request");
    assert_eq!(e["ok"], false);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{e}"
    );

    bus.publish("b00t.echo.echo/task", r#"{"id": 42, "body": {}}"#);
    let e = error(&mut sub, "field `id`");
    assert_eq!(e["error"]["code"], "bad_request");

    bus.publish("b00t.echo.echo/task", r#"{"id": "w-1", "from": 7}"#);
    let e = error(&mut sub, "field `from`");
    assert_eq!(e["error"]["code"], "bad_request");
    assert_eq!(
        e["id"], "w-1",
        "the task's own id is kept when it was valid"
    );

    publish_bytes(bus.port, "b00t.echo.echo/task", b"\xff\xfe{\"id\":\"u\"}");
    let e = error(&mut sub, "not UTF-8");
    assert_eq!(e["error"]["code"], "bad_request");

    let oversized = vec![b'a'; 2 * 1024 * 1024];
    publish_bytes(bus.port, "b00t.echo.echo/task", &oversized);
    let e = error(&mut sub, "too_large");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2097152 bytes"),
        "{e}"
    );

    // Everyone else is still served.
    let mut results = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"still-ok","body":1}"#);
    results.wait("b00t.echo.echo/result", "still-ok");
    assert!(bus.runtime_is_alive());
}

#[test]
fn the_runtime_answers_bad_input_for_an_agent_that_is_offline() {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("#");
    bus.publish("b00t.ghost.work/task", "{not json");
    let e = json(&sub.wait("b00t.ghost.work/error", "bad_request").payload);
    assert_eq!(e["agent"], "ghost");
    bus.publish("b00t.Bad_Name.work/task", r#"{"id":"n-1"}"#);
    let e = json(&sub.wait("b00t.Bad_Name.work/error", "bad_request").payload);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("address `b00t.Bad_Name.work`"),
        "{e}"
    );
    bus.publish("b00t.echo.nope/task", r#"{"id":"n-2"}"#);
    let e = json(&sub.wait("b00t.echo.nope/error", "not_found").payload);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("its skills: echo"),
        "{e}"
    );
    bus.publish("b00t.echo.nope/task", r#"{"id":"n-2"}"#);
    sub.wait_count("b00t.echo.nope/error", "n-2", 2);
}

#[test]
fn the_payload_limit_comes_from_the_config() {
    let home = Home::new("[broker]\nmax_payload_bytes = 64\n");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.echo.echo/+");
    bus.publish(
        "b00t.echo.echo/task",
        &format!(r#"{{"id":"big","body":"{}"}}"#, "x".repeat(100)),
    );
    let e = json(&sub.wait("b00t.echo.echo/error", "too_large").payload);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 64 bytes"),
        "{e}"
    );
    bus.publish("b00t.echo.echo/task", r#"{"id":"small"}"#);
    sub.wait("b00t.echo.echo/result", "small");
}

#[test]
fn a_flood_of_bad_tasks_is_answered_and_does_not_wedge_the_bus() {
    use std::io::Write;
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.echo.echo/error");
    let mut pub_lines = std::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &bus.port.to_string(),
            "-q",
            "1",
            "-t",
            "b00t.echo.echo/task",
            "-l",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run mosquitto_pub -l");
    let mut stdin = pub_lines.stdin.take().unwrap();
    for n in 0..500 {
        let line = match n % 4 {
            0 => "{broken".to_owned(),
            1 => format!(r#"{{"id": {n}}}"#),
            2 => format!(r#"{{"id":"f-{n}","reply_to":7}}"#),
            _ => format!(r#"{{"id":"f {n}"}}"#),
        };
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    assert!(pub_lines.wait().unwrap().success());
    sub.wait_count("b00t.echo.echo/error", "bad_request", 500);

    let mut results = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"after-flood"}"#);
    results.wait("b00t.echo.echo/result", "after-flood");
    assert!(bus.runtime_is_alive());
}

#[test]
fn garbage_on_the_mqtt_port_does_not_hurt_the_bus() {
    use std::io::Write;
    use std::net::TcpStream;
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(Mode::Embedded, &home);
    let noise: Vec<u8> = (0..1000u32)
        .map(|n| (n.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let packets: [&[u8]; 5] = [
        &noise,
        b"\x10\xff\xff\xff\xff\x7f", // CONNECT with an absurd length
        b"\x10\x0c\x00\x04MQTT\x09\x02\x00\x3c\x00\x00", // unknown protocol level
        b"\x30\x05\x00\x01a",        // PUBLISH before CONNECT
        b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\xe0\x00", // CONNECT, then DISCONNECT
    ];
    for packet in packets {
        let mut stream = TcpStream::connect(("127.0.0.1", bus.port)).unwrap();
        let _ = stream.write_all(packet);
    }
    // A connection that never says anything.
    let _silent = TcpStream::connect(("127.0.0.1", bus.port)).unwrap();

    let mut results = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"after-noise"}"#);
    results.wait("b00t.echo.echo/result", "after-noise");
    assert!(bus.runtime_is_alive());
}
