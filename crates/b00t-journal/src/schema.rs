//! Tables, pragmas and the checks at open. 1 KiB pages ([`PAGE_SIZE`]), WAL with
//! `synchronous = NORMAL`: a killed process loses nothing that was committed; only a
//! power cut may lose the last commits.
//! At open the file's header is checked against its length (a truncated or foreign file
//! is refused before SQLite touches it) and one small write transaction proves that the
//! journal can be written; neither reads the whole file, so a big journal opens fast.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::JournalError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    address     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    reply_to    TEXT,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'acked', 'result', 'error', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL,
    acked_ms    INTEGER,
    finished_ms INTEGER,
    reply       BLOB,
    PRIMARY KEY (address, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (created_ms) WHERE state IN ('pending', 'acked');
CREATE TABLE IF NOT EXISTS executions (
    address     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    agent       TEXT    NOT NULL,
    reply       BLOB    NOT NULL,
    finished_ms INTEGER NOT NULL,
    PRIMARY KEY (address, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schedules (
    id            TEXT    NOT NULL PRIMARY KEY,
    group_name    TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('cron', 'every', 'once')),
    spec          TEXT    NOT NULL,
    next_ms       INTEGER,
    created_ms    INTEGER NOT NULL,
    last_fired_ms INTEGER,
    fired         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedules_group ON schedules (group_name);
CREATE TABLE IF NOT EXISTS opened (
    one     INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    last_ms INTEGER NOT NULL
);
";

/// SQLite's 100-byte file header starts with this.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a file that cannot be a whole SQLite database: shorter than its header, not
/// starting with SQLite's magic, or shorter than the page count its header states. The
/// length check is skipped while a WAL with content lies beside it: after a crash in the
/// middle of a checkpoint the database file may be short until SQLite recovers it from
/// the WAL. A missing or empty file is a new journal.
pub(crate) fn check_file(path: &Path) -> Result<(), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    let damaged = |why: String| JournalError::Damaged {
        path: path.to_owned(),
        why,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        return Ok(());
    }
    if len < 100 {
        return Err(damaged(format!(
            "it is {len} bytes long, shorter than SQLite's 100-byte header"
        )));
    }
    let mut header = [0u8; 100];
    file.read_exact(&mut header).map_err(io)?;
    if &header[..16] != MAGIC {
        return Err(damaged(
            "it does not start with SQLite's header (not a database, or overwritten)".into(),
        ));
    }
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536u64,
        n => u64::from(n),
    };
    if page_size < 512 || !page_size.is_power_of_two() {
        return Err(damaged(format!(
            "its header gives a page size of {page_size}"
        )));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if wal_len > 0 {
        return Ok(());
    }
    let (change_counter, pages, valid_for) = (be32(24), u64::from(be32(28)), be32(92));
    let expected = pages * page_size;
    if pages > 0 && change_counter == valid_for && len < expected {
        return Err(damaged(format!(
            "it is {len} bytes long but its header counts {pages} pages of {page_size} bytes ({expected} bytes): it was truncated"
        )));
    }
    if len % page_size != 0 {
        return Err(damaged(format!(
            "it is {len} bytes long, not a whole number of {page_size}-byte pages: it was truncated"
        )));
    }
    Ok(())
}

/// One small write transaction, so that a journal that cannot be written (read-only
/// folder or file, full disk) is refused at open rather than at the first task.
pub(crate) fn verify_writable(
    conn: &Connection,
    path: &Path,
    now_ms: i64,
) -> Result<(), JournalError> {
    conn.execute(
        "INSERT INTO opened (one, last_ms) VALUES (1, ?1)
         ON CONFLICT (one) DO UPDATE SET last_ms = excluded.last_ms",
        [now_ms],
    )
    .map(|_| ())
    .map_err(|e| JournalError::NotWritable {
        path: path.to_owned(),
        hint: crate::error::hint(&e),
        cause: e.to_string(),
    })
}

/// Opens a connection to the journal at `path` that waits up to 5 s for a lock held by
/// another connection (the writer, a reader, the checkpointer) instead of failing. The
/// files are made private first ([`make_private`]).
pub(crate) fn connect(path: &Path) -> Result<Connection, JournalError> {
    let open = |source| JournalError::Open {
        path: path.to_owned(),
        source,
    };
    make_private(path);
    let conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open)?;
    Ok(conn)
}

/// The journal holds every task and what it said: only its owner may read it. A missing
/// file is created empty with mode 0600 before SQLite opens it (SQLite then creates the
/// `-wal` and `-shm` files with the database's mode); an existing database, WAL or
/// shared-memory file that others may read is made 0600 (an earlier version made them
/// 0644). A failure here is left to SQLite's own open, which reports it, except a mode
/// that cannot be changed (a file of another user), which is logged.
pub(crate) fn make_private(path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    if created.is_ok() {
        return;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        let Ok(metadata) = std::fs::metadata(file) else {
            continue;
        };
        let mode = metadata.permissions().mode();
        if mode & 0o077 == 0 {
            continue;
        }
        let private = std::fs::Permissions::from_mode(mode & 0o600);
        if let Err(e) = std::fs::set_permissions(file, private) {
            tracing::warn!(file = %file.display(), mode = format!("{:o}", mode & 0o777), error = %e, "the journal can be read by other users and its mode cannot be changed: run `chmod 600` on it");
        }
    }
}

/// Page size of a journal made now. A task's rows are a few hundred bytes, and every
/// commit writes each page it touched whole into the WAL: with SQLite's default 4 KiB
/// pages, a task cost about 28 KiB of WAL (7 pages over its 3 commits), and each
/// checkpoint, copying that back and syncing it twice a second, took 90–170 ms of disk
/// under load, during which round trips slowed. With 1 KiB pages the same checkpoints
/// take 33–43 ms (`b00t bench`, 2026-12-04) and the journal's throughput is unchanged
/// (`cargo bench -p b00t-journal`: 75,500 against 76,800 tasks/s). A journal made with
/// another page size keeps it: SQLite changes it only by rewriting the whole file.
pub(crate) const PAGE_SIZE: i64 = 1024;

pub(crate) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    // Before WAL mode and the first table: it takes effect only on an empty database.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints run on their own thread (checkpoint.rs), not inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.execute_batch(SCHEMA)
}

