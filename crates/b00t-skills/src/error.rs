//! Errors: `SkillError` for one skill file, one sync or one watch; `FileError`, why one
//! SKILL.md cannot be used; `FolderError`, why a file of a [`crate::Folder`] was not
//! opened; and `Problem`, the per-file report that `load_dir` keeps instead of failing
//! the whole load.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

/// What went wrong with one SKILL.md, one sync, or one watch. Messages name the file or
/// folder and say what to do.
#[derive(Debug, Error)]
pub enum SkillError {
    /// A SKILL.md that cannot be used; `load_dir` turns it into a [`Problem`].
    #[error("{}: {error}", path.display())]
    File { path: PathBuf, error: FileError },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is a symlink: refusing to write through it; replace it with a real folder", path.display())]
    SymlinkTarget { path: PathBuf },
    #[error("cannot watch `{}` for changes: {message}; on Linux, raise fs.inotify.max_user_watches if the limit is reached", path.display())]
    Watch { path: PathBuf, message: String },
}

/// Why one SKILL.md cannot be used. Messages name the field and say what to write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FileError {
    #[error("cannot read the file: {message}")]
    Read { message: String },
    #[error("the file is larger than {limit} bytes: keep SKILL.md short and put long material in other files of the skill folder")]
    TooLarge { limit: u64 },
    #[error("no SKILL.md in the skill folder: add one with YAML front matter (`name:`, `description:`), or move the folder out of skills/")]
    NoSkillFile,
    #[error("no YAML front matter: start the file with a `---` line, then `name:` and `description:`, then a `---` line")]
    NoFrontMatter,
    #[error("the front matter opened on line 1 is never closed: add a `---` line after it")]
    UnclosedFrontMatter,
    #[error("the front matter is not valid YAML: {message}: fix the syntax (quote a value that holds `: `)")]
    Yaml { message: String },
    #[error("the front matter is {found}, expected a mapping of keys such as `name:` and `description:`")]
    NotAMapping { found: &'static str },
    #[error("field `{field}` is missing from the front matter: add it")]
    MissingField { field: &'static str },
    #[error("field `{field}` is {found}, expected a non-empty string")]
    WrongType {
        field: &'static str,
        found: &'static str,
    },
    #[error("skill name `{name}` is not valid ({reason}): a skill's name becomes the address `b00t.<group>.<skill>`")]
    InvalidName { name: String, reason: String },
    #[error("the front matter says `name: {name}` but the folder is `{folder}`: rename one so that they match")]
    NameMismatch { name: String, folder: String },
    #[error("the skill name `chat` is reserved for the group agent's own chat skill: rename the skill and its folder")]
    Reserved,
    #[error("the skill folder is a symlink: skills are copied into groups' containers, so use a real folder")]
    SymlinkedFolder,
}

/// Why a file of a [`crate::Folder`] (a folder a container can write) was not opened or
/// written. Messages name the file and never hold its contents.
#[derive(Debug, Error)]
pub enum FolderError {
    #[error("`{}` is a symlink and was not followed: a container can write this folder, so only real files are opened there; replace the link with a regular file", path.display())]
    Symlink { path: PathBuf },
    #[error("`{}` is a symlink and was not followed: a container can write the folder that holds it; replace the link with a real folder", path.display())]
    SymlinkFolder { path: PathBuf },
    #[error("`{}` is not a regular file (a folder, FIFO, socket or device), so it was not opened: replace it with a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error("`{}` is not a folder: remove or rename it, then try again", path.display())]
    NotAFolder { path: PathBuf },
    #[error("`{}` is larger than {limit} bytes, so it was not read: shorten it", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl FolderError {
    /// Whether the folder or file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, FolderError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> FolderError {
        FolderError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

impl SkillError {
    pub(crate) fn file(path: &Path, error: FileError) -> SkillError {
        SkillError::File {
            path: path.to_owned(),
            error,
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> SkillError {
        SkillError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// One skill folder or file that could not be used; the other skills still load.
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

impl From<SkillError> for Problem {
    fn from(error: SkillError) -> Problem {
        match error {
            SkillError::File { path, error } => Problem::new(path, error.to_string()),
            SkillError::Io { ref path, .. }
            | SkillError::SymlinkTarget { ref path }
            | SkillError::Watch { ref path, .. } => Problem::new(path.clone(), error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_error_and_its_problem_read_the_same() {
        let error = SkillError::file(
            Path::new("skills/x/SKILL.md"),
            FileError::MissingField {
                field: "description",
            },
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "skills/x/SKILL.md: field `description` is missing from the front matter: add it"
        );
        assert_eq!(Problem::from(error).to_string(), text);
    }
}
