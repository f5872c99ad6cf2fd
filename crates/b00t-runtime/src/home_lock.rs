//! One runtime per home: `b00t up` holds an exclusive `flock` on `state/up.lock` for as
//! long as it runs, with its pid and broker URL written inside, so a second `up` in the
//! same home is refused before it touches anything and can say who holds the lock.
//! The kernel drops the lock when the process exits, however it exits.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

/// The lock file's name inside the state folder.
pub const LOCK_FILE: &str = "up.lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct HomeLock {
    /// Open for as long as the lock is held: the `flock` belongs to this descriptor.
    file: std::fs::File,
    path: PathBuf,
}

/// What the lock file says about the process holding it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    /// The broker URL, once that runtime is up; the address it was asked to use before.
    pub url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum HomeLockError {
    #[error("`b00t up` already runs for this home ({}); stop it first or use another --home", describe(.holder))]
    Held { path: PathBuf, holder: Holder },
    #[error("cannot lock `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl HomeLock {
    /// Takes the lock in `state_dir` without waiting, and records this process's pid and
    /// `url` (where it means to serve). Fails with [`HomeLockError::Held`] when another
    /// process holds it; the file's contents are then left as they are.
    pub fn acquire(state_dir: &Path, url: &str) -> Result<HomeLock, HomeLockError> {
        let path = state_dir.join(LOCK_FILE);
        // No truncation at open: a refused `up` must not wipe the holder's record.
        let file = b00t_config::home::open_private_file(
            &path,
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false),
        )
        .map_err(|source| io_error(&path, source))?;
        let orphaned_until = Instant::now() + ORPHANED_WAIT;
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    let holder = read_holder(&file);
                    // The recorded holder is dead, yet the lock is held: a child it was
                    // forking when it died holds the descriptor until its `exec` closes
                    // it. Wait for that rather than refuse a restart after a crash.
                    if holder.pid.is_some_and(|pid| !alive(pid)) && Instant::now() < orphaned_until
                    {
                        std::thread::sleep(ORPHANED_POLL);
                        continue;
                    }
                    return Err(HomeLockError::Held { path, holder });
                }
                Err(e) => return Err(io_error(&path, e.into())),
            }
        }
        let mut lock = HomeLock { file, path };
        lock.record(url)
            .map_err(|source| io_error(&lock.path, source))?;
        Ok(lock)
    }

    /// Rewrites the record with the URL the runtime actually serves on.
    pub fn record(&mut self, url: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        write!(self.file, "pid={}\nurl={url}\n", std::process::id())?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// How long a lock whose recorded holder is dead may stay held before `up` refuses.
const ORPHANED_WAIT: Duration = Duration::from_secs(1);
const ORPHANED_POLL: Duration = Duration::from_millis(20);

/// Whether process `pid` exists (signal 0).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

fn io_error(path: &Path, source: std::io::Error) -> HomeLockError {
    HomeLockError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads `pid=` and `url=` lines; anything missing or garbled is `None`.
fn read_holder(mut file: &std::fs::File) -> Holder {
    let mut text = String::new();
    if file.rewind().is_err() || file.read_to_string(&mut text).is_err() {
        return Holder::default();
    }
    parse_holder(&text)
}

fn parse_holder(text: &str) -> Holder {
    let mut holder = Holder::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("pid", pid)) => holder.pid = pid.trim().parse().ok(),
            Some(("url", url)) if !url.trim().is_empty() => holder.url = Some(url.trim().into()),
            _ => {}
        }
    }
    holder
}

fn describe(holder: &Holder) -> String {
    let pid = match holder.pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".to_owned(),
    };
    match &holder.url {
        Some(url) => format!("{pid}, listening on {}", listen_part(url)),
        None => pid,
    }
}

/// `mqtt://127.0.0.1:1883` reads better as `127.0.0.1:1883` in the message.
fn listen_part(url: &str) -> &str {
    url.strip_prefix("mqtt://").unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that named a process which has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// As after `kill -9` of an `up` that was forking a child: the record names a dead
    /// process while the child still holds the descriptor for a moment.
    #[test]
    fn a_lock_held_after_its_holder_died_is_waited_for_briefly() {
        let dir = tempfile::tempdir().unwrap();
        let first = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1883").unwrap();
        let dead = dead_pid();
        std::fs::write(
            first.path(),
            format!("pid={dead}\nurl=mqtt://127.0.0.1:1883\n"),
        )
        .unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(first);
        });
        let second = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1884")
            .expect("taken once the descriptor is closed");
        release.join().unwrap();
        let text = std::fs::read_to_string(second.path()).unwrap();
        assert!(
            text.contains(&format!("pid={}", std::process::id())),
            "{text}"
        );

        // Held for longer than the wait: refused, naming the record.
        let dir = tempfile::tempdir().unwrap();
        let held = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1883").unwrap();
        std::fs::write(held.path(), format!("pid={dead}\n")).unwrap();
        let refused = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1884").unwrap_err();
        assert!(
            refused.to_string().contains(&format!("pid {dead}")),
            "{refused}"
        );
    }

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1883").unwrap();
        let second = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1884").unwrap_err();
        let message = second.to_string();
        assert_eq!(
            message,
            format!(
                "`b00t up` already runs for this home (pid {}, listening on 127.0.0.1:1883); stop it first or use another --home",
                std::process::id()
            )
        );
        // The refused attempt left the record alone.
        let text = std::fs::read_to_string(first.path()).unwrap();
        assert!(text.contains("url=mqtt://127.0.0.1:1883"), "{text}");
        drop(first);
        let again = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:1884").unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("url=mqtt://127.0.0.1:1884"), "{text}");
    }

    #[test]
    fn record_replaces_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = HomeLock::acquire(dir.path(), "mqtt://127.0.0.1:0").unwrap();
        lock.record("mqtt://127.0.0.1:40000").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lock.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(
            parse_holder(&text),
            Holder {
                pid: Some(std::process::id()),
                url: Some("mqtt://127.0.0.1:40000".into())
            }
        );
    }

    #[test]
    fn a_garbled_record_still_refuses() {
        assert_eq!(parse_holder("junk\npid=x\n"), Holder::default());
        assert_eq!(
            describe(&Holder::default()),
            "pid unknown",
            "the message still says who to look for"
        );
    }
}
