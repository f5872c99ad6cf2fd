//! A folder that someone else can write (a group folder, which the group's container
//! mounts), held by a file descriptor: every file is opened relative to it with
//! `O_NOFOLLOW`, so a planted symlink is refused rather than followed, and a FIFO, a
//! device or an oversized file is refused before it is read. `b00t-groups` (group.toml),
//! `b00t-assistant` (MEMORY.md, history.json) and the sync's `target` share it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::FolderError;

/// An open folder, and its path for messages.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

impl Folder {
    /// Opens the folder `path`. Its parents are followed (they are the host's own
    /// folders); `path` itself must be a real folder, not a symlink. A missing folder is
    /// an [`FolderError::Io`] for which [`FolderError::is_not_found`] holds.
    pub fn open(path: &Path) -> Result<Folder, FolderError> {
        match rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Folder {
                fd,
                path: path.to_owned(),
            }),
            // `O_DIRECTORY` with `O_NOFOLLOW` fails on a symlink with `ENOTDIR` on Linux,
            // `ELOOP` elsewhere: look at what is there to say which.
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
                Err(if link {
                    FolderError::SymlinkFolder {
                        path: path.to_owned(),
                    }
                } else {
                    FolderError::NotAFolder {
                        path: path.to_owned(),
                    }
                })
            }
            Err(e) => Err(FolderError::io("open the folder", path, e.into())),
        }
    }

    /// The folder's path, as it was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the regular file `name` for reading; `None` when it does not exist.
    pub fn open_file(&self, name: &str) -> Result<Option<File>, FolderError> {
        let path = || self.path.join(name);
        match open_regular(self.fd.as_fd(), OsStr::new(name)) {
            Ok(Opened::File(file, _)) => Ok(Some(file)),
            Ok(Opened::Missing) => Ok(None),
            Ok(Opened::Symlink) => Err(FolderError::Symlink { path: path() }),
            Ok(Opened::NotAFile) => Err(FolderError::NotAFile { path: path() }),
            Err(e) => Err(FolderError::io("read", &path(), e)),
        }
    }

    /// The whole of the regular file `name`, at most `limit` bytes; `None` when it does
    /// not exist. A larger file is [`FolderError::TooLarge`], and is not read.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, FolderError> {
        let Some(file) = self.open_file(name)? else {
            return Ok(None);
        };
        let path = self.path.join(name);
        match read_capped(file, limit) {
            Ok(Some(bytes)) => Ok(Some(bytes)),
            Ok(None) => Err(FolderError::TooLarge { path, limit }),
            Err(e) => Err(FolderError::io("read", &path, e)),
        }
    }

    /// Opens the regular file `name` for appending (and reading), creating it when it is
    /// missing; a symlink or anything but a regular file there is refused.
    pub fn open_append(&self, name: &str) -> Result<File, FolderError> {
        let path = || self.path.join(name);
        match self.precheck(name)? {
            Precheck::Symlink => return Err(FolderError::Symlink { path: path() }),
            Precheck::NotAFile => return Err(FolderError::NotAFile { path: path() }),
            Precheck::Missing | Precheck::File => {}
        }
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR
                | OFlags::APPEND
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        ) {
            Ok(fd) => fd,
            Err(Errno::LOOP) => return Err(FolderError::Symlink { path: path() }),
            Err(Errno::NXIO | Errno::ISDIR) => return Err(FolderError::NotAFile { path: path() }),
            Err(e) => return Err(FolderError::io("open", &path(), e.into())),
        };
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| FolderError::io("open", &path(), e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(FolderError::NotAFile { path: path() });
        }
        Ok(File::from(fd))
    }

    /// Replaces `name` with a regular file holding `bytes` with permission bits `mode`:
    /// written to a new file `<temp_prefix><random>` in the folder, then renamed over
    /// `name` (which replaces a symlink there, never its target), so that a reader sees
    /// the old file or the new one, never half of one. Not synced to disk.
    pub fn replace(
        &self,
        name: &str,
        temp_prefix: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), FolderError> {
        let temp = format!("{temp_prefix}{:016x}", fastrand::u64(..));
        replace_at(
            self.fd.as_fd(),
            OsStr::new(name),
            OsStr::new(&temp),
            bytes,
            mode,
        )
        .map_err(|(step, e)| match step {
            Step::Write => FolderError::io("write", &self.path.join(&temp), e),
            Step::Rename => FolderError::io("replace", &self.path.join(name), e),
        })
    }

    /// Renames `from` to `to` inside the folder; a symlink is renamed itself, never
    /// followed.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), FolderError> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to)
            .map_err(|e| FolderError::io("rename", &self.path.join(from), e.into()))
    }

    fn precheck(&self, name: &str) -> Result<Precheck, FolderError> {
        precheck_at(self.fd.as_fd(), OsStr::new(name))
            .map_err(|e| FolderError::io("inspect", &self.path.join(name), e))
    }
}

/// What opening a file of a folder found.
pub(crate) enum Opened {
    /// A regular file, open for reading, and its permission bits.
    File(File, u32),
    Missing,
    Symlink,
    /// A folder, FIFO, socket or device: not read.
    NotAFile,
}

