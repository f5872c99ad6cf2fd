//! The scheduler's `schedules` table: one row per scheduled task, read and written
//! synchronously on a connection of its own. Schedule operations are rare (a person or an
//! agent adds one; the scheduler fires a few a minute), so they skip the batching writer;
//! callers in async code run them on a blocking thread. The rows are plain strings and
//! numbers: what `kind` and `spec` mean is the scheduler's business.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::{schema, JournalError};

/// One stored schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRow {
    pub id: String,
    pub group: String,
    pub text: String,
    /// `cron`, `every` or `once`.
    pub kind: String,
    /// The cron expression, the interval in milliseconds, or the time in milliseconds.
    pub spec: String,
    /// When it fires next (ms since the epoch); `None` once it never fires again.
    pub next_ms: Option<i64>,
    pub created_ms: i64,
    pub last_fired_ms: Option<i64>,
    pub fired: u64,
}

/// What [`ScheduleStore::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    Added,
    /// The group already has this many schedules, the limit: nothing was added.
    GroupFull(usize),
    /// Another schedule has this id: nothing was added; pick another id.
    IdTaken,
}

/// The `schedules` table of one journal file. Clones are not needed: share it in an `Arc`.
pub struct ScheduleStore {
    /// One connection, one statement at a time; SQLite's busy timeout covers the writer
    /// thread and the checkpointer working on the same file.
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for ScheduleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduleStore")
            .field("path", &self.path)
            .finish()
    }
}

const COLUMNS: &str = "id, group_name, text, kind, spec, next_ms, created_ms, last_fired_ms, fired";

/// Writes every column of `row` with `verb` (`INSERT OR IGNORE`, `INSERT OR REPLACE`);
/// the rows changed.
fn write_row(conn: &Connection, verb: &str, row: &ScheduleRow) -> rusqlite::Result<usize> {
    conn.execute(
        &format!("{verb} INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            row.id,
            row.group,
            row.text,
            row.kind,
            row.spec,
            row.next_ms,
            row.created_ms,
            row.last_fired_ms,
            i64::try_from(row.fired).unwrap_or(i64::MAX),
        ],
    )
}

