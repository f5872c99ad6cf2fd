//! The writer thread: receives operations from any number of [`JournalHandle`]s and
//! applies them in batched transactions, so a burst of tasks costs one commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::checkpoint::Checkpointer;
use crate::read::{self, ExecutionLookup, OpenTask};
use crate::{now_ms, schema, JournalError};

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Final {
    Result,
    Error,
    Dead,
}

impl Final {
    fn state(self) -> &'static str {
        match self {
            Final::Result => "result",
            Final::Error => "error",
            Final::Dead => "dead",
        }
    }
}

enum Op {
    Task {
        address: String,
        id: String,
        payload: Vec<u8>,
        reply_to: Option<String>,
    },
    Ack {
        address: String,
        id: String,
    },
    Attempt {
        address: String,
        id: String,
        attempts: u32,
    },
    Final {
        address: String,
        id: String,
        how: Final,
        reply: Vec<u8>,
    },
    Execution {
        address: String,
        id: String,
        agent: String,
        reply: Vec<u8>,
    },
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Finished tasks and executions older than this are deleted when the journal opens.
pub const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Page cache of a read connection, in KiB as SQLite counts a negative `cache_size`:
/// look-ups touch a few index pages each, and every agent has its own connection.
const READER_CACHE_KIB: i64 = -512;

/// Most operations applied in one transaction.
const BATCH: usize = 1024;

/// The owner of the journal: holds the writer thread and closes it.
pub struct Journal {
    handle: JournalHandle,
    /// The writer thread; it ends when every handle is dropped or on `close`.
    writer: Option<JoinHandle<()>>,
    /// Copies the WAL back into the database, off the writer's path.
    checkpointer: Checkpointer,
    path: PathBuf,
}

/// A cloneable way to write to the journal. Sends never block; writes are committed in
/// the background, and `flush` waits for them.
#[derive(Clone)]
pub struct JournalHandle {
    /// To the writer thread; the thread stops when all senders are gone.
    tx: mpsc::Sender<Op>,
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalHandle")
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let conn = schema::connect(path)?;
        schema::prepare(&conn).map_err(|source| JournalError::Open {
            path: path.to_owned(),
            source,
        })?;
        schema::prune(&conn, now_ms() - RETENTION_MS).map_err(|source| JournalError::Sql {
            path: path.to_owned(),
            source,
        })?;
        let (tx, rx) = mpsc::channel();
        let thread_path = path.to_owned();
        let writer = std::thread::Builder::new()
            .name("b00t-journal".into())
            .spawn(move || write_loop(conn, rx, &thread_path))
            .map_err(|source| JournalError::Thread {
                path: path.to_owned(),
                source,
            })?;
        Ok(Journal {
            handle: JournalHandle { tx },
            writer: Some(writer),
            checkpointer: Checkpointer::start(path)?,
            path: path.to_owned(),
        })
    }

    pub fn handle(&self) -> JournalHandle {
        self.handle.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every task with no final reply, oldest first.
    pub fn open_tasks(&self) -> Result<Vec<OpenTask>, JournalError> {
        read::open_tasks(&self.reader()?, &self.path)
    }

    /// A look-up of stored executions with a connection of its own.
    pub fn execution_lookup(&self) -> Result<ExecutionLookup, JournalError> {
        Ok(ExecutionLookup::new(self.reader()?, &self.path))
    }

    fn reader(&self) -> Result<Connection, JournalError> {
        let conn = schema::connect(&self.path)?;
        conn.pragma_update(None, "cache_size", READER_CACHE_KIB)
            .map_err(|source| JournalError::Sql {
                path: self.path.clone(),
                source,
            })?;
        Ok(conn)
    }

    /// Commits everything sent so far, checkpoints, and stops the writer thread.
    pub async fn close(mut self) {
        self.handle.flush().await;
        self.checkpointer.finish();
        if let Some(writer) = self.writer.take() {
            drop(self.handle);
            // The thread ends once the last handle is gone; handles held elsewhere keep it
            // alive, which is fine: everything sent before `flush` is committed.
            if writer.is_finished() {
                let _ = writer.join();
            }
        }
    }
}

impl JournalHandle {
    fn send(&self, op: Op) {
        if self.tx.send(op).is_err() {
            tracing::error!("journal writer has stopped; an entry was not recorded");
        }
    }

    /// A task with an id was seen; kept only the first time.
    pub fn task(&self, address: &str, id: &str, payload: &[u8], reply_to: Option<&str>) {
        self.send(Op::Task {
            address: address.to_owned(),
            id: id.to_owned(),
            payload: payload.to_vec(),
            reply_to: reply_to.map(str::to_owned),
        });
    }

    pub fn ack(&self, address: &str, id: &str) {
        self.send(Op::Ack {
            address: address.to_owned(),
            id: id.to_owned(),
        });
    }

    pub fn attempt(&self, address: &str, id: &str, attempts: u32) {
        self.send(Op::Attempt {
            address: address.to_owned(),
            id: id.to_owned(),
            attempts,
        });
    }

