//! [`Synapse`]: the real Matrix homeserver (matrix-synapse from PyPI, `python3 -m
//! synapse.app.homeserver`) run from a temporary folder on a free loopback port, for the
//! Matrix bridge's tests: a minimal `homeserver.yaml` (server name `localhost`, SQLite, a
//! client listener only, rate limits out of the way), users registered through the
//! shared-secret admin API, and the whole process group killed on drop. Not a stand-in:
//! what the bridge talks to is Synapse itself.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use b00t_config::env;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

/// The server name every test user lives on: `@<localpart>:localhost`.
pub const SERVER_NAME: &str = "localhost";
/// How long Synapse may take to answer `GET /_matrix/client/versions` (about 3 s on an
/// idle machine; a loaded CI machine with 2 cores takes longer).
pub const START_LIMIT: Duration = Duration::from_secs(60);
/// Ports tried when the free port found was taken before Synapse bound it.
const PORT_ATTEMPTS: usize = 3;
/// A rate limit no test reaches.
const UNLIMITED: &str = "{per_second: 100000, burst_count: 1000000}";

/// Why Synapse could not be started or asked.
#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    /// `python3 -c "import synapse"` failed: not installed.
    #[error("Synapse is not installed (`python3 -c \"import synapse\"` failed: {reason}): run `python3 -m pip install matrix-synapse`")]
    NotInstalled { reason: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run `python3 -m synapse.app.homeserver`: {0}")]
    Spawn(std::io::Error),
    /// It exited or did not answer in time; `log` is the end of its log and output.
    #[error("Synapse on port {port} {problem}; its log (`{log_path}`) ends:\n{log}")]
    Start {
        port: u16,
        problem: String,
        log_path: PathBuf,
        log: String,
    },
    /// An admin or client call failed.
    #[error("Synapse `{call}`: {message}")]
    Call { call: String, message: String },
}

/// A running Synapse; dropping it kills its process group and removes its folder.
#[derive(Debug)]
pub struct Synapse {
    child: Child,
    port: u16,
    shared_secret: String,
    http: reqwest::Client,
    /// How long it took to answer `/_matrix/client/versions`.
    pub started_in: Duration,
    // Dropped last: the folder goes once the process is dead.
    dir: tempfile::TempDir,
}

/// A user registered on the test homeserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixUser {
    /// `@<localpart>:localhost`.
    pub user_id: String,
    pub access_token: String,
    pub password: String,
}

