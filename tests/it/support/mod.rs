//! Test helpers: a temp home, the real `b00t` binary on an ephemeral port, a Debian
//! `mosquitto` broker, and `mosquitto_sub`/`mosquitto_pub` as the clients nobody here
//! wrote. Every child process is killed when its guard drops.

pub(crate) mod procs;
pub(crate) mod sub;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

pub(crate) use procs::{Agent, Mosquitto, Runtime};
pub(crate) use sub::Sub;

/// The `b00t` binary under test.
pub(crate) fn b00t_bin() -> &'static str {
    env!("CARGO_BIN_EXE_b00t")
}

/// A free TCP port on loopback (bound, read, released).
/// Polls `probe` every 50 ms until it finds something, for at most 40 s (a bridge's
/// answer under CI's load); fails naming `what` otherwise.
pub(crate) fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub(crate) use b00t_testkit::free_port;

/// Fails with a clear message when a tool the tests drive is missing.
pub(crate) fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: run the README's test command (scripts/test), which installs mosquitto and mosquitto-clients"
    );
}

/// A temporary home folder with an optional `b00t.toml`.
pub(crate) struct Home {
    dir: tempfile::TempDir,
}

/// Delivery settings short enough for tests; the defaults are 30 s / 5 s / 3.
pub(crate) const FAST_DELIVERY: &str =
    "[delivery]\nack_timeout_ms = 400\nretry_delay_ms = 300\nmax_retries = 3\n";

impl Home {
    pub(crate) fn new(config: &str) -> Home {
        let dir = tempfile::Builder::new()
            .prefix("b00t-it-")
            .tempdir()
            .expect("a temp dir");
        // Container CI agents would answer for every container on this machine, other
        // tests' ones included: a test that wants them says `[ci]` itself.
        let config = if config.contains("[ci]") {
            config.to_owned()
        } else {
            format!("{config}\n[ci]\nenabled = false\n")
        };
        fs_err::write(dir.path().join("b00t.toml"), config).expect("write b00t.toml");
        Home { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Where the system under test finds its broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `b00t up --listen`: the embedded rumqttd.
    Embedded,
    /// `b00t up --broker`: a Debian mosquitto started for the test.
    External,
}

/// A running bus in one of the two modes, with its port for the mosquitto clients.
pub(crate) struct Bus {
    pub runtime: Runtime,
    /// The broker of External mode, stopped when the bus drops.
    _mosquitto: Option<Mosquitto>,
    pub port: u16,
}

impl Bus {
    pub(crate) fn start(mode: Mode, home: &Home) -> Bus {
        require_tool("mosquitto_pub");
        require_tool("mosquitto_sub");
        match mode {
            Mode::Embedded => {
                let port = free_port();
                Bus {
                    runtime: Runtime::embedded(home, port),
                    _mosquitto: None,
                    port,
                }
            }
            Mode::External => {
                let mosquitto = Mosquitto::start();
                let port = mosquitto.port;
                Bus {
                    runtime: Runtime::external(home, port),
                    _mosquitto: Some(mosquitto),
                    port,
                }
            }
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the external mosquitto and starts a new one on the same port.
    pub(crate) fn restart_external_broker(&mut self) {
        let old = self._mosquitto.take().expect("an external broker");
        drop(old);
        self._mosquitto = Some(Mosquitto::start_on(self.port));
    }

    /// Whether the `b00t up` process is still running.
    pub(crate) fn runtime_is_alive(&self) -> bool {
        self.runtime.is_alive()
    }

    pub(crate) fn sub(&self, filter: &str) -> Sub {
        Sub::start(self.port, filter)
    }

    pub(crate) fn publish(&self, topic: &str, payload: &str) {
        publish(self.port, topic, payload);
    }

    /// Runs `b00t <args>` against this bus.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        Command::new(b00t_bin())
            .args(args)
            .args(["--broker", &self.url()])
            .env_remove("B00T_BROKER")
            .env("NO_COLOR", "1")
            .output()
            .expect("run b00t")
    }
}

/// `mosquitto_pub -q 1 -m PAYLOAD`.
pub(crate) fn publish(port: u16, topic: &str, payload: &str) {
    mosquitto_pub(port, topic, &["-m".as_ref(), payload.as_ref()]);
}

/// `mosquitto_pub -q 1 -f FILE`: for payloads that are not text, or are large.
pub(crate) fn publish_bytes(port: u16, topic: &str, payload: &[u8]) {
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    fs_err::write(file.path(), payload).expect("write payload");
    mosquitto_pub(port, topic, &["-f".as_ref(), file.path().as_os_str()]);
}

fn mosquitto_pub(port: u16, topic: &str, message: &[&std::ffi::OsStr]) {
    let status = mosquitto_pub_command(port, topic, "1")
        .args(message)
        .status()
        .expect("run mosquitto_pub");
    assert!(status.success(), "mosquitto_pub to `{topic}` failed");
}

/// `mosquitto_pub` to `topic` on the loopback broker at `port`, at `qos`; the caller adds
/// the message arguments.
pub(crate) fn mosquitto_pub_command(port: u16, topic: &str, qos: &str) -> Command {
    let mut command = Command::new("mosquitto_pub");
    command.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-q",
        qos,
        "-t",
        topic,
    ]);
    command
}

/// Parses a JSON payload, failing the test with the text when it is not JSON.
pub(crate) fn json(payload: &str) -> serde_json::Value {
    serde_json::from_str(payload).unwrap_or_else(|e| panic!("not JSON ({e}): {payload}"))
}

/// Generous limit for anything that should happen "soon" on a loaded CI machine.
pub(crate) const SOON: Duration = Duration::from_secs(15);
