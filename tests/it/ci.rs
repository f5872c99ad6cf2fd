//! Container CI agents on the real engine: a container started with `docker run` gets
//! its agent `ci-<name>` with a card naming the container; `status`, `services`,
//! `diagnose` and `optimize` answer over `mosquitto_pub`; a removed container's card is
//! cleared; `b00t ci list` shows the mapping. Images are built locally (Debian's static
//! busybox on scratch); nothing is pulled.

use std::process::Command;
use std::time::Duration;

use crate::assistant::docker_or_skip;
use crate::support::{b00t_bin, free_port, json, publish, Home, Runtime, Sub};

/// The test image, built once per machine.
fn busybox_image() -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = b00t_container::connect().await.expect("a Docker engine");
        b00t_container::testing::ensure_busybox_image(&docker)
            .await
            .expect("the busybox test image")
    })
}

/// `docker rm -f` when dropped.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn docker_run(label: &str, name: &str, image: &str, args: &[&str]) -> Removed {
    let out = Command::new("docker")
        .args(["run", "-d", "--name", name, "--label", label, image])
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker run {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Removed(name.to_owned())
}

/// Sends `body` to `b00t.<agent>.<skill>` and returns the result's body.
fn ask(port: u16, agent: &str, skill: &str, id: &str) -> serde_json::Value {
    let base = format!("app/ci-{id}");
    let mut sub = Sub::start(port, &format!("{base}/#"));
    publish(
        port,
        &format!("b00t.{agent}.{skill}/task"),
        &format!(r#"{{"id":"{id}","reply_to":"{base}","body":{{}}}}"#),
    );
    let line = sub.wait(&format!("{base}/result"), id);
    json(&line.payload)["body"].clone()
}

#[test]
fn every_container_answers_for_itself() {
    if !docker_or_skip("every_container_answers_for_itself") {
        return;
    }
    let image = busybox_image();
    let run = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let label = format!("b00t.test={run}");
    let home = Home::new(&format!(
        "[agents]\necho = false\n[ci]\nenabled = true\nlabel = \"{label}\"\n"
    ));
    let port = free_port();
    let _up = Runtime::spawn_env(
        &home,
        &["--listen", &format!("127.0.0.1:{port}")],
        &[("CONTAINER_RUNTIME", "none")],
    );
    let mut cards = Sub::start(port, "+/status");

    // A web server: its agent appears with a card naming the container.
    let web = format!("Web_{run}");
    let agent = format!("ci-web-{run}");
    let _web = docker_run(&label, &web, &image, &["httpd", "-f", "-p", "8080"]);
    let card = cards.wait(&format!("b00t.{agent}/status"), "\"online\"");
    let card = json(&card.payload);
    assert_eq!(card["kind"], "container-ci", "{card}");
    assert_eq!(card["container"]["name"], web, "{card}");
    assert_eq!(card["container"]["image"], image, "{card}");

    let status = ask(port, &agent, "status", "st-1");
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["running"], true, "{status}");
    let services = ask(port, &agent, "services", "sv-1");
    let listed = services.to_string();
    assert!(listed.contains("httpd"), "{services}");
    assert!(
        services["listening"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["port"] == 8080)),
        "{services}"
    );
    let advice = ask(port, &agent, "optimize", "op-1");
    let codes = advice["advice"].to_string();
    assert!(
        codes.contains("no_memory_limit") || codes.contains("memory"),
        "{advice}"
    );

    // A container that fails: its agent stays until it is removed, and says why.
    let bad = format!("bad-{run}");
    let bad_agent = format!("ci-bad-{run}");
    let bad_guard = docker_run(&label, &bad, &image, &["sh", "-c", "sleep 1; exit 3"]);
    cards.wait(&format!("b00t.{bad_agent}/status"), "\"online\"");
    std::thread::sleep(Duration::from_secs(2));
    let diagnosis = ask(port, &bad_agent, "diagnose", "dg-1");
    assert!(
        diagnosis["findings"].to_string().contains("exit_code"),
        "{diagnosis}"
    );

    // `b00t ci list` shows the mapping.
    let out = Command::new(b00t_bin())
        .args(["ci", "list", "--json", "--home"])
        .arg(home.path())
        .env_remove("B00T_BROKER")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&agent) && listed.contains(&web), "{listed}");

    // Removed: the card is cleared (an empty retained message).
    drop(bad_guard);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let retained = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-t",
                &format!("b00t.{bad_agent}/status"),
                "-C",
                "1",
                "-W",
                "1",
            ])
            .output()
            .unwrap();
        if retained.stdout.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a removed container's card stays: {}",
            String::from_utf8_lossy(&retained.stdout)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