impl Synapse {
    /// Starts Synapse and waits until its client API answers; prints what it waits for
    /// once that takes longer than a second. [`SynapseError::NotInstalled`] when Python
    /// has no `synapse` module (see [`Synapse::start_or_skip`]).
    pub async fn start() -> Result<Synapse, SynapseError> {
        let probe = Command::new("python3")
            .args(["-c", "import synapse"])
            .stdin(Stdio::null())
            .output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                return Err(SynapseError::NotInstalled {
                    reason: stderr.lines().last().unwrap_or("no output").to_owned(),
                });
            }
            Err(e) => {
                return Err(SynapseError::NotInstalled {
                    reason: format!("python3: {e}"),
                })
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Synapse::start_once().await {
                Err(SynapseError::Start { log, .. })
                    if attempt < PORT_ATTEMPTS && log.contains("Address already in use") => {}
                outcome => return outcome,
            }
        }
    }

    /// [`Synapse::start`] for a test: `None` (after printing why the test skips) when
    /// Synapse is not installed, a panic instead when `B00T_REQUIRE_TOOLS=1`, and a panic
    /// naming the log when it is installed but does not start.
    pub async fn start_or_skip(test: &str) -> Option<Synapse> {
        match Synapse::start().await {
            Ok(synapse) => Some(synapse),
            Err(e @ SynapseError::NotInstalled { .. }) => {
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

    async fn start_once() -> Result<Synapse, SynapseError> {
        let dir = tempfile::Builder::new()
            .prefix("b00t-synapse-")
            .tempdir()
            .map_err(|source| SynapseError::Write {
                path: std::env::temp_dir(),
                source,
            })?;
        let port = free_port();
        let shared_secret = format!("secret-{:016x}", fastrand::u64(..));
        write(&dir.path().join("signing.key"), &signing_key())?;
        write(&dir.path().join("log.yaml"), &log_config(dir.path()))?;
        let config = dir.path().join("homeserver.yaml");
        write(&config, &homeserver_yaml(dir.path(), port, &shared_secret))?;
        let output = dir.path().join("output.log");
        let out = std::fs::File::create(&output).map_err(|source| SynapseError::Write {
            path: output.clone(),
            source,
        })?;
        let err = out.try_clone().map_err(|source| SynapseError::Write {
            path: output.clone(),
            source,
        })?;
        let child = Command::new("python3")
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(SynapseError::Spawn)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SynapseError::Call {
                call: "client".into(),
                message: e.to_string(),
            })?;
        let mut synapse = Synapse {
            child,
            port,
            shared_secret,
            http,
            started_in: Duration::ZERO,
            dir,
        };
        synapse.wait_ready().await?;
        Ok(synapse)
    }

    async fn wait_ready(&mut self) -> Result<(), SynapseError> {
        let started = Instant::now();
        let versions = format!("{}/_matrix/client/versions", self.url());
        let mut told = false;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.start_error(format!("exited ({status}) before it answered")));
            }
            let answered = self
                .http
                .get(&versions)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                self.started_in = started.elapsed();
                return Ok(());
            }
            if started.elapsed() > START_LIMIT {
                return Err(self.start_error(format!(
                    "did not answer `GET {versions}` within {} s",
                    START_LIMIT.as_secs()
                )));
            }
            if !told && started.elapsed() > Duration::from_secs(1) {
                eprintln!(
                    "waiting for Synapse to answer `GET {versions}` (log: `{}`)",
                    self.log_path().display()
                );
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn start_error(&self, problem: String) -> SynapseError {
        SynapseError::Start {
            port: self.port,
            problem,
            log_path: self.log_path(),
            log: self.log_tail(60),
        }
    }

    /// The client-server API base, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Synapse's own log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("homeserver.log")
    }

    /// The last `lines` lines of the log and of what Synapse printed.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for file in [self.log_path(), self.dir.path().join("output.log")] {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            for line in &all[all.len().saturating_sub(lines)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Registers `@<localpart>:localhost` with `password` through the shared-secret
    /// admin API (`/_synapse/admin/v1/register`: a nonce, then an HMAC-SHA1 of it).
    pub async fn register(
        &self,
        localpart: &str,
        password: &str,
        admin: bool,
    ) -> Result<MatrixUser, SynapseError> {
        let path = "/_synapse/admin/v1/register";
        let nonce = self.call(reqwest::Method::GET, path, None, None).await?;
        let nonce = nonce["nonce"].as_str().unwrap_or_default().to_owned();
        let mac = register_mac(&self.shared_secret, &nonce, localpart, password, admin);
        let body = json!({
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac,
        });
        let answer = self
            .call(reqwest::Method::POST, path, None, Some(body))
            .await?;
        match (answer["user_id"].as_str(), answer["access_token"].as_str()) {
            (Some(user_id), Some(token)) => Ok(MatrixUser {
                user_id: user_id.to_owned(),
                access_token: token.to_owned(),
                password: password.to_owned(),
            }),
            _ => Err(SynapseError::Call {
                call: format!("POST {path}"),
                message: format!("no user_id or access_token in {answer}"),
            }),
        }
    }

    /// Logs `user` in with its password, as a client does (`POST
    /// /_matrix/client/v3/login`, `m.login.password`): a new access token, for a new
    /// device named `device`.
    pub async fn login(&self, user: &MatrixUser, device: &str) -> Result<String, SynapseError> {
        let path = "/_matrix/client/v3/login";
        let body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user.user_id},
            "password": user.password,
            "initial_device_display_name": device,
        });
        let answer = self
            .call(reqwest::Method::POST, path, None, Some(body))
            .await?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SynapseError::Call {
                call: format!("POST {path}"),
                message: format!("no access_token in {answer}"),
            })
    }

    /// `method path` with `token` as Bearer and `body` as JSON; the answer's JSON, or an
    /// error with the status and Synapse's `errcode` and `error`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<Value, SynapseError> {
        let call = format!("{method} {path}");
        let failed = |message: String| SynapseError::Call {
            call: call.clone(),
            message,
        };
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| failed(e.to_string()))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            return Err(failed(format!("HTTP {status}: {value}")));
        }
        Ok(value)
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin API's `mac`: HMAC-SHA1 of `nonce\0user\0password\0admin|notadmin`, in hex.
pub fn register_mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    let role = if admin { "admin" } else { "notadmin" };
    for (n, part) in [nonce, user, password, role].iter().enumerate() {
        if n > 0 {
            mac.update(b"\0");
        }
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

use crate::port::free_port;

fn write(path: &Path, text: &str) -> Result<(), SynapseError> {
    std::fs::write(path, text).map_err(|source| SynapseError::Write {
        path: path.to_owned(),
        source,
    })
}

/// An ed25519 signing key in Synapse's file format (`ed25519 <version> <unpadded base64
/// seed>`), written directly: `--generate-keys` would cost another 2.4 s of Python start.
fn signing_key() -> String {
    let seed: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed);
    format!("ed25519 a_test {encoded}\n")
}

