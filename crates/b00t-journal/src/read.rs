//! Queries made at start-up: the tasks to drive again, and an agent's recent executions.

use std::path::Path;

use rusqlite::{params, Connection};

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

/// A task an agent executed, with the reply it stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    pub address: String,
    pub id: String,
    pub reply: Vec<u8>,
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

pub(crate) fn executions(
    conn: &Connection,
    path: &Path,
    agent: &str,
    limit: usize,
) -> Result<Vec<Execution>, JournalError> {
    let sql = |source| JournalError::Sql {
        path: path.to_owned(),
        source,
    };
    let mut stmt = conn
        .prepare(
            "SELECT address, id, reply FROM executions WHERE agent = ?1
             ORDER BY finished_ms DESC LIMIT ?2",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![agent, limit as i64], |r| {
            Ok(Execution {
                address: r.get(0)?,
                id: r.get(1)?,
                reply: r.get(2)?,
            })
        })
        .map_err(sql)?;
    rows.collect::<Result<_, _>>().map_err(sql)
}