impl ScheduleStore {
    /// Opens the journal at `path` (creating it and its tables when missing) for schedules.
    /// Works beside an open [`crate::Journal`] of the same file.
    pub fn open(path: &Path) -> Result<ScheduleStore, JournalError> {
        let conn = schema::connect(path)?;
        schema::prepare(&conn).map_err(|source| JournalError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(ScheduleStore {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds `row` unless its group already has `max_per_group` schedules or its id is
    /// taken; the count and the insert are one transaction.
    pub fn insert(
        &self,
        row: &ScheduleRow,
        max_per_group: usize,
    ) -> Result<Inserted, JournalError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))?;
        let count: i64 = tx
            .query_row(
                "SELECT count(*) FROM schedules WHERE group_name = ?1",
                [&row.group],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count >= max_per_group {
            return Ok(Inserted::GroupFull(count));
        }
        let inserted = write_row(&tx, "INSERT OR IGNORE", row).map_err(|e| self.sql(e))?;
        if inserted == 0 {
            return Ok(Inserted::IdTaken);
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(Inserted::Added)
    }

    /// Writes `row` whole, adding it or replacing the schedule with its id, with no group
    /// limit: for a standby copying the active runtime's rows, which held the limit.
    pub fn upsert(&self, row: &ScheduleRow) -> Result<(), JournalError> {
        write_row(&self.lock(), "INSERT OR REPLACE", row).map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Every schedule, or those of `group`, in order of their next fire (those that never
    /// fire again last), then by id.
    pub fn list(&self, group: Option<&str>) -> Result<Vec<ScheduleRow>, JournalError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM schedules WHERE ?1 IS NULL OR group_name = ?1
                 ORDER BY next_ms IS NULL, next_ms, id"
            ))
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([group], row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// The schedule `id`, if there is one.
    pub fn get(&self, id: &str) -> Result<Option<ScheduleRow>, JournalError> {
        let conn = self.lock();
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"))
            .and_then(|mut stmt| stmt.query_row([id], row).optional())
            .map_err(|e| self.sql(e))
    }

    /// Deletes the schedule `id`; `false` when there was none.
    pub fn remove(&self, id: &str) -> Result<bool, JournalError> {
        let conn = self.lock();
        let removed = conn
            .execute("DELETE FROM schedules WHERE id = ?1", [id])
            .map_err(|e| self.sql(e))?;
        Ok(removed > 0)
    }

    /// Records that `id` fired at `fired_ms` and next fires at `next_ms` (`None`: never).
    /// Only when its next fire is still `due_ms`, so a schedule changed meanwhile is left
    /// alone. `false` when nothing matched (the schedule was removed or changed).
    pub fn fired(
        &self,
        id: &str,
        due_ms: i64,
        fired_ms: i64,
        next_ms: Option<i64>,
    ) -> Result<bool, JournalError> {
        let conn = self.lock();
        let updated = conn
            .execute(
                "UPDATE schedules SET last_fired_ms = ?3, next_ms = ?4, fired = fired + 1
                 WHERE id = ?1 AND next_ms = ?2",
                params![id, due_ms, fired_ms, next_ms],
            )
            .map_err(|e| self.sql(e))?;
        Ok(updated > 0)
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

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        id: r.get(0)?,
        group: r.get(1)?,
        text: r.get(2)?,
        kind: r.get(3)?,
        spec: r.get(4)?,
        next_ms: r.get(5)?,
        created_ms: r.get(6)?,
        last_fired_ms: r.get(7)?,
        fired: u64::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Journal;

    fn sample(id: &str, group: &str, next_ms: Option<i64>) -> ScheduleRow {
        ScheduleRow {
            id: id.into(),
            group: group.into(),
            text: format!("text of {id}"),
            kind: "every".into(),
            spec: "60000".into(),
            next_ms,
            created_ms: 1,
            last_fired_ms: None,
            fired: 0,
        }
    }

    #[tokio::test]
    async fn rows_survive_a_reopen_beside_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        let store = ScheduleStore::open(&path).unwrap();
        assert_eq!(
            store.insert(&sample("s-2", "a", Some(20)), 10).unwrap(),
            Inserted::Added
        );
        assert_eq!(
            store.insert(&sample("s-1", "b", Some(10)), 10).unwrap(),
            Inserted::Added
        );
        assert_eq!(
            store.insert(&sample("s-3", "a", None), 10).unwrap(),
            Inserted::Added
        );
        assert_eq!(
            store.insert(&sample("s-1", "a", None), 10).unwrap(),
            Inserted::IdTaken
        );
        assert!(store.fired("s-2", 20, 25, Some(80)).unwrap());
        assert!(
            !store.fired("s-2", 20, 26, Some(90)).unwrap(),
            "no longer due at 20"
        );
        drop(store);
        journal.close().await;

        let store = ScheduleStore::open(&path).unwrap();
        let ids: Vec<_> = store
            .list(None)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["s-1", "s-2", "s-3"], "by next fire, never-again last");
        let fired = store.get("s-2").unwrap().unwrap();
        assert_eq!(
            (fired.next_ms, fired.last_fired_ms, fired.fired),
            (Some(80), Some(25), 1)
        );
        assert_eq!(store.list(Some("a")).unwrap().len(), 2);
        assert!(store.remove("s-2").unwrap());
        assert!(!store.remove("s-2").unwrap());
        assert_eq!(store.get("s-2").unwrap(), None);
    }

    #[test]
    fn upsert_adds_then_replaces_the_whole_row_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScheduleStore::open(&dir.path().join("j.db")).unwrap();
        store.insert(&sample("s-1", "a", Some(1)), 1).unwrap();
        let added = sample("s-2", "a", Some(5));
        store.upsert(&added).unwrap();
        assert_eq!(store.get("s-2").unwrap(), Some(added), "no group limit");
        let mut changed = sample("s-2", "b", Some(9));
        changed.text = "new text".into();
        changed.kind = "once".into();
        changed.spec = "9".into();
        changed.last_fired_ms = Some(4);
        changed.fired = 3;
        store.upsert(&changed).unwrap();
        assert_eq!(store.get("s-2").unwrap(), Some(changed));
        assert_eq!(store.list(None).unwrap().len(), 2);
        assert!(store.remove("s-2").unwrap());
    }

    #[test]
    fn a_full_group_takes_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = ScheduleStore::open(&dir.path().join("j.db")).unwrap();
        store.insert(&sample("s-1", "a", Some(1)), 2).unwrap();
        store.insert(&sample("s-2", "a", Some(1)), 2).unwrap();
        assert_eq!(
            store.insert(&sample("s-3", "a", Some(1)), 2).unwrap(),
            Inserted::GroupFull(2)
        );
        assert_eq!(
            store.insert(&sample("s-3", "b", Some(1)), 2).unwrap(),
            Inserted::Added,
            "the limit is per group"
        );
    }
}
