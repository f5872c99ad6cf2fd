//! At least once, executed once: retries reach a late agent, duplicates are not run
//! again, and a task nobody takes ends in `/dead` with an `undeliverable` error.

use std::time::Duration;

use crate::support::{json, Agent, Bus, Home, Mode};

crate::both_modes!(
    a_late_agent_gets_the_task_through_retries_and_runs_it_once,
    a_duplicate_id_is_executed_once,
    a_task_nobody_takes_is_dead_lettered
);

fn a_late_agent_gets_the_task_through_retries_and_runs_it_once(mode: Mode) {
    let home =
        Home::new("[delivery]\nack_timeout_ms = 400\nretry_delay_ms = 300\nmax_retries = 30\n");
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("b00t.late.echo/#");
    bus.publish("b00t.late.echo/task", r#"{"id":"late-1","body":"wake up"}"#);
    // The runtime publishes it again while nobody acks.
    sub.wait_count("b00t.late.echo/task", "late-1", 2);

    let _agent = Agent::start("echo", "late", bus.port);
    let result = json(&sub.wait("b00t.late.echo/result", "late-1").payload);
    assert_eq!(result["body"]["echo"], "wake up");
    assert_eq!(result["body"]["seq"], 1);

    // No retry runs it again, and the agent has executed exactly one task.
    sub.settle(Duration::from_millis(1500));
    assert_eq!(
        sub.count("b00t.late.echo/result", "late-1"),
        1,
        "{}",
        sub.dump()
    );
    bus.publish("b00t.late.echo/task", r#"{"id":"late-2"}"#);
    let next = json(&sub.wait("b00t.late.echo/result", "late-2").payload);
    assert_eq!(next["body"]["seq"], 2, "late-1 ran once");
}

fn a_duplicate_id_is_executed_once(mode: Mode) {
    let home = Home::new(crate::support::FAST_DELIVERY);
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"dup-1","body":"a"}"#);
    let first = json(&sub.wait("b00t.echo.echo/result", "dup-1").payload);
    bus.publish("b00t.echo.echo/task", r#"{"id":"dup-1","body":"b"}"#);
    sub.wait_count("b00t.echo.echo/result", "dup-1", 2);
    let results: Vec<_> = sub
        .seen
        .iter()
        .filter(|l| l.payload.contains("dup-1"))
        .map(|l| json(&l.payload))
        .collect();
    assert_eq!(
        results[0], results[1],
        "the stored result is sent again, unchanged"
    );
    assert_eq!(
        results[1]["body"]["echo"], "a",
        "the duplicate's body was not executed"
    );
    let seq = first["body"]["seq"].as_u64().unwrap();

    bus.publish("b00t.echo.echo/task", r#"{"id":"dup-2"}"#);
    let next = json(&sub.wait("b00t.echo.echo/result", "dup-2").payload);
    assert_eq!(
        next["body"]["seq"].as_u64().unwrap(),
        seq + 1,
        "seq unchanged by the duplicate"
    );
}

fn a_task_nobody_takes_is_dead_lettered(mode: Mode) {
    let home =
        Home::new("[delivery]\nack_timeout_ms = 300\nretry_delay_ms = 200\nmax_retries = 2\n");
    let bus = Bus::start(mode, &home);
    let mut sub = bus.sub("#");
    let task = r#"{"id":"d-1","reply_to":"b00t.t-dead.reply","body":{"k":1}}"#;
    bus.publish("b00t.nobody.work/task", task);
    let dead = sub.wait("b00t.nobody.work/dead", "d-1");
    assert_eq!(
        json(&dead.payload),
        json(task),
        "the dead letter is the task as published"
    );
    let error = json(&sub.wait("b00t.t-dead.reply/error", "d-1").payload);
    assert_eq!(error["type"], "error");
    assert_eq!(error["ok"], false);
    assert_eq!(error["error"]["code"], "undeliverable");
    assert_eq!(error["agent"], "nobody");
    assert_eq!(error["skill"], "work");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`nobody`"),
        "{error}"
    );
    assert_eq!(
        sub.count("b00t.nobody.work/task", "d-1"),
        3,
        "the first publication and two retries:\n{}",
        sub.dump()
    );
}
