//! The installer agent over the bus: dry runs and installs through `mosquitto_pub`, the
//! policy whitelist, operator signatures and their replay protection, the audit log,
//! and real installs (a bash/cli chain in a temp catalog; a Debian package when root).

use std::path::Path;
use std::process::Command;

use b00t_installer::OperatorKey;
use serde_json::{json, Value};

use crate::support::{b00t_bin, json, Bus, Home, Mode, FAST_DELIVERY};

/// A home whose catalog is a chain `c.cli → b.cli → a.bash`, each step appending its
/// name to `installs.log` and writing the version file its `version` command reads;
/// plus datums for the error cases.
fn chain_home() -> Home {
    let home = Home::new(&format!("{FAST_DELIVERY}[agents]\necho = false\n"));
    let root = home.path();
    let d = root.join("datums");
    std::fs::create_dir_all(d.join("scripts")).unwrap();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let out = out.display();
    let write = |name: &str, text: String| std::fs::write(d.join(name), text).unwrap();
    write(
        "scripts/a.sh",
        format!("echo 'building a'\necho a >> {out}/installs.log\necho 1.0.0 > {out}/a.ver\n"),
    );
    write(
        "a.bash.toml",
        format!("[b00t]\nname = \"a\"\nhint = \"step a\"\nscript = \"scripts/a.sh\"\nversion = \"cat {out}/a.ver\"\n"),
    );
    write(
        "b.cli.toml",
        format!("[b00t]\nname = \"b\"\nhint = \"step b\"\ndepends_on = [\"a.bash\"]\ninstall = \"echo b >> {out}/installs.log; echo 2.0.1 > {out}/b.ver\"\nversion = \"cat {out}/b.ver\"\nversion_regex = '(\\d+\\.\\d+\\.\\d+)'\n"),
    );
    write(
        "c.cli.toml",
        format!("[b00t]\nname = \"c\"\nhint = \"step c\"\ndesires = \"3.0\"\ndepends_on = [\"b.cli\"]\ninstall = \"echo c >> {out}/installs.log; echo 3.1.0 > {out}/c.ver\"\nversion = \"cat {out}/c.ver\"\n"),
    );
    write(
        "slow.cli.toml",
        format!("[b00t]\nname = \"slow\"\ninstall = \"sleep 1.5; echo slow >> {out}/installs.log; echo 1.0.0 > {out}/slow.ver\"\nversion = \"cat {out}/slow.ver\"\n"),
    );
    write(
        "x.cli.toml",
        "[b00t]\nname = \"x\"\ndepends_on = [\"y.cli\"]\ninstall = \"true\"\nversion = \"false\"\n"
            .into(),
    );
    write(
        "y.cli.toml",
        "[b00t]\nname = \"y\"\ndepends_on = [\"x.cli\"]\ninstall = \"true\"\nversion = \"false\"\n"
            .into(),
    );
    write(
        "wants.cli.toml",
        "[b00t]\nname = \"wants\"\ndepends_on = [\"ghost.cli\"]\ninstall = \"true\"\n".into(),
    );
    write(
        "mac.cli.toml",
        format!("[b00t]\nname = \"mac\"\nrequire = [\"OS:macos\"]\ninstall = \"echo mac >> {out}/installs.log\"\nversion = \"cat {out}/mac.ver\"\n"),
    );
    write(
        "rooty.cli.toml",
        format!("[b00t]\nname = \"rooty\"\ninstall = \"echo 'would apt-get install' ; echo rooty >> {out}/installs.log\"\nversion = \"false\"\n"),
    );
    write(
        "broken.cli.toml",
        "[b00t]\nname = \"broken\"\ninstall = \"echo 'E: no network' >&2; exit 7\"\nversion = \"false\"\n".into(),
    );
    home
}

