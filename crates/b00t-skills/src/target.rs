//! The sync's writing side: a folder opened by file descriptor, never through a symlink.
//! A group's `.skills/` lives in a folder its container can write, so every step below
//! the target works relative to an open directory (`openat` with `O_NOFOLLOW`,
//! `mkdirat`, `renameat`, `unlinkat`; files are read and replaced by `folder`'s helpers,
//! which cap what they read): swapping a folder for a symlink mid-sync can never
//! make the host read, write or delete outside the target.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::SkillError;
use crate::folder::{self, Opened, Step};

/// Temporary files of an unfinished write start with this; a reader never sees one under
/// the final name, and the next sync removes leftovers.
pub(crate) const TEMP_PREFIX: &str = ".b00t-sync-";

/// What an entry of a target folder is, not following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Other,
}

/// An open folder of the target, and its path for messages.
pub(crate) struct TargetDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl TargetDir {
    /// Opens `target`, creating it when missing. Its parent must exist (a group folder
    /// removed during a sync is not made again); the parents are the host's own folders
    /// and are followed, but `target` itself must not be a symlink.
    pub(crate) fn open_root(target: &Path) -> Result<TargetDir, SkillError> {
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target.file_name().ok_or_else(|| {
            SkillError::io("open", target, std::io::ErrorKind::InvalidInput.into())
        })?;
        let parent_fd = rustix::fs::open(
            parent,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SkillError::io("open the folder", parent, e.into()))?;
        let parent = TargetDir {
            fd: parent_fd,
            path: parent.to_owned(),
        };
        match parent.kind(name)? {
            None => {
                parent.mkdir(name)?;
            }
            Some(Kind::Dir) => {}
            Some(_) => {
                return Err(SkillError::SymlinkTarget {
                    path: target.to_owned(),
                })
            }
        }
        parent.open_dir(name)
    }

    /// The entries of this folder (without `.` and `..`), sorted, with their kinds.
    pub(crate) fn entries(&self) -> Result<Vec<(OsString, Kind)>, SkillError> {
        let list = |e: Errno| SkillError::io("list the folder", &self.path, e.into());
        let dir = rustix::fs::Dir::read_from(&self.fd).map_err(list)?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(list)?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name == "." || name == ".." {
                continue;
            }
            names.push(name.to_owned());
        }
        names.sort();
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            if let Some(kind) = self.kind(&name)? {
                entries.push((name, kind));
            }
        }
        Ok(entries)
    }

    /// What `name` is, without following a symlink; `None` when it does not exist.
    pub(crate) fn kind(&self, name: &OsStr) -> Result<Option<Kind>, SkillError> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Kind::Dir,
                FileType::RegularFile => Kind::File,
                _ => Kind::Other,
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(SkillError::io("inspect", &self.path.join(name), e.into())),
        }
    }

    /// Opens the sub-folder `name`, making it first when it is missing and replacing
    /// whatever else (a file, a symlink) holds the name. Returns whether it was made.
    pub(crate) fn ensure_dir(&self, name: &OsStr) -> Result<(TargetDir, bool), SkillError> {
        let made = match self.kind(name)? {
            Some(Kind::Dir) => false,
            Some(_) => {
                self.remove(name)?;
                self.mkdir(name)?;
                true
            }
            None => {
                self.mkdir(name)?;
                true
            }
        };
        Ok((self.open_dir(name)?, made))
    }

    /// The content and permission bits of the regular file `name`, or `None` when `name`
    /// is missing, is not a regular file, or holds more than `limit` bytes (so it differs
    /// from anything of `limit` bytes, and a huge file planted there is never read whole).
    /// Never blocks on a FIFO, never follows a symlink.
    pub(crate) fn read_file(
        &self,
        name: &OsStr,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, u32)>, SkillError> {
        let read = |e| SkillError::io("read", &self.path.join(name), e);
        match folder::open_regular(self.fd.as_fd(), name).map_err(read)? {
            Opened::File(file, mode) => Ok(folder::read_capped(file, limit)
                .map_err(read)?
                .map(|bytes| (bytes, mode))),
            Opened::Missing | Opened::Symlink | Opened::NotAFile => Ok(None),
        }
    }

    /// Replaces `name` with a regular file holding `bytes` with permission bits `mode`:
    /// written to a temporary file, then renamed over the name, so that a reader sees the
    /// old file or the new one, never half of one.
    pub(crate) fn write_file(
        &self,
        name: &OsStr,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), SkillError> {
        if self.kind(name)? == Some(Kind::Dir) {
            self.remove(name)?;
        }
        let temp = OsString::from(format!("{TEMP_PREFIX}{:016x}", fastrand::u64(..)));
        folder::replace_at(self.fd.as_fd(), name, &temp, bytes, mode).map_err(
            |(step, e)| match step {
                Step::Write => SkillError::io("write", &self.path.join(&temp), e),
                Step::Rename => SkillError::io("replace", &self.path.join(name), e),
            },
        )
    }

    /// Removes `name`: a file or symlink (the link, not its target), or a whole folder.
    pub(crate) fn remove(&self, name: &OsStr) -> Result<(), SkillError> {
        let path = self.path.join(name);
        let removed = match self.kind(name)? {
            None => return Ok(()),
            Some(Kind::Dir) => {
                let dir = self.open_dir(name)?;
                for (child, _) in dir.entries()? {
                    dir.remove(&child)?;
                }
                rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)
            }
            Some(_) => rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()),
        };
        match removed {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(SkillError::io("remove", &path, e.into())),
        }
    }

    fn mkdir(&self, name: &OsStr) -> Result<(), SkillError> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => Ok(()),
            Err(e) => Err(SkillError::io(
                "create the folder",
                &self.path.join(name),
                e.into(),
            )),
        }
    }

    /// Opens the sub-folder `name`; fails (rather than follow) when it is a symlink.
    fn open_dir(&self, name: &OsStr) -> Result<TargetDir, SkillError> {
        let path = self.path.join(name);
        match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(TargetDir { fd, path }),
            Err(Errno::LOOP | Errno::NOTDIR) => Err(SkillError::SymlinkTarget { path }),
            Err(e) => Err(SkillError::io("open the folder", &path, e.into())),
        }
    }
}

impl TargetDir {
    /// Whether `name` is the temporary file of a write that may still be under way (of a
    /// sync running at the same time in another process): younger than a minute.
    pub(crate) fn is_fresh_temp(&self, name: &OsStr) -> bool {
        if !name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
            return false;
        }
        let Ok(stat) = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        #[allow(clippy::unnecessary_cast)] // `st_mtime` is not `i64` on every target
        let modified = stat.st_mtime as i64;
        now - modified < 60
    }
}