/// Deletes finished tasks and executions older than `before_ms`; open tasks stay.
pub(crate) fn prune(conn: &Connection, before_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM tasks WHERE state IN ('result', 'error', 'dead') AND finished_ms < ?1",
        [before_ms],
    )?;
    conn.execute("DELETE FROM executions WHERE finished_ms < ?1", [before_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use crate::{Journal, ScheduleStore};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The database and its `-wal` and `-shm` files.
    fn files(path: &Path) -> Vec<PathBuf> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                PathBuf::from(file)
            })
            .collect()
    }

    #[tokio::test]
    async fn a_new_journal_and_its_wal_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        journal.handle().task("b00t.a.s", "t-1", b"secret", None);
        journal.handle().flush().await.unwrap();
        let _schedules = ScheduleStore::open(&path).unwrap();
        for file in files(&path) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        journal.close().await;
    }

    fn page_size(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_journal_has_small_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.db");
        let journal = Journal::open(&new).unwrap();
        journal.handle().task("b00t.a.s", "t-1", b"{}", None);
        journal.handle().flush().await.unwrap();
        journal.close().await;
        assert_eq!(page_size(&new), super::PAGE_SIZE);

        // As an earlier version made it: SQLite's default 4 KiB pages, with a task in it.
        let old = dir.path().join("old.db");
        {
            let conn = rusqlite::Connection::open(&old).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.execute_batch(super::SCHEMA).unwrap();
        }
        assert_eq!(page_size(&old), 4096);
        let journal = Journal::open(&old).unwrap();
        journal.handle().task("b00t.a.s", "t-2", b"{}", None);
        journal.handle().flush().await.unwrap();
        journal.close().await;
        assert_eq!(page_size(&old), 4096, "an old journal keeps its pages");
        let journal = Journal::open(&old).unwrap();
        assert_eq!(journal.open_tasks().unwrap().len(), 1);
        journal.close().await;
    }

    #[tokio::test]
    async fn an_old_world_readable_journal_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        // As an earlier version left it: 0644, WAL and shared memory beside it.
        let old = rusqlite::Connection::open(&path).unwrap();
        super::prepare(&old).unwrap();
        old.execute("INSERT INTO opened (one, last_ms) VALUES (1, 1)", [])
            .unwrap();
        for file in files(&path) {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let journal = Journal::open(&path).unwrap();
        for file in files(&path) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        journal.close().await;
        drop(old);
    }
}
