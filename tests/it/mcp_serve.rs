//! `b00t mcp serve` driven by a client nobody here wrote: the official Python MCP SDK
//! (`support/mcp_client.py`), over stdio and once over streamable HTTP, against `b00t up`
//! in a temp home: initialize, list the tools, `send_task` to the echo agent with its
//! progress, a bad address refused, `install` of a datum the whitelist does not allow
//! refused, and the agent cards read as resources.

use std::env;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use b00t_config::env::B00T_REQUIRE_TOOLS;
use serde_json::Value;

use crate::support::{b00t_bin, free_port, Bus, Home, Mode, FAST_DELIVERY};

const CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/it/support/mcp_client.py"
);

/// Whether python3 has the MCP SDK; a missing one skips, unless B00T_REQUIRE_TOOLS=1.
fn have_sdk(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import mcp.client.streamable_http"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let required = env::var(B00T_REQUIRE_TOOLS).as_deref() == Ok("1");
        assert!(
            !required,
            "{test}: {B00T_REQUIRE_TOOLS}=1 but python3 cannot import `mcp`: python3 -m pip install 'mcp>=1.9'"
        );
        eprintln!(
            "{test}: skipped: python3 cannot import `mcp` (python3 -m pip install 'mcp>=1.9')"
        );
    }
    ok
}

/// A home with a datum that no policy allows.
fn home() -> Home {
    let home = Home::new(FAST_DELIVERY);
    let datums = home.path().join("datums");
    fs_err::create_dir_all(&datums).unwrap();
    fs_err::write(
        datums.join("unapproved-tool.cli.toml"),
        "[b00t]\nname = \"unapproved-tool\"\ninstall = \"true\"\nversion = \"false\"\n",
    )
    .unwrap();
    home
}

/// Runs the client with `args` and returns what it saw.
fn run_client(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(CLIENT)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the MCP client failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn check(seen: &Value) {
    assert_eq!(seen["server"], "b00t", "{seen}");
    assert_eq!(
        seen["tools"],
        serde_json::json!(["agents", "ask_container", "deploy", "install", "send_task"]),
        "{seen}"
    );
    let echo = &seen["echo"];
    assert_eq!(echo["is_error"], false, "{seen}");
    assert_eq!(echo["reply"]["type"], "result", "{seen}");
    assert_eq!(echo["reply"]["agent"], "echo", "{seen}");
    assert_eq!(echo["reply"]["body"]["echo"]["hello"], "mcp", "{seen}");
    let progress = seen["progress"].as_array().expect("progress");
    assert!(
        progress.iter().any(|m| m
            .as_str()
            .is_some_and(|m| m.contains("acknowledged by `b00t.echo.echo`"))),
        "the ack became a progress notification: {seen}"
    );
    assert_eq!(seen["bad_address"]["is_error"], true, "{seen}");
    let bad = seen["bad_address"]["text"].as_str().unwrap();
    assert!(
        bad.contains("`b00t.echo` is not a bus address") && bad.contains("b00t.<agent>.<skill>"),
        "{bad}"
    );
    assert_eq!(seen["install"]["is_error"], true, "{seen}");
    let refusal = seen["install"]["text"].as_str().unwrap();
    assert!(
        refusal.contains("unapproved-tool.cli") && refusal.contains("whitelist"),
        "the refusal names the datum and the whitelist: {refusal}"
    );
    let resources = seen["resources"].as_array().unwrap();
    assert!(resources.contains(&"b00t://agents".into()), "{seen}");
    assert!(resources.contains(&"b00t://agents/echo".into()), "{seen}");
    assert_eq!(seen["echo_card"]["agent"], "echo", "{seen}");
    assert_eq!(seen["echo_card"]["state"], "online", "{seen}");
}

#[test]
fn mcp_serve_over_stdio_drives_the_bus() {
    if !have_sdk("mcp_serve_over_stdio_drives_the_bus") {
        return;
    }
    let home = home();
    let _bus = Bus::start(Mode::Embedded, &home);
    let home_dir = home.path().to_str().unwrap();
    let seen = run_client(&["stdio", b00t_bin(), "mcp", "serve", "--home", home_dir]);
    check(&seen);
    // Nothing installed, and the refusal is in the audit log.
    let audit = fs_err::read_to_string(home.path().join("state/audit.jsonl")).unwrap();
    assert!(audit.contains("unapproved-tool"), "{audit}");
}

#[test]
fn mcp_serve_over_streamable_http_drives_the_bus() {
    if !have_sdk("mcp_serve_over_streamable_http_drives_the_bus") {
        return;
    }
    let home = home();
    let _bus = Bus::start(Mode::Embedded, &home);
    // Not loopback: refused, with what to do.
    let remote = Command::new(b00t_bin())
        .args([
            "mcp",
            "serve",
            "--home",
            home.path().to_str().unwrap(),
            "--http",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!remote.status.success());
    let said = String::from_utf8_lossy(&remote.stderr);
    assert!(
        said.contains("not a loopback address") && said.contains("--allow-remote"),
        "{said}"
    );

    let port = free_port();
    let mut server = Command::new(b00t_bin())
        .args(["mcp", "serve", "--home", home.path().to_str().unwrap()])
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start b00t mcp serve --http");
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("streamable HTTP on") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve ended before listening"
        );
    }
    let seen = run_client(&["http", &format!("http://127.0.0.1:{port}/mcp")]);
    let _ = server.kill();
    let _ = server.wait();
    check(&seen);
}