fn log_config(dir: &Path) -> String {
    format!(
        "version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {}
    encoding: utf8
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
",
        dir.join("homeserver.log").display()
    )
}

fn homeserver_yaml(dir: &Path, port: u16, shared_secret: &str) -> String {
    let mut yaml = format!(
        "server_name: \"{SERVER_NAME}\"
pid_file: {dir}/homeserver.pid
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {dir}/homeserver.db
media_store_path: {dir}/media
signing_key_path: {dir}/signing.key
log_config: {dir}/log.yaml
registration_shared_secret: \"{shared_secret}\"
enable_registration: false
report_stats: false
enable_metrics: false
suppress_key_server_warning: true
trusted_key_servers: []
federation_domain_whitelist: []
presence:
  enabled: false
url_preview_enabled: false
bcrypt_rounds: 4
",
        dir = dir.display()
    );
    for key in [
        "rc_message",
        "rc_registration",
        "rc_admin_redaction",
        "rc_joins_per_room",
        "rc_3pid_validation",
        "rc_room_creation",
        "rc_delayed_event_mgmt",
        "rc_reports",
        "rc_profile",
        "rc_user_directory",
        "rc_media_create",
    ] {
        let _ = writeln!(yaml, "{key}: {UNLIMITED}");
    }
    for (key, subkeys) in [
        ("rc_login", &["address", "account", "failed_attempts"][..]),
        ("rc_joins", &["local", "remote"][..]),
        ("rc_invites", &["per_room", "per_user", "per_issuer"][..]),
        ("rc_presence", &["per_user"][..]),
    ] {
        let _ = writeln!(yaml, "{key}:");
        for sub in subkeys {
            let _ = writeln!(yaml, "  {sub}: {UNLIMITED}");
        }
    }
    yaml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_register_mac_is_synapses() {
        // What Synapse's `register_new_matrix_user` sends, computed with Python's hmac:
        // hmac.new(b"s", b"n\x00u\x00p\x00notadmin", hashlib.sha1).hexdigest()
        assert_eq!(
            register_mac("s", "n", "u", "p", false),
            "26f3059760aebb1bcdcebc65f1bcb7b75691a8d6"
        );
    }

    #[tokio::test]
    async fn synapse_starts_registers_and_stops() {
        let Some(synapse) = Synapse::start_or_skip("synapse_starts_registers_and_stops").await
        else {
            return;
        };
        eprintln!("Synapse answered after {:?}", synapse.started_in);
        let ann = synapse
            .register("ann", "ann-password", false)
            .await
            .unwrap();
        assert_eq!(ann.user_id, "@ann:localhost");
        let whoami = synapse
            .call(
                reqwest::Method::GET,
                "/_matrix/client/v3/account/whoami",
                Some(&ann.access_token),
                None,
            )
            .await
            .unwrap();
        assert_eq!(whoami["user_id"], "@ann:localhost");
        let token = synapse.login(&ann, "a phone").await.unwrap();
        assert_ne!(token, ann.access_token);
        let again = synapse
            .call(
                reqwest::Method::GET,
                "/_matrix/client/v3/account/whoami",
                Some(&token),
                None,
            )
            .await
            .unwrap();
        assert_eq!(again["user_id"], "@ann:localhost");
        // The same localpart twice is refused with Synapse's own words.
        let again = synapse.register("ann", "x", false).await.unwrap_err();
        assert!(again.to_string().contains("M_USER_IN_USE"), "{again}");
        let pid = synapse.child.id() as i32;
        drop(synapse);
        let alive =
            rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).expect("a pid"));
        assert!(alive.is_err(), "Synapse {pid} still runs after the drop");
    }
}
