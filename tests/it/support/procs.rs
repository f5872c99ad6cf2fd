//! Child processes under test: `b00t up`, `b00t agent run`, and Debian's `mosquitto`.
//! Each guard kills its process (SIGKILL) on drop, so a failing test leaves nothing behind.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{b00t_bin, free_port, require_tool, Home};

/// `b00t up` as a child process.
pub(crate) struct Runtime {
    child: Child,
    /// Everything the runtime printed on stdout and stderr, line by line.
    output: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Runtime {
    pub(crate) fn embedded(home: &Home, port: u16) -> Runtime {
        Runtime::spawn(home, &["--listen", &format!("127.0.0.1:{port}")])
    }

    pub(crate) fn external(home: &Home, port: u16) -> Runtime {
        Runtime::spawn(home, &["--broker", &format!("mqtt://127.0.0.1:{port}")])
    }

    /// Starts `b00t up --home HOME EXTRA…` and waits for its ready banner.
    pub(crate) fn spawn(home: &Home, extra: &[&str]) -> Runtime {
        let mut runtime = Runtime::spawn_unchecked(home, extra);
        runtime.wait_for_line("b00t is up");
        runtime
    }

    /// Starts `b00t up` without waiting for it to be ready. Group agents run as local
    /// processes (`CONTAINER_RUNTIME=none`) unless a test asks for Docker with
    /// [`Runtime::spawn_env`].
    pub(crate) fn spawn_unchecked(home: &Home, extra: &[&str]) -> Runtime {
        Runtime::spawn_unchecked_env(home, extra, &[])
    }

    /// [`Runtime::spawn`] with extra environment variables.
    pub(crate) fn spawn_env(home: &Home, extra: &[&str], env: &[(&str, &str)]) -> Runtime {
        let mut runtime = Runtime::spawn_unchecked_env(home, extra, env);
        runtime.wait_for_line("b00t is up");
        runtime
    }

    /// [`Runtime::spawn_unchecked`] with extra environment variables.
    pub(crate) fn spawn_unchecked_env(
        home: &Home,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Runtime {
        let mut child = Command::new(b00t_bin())
            .arg("up")
            .arg("--home")
            .arg(home.path())
            .args(extra)
            .env("B00T_LOG", "info")
            .env("NO_COLOR", "1")
            .env("CONTAINER_RUNTIME", "none")
            .envs(env.iter().copied())
            .env_remove("B00T_BROKER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run b00t up");
        let (tx, output) = mpsc::channel();
        forward(child.stdout.take().expect("stdout"), tx.clone());
        forward(child.stderr.take().expect("stderr"), tx);
        Runtime {
            child,
            output,
            log: Vec::new(),
        }
    }

    /// Waits for an output line containing `needle`.
    pub(crate) fn wait_for_line(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.log.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!(
                    "`b00t up` printed no line with `{needle}`; it printed:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Waits for the process to exit by itself, within `limit`.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.drain();
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) to the runtime.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// `kill -9`, and reap it.
    pub(crate) fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// Whether the process still runs (`kill -0`).
    pub(crate) fn is_alive(&self) -> bool {
        Command::new("kill")
            .args(["-0", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Collects what was printed so far.
    pub(crate) fn drain(&mut self) -> String {
        while let Ok(line) = self.output.recv_timeout(Duration::from_millis(100)) {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

impl Drop for Runtime {
    /// SIGTERM first, so that `up` stops its group agents and removes their containers
    /// (a killed `up` leaves them running); SIGKILL if it lingers.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `b00t agent run <kind> --name <name> --broker <url>` as a child process.
pub(crate) struct Agent {
    child: Child,
}

impl Agent {
    pub(crate) fn start(kind: &str, name: &str, port: u16) -> Agent {
        let child = Command::new(b00t_bin())
            .args([
                "agent",
                "run",
                kind,
                "--name",
                name,
                "--broker",
                &format!("mqtt://127.0.0.1:{port}"),
            ])
            .env("B00T_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run b00t agent run");
        Agent { child }
    }

    pub(crate) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Debian's `mosquitto` on a free loopback port, anonymous, no persistence.
pub(crate) struct Mosquitto {
    child: Child,
    pub port: u16,
    _config: tempfile::NamedTempFile,
}

impl Mosquitto {
    pub(crate) fn start() -> Mosquitto {
        Mosquitto::start_on(free_port())
    }

    /// Starts on `port`, as after a broker restart.
    pub(crate) fn start_on(port: u16) -> Mosquitto {
        require_tool("mosquitto");
        let config = tempfile::NamedTempFile::new().expect("a temp file");
        fs_err::write(
            config.path(),
            format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
        .expect("write mosquitto.conf");
        let child = spawn_mosquitto(config.path(), port);
        Mosquitto {
            child,
            port,
            _config: config,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// Runs Debian's `mosquitto` with `config` and waits (up to 10 s) until it listens on
/// `port`.
pub(crate) fn spawn_mosquitto(config: &std::path::Path, port: u16) -> Child {
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run mosquitto");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}
