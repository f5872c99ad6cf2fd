//! `kill -9` of the runtime with a journaled, unanswered task, then a restart: the task
//! is driven again and finished, and nothing finished runs a second time.

use std::time::Duration;

use crate::support::{json, Agent, Bus, Home, Mode, Runtime};

crate::both_modes!(kill9_and_restart_finish_the_journaled_task_and_run_nothing_twice);

fn kill9_and_restart_finish_the_journaled_task_and_run_nothing_twice(mode: Mode) {
    let home =
        Home::new("[delivery]\nack_timeout_ms = 300\nretry_delay_ms = 300\nmax_retries = 200\n");
    let mut bus = Bus::start(mode, &home);
    let mut sub = bus.sub("#");

    // A task that finishes before the crash.
    bus.publish("b00t.echo.echo/task", r#"{"id":"fin-1","body":"done"}"#);
    let finished = sub.wait("b00t.echo.echo/result", "fin-1");

    // A task nobody can take yet: journaled, retried, unanswered.
    bus.publish(
        "b00t.late.echo/task",
        r#"{"id":"pend-1","reply_to":"b00t.t-restart.reply","body":"later"}"#,
    );
    sub.wait_count("b00t.late.echo/task", "pend-1", 2);
    drop(sub);

    bus.runtime.kill9();
    bus.runtime = match mode {
        Mode::Embedded => Runtime::embedded(&home, bus.port),
        Mode::External => Runtime::external(&home, bus.port),
    };
    let mut sub = bus.sub("#");
    let _late = Agent::start("echo", "late", bus.port);
    let result = json(&sub.wait("b00t.t-restart.reply/result", "pend-1").payload);
    assert_eq!(result["body"]["echo"], "later");
    assert_eq!(result["body"]["seq"], 1);

    sub.settle(Duration::from_millis(1500));
    assert_eq!(
        sub.count("b00t.t-restart.reply/result", "pend-1"),
        1,
        "{}",
        sub.dump()
    );
    assert_eq!(
        sub.count("b00t.echo.echo/task", "fin-1"),
        0,
        "a finished task was driven again:\n{}",
        sub.dump()
    );

    // Asking again for the finished task returns its stored result, byte for byte.
    bus.publish("b00t.echo.echo/task", r#"{"id":"fin-1","body":"again"}"#);
    let again = sub.wait("b00t.echo.echo/result", "fin-1");
    assert_eq!(again.payload, finished.payload, "fin-1 ran a second time");
}
