//! Starting and stopping, as an unlucky user does it: `b00t up` whose stderr reader has
//! died, two Ctrl-Cs, commands piped into a reader that has gone, a second `up` in the
//! same home, and a second agent with a name that is already online.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{b00t_bin, free_port, require_tool, Bus, Home, Mode, Runtime, SOON};

/// `b00t up` stops within this long of SIGINT or SIGTERM, whatever it was doing.
const STOP_LIMIT: Duration = Duration::from_secs(5);

#[test]
fn up_with_a_dead_stderr_reader_stops_on_sigterm() {
    stops_with_a_dead_stderr_reader("TERM");
}

#[test]
fn up_with_a_dead_stderr_reader_stops_on_sigint() {
    stops_with_a_dead_stderr_reader("INT");
}

fn stops_with_a_dead_stderr_reader(signal: &str) {
    let home = Home::new("");
    let port = free_port();
    let mut up = Spawned::new(
        Command::new(b00t_bin())
            .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--home"])
            .arg(home.path())
            .env("B00T_LOG", "info")
            .env("NO_COLOR", "1")
            .env("CONTAINER_RUNTIME", "none")
            .env_remove("B00T_BROKER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // The reader of stderr dies at once: every log line from now on meets EPIPE.
    drop(up.child.stderr.take());
    let lines = lines_of(up.child.stdout.take().expect("piped stdout"));
    wait_for(&lines, "b00t is up");
    up.signal(signal);
    let status = up
        .wait_exit(STOP_LIMIT)
        .unwrap_or_else(|| panic!("`b00t up` still runs {STOP_LIMIT:?} after SIG{signal}"));
    assert!(
        status.code().is_some(),
        "`b00t up` died of a signal instead of stopping: {status:?}"
    );
}

/// `b00t up --broker` in `home` against `broker`, a "broker" that accepts and never
/// answers, so that `up` waits for its CONNACK; stdout goes nowhere.
fn up_against(broker: &TcpListener, home: &Home) -> Command {
    let port = broker.local_addr().unwrap().port();
    let mut command = Command::new(b00t_bin());
    command
        .args(["up", "--broker", &format!("mqtt://127.0.0.1:{port}")])
        .arg("--home")
        .arg(home.path())
        .env("NO_COLOR", "1")
        .env("CONTAINER_RUNTIME", "none")
        .env_remove("B00T_BROKER")
        .stdout(Stdio::null());
    command
}

#[test]
fn a_second_sigint_ends_a_stuck_up_at_once_with_130() {
    // A "broker" that accepts and never answers: `up` waits for its CONNACK and cannot
    // stop on the first signal until that wait ends.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let home = Home::new("");
    let mut up = Spawned::new(
        up_against(&silent, &home)
            .env("B00T_LOG", "info")
            .stderr(Stdio::piped()),
    );
    let log = lines_of(up.child.stderr.take().expect("piped stderr"));
    // `up` connects after its signal handlers are in place.
    let (_connection, _) = silent.accept().expect("`b00t up` connects");
    up.signal("INT");
    wait_for(&log, "stop signal received");
    let second = Instant::now();
    up.signal("INT");
    let status = up
        .wait_exit(Duration::from_secs(2))
        .expect("`b00t up` still runs 2 s after the second SIGINT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(second.elapsed() < Duration::from_secs(2));
    // The forced exit released the home's lock: the next `up` starts.
    let _next = Runtime::embedded(&home, free_port());
}

#[test]
fn one_signal_ends_a_stuck_up_within_5_s() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let home = Home::new("");
    let mut up = Spawned::new(up_against(&silent, &home).stderr(Stdio::null()));
    let (_connection, _) = silent.accept().expect("`b00t up` connects");
    let first = Instant::now();
    up.signal("TERM");
    let status = up
        .wait_exit(STOP_LIMIT)
        .unwrap_or_else(|| panic!("`b00t up` still runs {STOP_LIMIT:?} after SIGTERM"));
    assert!(status.code().is_some(), "{status:?}");
    assert!(first.elapsed() < STOP_LIMIT);
}

#[test]
fn commands_whose_reader_is_gone_end_quietly() {
    let home = Home::new("");
    let datums = home.path().join("datums");
    fs_err::create_dir_all(&datums).unwrap();
    for name in ["curl", "git", "jq"] {
        fs_err::write(
            datums.join(format!("{name}.apt.toml")),
            format!("[b00t]\nname = \"{name}\"\ntype = \"apt\"\nhint = \"{name}\"\n"),
        )
        .unwrap();
    }
    let bus = Bus::start(Mode::Embedded, &home);
    let url = bus.url();
    let home_path = home.path().to_str().expect("a UTF-8 temp path");
    for args in [
        vec!["agents", "--broker", &url],
        vec!["agents", "--json", "--broker", &url],
        vec!["datum", "list", "--home", home_path],
        vec!["config", "--default"],
        vec!["tail", "#", "--broker", &url],
    ] {
        let mut command = Command::new(b00t_bin());
        command
            .args(&args)
            .env("NO_COLOR", "1")
            .env_remove("B00T_BROKER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut cli = Spawned::new(&mut command);
        drop(cli.child.stdout.take()); // `| head -c0`: the reader is gone
        let stderr = cli.child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            text
        });
        // `tail` writes only when a message passes: give it some.
        let deadline = Instant::now() + SOON;
        let status = loop {
            if let Some(status) = cli.wait_exit(Duration::from_millis(200)) {
                break status;
            }
            assert!(Instant::now() < deadline, "`b00t {args:?}` never ended");
            bus.publish("b00t-test/lifecycle", "tick");
        };
        let stderr = stderr.join().expect("the stderr reader");
        assert!(
            !stderr.contains("panicked"),
            "`b00t {args:?}` panicked on a closed stdout:\n{stderr}"
        );
        assert_eq!(status.code(), Some(0), "`b00t {args:?}`: {stderr}");
    }
}

#[test]
fn a_second_up_in_the_same_home_is_refused_and_touches_nothing() {
    let home = Home::new("");
    let bus = Bus::start(Mode::Embedded, &home);
    let url_file = home.path().join("state/broker.url");
    let recorded = fs_err::read_to_string(&url_file).expect("the first up records its URL");
    let lock = fs_err::read_to_string(home.path().join("state/up.lock")).expect("up.lock");
    let pid = lock
        .lines()
        .find_map(|l| l.strip_prefix("pid="))
        .expect("the lock names its pid")
        .to_owned();

    let other_port = free_port();
    let out = Command::new(b00t_bin())
        .args([
            "up",
            "--listen",
            &format!("127.0.0.1:{other_port}"),
            "--home",
        ])
        .arg(home.path())
        .env("NO_COLOR", "1")
        .env("CONTAINER_RUNTIME", "none")
        .env_remove("B00T_BROKER")
        .output()
        .expect("run a second b00t up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`b00t up` already runs for this home (pid {pid}, listening on 127.0.0.1:{})",
            bus.port
        )),
        "{stderr}"
    );
    assert!(stderr.contains("another --home"), "{stderr}");

    // Nothing was touched: the URL file, the other port, the first runtime.
    assert_eq!(fs_err::read_to_string(&url_file).unwrap(), recorded);
    TcpListener::bind(("127.0.0.1", other_port)).expect("the refused up bound nothing");
    assert!(bus.runtime_is_alive());
    let sent = Command::new(b00t_bin())
        .args(["send", "b00t.echo.echo", "still here", "--home"])
        .arg(home.path())
        .env("NO_COLOR", "1")
        .env_remove("B00T_BROKER")
        .output()
        .expect("run b00t send");
    assert_eq!(
        sent.status.code(),
        Some(0),
        "the first runtime, found through state/broker.url, answers: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(String::from_utf8_lossy(&sent.stdout).contains("still here"));
}

