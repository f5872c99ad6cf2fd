//! Group agents in real containers, as a security reviewer would check them: the created
//! container inspected through the Docker API (mounts, user, read-only root, capabilities,
//! no-new-privileges, limits, labels), the broker's guarded listener, and the lifecycle
//! across a `b00t up` that is killed: its containers are taken back, stale ones removed.

use std::process::Command;

use serde_json::Value;

use crate::assistant::{docker_or_skip, Ollama};
use crate::support::{b00t_bin, free_port, json, publish, Home, Runtime, Sub};

fn home_with(ollama: &Ollama, groups: &[&str]) -> Home {
    let home = Home::new(&format!(
        "[agents]\necho = false\n[assistant]\nollama_url = \"{}\"\n[containers]\nmemory_mb = 256\ncpus = 0.5\npids = 128\nmax_output_bytes = 32768\n",
        ollama.fake.url()
    ));
    for group in groups {
        let out = Command::new(b00t_bin())
            .args(["group", "add", group, "--home"])
            .arg(home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    home
}

fn up(home: &Home, port: u16) -> Runtime {
    Runtime::spawn_env(
        home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "docker")],
    )
}

/// `docker inspect` of the one container of `group` in this home.
fn inspect(home: &Home, group: &str) -> Value {
    let ids = owned(home, group);
    assert_eq!(ids.len(), 1, "one container for {group}: {ids:?}");
    let out = Command::new("docker")
        .args(["inspect", &ids[0]])
        .output()
        .unwrap();
    json(&String::from_utf8_lossy(&out.stdout))[0].clone()
}

/// Ids of running containers of `group` labelled with this home.
fn owned(home: &Home, group: &str) -> Vec<String> {
    let home_id = b00t_container::home_id(home.path());
    let out = Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=b00t.home={home_id}"))
        .args(["--filter", &format!("label=b00t.group={group}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn mounts(c: &Value) -> Vec<(String, String, bool)> {
    c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Source"].as_str().unwrap_or("").to_owned(),
                m["Destination"].as_str().unwrap().to_owned(),
                m["RW"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// Removes every container of this home, whatever happens in the test.
pub(crate) struct Cleanup(pub String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=b00t.home={}", self.0),
            ])
            .output();
        if let Ok(out) = out {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("docker").args(["rm", "-f", id]).output();
            }
        }
    }
}

#[test]
fn containers_are_isolated_as_specified() {
    if !docker_or_skip("containers_are_isolated_as_specified") {
        return;
    }
    let ollama = Ollama::start();
    let home = home_with(&ollama, &["family"]);
    let _cleanup = Cleanup(b00t_container::home_id(home.path()));
    let root = std::fs::canonicalize(home.path()).unwrap();
    std::fs::write(root.join("state-probe"), "x").unwrap();
    let port = free_port();
    let _up = up(&home, port);
    let mut sub = Sub::start(port, "+/result");
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"f-1","body":{"text":"hi"}}"#,
    );
    publish(
        port,
        "b00t.main.chat/task",
        r#"{"id":"m-1","body":{"text":"hi"}}"#,
    );
    sub.wait_cold("b00t.family.chat/result", "\"f-1\"");
    sub.wait_cold("b00t.main.chat/result", "\"m-1\"");

    for group in ["family", "main"] {
        let c = inspect(&home, group);
        let host = &c["HostConfig"];
        let what = format!("{group}: {}", c["HostConfig"]);
        assert_eq!(host["ReadonlyRootfs"], true, "{what}");
        assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]), "{what}");
        assert!(
            host["CapAdd"].is_null() || host["CapAdd"] == serde_json::json!([]),
            "{what}"
        );
        assert!(
            host["SecurityOpt"]
                .to_string()
                .contains("no-new-privileges"),
            "{what}"
        );
        assert_eq!(host["Privileged"], false, "{what}");
        assert_eq!(host["Memory"], 256 * 1024 * 1024, "{what}");
        assert_eq!(host["NanoCpus"], 500_000_000i64, "{what}");
        assert_eq!(host["PidsLimit"], 128, "{what}");
        assert_eq!(host["NetworkMode"], "bridge", "{what}");
        assert_eq!(host["LogConfig"]["Config"]["max-size"], "32768", "{what}");
        let user = c["Config"]["User"].as_str().unwrap();
        let uid = user.split(':').next().unwrap();
        assert!(
            !uid.is_empty() && uid != "0" && uid != "root",
            "user {user}"
        );
        assert_eq!(c["Config"]["Labels"]["b00t.group"], group);
        let env = c["Config"]["Env"].to_string();
        assert!(
            env.contains("host.docker.internal"),
            "reaches the broker through the gateway: {env}"
        );
        assert!(
            env.contains(&format!("mqtt://{group}:")),
            "its own credentials: {env}"
        );

        let mounts = mounts(&c);
        let group_dir = root.join("groups").join(group).display().to_string();
        assert!(
            mounts.contains(&(group_dir, "/workspace/group".into(), true)),
            "{mounts:?}"
        );
        let global = root.join("groups/global").display().to_string();
        let main = group == "main";
        assert!(
            mounts.contains(&(global, "/workspace/global".into(), main)),
            "{mounts:?}"
        );
        let project = mounts.iter().find(|m| m.1 == "/workspace/project");
        if main {
            assert_eq!(
                project,
                Some(&(
                    root.display().to_string(),
                    "/workspace/project".into(),
                    false
                ))
            );
            // state/ and groups/ are masked inside the project mount.
            let tmpfs = host["Tmpfs"].to_string();
            assert!(tmpfs.contains("/workspace/project/state"), "{tmpfs}");
            assert!(tmpfs.contains("/workspace/project/groups"), "{tmpfs}");
        } else {
            assert_eq!(project, None, "only main sees the project");
        }
        // Nothing else of the host, never the key, never another group.
        for (source, target, _) in &mounts {
            assert!(target.starts_with("/workspace/"), "{target}");
            assert!(
                !source.contains("/state"),
                "the state folder is never mounted: {source}"
            );
        }
        let other = if main { "family" } else { "main" };
        assert!(
            !mounts
                .iter()
                .any(|m| m.0.ends_with(&format!("groups/{other}"))),
            "{group} never sees {other}'s folder"
        );
        assert!(!c.to_string().contains("operator.key"));
    }
}

