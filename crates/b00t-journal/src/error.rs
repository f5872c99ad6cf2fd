//! Journal errors, each naming the database file and, where there is one, what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal `{path}`: {source}; check that the state folder is writable and not used by another `b00t up`")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// The file is not a whole SQLite database (found before SQLite is asked to open it).
    #[error("the journal `{path}` is damaged: {why}; stop `b00t up`, move the file aside (its tasks are lost) and start again")]
    Damaged { path: PathBuf, why: String },
    /// The file opened but a write transaction at open failed.
    #[error("cannot write the journal `{path}`: {cause}; {hint}")]
    NotWritable {
        path: PathBuf,
        cause: String,
        hint: &'static str,
    },
    #[error("cannot read the journal `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal `{path}`: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A batch did not commit: everyone waiting on it gets this.
    #[error("journal `{path}` could not commit: {cause}; {hint}")]
    Commit {
        path: PathBuf,
        cause: String,
        hint: &'static str,
    },
    #[error(
        "the journal writer for `{path}` has stopped; nothing more is recorded; restart `b00t up`"
    )]
    Stopped { path: PathBuf },
    #[error("cannot start the journal writer for `{path}`: {source}")]
    Thread {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to do about a failed write, by SQLite's primary result code.
pub(crate) fn hint(e: &rusqlite::Error) -> &'static str {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(DiskFull) => "free space on that disk",
        Some(ReadOnly) | Some(CannotOpen) | Some(PermissionDenied) => {
            "make the state folder writable"
        }
        Some(SystemIoFailure) => "check the disk that holds the state folder",
        Some(DatabaseCorrupt) | Some(NotADatabase) => {
            "the file is damaged; stop `b00t up`, move it aside (its tasks are lost) and start again"
        }
        Some(DatabaseBusy) | Some(DatabaseLocked) => {
            "another process holds the journal; run one `b00t up` per home"
        }
        _ => "see the log",
    }
}
