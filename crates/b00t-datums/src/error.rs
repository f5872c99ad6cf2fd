//! Errors: `DatumError` for one file or one lookup, and `Problem`, the per-file report the
//! catalog keeps instead of failing the whole load.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::id::DatumId;

/// What went wrong loading one datum file or finding one datum.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DatumError {
    /// A datum file that cannot be used; the catalog turns it into a [`Problem`].
    #[error("{}: {error}", path.display())]
    File { path: PathBuf, error: FileError },
    /// `find` found nothing; `hint` says what is close or how many datums there are.
    #[error("no datum `{query}` in the catalog: {hint}")]
    NotFound { query: String, hint: String },
    /// The datum's file is in the catalog folders but could not be loaded.
    #[error("`{id}` is in `{}` but was refused: {reason}", path.display())]
    Refused {
        id: DatumId,
        path: PathBuf,
        reason: String,
    },
    /// A bare name fits several datums.
    #[error("`{query}` names several datums ({}): give the full id, e.g. `{}`", join_ids(ids), ids.first().map_or("", DatumId::as_str))]
    Ambiguous { query: String, ids: Vec<DatumId> },
}

/// Why a datum file cannot be loaded. Messages name the field and say what to write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileError {
    #[error("cannot read the file: {message}")]
    Read { message: String },
    #[error("not valid TOML at line {line}, column {column}: {message}: fix the syntax")]
    Toml {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("no [b00t] table: a datum file needs a `[b00t]` table; move other TOML files out of the datums folder")]
    NoB00tTable,
    #[error("field `{field}` is {found}, expected {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("field `{field}` is missing: add it")]
    MissingField { field: String },
    #[error("datum name `{name}` is not valid: use lowercase letters, digits and `._+-`, starting with a letter or digit")]
    InvalidName { name: String },
    #[error(
        "datum type `{kind}` is not valid: use lowercase letters, digits, `_` and `-`, e.g. `cli`"
    )]
    InvalidType { kind: String },
}

impl DatumError {
    pub(crate) fn file(path: &Path, error: FileError) -> DatumError {
        DatumError::File {
            path: path.to_owned(),
            error,
        }
    }
}

/// A datum file that could not be loaded, with the id it would have had (from its fields, or
/// its file name): lookups that would have found it name it instead of "not found".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub id: DatumId,
    pub path: PathBuf,
    /// Why, as the problem says it (without the path).
    pub reason: String,
}

impl Refused {
    /// The error a lookup of this datum gives.
    pub fn error(&self) -> DatumError {
        DatumError::Refused {
            id: self.id.clone(),
            path: self.path.clone(),
            reason: self.reason.clone(),
        }
    }
}

/// One file (or catalog folder) that could not be used; the rest of the catalog still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl From<DatumError> for Problem {
    fn from(error: DatumError) -> Problem {
        match error {
            DatumError::File { path, error } => Problem {
                path,
                message: error.to_string(),
            },
            other => Problem {
                path: PathBuf::new(),
                message: other.to_string(),
            },
        }
    }
}

fn join_ids(ids: &[DatumId]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display_matches_the_file_error() {
        let error = DatumError::file(
            Path::new("d/x.cli.toml"),
            FileError::WrongType {
                field: "b00t.depends_on".into(),
                expected: "an array of strings",
                found: "a string".into(),
            },
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "d/x.cli.toml: field `b00t.depends_on` is a string, expected an array of strings"
        );
        assert_eq!(Problem::from(error).to_string(), text);
    }

    #[test]
    fn ambiguous_lists_the_ids() {
        let error = DatumError::Ambiguous {
            query: "node".into(),
            ids: vec![
                DatumId::parse("node.apt").unwrap(),
                DatumId::parse("node.cli").unwrap(),
            ],
        };
        assert_eq!(error.to_string(), "`node` names several datums (`node.apt`, `node.cli`): give the full id, e.g. `node.apt`");
    }
}