fn installs(home: &Home) -> Vec<String> {
    std::fs::read_to_string(home.path().join("out/installs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn audit(home: &Home) -> Vec<Value> {
    std::fs::read_to_string(home.path().join("state/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(json)
        .collect()
}

fn audit_of(home: &Home, id: &str) -> Value {
    audit(home)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no audit line for `{id}`: {:#?}", audit(home)))
}

fn policy(home: &Home, text: &str) {
    std::fs::write(home.path().join("policy.toml"), text).unwrap();
}

/// A task body signed with the home's operator key, as `b00t install` signs.
fn signed(home: &Home, address: &str, id: &str, body: Value, ts: u64) -> String {
    let key = OperatorKey::load(&home.path().join("state/operator.key")).expect("the key up made");
    let body = key.sign(address, id, ts, &body);
    json!({"id": id, "from": "test", "body": body}).to_string()
}

fn now_ms() -> u64 {
    b00t_installer::sign::now_ms()
}

/// `b00t install …` against `bus`.
fn install(home: &Home, bus: &Bus, args: &[&str]) -> std::process::Output {
    let mut all = vec!["install"];
    all.extend(args);
    all.extend(["--home", home.path().to_str().unwrap()]);
    bus.cli(&all)
}

/// A `b00t` command that works on the home alone (datum, status, policy).
fn local(home: &Home, args: &[&str]) -> std::process::Output {
    Command::new(b00t_bin())
        .args(args)
        .args(["--home", home.path().to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_dry_run_through_mosquitto_pub_returns_the_plan_and_changes_nothing() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.installer.cli/#");
    bus.publish(
        "b00t.installer.cli/task",
        r#"{"id":"dry-1","from":"test","body":{"datum":"c","dry_run":true}}"#,
    );
    sub.wait("b00t.installer.cli/ack", "dry-1");
    let result = json(&sub.wait("b00t.installer.cli/result", "dry-1").payload);
    let body = &result["body"];
    assert_eq!(body["dry_run"], true);
    assert_eq!(body["datum"], "c.cli");
    let nodes = body["plan"]["nodes"].as_array().unwrap();
    let order: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(order, ["a.bash", "b.cli", "c.cli"]);
    for node in nodes {
        assert_eq!(node["state"], "missing", "{node}");
        assert!(node["step"]["run"].is_string(), "{node}");
    }
    assert!(nodes[0]["step"]["run"]
        .as_str()
        .unwrap()
        .contains("scripts/a.sh"));
    // No policy file: an unsigned task may plan, but would be refused.
    assert_eq!(body["allowed"], false);
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("not on the whitelist"),
        "{body}"
    );
    assert!(installs(&home).is_empty(), "a dry run installed something");
    let line = audit_of(&home, "dry-1");
    assert_eq!(line["outcome"], "planned");
    assert_eq!(line["trust"], "unsigned");
    assert_eq!(line["from"], "test");
    assert_eq!(line["plan"].as_array().unwrap().len(), 3);
}

#[test]
fn b00t_install_runs_the_chain_in_order_with_progress_and_audit() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut progress = bus.sub("+/progress");
    let out = install(&home, &bus, &["c", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(installs(&home), ["a", "b", "c"], "dependency order");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("plan for c.cli"), "{stdout}");
    assert!(stdout.contains("installed a.bash 1.0.0"), "{stdout}");
    assert!(stdout.contains("installed c.cli 3.1.0"), "{stdout}");
    // Progress: a step per node and the script's own output.
    let step = progress
        .try_wait(
            |l| l.payload.contains("install a.bash"),
            crate::support::SOON,
        )
        .expect("a progress event for the first step");
    let step = json(&step.payload);
    assert_eq!(
        (step["n"].as_u64(), step["of"].as_u64()),
        (Some(1), Some(3))
    );
    progress
        .try_wait(
            |l| l.payload.contains("\"output\":\"building a\""),
            crate::support::SOON,
        )
        .unwrap_or_else(|| panic!("the script's output as progress:\n{}", progress.dump()));

    let lines = audit(&home);
    let done = lines
        .iter()
        .find(|r| r["outcome"] == "installed")
        .expect("an audit line for the install");
    assert_eq!(done["trust"], "operator");
    assert_eq!(done["verdict"], "allowed");
    assert_eq!(done["installed"], json!(["a.bash", "b.cli", "c.cli"]));
    assert!(done["ms"].is_u64());

    // Again: everything is ok, nothing runs twice.
    let again = install(&home, &bus, &["c", "--yes"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already installed"));
    assert_eq!(installs(&home), ["a", "b", "c"]);

    // status agrees, and says how it knows.
    let status = local(&home, &["status", "c"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("3.1.0"));
}

#[test]
fn b00t_install_asks_before_root_steps_and_refuses_to_guess_without_a_terminal() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let out = install(&home, &bus, &["rooty"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass `--yes`"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[root]"),
        "{}",
        text(&out)
    );
    assert!(installs(&home).is_empty());
    let dry = install(&home, &bus, &["rooty", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(installs(&home).is_empty());
}

#[test]
fn unsigned_tasks_are_held_to_the_whitelist_dependencies_included() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    policy(
        &home,
        "[allow]\ndatums = [\"c.cli\"]\nmanagers = [\"cli\", \"bash\"]\n",
    );
    let mut sub = bus.sub("b00t.installer.cli/#");
    bus.publish(
        "b00t.installer.cli/task",
        r#"{"id":"u-1","body":{"datum":"c"}}"#,
    );
    let error = json(&sub.wait("b00t.installer.cli/error", "u-1").payload);
    assert_eq!(error["error"]["code"], "forbidden");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("depends on `a.bash`, which is refused"),
        "{message}"
    );
    assert!(message.contains("b00t policy allow a.bash"), "{message}");
    assert!(installs(&home).is_empty());
    let line = audit_of(&home, "u-1");
    assert_eq!(
        (line["verdict"].as_str(), line["outcome"].as_str()),
        (Some("forbidden"), Some("refused"))
    );

    // `b00t policy check` explains the same verdict, and `allow` fixes it.
    let check = local(&home, &["policy", "check", "c"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("forbidden  a.bash"));
    for glob in ["a.bash", "b"] {
        let out = local(&home, &["policy", "allow", glob]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let check = local(&home, &["policy", "check", "c"]);
    assert!(check.status.success(), "{}", text(&check));

    bus.publish(
        "b00t.installer.cli/task",
        r#"{"id":"u-2","body":{"datum":"c"}}"#,
    );
    let result = json(&sub.wait("b00t.installer.cli/result", "u-2").payload);
    assert_eq!(
        result["body"]["installed"].as_array().unwrap().len(),
        3,
        "{result}"
    );
    assert_eq!(installs(&home), ["a", "b", "c"]);
    assert_eq!(audit_of(&home, "u-2")["outcome"], "installed");

    // A deny pattern wins over an allow.
    let out = local(&home, &["policy", "deny", "c.cli"]);
    assert!(out.status.success(), "{}", text(&out));
    bus.publish(
        "b00t.installer.cli/task",
        r#"{"id":"u-3","body":{"datum":"c","dry_run":false}}"#,
    );
    let error = json(&sub.wait("b00t.installer.cli/error", "u-3").payload);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deny pattern `c.cli`"),
        "{error}"
    );
    let policy_text = std::fs::read_to_string(home.path().join("policy.toml")).unwrap();
    assert!(policy_text.contains("[deny]"), "{policy_text}");
}

#[test]
fn a_signed_task_runs_and_its_signature_cannot_be_replayed() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    // No policy at all: only the operator's signature can get anything installed.
    let mut sub = bus.sub("b00t.installer.cli/#");
    let address = "b00t.installer.cli";
    let body = json!({"datum": "b.cli", "dry_run": false, "deps": true});
    let task = signed(&home, address, "s-1", body.clone(), now_ms());
    bus.publish("b00t.installer.cli/task", &task);
    let result = sub.wait("b00t.installer.cli/result", "s-1");
    assert_eq!(installs(&home), ["a", "b"]);
    assert_eq!(audit_of(&home, "s-1")["trust"], "operator");

    // The same signed body under another id: refused, the signature covers the id.
    let mut replay = json(&task);
    replay["id"] = json!("s-2");
    bus.publish("b00t.installer.cli/task", &replay.to_string());
    let error = json(&sub.wait("b00t.installer.cli/error", "s-2").payload);
    assert_eq!(error["error"]["code"], "forbidden");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{error}"
    );
    assert_eq!(audit_of(&home, "s-2")["trust"], "bad-signature");

    // Another datum under the old signature: refused.
    let mut tampered = json(&task);
    tampered["id"] = json!("s-3");
    tampered["body"]["datum"] = json!("c.cli");
    bus.publish("b00t.installer.cli/task", &tampered.to_string());
    let error = json(&sub.wait("b00t.installer.cli/error", "s-3").payload);
    assert_eq!(error["error"]["code"], "forbidden");

    // A signature older than the window: refused as a replay.
    let old = signed(
        &home,
        address,
        "s-4",
        json!({"datum": "c"}),
        now_ms() - 10 * 60 * 1000,
    );
    bus.publish("b00t.installer.cli/task", &old);
    let error = json(&sub.wait("b00t.installer.cli/error", "s-4").payload);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside the"),
        "{error}"
    );

    // The very same task again: the stored result, byte for byte, and no second run.
    bus.publish("b00t.installer.cli/task", &task);
    sub.wait_count("b00t.installer.cli/result", "s-1", 2);
    let results: Vec<_> = sub
        .seen
        .iter()
        .filter(|l| l.topic == "b00t.installer.cli/result" && l.payload.contains("s-1"))
        .collect();
    assert_eq!(results[0].payload, results[1].payload);
    assert_eq!(results[0].payload, result.payload);
    assert_eq!(installs(&home), ["a", "b"]);
    assert_eq!(installs(&home).len(), 2, "c was never installed");
    assert_eq!(audit(&home).iter().filter(|r| r["id"] == "s-1").count(), 1);
}

#[test]
fn two_requests_for_the_same_datum_at_once_run_it_once() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.installer.cli/#");
    let body = json!({"datum": "slow"});
    let first = signed(&home, "b00t.installer.cli", "p-1", body.clone(), now_ms());
    let second = signed(&home, "b00t.installer.cli", "p-2", body, now_ms());
    bus.publish("b00t.installer.cli/task", &first);
    bus.publish("b00t.installer.cli/task", &second);
    let a = json(&sub.wait("b00t.installer.cli/result", "p-1").payload);
    let b = json(&sub.wait("b00t.installer.cli/result", "p-2").payload);
    assert_eq!(installs(&home), ["slow"], "installed once");
    assert_eq!(a["body"]["installed"], b["body"]["installed"]);
    // Whichever came second waited for the first and reports it.
    let shared = [(&a, "p-2"), (&b, "p-1")]
        .iter()
        .filter(|(reply, other)| reply["body"]["shared_with"] == *other)
        .count();
    assert_eq!(
        shared, 1,
        "one result says it shared the other's run:\n{a}\n{b}"
    );
}

#[test]
fn bad_requests_get_named_errors() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("+/error");
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "b00t.installer.cli",
            r#"{"id":"e-1","body":{"datum":"c","dryrun":true}}"#,
            "bad_request",
            "unknown field `dryrun`",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-2","body":{"datum":"c","deps":"yes"}}"#,
            "bad_request",
            "invalid type",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-3","body":{"datum":"x; rm -rf /"}}"#,
            "bad_request",
            "not a datum name",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-4","body":{"datum":"nope"}}"#,
            "not_found",
            "no datum `nope`",
        ),
        (
            "b00t.installer.apt",
            r#"{"id":"e-5","body":{"datum":"c"}}"#,
            "bad_request",
            "b00t.installer.cli",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-6","body":{"datum":"x","dry_run":true}}"#,
            "failed",
            "cycle: x.cli -> y.cli -> x.cli",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-7","body":{"datum":"wants","dry_run":true}}"#,
            "not_found",
            "`ghost.cli` is not in the catalog, but `wants.cli` depends on it",
        ),
        (
            "b00t.installer.cli",
            r#"{"id":"e-8","body":{"datum":"c","signature":{"ts":1,"hmac":"zz"}}}"#,
            "forbidden",
            "signature",
        ),
    ];
    for (address, payload, _, _) in cases {
        bus.publish(&format!("{address}/task"), payload);
    }
    for (i, (address, _, code, needle)) in cases.iter().enumerate() {
        let id = format!("e-{}", i + 1);
        let error = json(
            &sub.wait(&format!("{address}/error"), &format!("\"{id}\""))
                .payload,
        );
        assert_eq!(error["error"]["code"], *code, "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{id}: `{message}` lacks `{needle}`"
        );
    }
    assert!(installs(&home).is_empty());
    // Each of them is in the audit log.
    for i in 1..=cases.len() {
        audit_of(&home, &format!("e-{i}"));
    }
}

#[test]
fn failed_constraints_and_failing_steps_are_named() {
    let home = chain_home();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.installer.cli/#");
    let task = signed(
        &home,
        "b00t.installer.cli",
        "f-1",
        json!({"datum": "mac"}),
        now_ms(),
    );
    bus.publish("b00t.installer.cli/task", &task);
    let error = json(&sub.wait("b00t.installer.cli/error", "f-1").payload);
    assert_eq!(error["error"]["code"], "failed");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("constraint `OS:macos` of `mac.cli` is not met"),
        "{message}"
    );
    assert!(installs(&home).is_empty());

    let task = signed(
        &home,
        "b00t.installer.cli",
        "f-2",
        json!({"datum": "broken"}),
        now_ms(),
    );
    bus.publish("b00t.installer.cli/task", &task);
    let error = json(&sub.wait("b00t.installer.cli/error", "f-2").payload);
    assert_eq!(error["error"]["code"], "failed");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("exited with 7"), "{message}");
    assert!(message.contains("E: no network"), "{message}");
    assert_eq!(error["error"]["detail"]["failed"][0]["id"], "broken.cli");
    let line = audit_of(&home, "f-2");
    assert_eq!(line["outcome"], "failed");
    assert_eq!(line["failed"], json!(["broken.cli"]));
}

#[test]
fn the_cli_shows_the_catalog() {
    let home = chain_home();
    let run = |args: &[&str]| local(&home, args);
    let list = run(&["datum", "list", "--type", "cli"]);
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(stdout.lines().any(|l| l.starts_with("b.cli ")), "{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("a.bash")), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("wants.cli") && l.ends_with("← ghost.cli?")),
        "a missing dependency is marked: {stdout}"
    );
    let all = run(&["datum", "list", "--json"]);
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 10);
    let deps = run(&["datum", "deps", "c"]);
    let stdout = String::from_utf8_lossy(&deps.stdout);
    assert!(
        stdout.contains("c.cli\n└── b.cli\n    └── a.bash"),
        "{stdout}"
    );
    assert!(
        stdout.contains("install order: a.bash → b.cli → c.cli"),
        "{stdout}"
    );
    let cycle = run(&["datum", "deps", "x"]);
    assert_eq!(cycle.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&cycle.stderr).contains("cycle: x.cli -> y.cli -> x.cli"));
    let show = run(&["datum", "show", "c.cli"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("depends on: b.cli"));
    let missing = run(&["datum", "show", "zzz"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no datum `zzz`"));
}

/// A real Debian package through apt, as CI (root on Debian) runs it.
#[test]
fn a_debian_package_installs_through_apt() {
    if !b00t_installer::methods::is_root() || !Path::new("/usr/bin/apt-get").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run as root on Debian to test apt installs"
        );
        eprintln!("skipped: needs root and apt-get");
        return;
    }
    let home = Home::new(&format!("{FAST_DELIVERY}[agents]\necho = false\n"));
    let repo_datums = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datums/hello.apt.toml");
    std::fs::create_dir_all(home.path().join("datums")).unwrap();
    std::fs::copy(&repo_datums, home.path().join("datums/hello.apt.toml")).unwrap();
    let removed = Command::new("apt-get")
        .args(["remove", "-y", "hello"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", text(&removed));
    let bus = Bus::start(Mode::Embedded, &home);
    let status = local(&home, &["status", "hello"]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    let out = install(&home, &bus, &["hello", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let hello = Command::new("hello").output().expect("hello is installed");
    assert!(String::from_utf8_lossy(&hello.stdout).contains("Hello, world!"));
    let line = audit(&home)
        .into_iter()
        .find(|r| r["outcome"] == "installed")
        .expect("an audit line");
    assert_eq!(line["installed"], json!(["hello.apt"]));
    let _ = Command::new("apt-get")
        .args(["remove", "-y", "hello"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
}

/// Docker datums through the engine's API: a locally built image is `ok`, an image the
/// engine cannot pull (no registry here) fails with the engine's reason, and the policy
/// holds unsigned tasks to its image patterns.
#[test]
fn docker_datums_go_through_the_engine() {
    let engine = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !engine {
        assert!(
            std::env::var("B00T_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "B00T_REQUIRE_DOCKER=1 but no Docker engine answers `docker info`"
        );
        eprintln!("skipped: no Docker engine");
        return;
    }
    let home = chain_home();
    let tag = format!("b00t-it-datum:{}", std::process::id());
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("hello.txt"), "hi").unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built));
    let d = home.path().join("datums");
    std::fs::write(
        d.join("here.docker.toml"),
        format!("[b00t]\nname = \"here\"\nimage = \"{tag}\"\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("gone.docker.toml"),
        "[b00t]\nname = \"gone\"\nimage = \"b00t-it-never-built:1\"\n",
    )
    .unwrap();
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("b00t.installer.docker/#");

    let task = signed(
        &home,
        "b00t.installer.docker",
        "d-1",
        json!({"datum": "here"}),
        now_ms(),
    );
    bus.publish("b00t.installer.docker/task", &task);
    let result = json(&sub.wait("b00t.installer.docker/result", "d-1").payload);
    assert_eq!(
        result["body"]["skipped"][0]["id"], "here.docker",
        "{result}"
    );
    assert_eq!(
        result["body"]["skipped"][0]["version"],
        tag.rsplit(':').next().unwrap()
    );

    let task = signed(
        &home,
        "b00t.installer.docker",
        "d-2",
        json!({"datum": "gone"}),
        now_ms(),
    );
    bus.publish("b00t.installer.docker/task", &task);
    let error = json(&sub.wait("b00t.installer.docker/error", "d-2").payload);
    assert_eq!(error["error"]["code"], "failed");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not pull `b00t-it-never-built:1`"),
        "{message}"
    );
    let pulls = sub.count(
        "b00t.installer.docker/progress",
        "docker pull b00t-it-never-built:1",
    );
    assert_eq!(pulls, 1, "{}", sub.dump());

    policy(&home, "[allow]\ndatums = [\"*.docker\"]\nmanagers = [\"docker\"]\nimages = [\"docker.io/library/postgres:*\"]\n");
    bus.publish(
        "b00t.installer.docker/task",
        r#"{"id":"d-3","body":{"datum":"here"}}"#,
    );
    let error = json(&sub.wait("b00t.installer.docker/error", "d-3").payload);
    assert_eq!(error["error"]["code"], "forbidden");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[allow] images"),
        "{error}"
    );
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
}

#[test]
fn extra_catalog_paths_load_b00ts_own_datum_files() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/b00t-datums");
    let home = Home::new(&format!(
        "[datums]\npaths = [\"{}\"]\n",
        corpus.canonicalize().unwrap().display()
    ));
    let list = local(&home, &["datum", "list", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    assert_eq!(
        String::from_utf8_lossy(&list.stderr),
        "",
        "no file was rejected"
    );
    let all: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 40);
    let show = local(&home, &["datum", "show", "claude-3-5-sonnet"]);
    let stdout = String::from_utf8_lossy(&show.stdout);
    assert!(stdout.contains("type: ai_model"), "{stdout}");
    assert!(
        stdout.contains("note:"),
        "unknown tables are reported: {stdout}"
    );
    let deps = local(&home, &["datum", "deps", "github.mcp"]);
    assert!(deps.status.success(), "{}", text(&deps));
}

/// A home whose catalog holds a file the loader refuses (`deepwiki.mcp.toml`), a stack
/// listing it, and files in b00t's newer shapes, which load.
fn refused_home() -> Home {
    let home = Home::new(&format!("{FAST_DELIVERY}[agents]\necho = false\n"));
    let d = home.path().join("datums");
    std::fs::create_dir_all(&d).unwrap();
    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    write(
        "deepwiki.mcp.toml",
        "[b00t]\nname = \"deepwiki\"\ntype = \"mcp\"\nhint = \"h\"\n[b00t.mcp]\nhttpstream = \"https://mcp.deepwiki.com/mcp\"\n",
    );
    write(
        "docs.stack.toml",
        "[b00t]\nname = \"docs\"\nhint = \"h\"\n[b00t.stack]\nmembers = [\"deepwiki.mcp\", \"remote.mcp\"]\n",
    );
    write(
        "remote.mcp.toml",
        "[b00t]\nname = \"remote\"\nhint = \"h\"\n[[b00t.mcp.httpstream]]\nurl = \"https://a.example/mcp\"\nheaders = { Authorization = \"Bearer ${TOKEN}\" }\n[[b00t.mcp.httpstream]]\nurl = \"https://b.example/mcp\"\n",
    );
    write(
        "tool.cli.toml",
        "[b00t]\nname = \"tool\"\nhint = \"h\"\ninstall = { go = \"go install example.com/tool@latest\" }\n[b00t.env]\nLEVEL = { default = \"info\" }\n",
    );
    home
}

#[test]
fn a_refused_file_is_named_by_task_answers_and_warned_about_once() {
    let home = refused_home();
    let file = home.path().join("datums/deepwiki.mcp.toml");
    let bus = Bus::start(Mode::Embedded, &home);
    let mut sub = bus.sub("+/error");
    bus.publish(
        "b00t.installer.mcp/task",
        r#"{"id":"r-1","body":{"datum":"deepwiki","dry_run":true}}"#,
    );
    bus.publish(
        "b00t.installer.stack/task",
        r#"{"id":"r-2","body":{"datum":"docs","dry_run":true}}"#,
    );
    let refused = format!(
        "`deepwiki.mcp` is in `{}` but was refused: field `b00t.mcp.httpstream` is a string",
        file.display()
    );
    for (address, id, needle) in [
        ("b00t.installer.mcp", "r-1", refused.clone()),
        (
            "b00t.installer.stack",
            "r-2",
            format!("`docs.stack` depends on `deepwiki.mcp`, which cannot be used: {refused}"),
        ),
    ] {
        let error = json(
            &sub.wait(&format!("{address}/error"), &format!("\"{id}\""))
                .payload,
        );
        assert_eq!(error["error"]["code"], "failed", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&needle),
            "{id}: `{message}` lacks `{needle}`"
        );
    }
    drop(bus);

    // The CLI: the datum asked for names its file; any other command counts, once.
    let show = local(&home, &["datum", "show", "deepwiki"]);
    assert_eq!(show.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&show.stderr);
    assert_eq!(stderr.matches("but was refused").count(), 1, "{stderr}");
    let other = local(&home, &["datum", "show", "remote"]);
    assert!(other.status.success(), "{}", text(&other));
    let stdout = String::from_utf8_lossy(&other.stdout);
    assert!(
        stdout.contains("https://a.example/mcp") && stdout.contains("https://b.example/mcp"),
        "{stdout}"
    );
    assert_eq!(
        String::from_utf8_lossy(&other.stderr).trim_end(),
        "warning: 1 catalog file cannot be used (deepwiki.mcp.toml): `b00t datum list` shows why"
    );
    let list = local(&home, &["datum", "list"]);
    let stderr = String::from_utf8_lossy(&list.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    let stdout = String::from_utf8_lossy(&list.stdout);
    for id in ["docs.stack", "remote.mcp", "tool.cli"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(id)),
            "{id} is listed: {stdout}"
        );
    }
    let tool = local(&home, &["datum", "show", "tool"]);
    assert!(
        String::from_utf8_lossy(&tool.stdout).contains("go install example.com/tool@latest"),
        "{}",
        text(&tool)
    );
}

/// A home whose catalog holds `tool.mcp`, a stdio server whose command (`sh`) is on PATH,
/// so that its install is already satisfied, approved by the policy; `other.mcp`, not
/// approved; and `c.cli`, for `wire` sent to another skill. Beside it, a user home for the
/// apps' files, where Cursor's file already holds another server.
fn wire_home() -> (Home, tempfile::TempDir) {
    let home = Home::new(&format!("{FAST_DELIVERY}[agents]\necho = false\n"));
    let d = home.path().join("datums");
    std::fs::create_dir_all(&d).unwrap();
    for name in ["tool", "other", "spare"] {
        std::fs::write(
            d.join(format!("{name}.mcp.toml")),
            format!("[b00t]\nname = \"{name}\"\ntype = \"mcp\"\nhint = \"h\"\n[[b00t.mcp.stdio]]\ncommand = \"sh\"\nargs = [\"-c\", \"echo {name}\"]\n"),
        )
        .unwrap();
    }
    std::fs::write(
        d.join("c.cli.toml"),
        "[b00t]\nname = \"c\"\nhint = \"h\"\ninstall = \"true\"\nversion = \"echo 1.0.0\"\n",
    )
    .unwrap();
    policy(
        &home,
        "[allow]\ndatums = [\"tool.mcp\", \"spare.mcp\", \"c.cli\"]\nmanagers = [\"mcp\", \"cli\"]\n",
    );
    let user = tempfile::Builder::new()
        .prefix("b00t-it-user-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(user.path().join(".cursor")).unwrap();
    std::fs::write(
        user.path().join(".cursor/mcp.json"),
        "{\n  \"mcpServers\": {\n    \"keep\": {\n      \"command\": \"keep-mcp\"\n    }\n  }\n}\n",
    )
    .unwrap();
    (home, user)
}

/// `b00t up` in `home` with HOME and XDG_CONFIG_HOME in `user`, where the apps' files are.
fn wire_bus(home: &Home, user: &Path) -> (crate::support::Runtime, u16) {
    crate::support::require_tool("mosquitto_pub");
    crate::support::require_tool("mosquitto_sub");
    let port = crate::support::free_port();
    let config = user.join(".config");
    let runtime = crate::support::Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[
            ("HOME", user.to_str().unwrap()),
            ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ],
    );
    (runtime, port)
}

#[test]
fn an_mcp_install_task_with_wire_writes_the_server_into_the_apps_files() {
    let (home, user) = wire_home();
    let (_runtime, port) = wire_bus(&home, user.path());
    let mut sub = crate::support::Sub::start(port, "b00t.installer.mcp/#");
    let mut cli = crate::support::Sub::start(port, "b00t.installer.cli/#");
    let publish = |topic: &str, payload: &str| crate::support::publish(port, topic, payload);
    let cursor = user.path().join(".cursor/mcp.json");
    let codex = user.path().join(".codex/config.toml");
    let records = home.path().join("state/mcp-wired.json");
    let cursor_before = std::fs::read_to_string(&cursor).unwrap();

    // A dry run: the plan, and each file's diff; nothing is written.
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-1","body":{"datum":"tool","dry_run":true,"wire":["cursor","codex"]}}"#,
    );
    let result = json(&sub.wait("b00t.installer.mcp/result", "w-1").payload);
    let body = &result["body"];
    assert_eq!(
        (body["dry_run"].as_bool(), body["allowed"].as_bool()),
        (Some(true), Some(true)),
        "{body}"
    );
    assert_eq!(body["plan"]["nodes"][0]["state"], "ok", "{body}");
    let diffs = body["wire"]["diffs"].as_array().expect("diffs");
    assert_eq!(diffs.len(), 2, "{body}");
    assert_eq!(
        (diffs[0]["app"].as_str(), diffs[1]["app"].as_str()),
        (Some("cursor"), Some("codex"))
    );
    assert_eq!(diffs[0]["file"], cursor.to_str().unwrap());
    assert_eq!(diffs[1]["file"], codex.to_str().unwrap());
    let cursor_diff = diffs[0]["diff"].as_str().unwrap();
    assert!(cursor_diff.contains("+    \"tool\": {"), "{cursor_diff}");
    assert!(
        !cursor_diff.contains("-    \"keep\""),
        "the other server stays: {cursor_diff}"
    );
    assert!(
        diffs[1]["diff"]
            .as_str()
            .unwrap()
            .contains("+[mcp_servers.tool]"),
        "{body}"
    );
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), cursor_before);
    assert!(!codex.exists(), "a dry run wrote {}", codex.display());
    assert!(!records.exists(), "a dry run recorded a wiring");
    let line = audit_of(&home, "w-1");
    assert_eq!(line["outcome"], "planned");
    assert!(line.get("wired").is_none(), "{line}");

    // The install: already satisfied, then wired into both files, recorded and audited.
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-2","body":{"datum":"tool","wire":["cursor","codex"]}}"#,
    );
    let result = json(&sub.wait("b00t.installer.mcp/result", "w-2").payload);
    let body = &result["body"];
    assert_eq!(body["skipped"][0]["id"], "tool.mcp", "{body}");
    assert_eq!(
        body["wire"]["wired"],
        json!([
            {"app": "cursor", "file": cursor},
            {"app": "codex", "file": codex},
        ]),
        "{body}"
    );
    let cursor_now: Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(
        cursor_now["mcpServers"]["tool"]["command"], "sh",
        "{cursor_now}"
    );
    assert_eq!(
        cursor_now["mcpServers"]["tool"]["args"],
        json!(["-c", "echo tool"])
    );
    assert_eq!(
        cursor_now["mcpServers"]["keep"]["command"], "keep-mcp",
        "{cursor_now}"
    );
    let codex_now = std::fs::read_to_string(&codex).unwrap();
    assert!(codex_now.contains("[mcp_servers.tool]"), "{codex_now}");
    assert!(codex_now.contains("command = \"sh\""), "{codex_now}");
    let wired = std::fs::read_to_string(&records).expect("the wiring is recorded");
    assert!(
        wired.contains("tool.mcp") && wired.contains(".codex/config.toml"),
        "{wired}"
    );
    let line = audit_of(&home, "w-2");
    assert_eq!(
        (line["verdict"].as_str(), line["outcome"].as_str()),
        (Some("allowed"), Some("installed")),
        "{line}"
    );
    assert_eq!(
        line["wired"],
        json!([
            format!("cursor:{}", cursor.display()),
            format!("codex:{}", codex.display()),
        ]),
        "{line}"
    );
    // `b00t mcp status` in that user home sees what the installer wired.
    let status = Command::new(b00t_bin())
        .args(["mcp", "status", "--home", home.path().to_str().unwrap()])
        .env("HOME", user.path())
        .env("XDG_CONFIG_HOME", user.path().join(".config"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.contains("tool") && l.contains("cursor")),
        "{}",
        text(&status)
    );

    // An unknown app: a bad request naming it, before anything runs.
    let cursor_wired = std::fs::read_to_string(&cursor).unwrap();
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-3","body":{"datum":"tool","wire":["cursor","emacs"]}}"#,
    );
    let error = json(&sub.wait("b00t.installer.mcp/error", "w-3").payload);
    assert_eq!(error["error"]["code"], "bad_request", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("`emacs`"), "{message}");
    assert_eq!(audit_of(&home, "w-3")["outcome"], "invalid");

    // `wire` on another skill: a bad request pointing at the mcp skill.
    publish(
        "b00t.installer.cli/task",
        r#"{"id":"w-4","body":{"datum":"c","wire":["cursor"]}}"#,
    );
    let error = json(&cli.wait("b00t.installer.cli/error", "w-4").payload);
    assert_eq!(error["error"]["code"], "bad_request", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("b00t.installer.mcp"),
        "{error}"
    );

    // A datum the policy does not approve: refused, nothing wired, not even in a dry run.
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-5","body":{"datum":"other","wire":["cursor","codex"]}}"#,
    );
    let error = json(&sub.wait("b00t.installer.mcp/error", "w-5").payload);
    assert_eq!(error["error"]["code"], "forbidden", "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("other.mcp"),
        "{error}"
    );
    let line = audit_of(&home, "w-5");
    assert_eq!(
        (line["verdict"].as_str(), line["outcome"].as_str()),
        (Some("forbidden"), Some("refused"))
    );
    assert!(line.get("wired").is_none(), "{line}");
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-6","body":{"datum":"other","dry_run":true,"wire":["cursor"]}}"#,
    );
    let result = json(&sub.wait("b00t.installer.mcp/result", "w-6").payload);
    assert_eq!(result["body"]["allowed"], false, "{result}");
    assert_eq!(result["body"]["wire"], Value::Null, "{result}");
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), cursor_wired);
    assert!(!std::fs::read_to_string(&codex).unwrap().contains("other"));
    assert!(!std::fs::read_to_string(&records)
        .unwrap()
        .contains("other.mcp"));

    // The install succeeds but an app's file cannot be written: a `failed` error that
    // says so, and the audit tells the install from the wiring.
    let mut perms = std::fs::metadata(&cursor).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
    std::fs::set_permissions(&cursor, perms).unwrap();
    publish(
        "b00t.installer.mcp/task",
        r#"{"id":"w-7","body":{"datum":"spare","wire":["cursor"]}}"#,
    );
    let error = json(&sub.wait("b00t.installer.mcp/error", "w-7").payload);
    assert_eq!(error["error"]["code"], "failed", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`spare.mcp` is installed, but wiring it failed")
            && message.contains(cursor.to_str().unwrap()),
        "{message}"
    );
    let line = audit_of(&home, "w-7");
    assert_eq!(line["outcome"], "wire-failed", "{line}");
    assert_eq!(line["reason"], message, "{line}");
    assert_eq!(line["skipped"], json!(["spare.mcp"]), "{line}");
    assert_eq!(
        std::fs::read_to_string(&cursor).unwrap(),
        cursor_wired,
        "the read-only file is left alone"
    );
}

