//! The floor: the echo round trip through Debian's `mosquitto` and a bare responder that
//! journals nothing, retries nothing and tracks nothing. It answers each task on
//! `b00t.echo.echo/task` with the ack and the result the echo agent would send, so that
//! [`super::tasks::EchoClient`] measures it exactly as it measures `b00t up`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{Reply, Task};
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::tasks::ECHO_TASK_TOPIC;

/// Where Debian installs the broker (`/usr/sbin`, which a non-root `PATH` may lack).
const DEBIAN_MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// The agent and skill the bare responder answers as: those of the echo agent.
const AGENT: &str = "echo";
const SKILL: &str = "echo";
/// Largest task the responder reads: the runtime's default `max_payload_bytes`.
const MAX_PAYLOAD: usize = 1024 * 1024;
/// Longest wait for mosquitto to listen, for a connection or a subscription.
const SETUP_LIMIT: Duration = Duration::from_secs(10);

/// The `mosquitto` executable: Debian's path, else one on `PATH`; `None` when neither.
pub(super) fn find_mosquitto() -> Option<PathBuf> {
    let debian = Path::new(DEBIAN_MOSQUITTO);
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("mosquitto"))
            .find(|candidate| candidate.is_file())
    })
}

/// A `mosquitto` on a free loopback port: anonymous, no persistence, and `TCP_NODELAY` (as
/// the embedded broker), without which Nagle's algorithm adds ~40 ms to each round trip.
/// Killed when dropped.
pub(super) struct Mosquitto {
    process: tokio::process::Child,
    url: BrokerUrl,
    /// Holds `mosquitto.conf`; removed when dropped, after the process is killed.
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub(super) async fn start(exe: &Path) -> anyhow::Result<Mosquitto> {
        let port = super::child::free_port().context("cannot find a free port on 127.0.0.1")?;
        let dir = tempfile::Builder::new()
            .prefix("b00t-bench-mosquitto-")
            .tempdir()
            .context("cannot make a temporary folder for mosquitto.conf")?;
        let config = dir.path().join("mosquitto.conf");
        std::fs::write(
            &config,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n"
            ),
        )
        .with_context(|| format!("cannot write `{}`", config.display()))?;
        let mut process = Command::new(exe)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start `{}`", exe.display()))?;
        let deadline = Instant::now() + SETUP_LIMIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if let Ok(Some(status)) = process.try_wait() {
                anyhow::bail!("`{}` exited before it listened ({status})", exe.display());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "`{}` did not listen on 127.0.0.1:{port} within {} s",
                exe.display(),
                SETUP_LIMIT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Mosquitto {
            process,
            url: BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).expect("a valid URL"),
            _dir: dir,
        })
    }

    pub(super) fn url(&self) -> &BrokerUrl {
        &self.url
    }

    pub(super) async fn stop(mut self) {
        let _ = self.process.kill().await;
    }
}

/// The bare responder, answering in a task of its own until dropped.
pub(super) struct Responder {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Responder {
    /// Connects to `url`, subscribes to the echo address, and starts answering.
    pub(super) async fn start(url: &BrokerUrl) -> anyhow::Result<Responder> {
        let stop = CancellationToken::new();
        let options = BusOptions::new(
            url.clone(),
            format!("b00t-bench-floor-{:08x}", fastrand::u32(..)),
        );
        let (bus, events) = Bus::connect(options, &stop);
        let ready = async {
            bus.wait_connected(SETUP_LIMIT)
                .await
                .context("cannot connect the bare responder")?;
            bus.subscribe_confirmed(ECHO_TASK_TOPIC, Qos::AtLeastOnce, SETUP_LIMIT)
                .await
                .with_context(|| format!("cannot subscribe to `{ECHO_TASK_TOPIC}`"))
        };
        if let Err(e) = ready.await {
            stop.cancel();
            return Err(e);
        }
        let task = tokio::spawn(respond(bus, events));
        Ok(Responder { stop, task })
    }

    pub(super) async fn stop(mut self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.task).await;
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// For each task: the ack, then the result `{"echo": <body>, "seq": <n>}`, both at QoS 1
/// on `reply_to` (or the address), as the echo agent sends them. Nothing is remembered.
async fn respond(bus: Bus, mut events: Events) {
    let address = ECHO_TASK_TOPIC
        .rsplit_once('/')
        .map_or(ECHO_TASK_TOPIC, |(base, _)| base);
    let mut seq = 0u64;
    while let Some(event) = events.recv().await {
        let BusEvent::Message(message) = event else {
            continue;
        };
        if message.topic != ECHO_TASK_TOPIC {
            continue;
        }
        let started = Instant::now();
        let Ok(task) = b00t_proto::parse_task(&message.payload, MAX_PAYLOAD) else {
            continue; // the bench sends only valid tasks
        };
        seq += 1;
        let Task {
            id, reply_to, body, ..
        } = task;
        let base = reply_to.as_deref().unwrap_or(address);
        let id = id.as_str();
        let ack = Reply::ack(id, AGENT, SKILL);
        send(&bus, base, &ack).await;
        let body = serde_json::json!({ "echo": body, "seq": seq });
        let ms = started.elapsed().as_millis() as u64;
        send(&bus, base, &Reply::result(id, AGENT, SKILL, body, ms)).await;
    }
}

async fn send(bus: &Bus, base: &str, reply: &Reply) {
    let topic = format!("{base}/{}", reply.channel().as_str());
    if let Err(e) = bus
        .publish(&topic, Qos::AtLeastOnce, false, reply.to_json())
        .await
    {
        tracing::warn!(error = %e, "the bare responder could not reply");
    }
}
