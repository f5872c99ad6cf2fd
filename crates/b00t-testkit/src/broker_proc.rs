//! What the real brokers the tests start share: a free loopback port, a broker process in
//! its own process group (killed whole), and the readiness check, an MQTT 3.1.1 CONNECT
//! answered by a CONNACK that accepts it, written by hand so no client library is needed.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free on loopback when asked (the broker binds it a moment later).
pub(crate) use crate::port::free_port;

/// Starts `program` with `args`, output to `log`, in a process group of its own.
pub(crate) fn spawn(program: &Path, args: &[&str], log: &Path) -> std::io::Result<Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
}

/// Kills `child`'s whole process group and reaps it.
pub(crate) fn kill(child: &mut Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether an MQTT CONNECT to `127.0.0.1:port` is accepted (CONNACK code 0).
pub(crate) fn accepts_mqtt(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let client_id = format!("b00t-testkit-probe-{:08x}", fastrand::u32(..));
    let packet = crate::mqtt::connect_packet(&client_id, None, 30);
    if stream.write_all(&packet).is_err() {
        return false;
    }
    let mut connack = [0u8; 4];
    let accepted =
        stream.read_exact(&mut connack).is_ok() && connack == crate::mqtt::CONNACK_ACCEPTED;
    let _ = stream.write_all(&[0xe0, 0]);
    accepted
}

/// Waits until `port` accepts MQTT or `child` exits or `limit` passes; the error says
/// which, with the end of `log`.
pub(crate) fn wait_mqtt(
    child: &mut Child,
    port: u16,
    log: &Path,
    limit: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited ({status}); {}", log_tail(log)));
        }
        if accepts_mqtt(port) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(format!(
                "did not accept MQTT on port {port} within {} s; {}",
                limit.as_secs(),
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last lines of a log, for an error.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    format!("its log (`{}`) ends:\n{tail}", log.display())
}

/// `name` on PATH, else in Python's user base `bin` (where a pip user install puts it).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let base = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&base.stdout).trim())
        .join("bin")
        .join(name);
    bin.is_file().then_some(bin)
}
