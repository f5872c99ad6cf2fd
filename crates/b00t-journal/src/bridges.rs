//! The chat bridges' tables, in the same journal file: each bridge's platform cursor
//! (`bridge_offsets`, the next Telegram `update_id` to ask for; `bridge_tokens`, Matrix's
//! `since` token; WhatsApp has none: its task ids are the de-duplication), the tasks it sent for
//! chat messages and whether each was answered (`bridge_tasks`: `sent`, `answered`,
//! `failed`), and each bridge's last known state (`bridge_status`). Like the schedules,
//! these are rare, small writes on a connection of their own, read and written
//! synchronously (callers in async code use a blocking thread); a message's task and the
//! offset past it are one transaction, so a crash never loses one without the other.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{schema, JournalError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS bridge_offsets (
    bridge TEXT    NOT NULL PRIMARY KEY,
    offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bridge_tokens (
    bridge TEXT NOT NULL PRIMARY KEY,
    token  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bridge_tasks (
    bridge      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    body        BLOB    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('sent', 'answered', 'failed')),
    created_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    error       TEXT,
    PRIMARY KEY (bridge, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bridge_tasks_open ON bridge_tasks (bridge, created_ms) WHERE state = 'sent';
CREATE TABLE IF NOT EXISTS bridge_status (
    bridge      TEXT    NOT NULL PRIMARY KEY,
    pid         INTEGER,
    started_ms  INTEGER,
    stopped_ms  INTEGER,
    last_error  TEXT,
    error_ms    INTEGER
) WITHOUT ROWID;
";

/// A task a bridge sent for a chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeTask {
    pub id: String,
    /// `b00t.<group>.chat`.
    pub address: String,
    /// The task's body as JSON (the text and where the chat message came from).
    pub body: String,
    pub created_ms: i64,
}

/// Where a bridge's platform resumes, recorded with each message's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Nothing to record (the task's id is what recognises a redelivery).
    Keep,
    /// The next update to ask for (Telegram's `getUpdates` offset); never moves back.
    Offset(i64),
    /// The platform's opaque resume token (Matrix's `since`).
    Token(String),
}

/// What `b00t bridge list` shows of one bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeStatus {
    pub bridge: String,
    /// The process running it, while it runs (or when it was killed).
    pub pid: Option<u32>,
    pub started_ms: Option<i64>,
    /// When it stopped cleanly; `None` while it runs or after a crash.
    pub stopped_ms: Option<i64>,
    pub last_error: Option<String>,
    pub error_ms: Option<i64>,
    /// Replies that could not be delivered, for good.
    pub failed_replies: u64,
    /// Tasks sent and not answered yet.
    pub waiting: u64,
    pub offset: Option<i64>,
}