/// Opens the regular file `name` of the folder `dir` for reading, without following a
/// symlink, without blocking on a FIFO, and without opening a device that was there
/// before the call (one swapped in meanwhile is opened but never read).
pub(crate) fn open_regular(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Opened> {
    match precheck_at(dir, name)? {
        Precheck::Missing => return Ok(Opened::Missing),
        Precheck::Symlink => return Ok(Opened::Symlink),
        Precheck::NotAFile => return Ok(Opened::NotAFile),
        Precheck::File => {}
    }
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Opened::Missing),
        Err(Errno::LOOP) => return Ok(Opened::Symlink),
        Err(Errno::NXIO) => return Ok(Opened::NotAFile),
        Err(e) => return Err(e.into()),
    };
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Ok(Opened::NotAFile);
    }
    Ok(Opened::File(File::from(fd), stat.st_mode & 0o7777))
}

/// All of `file` when it holds at most `limit` bytes, else `None`; never reads more than
/// `limit + 1` bytes, whatever the file's size.
pub(crate) fn read_capped(file: File, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Which step of [`replace_at`] failed: writing the temporary file, or renaming it.
pub(crate) enum Step {
    Write,
    Rename,
}

/// Writes `bytes` to the new file `temp` of `dir` (mode `mode`), then renames it over
/// `name`; the temporary file is removed when a step fails.
pub(crate) fn replace_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    temp: &OsStr,
    bytes: &[u8],
    mode: u32,
) -> Result<(), (Step, std::io::Error)> {
    let write = |e: Errno| (Step::Write, std::io::Error::from(e));
    let fd = rustix::fs::openat(
        dir,
        temp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(write)?;
    let outcome = (|| {
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(write)?;
        File::from(fd)
            .write_all(bytes)
            .map_err(|e| (Step::Write, e))?;
        rustix::fs::renameat(dir, temp, dir, name).map_err(|e| (Step::Rename, e.into()))
    })();
    if outcome.is_err() {
        let _ = rustix::fs::unlinkat(dir, temp, AtFlags::empty());
    }
    outcome
}

/// What `name` is before it is opened, not following a symlink.
enum Precheck {
    Missing,
    Symlink,
    NotAFile,
    File,
}

fn precheck_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Precheck> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Precheck::File,
            FileType::Symlink => Precheck::Symlink,
            _ => Precheck::NotAFile,
        }),
        Err(Errno::NOENT) => Ok(Precheck::Missing),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "operator key 0123456789abcdef";

    /// A folder holding `secret.key` beside the folder under test, `dir`.
    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let home = tempfile::tempdir().unwrap();
        let secret = home.path().join("secret.key");
        std::fs::write(&secret, SECRET).unwrap();
        let dir = home.path().join("group");
        std::fs::create_dir(&dir).unwrap();
        (home, dir, secret)
    }

    #[test]
    fn reads_a_regular_file_and_refuses_a_symlink() {
        let (_home, dir, secret) = setup();
        std::fs::write(dir.join("plain.txt"), "plain").unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("link.txt")).unwrap();
        let folder = Folder::open(&dir).unwrap();
        assert_eq!(folder.read("plain.txt", 5).unwrap().unwrap(), b"plain");
        assert_eq!(folder.read("missing.txt", 5).unwrap(), None);
        let error = folder.read("link.txt", 1024).unwrap_err().to_string();
        assert!(
            error.contains("link.txt` is a symlink") && error.contains("not followed"),
            "{error}"
        );
        assert!(!error.contains(SECRET), "{error}");
        let error = folder.open_append("link.txt").unwrap_err().to_string();
        assert!(error.contains("link.txt` is a symlink"), "{error}");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
    }

    #[test]
    fn a_dangling_symlink_is_not_created_through() {
        let (home, dir, _secret) = setup();
        let outside = home.path().join("made-outside.txt");
        std::os::unix::fs::symlink(&outside, dir.join("dangling.txt")).unwrap();
        let folder = Folder::open(&dir).unwrap();
        let error = folder.open_append("dangling.txt").unwrap_err().to_string();
        assert!(error.contains("is a symlink"), "{error}");
        assert!(!outside.exists());
    }

    #[test]
    fn a_fifo_or_a_folder_is_not_a_file_and_a_big_file_is_not_read() {
        let (_home, dir, _secret) = setup();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("big"), "0123456789").unwrap();
        let folder = Folder::open(&dir).unwrap();
        for name in ["fifo", "sub"] {
            let error = folder.read(name, 1024).unwrap_err().to_string();
            assert!(error.contains("is not a regular file"), "{error}");
            let error = folder.open_append(name).unwrap_err().to_string();
            assert!(error.contains("is not a regular file"), "{error}");
        }
        let error = folder.read("big", 9).unwrap_err().to_string();
        assert!(error.contains("larger than 9 bytes"), "{error}");
        assert_eq!(folder.read("big", 10).unwrap().unwrap(), b"0123456789");
    }

    #[test]
    fn a_symlinked_folder_is_refused() {
        let (home, dir, _secret) = setup();
        let link = home.path().join("linked");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let error = Folder::open(&link).unwrap_err().to_string();
        assert!(error.contains("linked` is a symlink"), "{error}");
        let error = Folder::open(&home.path().join("secret.key"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a folder"), "{error}");
        assert!(Folder::open(&home.path().join("nope"))
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn replace_swaps_a_symlink_for_a_file_and_leaves_its_target() {
        let (_home, dir, secret) = setup();
        std::os::unix::fs::symlink(&secret, dir.join("state.json")).unwrap();
        let folder = Folder::open(&dir).unwrap();
        folder
            .replace("state.json", ".state.", b"{}", 0o600)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
        let meta = std::fs::symlink_metadata(dir.join("state.json")).unwrap();
        assert!(meta.is_file());
        assert_eq!(folder.read("state.json", 2).unwrap().unwrap(), b"{}");
        folder.rename("state.json", "state.json.old").unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["state.json.old"], "no temporary file is left");
    }
}
