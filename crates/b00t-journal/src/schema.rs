//! Tables and pragmas. WAL with `synchronous = NORMAL`: a killed process loses nothing
//! that was committed; only a power cut may lose the last commits.

use rusqlite::Connection;

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
";

pub(crate) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Checkpoints run on their own thread (checkpoint.rs), not inside a commit.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
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
