//! What one batch says about each task, merged into as few statements as possible: under
//! load a task, its ack and its result usually arrive in the same batch and become one
//! INSERT instead of three statements. Borrows the batch, which stays intact for a retry
//! when the commit fails.

use std::collections::HashMap;

use rusqlite::params;

use crate::writer::Final;

/// What one batch says about one task.
#[derive(Default)]
pub(crate) struct Merged<'a> {
    /// The first `task` op's payload and reply_to (a later duplicate is ignored, as in SQL).
    pub(crate) task: Option<(&'a [u8], Option<&'a str>)>,
    pub(crate) acked: bool,
    pub(crate) attempts: Option<u32>,
    /// The first final state and its reply, if the runtime keeps it (a final reply is
    /// never overwritten, as in SQL).
    pub(crate) end: Option<(Final, Option<&'a [u8]>)>,
}

type Key<'a> = (&'a str, &'a str);

/// The tasks of one batch, merged, in the order they were first named.
#[derive(Default)]
pub(crate) struct MergedTasks<'a> {
    order: Vec<Key<'a>>,
    merged: HashMap<Key<'a>, Merged<'a>>,
}

impl<'a> MergedTasks<'a> {
    pub(crate) fn entry(&mut self, address: &'a str, id: &'a str) -> &mut Merged<'a> {
        let key = (address, id);
        if !self.merged.contains_key(&key) {
            self.order.push(key);
        }
        self.merged.entry(key).or_default()
    }

    /// Writes every merged task, in order.
    pub(crate) fn write(
        mut self,
        tx: &rusqlite::Transaction<'_>,
        now: i64,
    ) -> rusqlite::Result<()> {
        for key in std::mem::take(&mut self.order) {
            if let Some(m) = self.merged.remove(&key) {
                write_task(tx, key, m, now)?;
            }
        }
        Ok(())
    }
}

/// Writes what a batch said about one task: one INSERT when the batch saw the task
/// itself, else the UPDATEs that bring an earlier row up to date.
fn write_task(
    tx: &rusqlite::Transaction<'_>,
    (address, id): Key<'_>,
    m: Merged<'_>,
    now: i64,
) -> rusqlite::Result<()> {
    if let Some((payload, reply_to)) = m.task {
        let (state, finished_ms, reply) = match m.end {
            Some((how, reply)) => (how.state(), Some(now), reply),
            None if m.acked => ("acked", None, None),
            None => ("pending", None, None),
        };
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO tasks
                 (address, id, payload, reply_to, state, attempts, created_ms, acked_ms, finished_ms, reply)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                address,
                id,
                payload,
                reply_to,
                state,
                m.attempts.unwrap_or(0),
                now,
                m.acked.then_some(now),
                finished_ms,
                reply,
            ])?;
        if inserted == 1 {
            return Ok(());
        }
    }
    if m.acked {
        tx.prepare_cached(
            "UPDATE tasks SET state = 'acked', acked_ms = ?3
             WHERE address = ?1 AND id = ?2 AND state = 'pending'",
        )?
        .execute(params![address, id, now])?;
    }
    if let Some(attempts) = m.attempts {
        tx.prepare_cached("UPDATE tasks SET attempts = ?3 WHERE address = ?1 AND id = ?2")?
            .execute(params![address, id, attempts])?;
    }
    if let Some((how, reply)) = m.end {
        tx.prepare_cached(
            "UPDATE tasks SET state = ?3, reply = ?4, finished_ms = ?5
             WHERE address = ?1 AND id = ?2 AND state IN ('pending', 'acked')",
        )?
        .execute(params![address, id, how.state(), reply, now])?;
    }
    Ok(())
}