    /// The task ended with `reply` (a result, an error, or the dead letter's error).
    pub fn finish(&self, address: &str, id: &str, how: Final, reply: &[u8]) {
        self.send(Op::Final {
            address: address.to_owned(),
            id: id.to_owned(),
            how,
            reply: reply.to_vec(),
        });
    }

    /// An agent executed a task; resolves once the record is committed.
    pub fn execution(
        &self,
        agent: &str,
        address: &str,
        id: &str,
        reply: &[u8],
    ) -> oneshot::Receiver<()> {
        self.send(Op::Execution {
            address: address.to_owned(),
            id: id.to_owned(),
            agent: agent.to_owned(),
            reply: reply.to_vec(),
        });
        let (tx, rx) = oneshot::channel();
        self.send(Op::Flush(tx));
        rx
    }

    /// Waits until everything sent before this call is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Flush(tx));
        let _ = rx.await;
    }
}

fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Op>, path: &Path) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut flushed = Vec::new();
        if let Err(e) = apply(&mut conn, &mut batch, &mut flushed) {
            tracing::error!(path = %path.display(), error = %e, "journal write failed");
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

/// What one batch says about one task, merged: under load a task, its ack and its result
/// usually arrive in the same batch and become one INSERT instead of three statements.
#[derive(Default)]
struct Merged {
    /// The first `task` op's payload and reply_to (a later duplicate is ignored, as in SQL).
    task: Option<(Vec<u8>, Option<String>)>,
    acked: bool,
    attempts: Option<u32>,
    /// The first final reply (a final reply is never overwritten, as in SQL).
    end: Option<(Final, Vec<u8>)>,
}

/// The tasks of one batch, merged, in the order they were first named.
#[derive(Default)]
struct MergedTasks {
    order: Vec<(String, String)>,
    merged: HashMap<(String, String), Merged>,
}

impl MergedTasks {
    fn entry(&mut self, address: String, id: String) -> &mut Merged {
        let key = (address, id);
        if !self.merged.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.merged.entry(key).or_default()
    }

    fn into_ordered(mut self) -> impl Iterator<Item = ((String, String), Merged)> {
        self.order.into_iter().filter_map(move |key| {
            let m = self.merged.remove(&key)?;
            Some((key, m))
        })
    }
}

fn apply(
    conn: &mut Connection,
    batch: &mut Vec<Op>,
    flushed: &mut Vec<oneshot::Sender<()>>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let now = now_ms();
    let mut tasks = MergedTasks::default();
    for op in batch.drain(..) {
        match op {
            Op::Task {
                address,
                id,
                payload,
                reply_to,
            } => {
                tasks
                    .entry(address, id)
                    .task
                    .get_or_insert((payload, reply_to));
            }
            Op::Ack { address, id } => tasks.entry(address, id).acked = true,
            Op::Attempt {
                address,
                id,
                attempts,
            } => {
                let m = tasks.entry(address, id);
                m.attempts = Some(m.attempts.unwrap_or(0).max(attempts));
            }
            Op::Final {
                address,
                id,
                how,
                reply,
            } => {
                tasks.entry(address, id).end.get_or_insert((how, reply));
            }
            Op::Execution {
                address,
                id,
                agent,
                reply,
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO executions (address, id, agent, reply, finished_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![address, id, agent, reply, now])?;
            }
            Op::Flush(done) => flushed.push(done),
        }
    }
    for (key, m) in tasks.into_ordered() {
        write_task(&tx, &key, m, now)?;
    }
    tx.commit()
}

/// Writes what a batch said about one task: one INSERT when the batch saw the task
/// itself, else the UPDATEs that bring an earlier row up to date.
fn write_task(
    tx: &rusqlite::Transaction<'_>,
    (address, id): &(String, String),
    m: Merged,
    now: i64,
) -> rusqlite::Result<()> {
    if let Some((payload, reply_to)) = &m.task {
        let (state, finished_ms, reply) = match &m.end {
            Some((how, reply)) => (how.state(), Some(now), Some(reply)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_tasks_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let journal = Journal::open(&path).unwrap();
        let h = journal.handle();
        h.task("b00t.a.s", "t-1", b"{\"id\":\"t-1\"}", Some("r"));
        h.task("b00t.a.s", "t-2", b"{\"id\":\"t-2\"}", None);
        h.task("b00t.a.s", "t-3", b"{\"id\":\"t-3\"}", None);
        h.task("b00t.a.s", "t-1", b"duplicate is ignored", None);
        h.ack("b00t.a.s", "t-2");
        h.attempt("b00t.a.s", "t-2", 2);
        h.finish("b00t.a.s", "t-3", Final::Result, b"{}");
        h.execution("a", "b00t.a.s", "t-3", b"{\"type\":\"result\"}")
            .await
            .unwrap();
        drop(h);
        journal.close().await;

        let journal = Journal::open(&path).unwrap();
        let open = journal.open_tasks().unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(open[0].id, "t-1");
        assert_eq!(open[0].payload, b"{\"id\":\"t-1\"}");
        assert_eq!(open[0].reply_to.as_deref(), Some("r"));
        assert!(!open[0].acked);
        assert_eq!(open[1].id, "t-2");
        assert!(open[1].acked);
        assert_eq!(open[1].attempts, 2);
        let lookup = journal.execution_lookup().unwrap();
        assert_eq!(
            lookup.get("b00t.a.s", "t-3").unwrap().as_deref(),
            Some(&b"{\"type\":\"result\"}"[..])
        );
        assert_eq!(lookup.get("b00t.a.s", "t-1").unwrap(), None);
    }

    /// Rows after `ops`, sent either all in one batch or with a commit between each.
    async fn rows_after(
        ops: &[(&str, &str)],
        flush_each: bool,
    ) -> Vec<(String, String, i64, bool, Option<Vec<u8>>)> {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let h = journal.handle();
        for (op, id) in ops {
            match *op {
                "task" => h.task("b00t.a.s", id, id.as_bytes(), None),
                "ack" => h.ack("b00t.a.s", id),
                "retry" => h.attempt("b00t.a.s", id, 1),
                "result" => h.finish("b00t.a.s", id, Final::Result, b"r"),
                "dead" => h.finish("b00t.a.s", id, Final::Dead, b"d"),
                other => panic!("{other}"),
            }
            if flush_each {
                h.flush().await;
            }
        }
        h.flush().await;
        let conn = journal.reader().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT id, state, attempts, acked_ms IS NOT NULL, reply FROM tasks ORDER BY id",
            )
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows
    }

    #[tokio::test]
    async fn a_merged_batch_writes_what_separate_commits_write() {
        let ops = [
            ("task", "1"),
            ("ack", "1"),
            ("result", "1"),
            ("task", "2"),
            ("retry", "2"),
            ("dead", "2"),
            ("result", "2"),
            ("task", "3"),
            ("ack", "3"),
            ("task", "3"),
            ("ack", "4"),
            ("task", "5"),
        ];
        let merged = rows_after(&ops, false).await;
        let separate = rows_after(&ops, true).await;
        assert_eq!(merged, separate);
        let states: Vec<_> = merged
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str()))
            .collect();
        assert_eq!(
            states,
            [
                ("1", "result"),
                ("2", "dead"),
                ("3", "acked"),
                ("5", "pending")
            ]
        );
        assert_eq!(
            merged[1].4.as_deref(),
            Some(&b"d"[..]),
            "the first final reply stays"
        );
    }

    #[tokio::test]
    async fn close_checkpoints_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let journal = Journal::open(&path).unwrap();
        let h = journal.handle();
        for n in 0..200 {
            h.task("b00t.a.s", &n.to_string(), &[b'x'; 1000], None);
        }
        h.flush().await;
        let wal = dir.path().join("j.db-wal");
        assert!(
            wal.metadata().unwrap().len() > 0,
            "writes go to the WAL first"
        );
        drop(h);
        journal.close().await;
        assert_eq!(
            wal.metadata().map(|m| m.len()).unwrap_or(0),
            0,
            "the WAL was truncated"
        );
        let conn = Connection::open(&path).unwrap();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 200);
    }

    #[tokio::test]
    async fn old_finished_entries_are_pruned_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.db");
        let journal = Journal::open(&path).unwrap();
        let h = journal.handle();
        h.task("b00t.a.s", "old", b"{}", None);
        h.finish("b00t.a.s", "old", Final::Result, b"{}");
        h.task("b00t.a.s", "open", b"{}", None);
        h.execution("a", "b00t.a.s", "old", b"{}").await.unwrap();
        drop(h);
        journal.close().await;
        let conn = Connection::open(&path).unwrap();
        let long_ago = now_ms() - RETENTION_MS - 1;
        conn.execute(
            "UPDATE tasks SET finished_ms = ?1, created_ms = ?1",
            [long_ago],
        )
        .unwrap();
        conn.execute("UPDATE executions SET finished_ms = ?1", [long_ago])
            .unwrap();
        drop(conn);
        let journal = Journal::open(&path).unwrap();
        let open = journal.open_tasks().unwrap();
        assert_eq!(open.len(), 1, "an open task is never pruned");
        assert_eq!(open[0].id, "open");
        let lookup = journal.execution_lookup().unwrap();
        assert_eq!(lookup.get("b00t.a.s", "old").unwrap(), None);
    }

    #[tokio::test]
    async fn a_final_reply_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("j.db")).unwrap();
        let h = journal.handle();
        h.task("b00t.a.s", "t", b"{}", None);
        h.finish("b00t.a.s", "t", Final::Dead, b"dead");
        h.finish("b00t.a.s", "t", Final::Result, b"late");
        h.flush().await;
        assert!(journal.open_tasks().unwrap().is_empty());
        let conn = journal.reader().unwrap();
        let (state, reply): (String, Vec<u8>) = conn
            .query_row("SELECT state, reply FROM tasks", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((state.as_str(), reply.as_slice()), ("dead", &b"dead"[..]));
    }
}
