//! Journal errors, each naming the database file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the journal `{path}`: {source}; check that the state folder is writable and not used by another `b00t up`")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("journal `{path}`: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the journal writer for `{path}`: {source}")]
    Thread {
        path: PathBuf,
        source: std::io::Error,
    },
}
