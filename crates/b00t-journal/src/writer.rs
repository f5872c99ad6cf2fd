//! The writer thread: receives operations from any number of [`JournalHandle`]s over a
//! bounded queue and applies them in batched transactions, so a burst of tasks costs one
//! commit.
//!
//! Honest durability: an operation with a waiter (`flush`, `execution`, `task_durable`)
//! resolves only when the batch holding it has committed, and to the error when that
//! commit failed (disk full, read-only, I/O error). A failed batch is rolled back and the
//! thread goes on; its fire-and-forget operations (`task`, `ack`, `attempt`, `finish`) are
//! tried once more with the next batch (or alone after [`RETRY_AFTER`]), then dropped
//! with an error in the log naming how many. Waited operations are never retried: their
//! waiter was told they failed. So a `flush` that resolves to `Ok` says its own batch
//! committed, not that no fire-and-forget entry was ever dropped; whoever needs one
//! entry to be durable waits on it (`task_durable`, `execution`).
//!
//! Backpressure: the queue holds [`QUEUE`] operations; a send waits while it is full.
//! Sends stay synchronous so that callers in sync code (the watcher's loop) keep working;
//! the wait is bounded by the writer's progress, which never depends on async code, so
//! it cannot deadlock.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use crate::checkpoint::Checkpointer;
use crate::merge::MergedTasks;
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
    pub(crate) fn state(self) -> &'static str {
        match self {
            Final::Result => "result",
            Final::Error => "error",
            Final::Dead => "dead",
        }
    }
}

/// Told once the batch holding an operation has committed, or why it did not.
type Waiter = oneshot::Sender<Result<(), JournalError>>;

enum Op {
    Task {
        address: String,
        id: String,
        payload: Vec<u8>,
        reply_to: Option<String>,
        /// `task_durable`'s caller, waiting for this row's commit.
        done: Option<Waiter>,
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
        reply: Option<Vec<u8>>,
    },
    Execution {
        address: String,
        id: String,
        agent: String,
        reply: Vec<u8>,
        /// The agent, waiting for this record's commit before it publishes the result.
        done: Waiter,
    },
    /// Answered once everything sent before it is committed.
    Flush(Waiter),
    /// Runs on the writer's connection inside the batch's transaction (tests only).
    #[cfg(test)]
    OnWriter(Box<dyn Fn(&Connection) + Send>),
}

impl Op {
    /// Whether someone waits on this operation (and so it is never retried).
    fn is_waited(&self) -> bool {
        match self {
            Op::Task { done, .. } => done.is_some(),
            Op::Execution { .. } | Op::Flush(_) => true,
            #[cfg(test)]
            Op::OnWriter(_) => true,
            Op::Ack { .. } | Op::Attempt { .. } | Op::Final { .. } => false,
        }
    }

    fn into_waiter(self) -> Option<Waiter> {
        match self {
            Op::Task { done, .. } => done,
            Op::Execution { done, .. } | Op::Flush(done) => Some(done),
            _ => None,
        }
    }
}

/// Finished tasks and executions older than this are deleted when the journal opens.
pub const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Page cache of a read connection, in KiB as SQLite counts a negative `cache_size`:
/// look-ups touch a few index pages each, and every agent has its own connection.
const READER_CACHE_KIB: i64 = -512;

/// Most operations applied in one transaction.
const BATCH: usize = 1024;

/// Operations the queue to the writer holds before a send waits.
pub const QUEUE: usize = 8 * BATCH;

/// How long a failed batch's fire-and-forget operations wait for new company before
/// they are tried again alone.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The owner of the journal: holds the writer thread and closes it.
pub struct Journal {
    handle: JournalHandle,
    /// The writer thread; it ends when every handle is dropped or on `close`.
    writer: Option<JoinHandle<()>>,
    /// Copies the WAL back into the database, off the writer's path.
    checkpointer: Checkpointer,
    path: PathBuf,
}

/// A cloneable way to write to the journal. Sends wait only while the writer is
/// [`QUEUE`] operations behind; writes are committed in the background, and the waiting
/// calls (`flush`, `execution`, `task_durable`) resolve once they are, or with the error.
#[derive(Clone)]
pub struct JournalHandle {
    /// To the writer thread (bounded); the thread stops when all senders are gone.
    tx: mpsc::SyncSender<Op>,
    /// The journal file, for the errors of a stopped writer.
    path: Arc<Path>,
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalHandle")
    }
}