#[test]
fn an_agent_whose_name_is_online_refuses_and_says_where_the_other_runs() {
    let home = Home::new("");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut status = bus.sub("b00t.echo/status");
    status.wait("b00t.echo/status", "\"online\"");
    let before = status.seen.len();

    let mut command = Command::new(b00t_bin());
    command
        .args([
            "agent",
            "run",
            "echo",
            "--name",
            "echo",
            "--broker",
            &bus.url(),
        ])
        .env("NO_COLOR", "1")
        .env("B00T_LOG", "warn")
        .env_remove("B00T_BROKER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut agent = Spawned::new(&mut command);
    let stderr = agent.child.stderr.take().expect("piped stderr");
    let code = agent
        .wait_exit(SOON)
        .expect("the second `echo` should refuse, not run")
        .code();
    let mut text = String::new();
    BufReader::new(stderr).read_to_string(&mut text).unwrap();
    assert_eq!(code, Some(4), "{text}");
    assert!(
        text.contains("agent `echo` is already online (pid ") && text.contains(" on host "),
        "{text}"
    );
    assert!(text.contains("pick another --name"), "{text}");

    // No flapping: over a second, the card stays as it was, and echo answers.
    status.settle(Duration::from_secs(1));
    assert_eq!(
        status.seen.len(),
        before,
        "the status card changed:\n{}",
        status.dump()
    );
    let sent = bus.cli(&["send", "b00t.echo.echo", "hi"]);
    assert_eq!(sent.status.code(), Some(0));
}

#[test]
fn cards_say_where_an_agent_runs() {
    require_tool("mosquitto_sub");
    let home = Home::new("");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut status = bus.sub("b00t.echo/status");
    let card = crate::support::json(&status.wait("b00t.echo/status", "\"online\"").payload);
    assert!(card["pid"].as_u64().is_some_and(|p| p > 0), "{card}");
    assert!(
        card["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{card}"
    );
}

/// A child process killed on drop, so that a failing test leaves nothing behind.
struct Spawned {
    child: Child,
}

impl Spawned {
    fn new(command: &mut Command) -> Spawned {
        Spawned {
            child: command.spawn().expect("run b00t"),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(lines: &mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no line with `{needle}`; saw:\n{}", seen.join("\n")),
        }
    }
}
