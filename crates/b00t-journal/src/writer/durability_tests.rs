//! The writer under a full database: waiters get the error, the thread recovers once
//! there is room, fire-and-forget entries get one more try. A full database is made with
//! SQLite's `max_page_count` (always available) and, when the tests run as root, with a
//! small tmpfs that really fills up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Mutex};

use super::*;

/// Holds the writer inside a batch until the returned sender is used or dropped, and
/// returns once it is held: what is sent meanwhile all lands in the next batch.
fn hold(h: &JournalHandle) -> mpsc::Sender<()> {
    let (entered, entered_rx) = mpsc::channel();
    let (release, held) = mpsc::channel::<()>();
    let state = Mutex::new((entered, held));
    h.on_writer(move |_| {
        let state = state.lock().unwrap();
        let _ = state.0.send(());
        let _ = state.1.recv();
    });
    entered_rx.recv().unwrap();
    release
}

/// Caps the database at its current size (SQLite never sets the cap below it).
fn fill(h: &JournalHandle) {
    h.on_writer(|conn| {
        conn.query_row("PRAGMA max_page_count = 1", [], |r| r.get::<_, i64>(0))
            .unwrap();
    });
}

fn make_room(h: &JournalHandle) {
    h.on_writer(|conn| {
        conn.query_row("PRAGMA max_page_count = 1073741823", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    });
}

fn count(path: &Path, sql: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

const BIG: &[u8] = &[b'x'; 64 * 1024];

#[tokio::test]
async fn a_full_database_fails_the_waiters_and_later_batches_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    let h = journal.handle();
    fill(&h);
    let e = h
        .execution("a", "b00t.a.s", "full-1", BIG)
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(&format!("journal `{}` could not commit", path.display())),
        "{message}"
    );
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(message.contains("free space on that disk"), "{message}");
    let e = h
        .task_durable("b00t.a.s", "full-2", BIG, None)
        .await
        .unwrap_err();
    assert!(matches!(e, JournalError::Commit { .. }), "{e}");

    make_room(&h);
    h.execution("a", "b00t.a.s", "room-1", BIG).await.unwrap();
    h.task_durable("b00t.a.s", "room-2", BIG, Some("r"))
        .await
        .unwrap();
    h.flush().await.unwrap();
    assert_eq!(
        count(&path, "SELECT count(*) FROM executions"),
        1,
        "only the execution after the room came"
    );
    assert_eq!(
        count(&path, "SELECT count(*) FROM tasks WHERE id = 'room-2'"),
        1
    );
    assert_eq!(
        count(&path, "SELECT count(*) FROM tasks WHERE id = 'full-2'"),
        0
    );
    drop(h);
    journal.close().await;
}

#[tokio::test]
async fn a_fire_and_forget_entry_of_a_failed_batch_is_retried_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    let h = journal.handle();

    // Fails once, then there is room: the retry commits it.
    let release = hold(&h);
    fill(&h);
    h.task("b00t.a.s", "retried", BIG, None);
    h.ack("b00t.a.s", "retried");
    let failed = h.flush();
    drop(release);
    assert!(matches!(failed.await, Err(JournalError::Commit { .. })));
    // Sent at once, well within RETRY_AFTER: it goes in the batch that retries.
    make_room(&h);
    h.flush().await.unwrap();
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM tasks WHERE id = 'retried' AND state = 'acked'"
        ),
        1
    );

    // Fails twice: dropped (and logged); later entries commit.
    let release = hold(&h);
    fill(&h);
    h.task("b00t.a.s", "lost", BIG, None);
    let first = h.flush();
    drop(release);
    assert!(matches!(first.await, Err(JournalError::Commit { .. })));
    // The retry goes with this hold's batch, and fails again.
    let release = hold(&h);
    make_room(&h);
    let after = h.flush();
    drop(release);
    after.await.unwrap();
    h.flush().await.unwrap();
    assert_eq!(
        count(&path, "SELECT count(*) FROM tasks WHERE id = 'lost'"),
        0
    );
    h.task("b00t.a.s", "later", b"{}", None);
    h.flush().await.unwrap();
    assert_eq!(
        count(&path, "SELECT count(*) FROM tasks WHERE id = 'later'"),
        1
    );
    drop(h);
    journal.close().await;
}

