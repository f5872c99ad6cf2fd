//! The journal: one SQLite file (WAL) in the home's state folder that records every task
//! with an id, its ack, its final reply (result, error or dead letter), and each agent's
//! executions. Writes go through one writer thread that commits in batches (group
//! commit); readers open their own connection. The scheduler's rare schedule changes go
//! through a synchronous store on a connection of its own. Only this crate touches
//! rusqlite.
//!
//! Layout: `schema` (tables, pragmas and the checks at open), `writer` (the batching
//! writer thread, its bounded queue and its operations), `merge` (one batch's
//! statements), `checkpoint` (WAL checkpoints on a thread of their own), `read`
//! (queries), `schedules` (the scheduler's table), `bridges` (the chat bridges' offsets,
//! tasks and states), `error`.

mod bridges;
mod checkpoint;
mod error;
mod merge;
mod read;
mod schedules;
mod schema;
mod writer;

pub use bridges::{BridgeStatus, BridgeStore, BridgeTask, Cursor};
pub use error::JournalError;
pub use read::{ExecutionLookup, OpenTask};
pub use schedules::{Inserted, ScheduleRow, ScheduleStore};
pub use writer::{Committed, Final, Journal, JournalHandle, QUEUE, RETENTION_MS, RETRY_AFTER};

/// Milliseconds since the Unix epoch, as the journal stores times.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
