//! `GroupError`: what went wrong with a group name, folder, config or sync. Messages name
//! the group or file and say what to do.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum GroupError {
    #[error("group name `{name}` is not valid: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("group name `{name}` is reserved: {why}; pick another name")]
    Reserved { name: String, why: &'static str },
    #[error("`{}` is a symlink: a group folder must be a real folder inside the groups folder; remove the link", path.display())]
    Symlink { path: PathBuf },
    #[error("`{}` is not a folder: remove or rename it, then try again", path.display())]
    NotAFolder { path: PathBuf },
    #[error("no group `{name}` in `{}`: {hint}", root.display())]
    NotFound {
        name: String,
        root: PathBuf,
        hint: String,
    },
    #[error("group `{name}` already exists at `{}`: pick another name, or remove it first with `b00t group remove {name}`", path.display())]
    Exists { name: String, path: PathBuf },
    #[error("cannot remove `{name}`: {why}")]
    Protected { name: String, why: &'static str },
    #[error("`{}`: {message}", path.display())]
    Config { path: PathBuf, message: String },
    /// A file of a group folder not opened: a symlink, not a regular file, too large.
    #[error(transparent)]
    File(b00t_skills::FolderError),
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot sync skills into group `{group}`: {source}")]
    Sync {
        group: String,
        #[source]
        source: b00t_skills::SkillError,
    },
    #[error("cannot watch for skill changes: {0}")]
    Watch(#[source] b00t_skills::SkillError),
}

impl GroupError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> GroupError {
        GroupError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}