#[test]
fn the_guarded_listener_wants_credentials() {
    if !docker_or_skip("the_guarded_listener_wants_credentials") {
        return;
    }
    let ollama = Ollama::start();
    let home = home_with(&ollama, &["family"]);
    let _cleanup = Cleanup(b00t_container::home_id(home.path()));
    let port = free_port();
    let up = up(&home, port);
    // "guarded listener (credentials required) listening addr=172.17.0.1:40637"
    let line = up
        .log
        .iter()
        .find(|l| l.contains("guarded listener"))
        .expect("the guarded listener's log line");
    let addr = line.rsplit("addr=").next().unwrap().trim();
    let (gateway, guarded) = addr.rsplit_once(':').unwrap();
    let guarded: u16 = guarded.parse().unwrap();
    assert!(
        !gateway.starts_with("127.") && gateway != "0.0.0.0",
        "bound to the bridge only: {gateway}"
    );
    let anonymous = Command::new("mosquitto_pub")
        .args([
            "-h",
            gateway,
            "-p",
            &guarded.to_string(),
            "-t",
            "x",
            "-m",
            "y",
        ])
        .output()
        .unwrap();
    assert!(
        !anonymous.status.success(),
        "an anonymous client is refused"
    );
    let wrong = Command::new("mosquitto_pub")
        .args([
            "-h",
            gateway,
            "-p",
            &guarded.to_string(),
            "-u",
            "family",
            "-P",
            "guess",
        ])
        .args(["-i", "b00t-agent-family", "-t", "x", "-m", "y"])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "a wrong password is refused");
    let creds: Value = json(
        &std::fs::read_to_string(home.path().join("state/agents.credentials"))
            .unwrap_or_else(|_| "{}".into()),
    );
    // Credentials are made when a group first starts.
    let mut sub = Sub::start(port, "b00t.family.chat/result");
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"g-1","body":{"text":"hi"}}"#,
    );
    sub.wait_cold("b00t.family.chat/result", "\"g-1\"");
    let creds = if creds.get("family").is_some() {
        creds
    } else {
        json(&std::fs::read_to_string(home.path().join("state/agents.credentials")).unwrap())
    };
    let password = creds["family"].as_str().unwrap();
    let right = Command::new("mosquitto_pub")
        .args([
            "-h",
            gateway,
            "-p",
            &guarded.to_string(),
            "-u",
            "family",
            "-P",
            password,
        ])
        .args([
            "-i",
            "b00t-tools-family",
            "-t",
            "b00t.family/probe",
            "-m",
            "y",
        ])
        .output()
        .unwrap();
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    // A client id belongs to exactly one identity: no more `b00t-agent-family-…`.
    let prefixed = Command::new("mosquitto_pub")
        .args(["-h", gateway, "-p", &guarded.to_string()])
        .args(["-u", "family", "-P", password])
        .args([
            "-i",
            "b00t-agent-family-probe",
            "-t",
            "b00t.family/probe",
            "-m",
            "y",
        ])
        .output()
        .unwrap();
    assert!(
        !prefixed.status.success(),
        "a prefixed client id is refused"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.path().join("state/agents.credentials"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_restarted_up_takes_back_its_containers_and_leaves_no_orphans() {
    if !docker_or_skip("a_restarted_up_takes_back_its_containers_and_leaves_no_orphans") {
        return;
    }
    let ollama = Ollama::start();
    let home = home_with(&ollama, &["family", "gone"]);
    let _cleanup = Cleanup(b00t_container::home_id(home.path()));
    let port = free_port();
    let mut first = up(&home, port);
    let mut sub = Sub::start(port, "+/result");
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"r-1","body":{"text":"hi"}}"#,
    );
    publish(
        port,
        "b00t.gone.chat/task",
        r#"{"id":"r-2","body":{"text":"hi"}}"#,
    );
    sub.wait_cold("b00t.family.chat/result", "\"r-1\"");
    sub.wait_cold("b00t.gone.chat/result", "\"r-2\"");
    let family = owned(&home, "family");
    assert_eq!(family.len(), 1);
    assert_eq!(owned(&home, "gone").len(), 1);

    // `up` dies without cleaning up; its containers keep running.
    first.kill9();
    // Meanwhile the group `gone` is removed.
    std::fs::remove_dir_all(home.path().join("groups/gone")).unwrap();
    let mut second = up(&home, port);
    second.wait_for_line("took back a running container");
    assert_eq!(
        owned(&home, "family"),
        family,
        "the same container, taken back"
    );
    assert!(
        owned(&home, "gone").is_empty(),
        "the removed group's container is gone"
    );

    // The adopted agent reconnects and answers without a new container.
    let mut sub = Sub::start(port, "b00t.family.chat/result");
    publish(
        port,
        "b00t.family.chat/task",
        r#"{"id":"r-3","body":{"text":"still there?"}}"#,
    );
    sub.wait("b00t.family.chat/result", "\"r-3\"");
    assert_eq!(owned(&home, "family"), family);

    // A clean stop removes them.
    second.signal("TERM");
    second.wait_exit(std::time::Duration::from_secs(15));
    assert!(
        owned(&home, "family").is_empty(),
        "stopped and removed on shutdown"
    );
}