#[test]
fn b00t_install_wire_installs_then_writes_the_apps_files() {
    let (home, user) = wire_home();
    let (_runtime, _port) = wire_bus(&home, user.path());
    let cursor = user.path().join(".cursor/mcp.json");
    let codex = user.path().join(".codex/config.toml");
    let before = std::fs::read_to_string(&cursor).unwrap();
    let run = |args: &[&str]| {
        Command::new(b00t_bin())
            .arg("install")
            .args(args)
            .args(["--home", home.path().to_str().unwrap()])
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };

    // A dry run shows the plan and each file's diff, and writes nothing.
    let out = run(&["tool", "--dry-run", "--wire", "cursor,codex"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("plan for tool.mcp"), "{}", text(&out));
    assert!(shown.contains("+    \"tool\": {"), "{}", text(&out));
    assert!(shown.contains("+[mcp_servers.tool]"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), before);
    assert!(!codex.exists());

    // Already installed, so only the wiring is left to do; it is done.
    let out = run(&["tool", "--wire", "cursor", "--wire", "codex"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    for (app, file) in [("cursor", &cursor), ("codex", &codex)] {
        assert!(
            shown.contains(&format!("wired {app} {}", file.display())),
            "{}",
            text(&out)
        );
    }
    let cursor_now: Value =
        serde_json::from_str(&std::fs::read_to_string(&cursor).unwrap()).unwrap();
    assert_eq!(cursor_now["mcpServers"]["tool"]["command"], "sh");
    assert_eq!(cursor_now["mcpServers"]["keep"]["command"], "keep-mcp");
    assert!(std::fs::read_to_string(&codex)
        .unwrap()
        .contains("[mcp_servers.tool]"));

    // An unknown app is named, and nothing is installed or written.
    let out = run(&["spare", "--wire", "emacs"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`emacs`"),
        "{}",
        text(&out)
    );
    assert!(!std::fs::read_to_string(&cursor).unwrap().contains("spare"));
}