#[tokio::test]
async fn a_flood_waits_for_the_writer_instead_of_growing_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let h = journal.handle();
    let release = hold(&h);
    let sender = {
        let h = h.clone();
        std::thread::spawn(move || {
            for n in 0..QUEUE + 10 {
                h.ack("b00t.a.s", &n.to_string());
            }
        })
    };
    // The queue fills, and the sender waits rather than queueing the rest.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sender.is_finished(),
        "the sender waits for room in the queue"
    );
    drop(release);
    sender.join().unwrap();
    h.flush().await.unwrap();
    drop(h);
    journal.close().await;
}

#[tokio::test]
async fn a_truncated_or_foreign_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    let h = journal.handle();
    for n in 0..200 {
        h.task("b00t.a.s", &n.to_string(), &[b'x'; 1000], None);
    }
    h.flush().await.unwrap();
    drop(h);
    journal.close().await;
    let whole = std::fs::read(&path).unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("it was truncated", whole[..whole.len() / 2].to_vec()),
        (
            "shorter than SQLite's 100-byte header",
            whole[..40].to_vec(),
        ),
        ("does not start with SQLite's header", vec![b'#'; 8192]),
    ];
    for (why, bytes) in cases {
        std::fs::write(&path, bytes).unwrap();
        let message = match Journal::open(&path) {
            Ok(_) => panic!("opened a damaged journal ({why})"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&format!("the journal `{}` is damaged", path.display())),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
        assert!(message.contains("move the file aside"), "{message}");
        assert!(
            !dir.path().join("journal.db-wal").exists(),
            "nothing was created beside it"
        );
    }
}

/// A tmpfs mounted on a temp dir, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with the reason printed) when mounting is not allowed here.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        match mount(
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            dir.path(),
        ) {
            Ok(()) => Some(Tmpfs { dir }),
            Err(why) => {
                eprintln!("no tmpfs test: cannot mount one ({why}); max_page_count tests cover a full database");
                None
            }
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    fn remount(&self, options: &str) {
        mount(&["-o", &format!("remount,{options}")], self.dir.path()).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn mount(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Fills the file system holding `dir` up to the last byte.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = [0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    while file.write_all(&chunk[..1]).is_ok() {}
    filler
}

#[tokio::test]
async fn a_tmpfs_that_fills_up_fails_the_waiters_until_space_returns() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let path = fs.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    let h = journal.handle();
    h.execution("a", "b00t.a.s", "before", b"{}").await.unwrap();
    let filler = fill_disk(&fs.path());
    let message = h
        .execution("a", "b00t.a.s", "full", BIG)
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    std::fs::remove_file(&filler).unwrap();
    h.execution("a", "b00t.a.s", "after", BIG).await.unwrap();

    // Full again, then the tmpfs grows instead.
    let filler = fill_disk(&fs.path());
    let big = vec![b'y'; 256 * 1024];
    assert!(h.execution("a", "b00t.a.s", "full-2", &big).await.is_err());
    fs.remount("size=4m");
    h.execution("a", "b00t.a.s", "grown", &big).await.unwrap();
    drop(h);
    journal.close().await;
    std::fs::remove_file(&filler).unwrap();
    let lookup = Journal::open(&path).unwrap().execution_lookup().unwrap();
    for (id, present) in [
        ("before", true),
        ("full", false),
        ("after", true),
        ("full-2", false),
        ("grown", true),
    ] {
        assert_eq!(
            lookup.get("b00t.a.s", id).unwrap().is_some(),
            present,
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_read_only_state_folder_is_refused_at_open() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let path = fs.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    journal.close().await;
    fs.remount("ro");
    let message = match Journal::open(&path) {
        Ok(_) => panic!("opened a journal on a read-only file system"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("writable"), "{message}");
    fs.remount("rw");
}
