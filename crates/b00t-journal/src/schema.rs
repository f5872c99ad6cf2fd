//! Tables and pragmas. WAL with `synchronous = NORMAL`: a killed process loses nothing
//! that was committed; only a power cut may lose the last commits.

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
";

/// Opens a connection to the journal at `path` that waits up to 5 s for a lock held by
/// another connection (the writer, a reader, the checkpointer) instead of failing.
pub(crate) fn connect(path: &Path) -> Result<Connection, JournalError> {
    let open = |source| JournalError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open(path).map_err(open)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open)?;
    Ok(conn)
}

pub(crate) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
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