/// Runs the client in `mode` (`listen` or `subscribe`) against `b00t mcp serve`, starts
/// a new agent `late` once it listens, and returns what it saw.
fn hear_of_late(mode: &str) -> Value {
    let home = home();
    let _bus = Bus::start(Mode::Embedded, &home);
    let home_dir = home.path().to_str().unwrap();
    let mut client = Command::new("python3")
        .arg(CLIENT)
        .args([
            mode,
            "stdio",
            b00t_bin(),
            "mcp",
            "serve",
            "--home",
            home_dir,
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok);
    if first.as_deref() != Some("listening") {
        let out = client.wait_with_output().unwrap();
        panic!(
            "the client did not listen ({first:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A new agent comes online: its card is news to the listener.
    let mut agent = Command::new(b00t_bin())
        .args(["agent", "run", "echo", "--name", "late", "--home", home_dir])
        .env_remove("B00T_BROKER")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run b00t agent run");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = client.wait_with_output().unwrap();
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        out.status.success(),
        "{rest:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(rest.last().map_or("", String::as_str))
        .unwrap_or_else(|e| panic!("{e}: {rest:?}"))
}

#[test]
fn a_listening_mcp_client_hears_of_a_new_agents_card() {
    if !have_sdk("a_listening_mcp_client_hears_of_a_new_agents_card") {
        return;
    }
    let seen = hear_of_late("listen");
    assert_eq!(
        seen["honored"],
        serde_json::json!(["b00t://agents", "b00t://agents/late"]),
        "a URI that names no card is not honored: {seen}"
    );
    let updated = seen["updated"].as_array().unwrap();
    assert!(updated.contains(&"b00t://agents/late".into()), "{seen}");
    assert!(updated.contains(&"b00t://agents".into()), "{seen}");
    assert!(seen["list_changed"].as_u64() >= Some(1), "{seen}");
    assert_eq!(seen["late_card"]["agent"], "late", "{seen}");
    assert_eq!(seen["late_card"]["state"], "online", "{seen}");
}

#[test]
fn a_subscribed_mcp_client_of_before_2026_hears_of_a_new_agents_card() {
    if !have_sdk("a_subscribed_mcp_client_of_before_2026_hears_of_a_new_agents_card") {
        return;
    }
    let seen = hear_of_late("subscribe");
    assert_ne!(seen["protocol"], "2026-07-28", "{seen}");
    assert!(
        seen["updated"]
            .as_array()
            .unwrap()
            .contains(&"b00t://agents/late".into()),
        "{seen}"
    );
    let bad = seen["bad_uri"].as_str().unwrap();
    assert!(bad.contains("no resource `b00t://nothing`"), "{seen}");
    assert_eq!(seen["late_card"]["state"], "online", "{seen}");
}