/// The bridge tables of one journal file. Share it in an `Arc`.
pub struct BridgeStore {
    /// One connection, one statement at a time; SQLite's busy timeout covers the other
    /// connections on the same file.
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for BridgeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Finished bridge tasks older than this are deleted at open, as the journal's own.
const RETENTION_MS: i64 = crate::RETENTION_MS;

impl BridgeStore {
    /// Opens the journal at `path` (creating it and its tables when missing) for the
    /// bridges; works beside an open [`crate::Journal`] of the same file.
    pub fn open(path: &Path) -> Result<BridgeStore, JournalError> {
        let conn = schema::connect(path)?;
        let open = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        schema::prepare(&conn).map_err(open)?;
        conn.execute_batch(SCHEMA).map_err(open)?;
        conn.execute(
            "DELETE FROM bridge_tasks WHERE state <> 'sent' AND finished_ms < ?1",
            [crate::now_ms() - RETENTION_MS],
        )
        .map_err(open)?;
        Ok(BridgeStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next update `bridge` asks its platform for, once it has handled one.
    pub fn offset(&self, bridge: &str) -> Result<Option<i64>, JournalError> {
        self.lock()
            .query_row(
                "SELECT offset FROM bridge_offsets WHERE bridge = ?1",
                [bridge],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// `bridge`'s resume token, once it saved one.
    pub fn token(&self, bridge: &str) -> Result<Option<String>, JournalError> {
        self.lock()
            .query_row(
                "SELECT token FROM bridge_tokens WHERE bridge = ?1",
                [bridge],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Records `cursor` for `bridge` (an offset never moves back).
    pub fn advance(&self, bridge: &str, cursor: &Cursor) -> Result<(), JournalError> {
        advance(&self.lock(), bridge, cursor).map_err(|e| self.sql(e))
    }

    /// Records `task` as sent and `cursor`, in one transaction. A task already recorded
    /// (the same message seen again) is left as it is; `false` then.
    pub fn sent(
        &self,
        bridge: &str,
        task: &BridgeTask,
        cursor: &Cursor,
    ) -> Result<bool, JournalError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO bridge_tasks (bridge, id, address, body, state, created_ms)
                 VALUES (?1, ?2, ?3, ?4, 'sent', ?5)",
                params![bridge, task.id, task.address, task.body, task.created_ms],
            )
            .map_err(|e| self.sql(e))?;
        advance(&tx, bridge, cursor).map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(inserted > 0)
    }

    /// Marks task `id` answered (its reply reached the chat).
    pub fn answered(&self, bridge: &str, id: &str) -> Result<(), JournalError> {
        self.finish(bridge, id, "answered", None)
    }

    /// Marks task `id` failed: its reply could not be delivered, for `error`.
    pub fn failed(&self, bridge: &str, id: &str, error: &str) -> Result<(), JournalError> {
        self.finish(bridge, id, "failed", Some(error))
    }

    /// Every task of `bridge` sent and not answered, oldest first.
    pub fn open_tasks(&self, bridge: &str) -> Result<Vec<BridgeTask>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, address, body, created_ms FROM bridge_tasks
                 WHERE bridge = ?1 AND state = 'sent' ORDER BY created_ms, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([bridge], |r| {
                Ok(BridgeTask {
                    id: r.get(0)?,
                    address: r.get(1)?,
                    body: r.get(2)?,
                    created_ms: r.get(3)?,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Records that `bridge` runs in process `pid` from now.
    pub fn started(&self, bridge: &str, pid: u32) -> Result<(), JournalError> {
        self.lock()
            .execute(
                "INSERT INTO bridge_status (bridge, pid, started_ms, stopped_ms) VALUES (?1, ?2, ?3, NULL)
                 ON CONFLICT (bridge) DO UPDATE SET pid = ?2, started_ms = ?3, stopped_ms = NULL",
                params![bridge, pid, crate::now_ms()],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    /// Records that `bridge` stopped cleanly.
    pub fn stopped(&self, bridge: &str) -> Result<(), JournalError> {
        self.lock()
            .execute(
                "UPDATE bridge_status SET stopped_ms = ?2 WHERE bridge = ?1",
                params![bridge, crate::now_ms()],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    /// Records `bridge`'s latest error (`None`: it works again).
    pub fn error(&self, bridge: &str, error: Option<&str>) -> Result<(), JournalError> {
        self.lock()
            .execute(
                "INSERT INTO bridge_status (bridge, last_error, error_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bridge) DO UPDATE SET last_error = ?2, error_ms = ?3",
                params![bridge, error, error.map(|_| crate::now_ms())],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    /// What is known of every bridge that ever ran or sent a task, by name.
    pub fn statuses(&self) -> Result<Vec<BridgeStatus>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT b.bridge, s.pid, s.started_ms, s.stopped_ms, s.last_error, s.error_ms,
                   (SELECT count(*) FROM bridge_tasks t WHERE t.bridge = b.bridge AND t.state = 'failed'),
                   (SELECT count(*) FROM bridge_tasks t WHERE t.bridge = b.bridge AND t.state = 'sent'),
                   (SELECT offset FROM bridge_offsets o WHERE o.bridge = b.bridge)
                 FROM (SELECT bridge FROM bridge_status UNION SELECT bridge FROM bridge_tasks
                       UNION SELECT bridge FROM bridge_offsets) b
                 LEFT JOIN bridge_status s ON s.bridge = b.bridge
                 ORDER BY b.bridge",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BridgeStatus {
                    bridge: r.get(0)?,
                    pid: r.get(1)?,
                    started_ms: r.get(2)?,
                    stopped_ms: r.get(3)?,
                    last_error: r.get(4)?,
                    error_ms: r.get(5)?,
                    failed_replies: r.get::<_, i64>(6)?.max(0) as u64,
                    waiting: r.get::<_, i64>(7)?.max(0) as u64,
                    offset: r.get(8)?,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    fn finish(
        &self,
        bridge: &str,
        id: &str,
        state: &str,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.lock()
            .execute(
                "UPDATE bridge_tasks SET state = ?3, finished_ms = ?4, error = ?5
                 WHERE bridge = ?1 AND id = ?2",
                params![bridge, id, state, crate::now_ms(), error],
            )
            .map(drop)
            .map_err(|e| self.sql(e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql(&self, source: rusqlite::Error) -> JournalError {
        JournalError::Sql {
            path: self.path.clone(),
            source,
        }
    }
}

fn advance(conn: &Connection, bridge: &str, cursor: &Cursor) -> rusqlite::Result<()> {
    match cursor {
        Cursor::Keep => Ok(()),
        Cursor::Offset(offset) => conn
            .execute(
                "INSERT INTO bridge_offsets (bridge, offset) VALUES (?1, ?2)
                 ON CONFLICT (bridge) DO UPDATE SET offset = max(offset, excluded.offset)",
                params![bridge, offset],
            )
            .map(drop),
        Cursor::Token(token) => conn
            .execute(
                "INSERT INTO bridge_tokens (bridge, token) VALUES (?1, ?2)
                 ON CONFLICT (bridge) DO UPDATE SET token = excluded.token",
                params![bridge, token],
            )
            .map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> BridgeTask {
        BridgeTask {
            id: id.to_owned(),
            address: "b00t.family.chat".to_owned(),
            body: r#"{"text":"hi"}"#.to_owned(),
            created_ms: 1,
        }
    }

    #[test]
    fn offsets_move_forward_with_their_task_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = BridgeStore::open(&path).unwrap();
        assert_eq!(store.offset("telegram").unwrap(), None);
        assert!(store
            .sent("telegram", &task("tg-1-5"), &Cursor::Offset(6))
            .unwrap());
        // The same update again: recorded once, the offset never goes back.
        assert!(!store
            .sent("telegram", &task("tg-1-5"), &Cursor::Offset(6))
            .unwrap());
        store.advance("telegram", &Cursor::Offset(4)).unwrap();
        assert_eq!(store.offset("telegram").unwrap(), Some(6));
        store
            .sent("telegram", &task("tg-1-6"), &Cursor::Offset(7))
            .unwrap();
        store.answered("telegram", "tg-1-5").unwrap();
        drop(store);

        let store = BridgeStore::open(&path).unwrap();
        assert_eq!(store.offset("telegram").unwrap(), Some(7));
        assert_eq!(store.offset("other").unwrap(), None);
        assert_eq!(store.open_tasks("telegram").unwrap(), vec![task("tg-1-6")]);
        store
            .failed("telegram", "tg-1-6", "Telegram answered 403")
            .unwrap();
        assert!(store.open_tasks("telegram").unwrap().is_empty());
    }

    #[test]
    fn statuses_count_failed_and_waiting_replies() {
        let dir = tempfile::tempdir().unwrap();
        let store = BridgeStore::open(&dir.path().join("journal.db")).unwrap();
        store.started("telegram", 42).unwrap();
        store
            .sent("telegram", &task("a"), &Cursor::Offset(2))
            .unwrap();
        store
            .sent("telegram", &task("b"), &Cursor::Offset(3))
            .unwrap();
        store.failed("telegram", "a", "gone").unwrap();
        store.error("telegram", Some("getUpdates: 502")).unwrap();
        let status = &store.statuses().unwrap()[0];
        assert_eq!(status.bridge, "telegram");
        assert_eq!(status.pid, Some(42));
        assert_eq!(status.failed_replies, 1);
        assert_eq!(status.waiting, 1);
        assert_eq!(status.offset, Some(3));
        assert_eq!(status.last_error.as_deref(), Some("getUpdates: 502"));
        assert_eq!(status.stopped_ms, None);
        store.stopped("telegram").unwrap();
        store.error("telegram", None).unwrap();
        let status = &store.statuses().unwrap()[0];
        assert!(status.stopped_ms.is_some());
        assert_eq!(status.last_error, None);
    }

    #[test]
    fn tokens_are_replaced_and_keep_leaves_the_cursor_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = BridgeStore::open(&path).unwrap();
        assert_eq!(store.token("matrix").unwrap(), None);
        store.sent("matrix", &task("mx-1"), &Cursor::Keep).unwrap();
        assert_eq!(store.token("matrix").unwrap(), None);
        store
            .advance("matrix", &Cursor::Token("s72_1".to_owned()))
            .unwrap();
        // A later batch's token replaces the earlier one (tokens are not ordered).
        store
            .advance("matrix", &Cursor::Token("s9_2".to_owned()))
            .unwrap();
        // A redelivered message (WhatsApp) is recognised by its id alone.
        assert!(!store.sent("matrix", &task("mx-1"), &Cursor::Keep).unwrap());
        drop(store);
        let store = BridgeStore::open(&path).unwrap();
        assert_eq!(store.token("matrix").unwrap().as_deref(), Some("s9_2"));
        assert_eq!(store.offset("matrix").unwrap(), None);
        assert_eq!(store.open_tasks("matrix").unwrap(), vec![task("mx-1")]);
    }
}
