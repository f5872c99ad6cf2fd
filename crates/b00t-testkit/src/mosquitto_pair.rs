//! [`MosquittoPair`]: two Debian `mosquitto` brokers on loopback ports, bridged to each
//! other: the second holds one `connection` bridge to the first with `topic # both 1`, so
//! whatever is published on either reaches subscribers of both (one bridge, not two, or a
//! message would go round for ever). Each broker can be killed and started again; both
//! process groups are killed on drop. For the failover tests.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use b00t_config::env;

use crate::broker_proc;

/// How long a broker may take to accept MQTT.
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// Why the pair could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MosquittoError {
    #[error("`mosquitto` is not installed (not on PATH nor `/usr/sbin/mosquitto`): run `apt-get install mosquitto`")]
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
    #[error("mosquitto `{broker}` {problem}")]
    Start { broker: String, problem: String },
}

#[derive(Debug)]
struct Broker {
    name: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Two running, bridged brokers; dropping it kills both and removes their folder.
#[derive(Debug)]
pub struct MosquittoPair {
    program: PathBuf,
    brokers: [Broker; 2],
    // Dropped last.
    dir: tempfile::TempDir,
}

impl MosquittoPair {
    /// Starts both brokers and waits until each accepts MQTT (the bridge connects a
    /// moment later; a test waits for what crosses it).
    pub fn start() -> Result<MosquittoPair, MosquittoError> {
        let program = broker_proc::find_program("mosquitto")
            .or_else(|| {
                let sbin = PathBuf::from("/usr/sbin/mosquitto");
                sbin.is_file().then_some(sbin)
            })
            .ok_or(MosquittoError::NotInstalled)?;
        let dir = tempfile::Builder::new()
            .prefix("b00t-mosquitto-")
            .tempdir()
            .map_err(|source| MosquittoError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let ports = [broker_proc::free_port(), broker_proc::free_port()];
        let broker = |index: usize| -> Result<Broker, MosquittoError> {
            let name = format!("m{}", index + 1);
            let config = dir.path().join(format!("{name}.conf"));
            let bridge_to = (index == 1).then_some(ports[0]);
            std::fs::write(&config, broker_config(ports[index], bridge_to)).map_err(|source| {
                MosquittoError::Write {
                    path: config.clone(),
                    source,
                }
            })?;
            Ok(Broker {
                log: dir.path().join(format!("{name}.log")),
                name,
                port: ports[index],
                config,
                child: None,
            })
        };
        let brokers = [broker(0)?, broker(1)?];
        let mut pair = MosquittoPair {
            program,
            brokers,
            dir,
        };
        for index in 0..2 {
            pair.spawn(index)?;
            pair.wait(index)?;
        }
        Ok(pair)
    }

    /// [`MosquittoPair::start`] for a test: `None` (after printing why the test skips)
    /// when mosquitto is missing, a panic instead when `B00T_REQUIRE_TOOLS=1`.
    pub fn start_or_skip(test: &str) -> Option<MosquittoPair> {
        match MosquittoPair::start() {
            Ok(pair) => Some(pair),
            Err(e @ MosquittoError::NotInstalled) => {
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

    /// `mqtt://127.0.0.1:<port>` of broker `index` (0 or 1).
    pub fn mqtt_url(&self, index: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.brokers[index].port)
    }

    /// Both URLs, the first first, separated by a comma: a b00t broker list.
    pub fn broker_list(&self) -> String {
        format!("{},{}", self.mqtt_url(0), self.mqtt_url(1))
    }

    /// Kills broker `index` (`SIGKILL`, its process group) and waits for it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.brokers[index].child.take() {
            broker_proc::kill(&mut child);
        }
    }

    /// Starts broker `index` again and waits until it accepts MQTT.
    pub fn restart(&mut self, index: usize) -> Result<Duration, MosquittoError> {
        self.kill(index);
        self.spawn(index)?;
        self.wait(index)
    }

    /// The folder holding the configs and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self, index: usize) -> Result<(), MosquittoError> {
        let broker = &mut self.brokers[index];
        let config = broker.config.to_string_lossy().into_owned();
        let child =
            broker_proc::spawn(&self.program, &["-c", &config], &broker.log).map_err(|source| {
                MosquittoError::Spawn {
                    program: self.program.clone(),
                    source,
                }
            })?;
        broker.child = Some(child);
        Ok(())
    }

    fn wait(&mut self, index: usize) -> Result<Duration, MosquittoError> {
        let broker = &mut self.brokers[index];
        let Some(child) = broker.child.as_mut() else {
            return Err(MosquittoError::Start {
                broker: broker.name.clone(),
                problem: "is not running".into(),
            });
        };
        broker_proc::wait_mqtt(child, broker.port, &broker.log, START_LIMIT).map_err(|problem| {
            MosquittoError::Start {
                broker: broker.name.clone(),
                problem,
            }
        })
    }
}

impl Drop for MosquittoPair {
    fn drop(&mut self) {
        for index in 0..2 {
            self.kill(index);
        }
    }
}

/// A broker on `port`, anonymous, without persistence to disk; with `bridge_to`, a bridge
/// to that broker carrying every topic both ways at QoS 1, retrying every second.
fn broker_config(port: u16, bridge_to: Option<u16>) -> String {
    let mut text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
    );
    if let Some(other) = bridge_to {
        text.push_str(&format!(
            "connection peer\naddress 127.0.0.1:{other}\ntopic # both 1\ntry_private true\ncleansession false\nrestart_timeout 1 2\nbridge_protocol_version mqttv311\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_second_broker_bridges() {
        let first = broker_config(1, None);
        assert!(first.contains("listener 1 127.0.0.1") && !first.contains("connection"));
        let second = broker_config(2, Some(1));
        assert!(second.contains("address 127.0.0.1:1\ntopic # both 1"));
    }
}
