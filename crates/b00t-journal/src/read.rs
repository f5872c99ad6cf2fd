//! Reads: the tasks to drive again at start-up, and look-ups of stored executions.

use std::path::Path;

use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::JournalError;

/// A journaled task with no final reply yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenTask {
    pub address: String,
    pub id: String,
    pub payload: Vec<u8>,
    pub reply_to: Option<String>,
    pub attempts: u32,
    pub acked: bool,
}

pub(crate) fn open_tasks(conn: &Connection, path: &Path) -> Result<Vec<OpenTask>, JournalError> {
    let sql = |source| JournalError::Sql {
        path: path.to_owned(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT address, id, payload, reply_to, attempts, state FROM tasks
             WHERE state IN ('pending', 'acked') ORDER BY created_ms",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(OpenTask {
                address: r.get(0)?,
                id: r.get(1)?,
                payload: r.get(2)?,
                reply_to: r.get(3)?,
                attempts: r.get(4)?,
                acked: r.get::<_, String>(5)? == "acked",
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}

/// Point look-ups of stored executions, on a connection of their own: what an agent's
/// ledger asks when a task id is not among the recent ones it keeps in memory.
pub struct ExecutionLookup {
    conn: Mutex<Connection>,
    path: std::path::PathBuf,
}

impl ExecutionLookup {
    pub(crate) fn new(conn: Connection, path: &Path) -> ExecutionLookup {
        ExecutionLookup {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        }
    }

    /// Calls `each` with the `(address, id)` of every execution `agent` recorded: how a
    /// ledger learns, once at start, which ids it need never look up.
    pub fn each_key_of(
        &self,
        agent: &str,
        mut each: impl FnMut(&str, &str),
    ) -> Result<(), JournalError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let sql = |source| JournalError::Sql {
            path: self.path.clone(),
            source,
        };
        let mut stmt = conn
            .prepare("SELECT address, id FROM executions WHERE agent = ?1")
            .map_err(sql)?;
        let mut rows = stmt.query(params![agent]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let (address, id): (String, String) =
                (row.get(0).map_err(sql)?, row.get(1).map_err(sql)?);
            each(&address, &id);
        }
        Ok(())
    }

    /// The stored final reply of `(address, id)`, if the task was executed.
    pub fn get(&self, address: &str, id: &str) -> Result<Option<Vec<u8>>, JournalError> {
        let conn = self.conn.lock().expect("lookup lock");
        conn.prepare_cached("SELECT reply FROM executions WHERE address = ?1 AND id = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![address, id], |r| r.get(0))
                    .optional()
            })
            .map_err(|source| JournalError::Sql {
                path: self.path.clone(),
                source,
            })
    }
}
