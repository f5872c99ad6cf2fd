//! WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the
//! committing connection and fsyncs there, so every thousand pages one commit (and every
//! agent waiting on it) stalls for milliseconds. The writer turns it off; this thread
//! checkpoints passively, on its own connection, twice a second and once at close.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::JournalError;

/// How often the WAL is copied back into the database.
const INTERVAL: Duration = Duration::from_millis(500);
/// WAL pages (1 KiB each in a journal made now, 4 KiB in an older one) past which a
/// RESTART checkpoint briefly holds writers back so that the WAL starts over: passive
/// ones alone may never catch up under constant load.
const WAL_PAGES_LIMIT: i64 = 16_384;

/// The checkpoint thread; dropping `stop` ends it after a last checkpoint.
pub(crate) struct Checkpointer {
    /// Dropped (or sent to) by `finish` to stop the thread.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Result<Checkpointer, JournalError> {
        let conn = crate::schema::connect(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread_path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("b00t-checkpoint".into())
            .spawn(move || run(conn, stopped, thread_path))
            .map_err(|source| JournalError::Thread {
                path: path.to_owned(),
                source,
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the thread after a final, truncating checkpoint.
    pub(crate) fn finish(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(conn: Connection, stopped: mpsc::Receiver<()>, path: PathBuf) {
    // Returns the WAL's size in pages after the checkpoint.
    let checkpoint = |mode: &str| -> i64 {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
        .unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "journal checkpoint failed");
            0
        })
    };
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if checkpoint("PASSIVE") > WAL_PAGES_LIMIT {
            checkpoint("RESTART");
        }
    }
    checkpoint("TRUNCATE");
}
