//! The basic exchange of protocol v1: ack then result, plain-text tasks, `reply_to`.

use std::time::Duration;

use serde_json::json;

use crate::support::{json, Bus, Home, Mode, FAST_DELIVERY};

crate::both_modes!(
    ack_then_result,
    plain_text_task,
    reply_to_routes_every_reply
);

fn ack_then_result(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("b00t.echo.echo/#");
    bus.publish(
        "b00t.echo.echo/task",
        r#"{"id":"t-42","from":"test","body":{"n":1}}"#,
    );
    let ack = sub.wait("b00t.echo.echo/ack", "\"t-42\"");
    let result = sub.wait("b00t.echo.echo/result", "\"t-42\"");
    let position = |topic: &str| sub.seen.iter().position(|l| l.topic == topic).unwrap();
    assert!(
        position("b00t.echo.echo/ack") < position("b00t.echo.echo/result"),
        "ack before result:\n{}",
        sub.dump()
    );

    let ack = json(&ack.payload);
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["id"], "t-42");
    assert_eq!(ack["agent"], "echo");
    assert_eq!(ack["skill"], "echo");
    assert!(ack["ts"].is_string());

    let result = json(&result.payload);
    assert_eq!(result["type"], "result");
    assert_eq!(result["ok"], true);
    assert_eq!(result["agent"], "echo");
    assert_eq!(result["skill"], "echo");
    assert_eq!(result["body"]["echo"], json!({"n": 1}));
    assert!(result["body"]["seq"].as_u64().unwrap() >= 1);
    assert!(result["ms"].is_u64());
}

fn plain_text_task(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("b00t.echo.echo/+");
    bus.publish("b00t.echo.echo/task", "hello bus");
    let result = json(&sub.wait("b00t.echo.echo/result", "hello bus").payload);
    assert_eq!(result["body"]["echo"], json!({"text": "hello bus"}));
    let id = result["id"].as_str().expect("a fresh id");
    assert!(!id.is_empty());
    let ack = json(&sub.wait("b00t.echo.echo/ack", id).payload);
    assert_eq!(ack["id"], id, "the ack reports the id the receiver gave");
}

fn reply_to_routes_every_reply(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut replies = bus.sub("b00t.cli-7f3a.reply/#");
    let mut address = bus.sub("b00t.echo.echo/#");
    bus.publish(
        "b00t.echo.echo/task",
        r#"{"id":"r-1","reply_to":"b00t.cli-7f3a.reply","body":"ping"}"#,
    );
    replies.wait("b00t.cli-7f3a.reply/ack", "\"r-1\"");
    let result = json(
        &replies
            .wait("b00t.cli-7f3a.reply/result", "\"r-1\"")
            .payload,
    );
    assert_eq!(result["body"]["echo"], "ping");
    address.settle(Duration::from_millis(300));
    assert_eq!(address.count("b00t.echo.echo/task", "r-1"), 1);
    assert_eq!(
        address.count("b00t.echo.echo/ack", "r-1"),
        0,
        "{}",
        address.dump()
    );
    assert_eq!(
        address.count("b00t.echo.echo/result", "r-1"),
        0,
        "{}",
        address.dump()
    );
}

#[test]
fn paho_mqtt_drives_the_bus() {
    let home = Home::new(FAST_DELIVERY);
    let bus = Bus::start(Mode::Embedded, &home);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/paho/bus_check.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(bus.port.to_string())
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'paho'"),
        "paho-mqtt is not installed: run scripts/test, which installs it"
    );
    assert!(
        out.status.success(),
        "{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 checks passed"));
}
