//! Durability that is honest. With the state folder's disk full (a small tmpfs), a task
//! gets a `failed` error naming the journal instead of a result whose record was never
//! written, and once there is room again the next task gets its result. `b00t up` on a
//! truncated journal refuses to start, with its own exit code and a message naming the
//! file, and touches nothing in the home.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{json, publish_bytes, Bus, Home, Mode, Runtime, FAST_DELIVERY};

/// `b00t up`'s exit code for a journal it cannot open or write (`exit::JOURNAL_UNUSABLE`).
const JOURNAL_UNUSABLE: i32 = 5;

crate::both_modes!(a_full_state_disk_fails_the_task_until_space_returns);

/// Embedded, the front door refuses the task it cannot journal; external, the agent runs
/// it and withholds the result it cannot record. Either way: a `failed` error that names
/// the journal and the cause, no result, and the bus goes on serving.
fn a_full_state_disk_fails_the_task_until_space_returns(mode: Mode) {
    let home = Home::new(FAST_DELIVERY);
    let state = home.path().join("state");
    let Some(_tmpfs) = Tmpfs::mount(&state, "8m") else {
        return;
    };
    let bus = Bus::start(mode, &home);
    let mut results = bus.sub("b00t.echo.echo/result");
    let mut errors = bus.sub("b00t.echo.echo/error");
    bus.publish("b00t.echo.echo/task", r#"{"id":"room-0","body":"warm"}"#);
    results.wait("b00t.echo.echo/result", "room-0");

    let filler = fill_disk(&state);
    // Big enough that its journal rows need new space in the WAL.
    let big = format!(r#"{{"id":"full-1","body":"{}"}}"#, "x".repeat(300 * 1024));
    publish_bytes(bus.port, "b00t.echo.echo/task", big.as_bytes());
    let error = json(&errors.wait("b00t.echo.echo/error", "full-1").payload);
    assert_eq!(error["error"]["code"], "failed", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    let journal = state.join("journal.db");
    assert!(
        message.contains(&format!("journal `{}` could not commit", journal.display())),
        "{message}"
    );
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(message.contains("free space on that disk"), "{message}");
    let by_whom = match mode {
        Mode::Embedded => "could not journal task `full-1`, so it was not delivered",
        Mode::External => "task `full-1` ran but its reply is withheld",
    };
    assert!(message.contains(by_whom), "{message}");
    results.settle(Duration::from_millis(500));
    assert_eq!(
        results.count("b00t.echo.echo/result", "full-1"),
        0,
        "no result without its record"
    );

    fs_err::remove_file(&filler).unwrap();
    bus.publish("b00t.echo.echo/task", r#"{"id":"room-1","body":"back"}"#);
    let result = json(&results.wait("b00t.echo.echo/result", "room-1").payload);
    assert_eq!(result["body"]["echo"], "back");
    assert!(bus.runtime_is_alive());
}

#[test]
fn up_refuses_a_truncated_journal_and_touches_nothing() {
    let home = Home::new("");
    {
        let bus = Bus::start(Mode::Embedded, &home);
        for n in 0..40 {
            let task = format!(r#"{{"id":"fill-{n}","body":"{}"}}"#, "y".repeat(2000));
            bus.publish("b00t.nobody.work/task", &task);
        }
        let mut sub = bus.sub("b00t.echo.echo/result");
        bus.publish("b00t.echo.echo/task", r#"{"id":"last"}"#);
        sub.wait("b00t.echo.echo/result", "last");
    }
    let journal = home.path().join("state").join("journal.db");
    let wal = home.path().join("state").join("journal.db-wal");
    assert_eq!(
        fs_err::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "a clean stop leaves everything in journal.db"
    );
    let len = fs_err::metadata(&journal).unwrap().len();
    assert!(len >= 8 * 4096, "a journal of several pages ({len} bytes)");
    let file = fs_err::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = snapshot(home.path());

    let mut runtime = Runtime::spawn_unchecked(
        &home,
        &[
            "--listen",
            &format!("127.0.0.1:{}", crate::support::free_port()),
        ],
    );
    let status = runtime
        .wait_exit(Duration::from_secs(20))
        .expect("`b00t up` exits by itself");
    let log = runtime.drain();
    assert_eq!(status.code(), Some(JOURNAL_UNUSABLE), "{log}");
    assert!(
        log.contains(&format!("the journal `{}` is damaged", journal.display())),
        "{log}"
    );
    assert!(log.contains("it was truncated"), "{log}");
    assert!(log.contains("move the file aside"), "{log}");
    assert!(!log.contains("b00t is up"), "{log}");
    assert_eq!(snapshot(home.path()), before, "nothing in the home changed");
}

/// Every file under `root` but the lock file (which `up` opens first) and its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n != "up.lock") {
                let bytes = fs_err::read(&path).unwrap();
                files.insert(path.strip_prefix(root).unwrap().to_owned(), bytes);
            }
        }
    }
    files
}

/// A tmpfs mounted on a folder, unmounted (lazily) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None`, with the reason printed, when this machine does not let the test mount.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs_err::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(out) if out.status.success() => Some(Tmpfs(dir.to_owned())),
            Ok(out) => {
                eprintln!(
                    "skipping the full-disk test: cannot mount a tmpfs on `{}` ({}); run the tests as root",
                    dir.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipping the full-disk test: cannot run `mount` ({e})");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes a file in `dir` until its file system is full; returns the file.
fn fill_disk(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = fs_err::File::create(&filler).unwrap();
    while file.write_all(&[0u8; 4096]).is_ok() {}
    while file.write_all(&[0u8]).is_ok() {}
    filler
}