/// Resolves once an operation's batch has committed, or to why it did not.
#[must_use = "a commit that is not awaited may have failed unnoticed"]
pub struct Committed {
    rx: oneshot::Receiver<Result<(), JournalError>>,
    path: Arc<Path>,
}

impl Future for Committed {
    type Output = Result<(), JournalError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Ready(Ok(outcome)) => Poll::Ready(outcome),
            // The writer dropped the waiter: it stopped (or never got the operation).
            Poll::Ready(Err(_)) => Poll::Ready(Err(JournalError::Stopped {
                path: self.path.to_path_buf(),
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` and starts its writer thread. Refuses a
    /// damaged file (truncated, not SQLite) and a journal it cannot write, with an error
    /// that names the file and says what to do.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        schema::check_file(path)?;
        let conn = schema::connect(path)?;
        schema::prepare(&conn).map_err(|source| JournalError::Open {
            path: path.to_owned(),
            source,
        })?;
        schema::verify_writable(&conn, path, now_ms())?;
        schema::prune(&conn, now_ms() - RETENTION_MS).map_err(|source| JournalError::Sql {
            path: path.to_owned(),
            source,
        })?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread_path = path.to_owned();
        let writer = std::thread::Builder::new()
            .name("b00t-journal".into())
            .spawn(move || write_loop(conn, rx, &thread_path))
            .map_err(|source| JournalError::Thread {
                path: path.to_owned(),
                source,
            })?;
        Ok(Journal {
            handle: JournalHandle {
                tx,
                path: Arc::from(path),
            },
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

    /// Commits everything sent so far, checkpoints, and stops the writer thread. A last
    /// commit that fails is logged: there is nobody left to tell.
    pub async fn close(mut self) {
        if let Err(e) = self.handle.flush().await {
            tracing::error!(error = %e, "the journal's last commit failed");
        }
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
    /// Queues `op`, waiting while the queue is full. A stopped writer drops it (and its
    /// waiter, which then resolves to [`JournalError::Stopped`]).
    fn send(&self, op: Op) {
        if self.tx.send(op).is_err() {
            tracing::error!(path = %self.path.display(), "journal writer has stopped; an entry was not recorded");
        }
    }

    fn waiter(&self) -> (Waiter, Committed) {
        let (tx, rx) = oneshot::channel();
        let committed = Committed {
            rx,
            path: self.path.clone(),
        };
        (tx, committed)
    }

    /// A task with an id was seen; kept only the first time.
    pub fn task(&self, address: &str, id: &str, payload: &[u8], reply_to: Option<&str>) {
        self.send(Op::Task {
            address: address.to_owned(),
            id: id.to_owned(),
            payload: payload.to_vec(),
            reply_to: reply_to.map(str::to_owned),
            done: None,
        });
    }

    /// A task with an id was seen; resolves once its row is committed (or was already
    /// there), or with the reason it could not be. Batched with everything else: no
    /// extra commit per task.
    pub fn task_durable(
        &self,
        address: &str,
        id: &str,
        payload: &[u8],
        reply_to: Option<&str>,
    ) -> Committed {
        let (done, committed) = self.waiter();
        self.send(Op::Task {
            address: address.to_owned(),
            id: id.to_owned(),
            payload: payload.to_vec(),
            reply_to: reply_to.map(str::to_owned),
            done: Some(done),
        });
        committed
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

    /// The task ended. `reply` is kept when the runtime made it (an error it answered,
    /// the dead letter's); an agent's own reply is `None` here, since the agent's
    /// execution record holds it: a final reply is stored once.
    pub fn finish(&self, address: &str, id: &str, how: Final, reply: Option<&[u8]>) {
        self.send(Op::Final {
            address: address.to_owned(),
            id: id.to_owned(),
            how,
            reply: reply.map(<[u8]>::to_vec),
        });
    }

    /// An agent executed a task; resolves once the record is committed, or with the
    /// reason it could not be.
    pub fn execution(&self, agent: &str, address: &str, id: &str, reply: &[u8]) -> Committed {
        let (done, committed) = self.waiter();
        self.send(Op::Execution {
            address: address.to_owned(),
            id: id.to_owned(),
            agent: agent.to_owned(),
            reply: reply.to_vec(),
            done,
        });
        committed
    }

    /// Resolves once everything sent before this call is committed, or with the error
    /// of the commit that failed. (A fire-and-forget entry of an earlier failed batch that
    /// failed again was dropped and logged; waiters of those batches were told.)
    pub fn flush(&self) -> Committed {
        let (done, committed) = self.waiter();
        self.send(Op::Flush(done));
        committed
    }

    /// Runs `f` on the writer's connection, in the next batch's transaction.
    #[cfg(test)]
    fn on_writer(&self, f: impl Fn(&Connection) + Send + 'static) {
        self.send(Op::OnWriter(Box::new(f)));
    }
}

/// Why a batch did not commit, kept to tell each of its waiters.
#[derive(Clone)]
struct Failure {
    cause: String,
    hint: &'static str,
}

impl Failure {
    fn new(e: &rusqlite::Error) -> Failure {
        Failure {
            cause: e.to_string(),
            hint: crate::error::hint(e),
        }
    }

    fn commit(&self, path: &Path) -> JournalError {
        JournalError::Commit {
            path: path.to_owned(),
            cause: self.cause.clone(),
            hint: self.hint,
        }
    }
}

fn write_loop(mut conn: Connection, rx: mpsc::Receiver<Op>, path: &Path) {
    let mut batch: Vec<Op> = Vec::with_capacity(BATCH);
    // The first `retried` operations of `batch` are on their second (last) try.
    let mut retried = 0;
    loop {
        if batch.is_empty() {
            match rx.recv() {
                Ok(op) => batch.push(op),
                Err(_) => return,
            }
        } else if let Ok(op) = rx.recv_timeout(RETRY_AFTER) {
            // A failed batch's operations go with the next one, or alone after a while
            // (also when every handle is gone).
            batch.push(op);
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        match apply(&mut conn, &batch) {
            Ok(()) => {
                for op in batch.drain(..) {
                    if let Some(done) = op.into_waiter() {
                        let _ = done.send(Ok(()));
                    }
                }
                retried = 0;
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    // rusqlite rolls back a dropped transaction; make sure of it.
                    let _ = conn.execute_batch("ROLLBACK");
                }
                let failure = Failure::new(&e);
                let mut again = Vec::new();
                let mut dropped = 0;
                for (n, op) in batch.drain(..).enumerate() {
                    if op.is_waited() {
                        if let Some(done) = op.into_waiter() {
                            let _ = done.send(Err(failure.commit(path)));
                        }
                    } else if n < retried {
                        dropped += 1;
                    } else {
                        again.push(op);
                    }
                }
                tracing::error!(
                    path = %path.display(),
                    error = %e,
                    retrying = again.len(),
                    dropped,
                    "journal commit failed; {}",
                    failure.hint
                );
                retried = again.len();
                batch = again;
            }
        }
    }
}

/// Applies one batch in one transaction; on error nothing of it is committed.
fn apply(conn: &mut Connection, batch: &[Op]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let now = now_ms();
    let mut tasks = MergedTasks::default();
    for op in batch {
        match op {
            Op::Task {
                address,
                id,
                payload,
                reply_to,
                ..
            } => {
                tasks
                    .entry(address, id)
                    .task
                    .get_or_insert((payload, reply_to.as_deref()));
            }
            Op::Ack { address, id } => tasks.entry(address, id).acked = true,
            Op::Attempt {
                address,
                id,
                attempts,
            } => {
                let m = tasks.entry(address, id);
                m.attempts = Some(m.attempts.unwrap_or(0).max(*attempts));
            }
            Op::Final {
                address,
                id,
                how,
                reply,
            } => {
                tasks
                    .entry(address, id)
                    .end
                    .get_or_insert((*how, reply.as_deref()));
            }
            Op::Execution {
                address,
                id,
                agent,
                reply,
                ..
            } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO executions (address, id, agent, reply, finished_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![address, id, agent, reply, now])?;
            }
            Op::Flush(_) => {}
            #[cfg(test)]
            Op::OnWriter(f) => f(&tx),
        }
    }
    tasks.write(&tx, now)?;
    tx.commit()
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
        h.finish("b00t.a.s", "t-3", Final::Result, Some(b"{}"));
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
                "result" => h.finish("b00t.a.s", id, Final::Result, Some(b"r")),
                "dead" => h.finish("b00t.a.s", id, Final::Dead, Some(b"d")),
                other => panic!("{other}"),
            }
            if flush_each {
                h.flush().await.unwrap();
            }
        }
        h.flush().await.unwrap();
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
        h.flush().await.unwrap();
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
        h.finish("b00t.a.s", "old", Final::Result, Some(b"{}"));
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
        h.finish("b00t.a.s", "t", Final::Dead, Some(b"dead"));
        h.finish("b00t.a.s", "t", Final::Result, Some(b"late"));
        h.flush().await.unwrap();
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

#[cfg(test)]
mod durability_tests;
