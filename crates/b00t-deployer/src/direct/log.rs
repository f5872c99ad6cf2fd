//! A supervised process's log: its stdout and stderr appended to `<name>.log` (0600,
//! never through a symlink), rotated once to `<name>.log.1` when it passes its cap, and
//! the last lines read back for error messages.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt};

/// Where a log rotates: past 10 MiB it becomes `.log.1` (replacing the older one).
pub(crate) const LOG_CAP_BYTES: u64 = 10 * 1024 * 1024;
/// Lines of a log quoted in an error or a failed job's detail.
pub(crate) const TAIL_LINES: usize = 5;
/// Lines the supervisor writes itself start with this, so a tail can leave them out.
pub(crate) const MARK: &str = "[b00t] ";
/// Bytes read from the end of a log to find its last lines.
const TAIL_BYTES: u64 = 16 * 1024;
/// Longest line quoted; longer ones are cut.
const LINE_CHARS: usize = 400;

/// One open log, shared by the two pumps of a run and the supervisor's own marks.
pub(crate) type SharedLog = Arc<Mutex<LogFile>>;

/// An append-only log file that rotates once at its cap.
#[derive(Debug)]
pub(crate) struct LogFile {
    path: PathBuf,
    file: File,
    /// Bytes in `file` (its length at open, then what was written).
    written: u64,
    cap: u64,
    /// A write error already logged (each log warns once, then keeps draining the pipe).
    warned: bool,
}

impl LogFile {
    /// Opens (or creates, 0600) `path` for appending; a symlink there is refused.
    pub(crate) fn open(path: &Path, cap: u64) -> std::io::Result<LogFile> {
        let file = open_append(path)?;
        let written = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_owned(),
            file,
            written,
            cap,
            warned: false,
        })
    }

    pub(crate) fn shared(self) -> SharedLog {
        Arc::new(Mutex::new(self))
    }

    /// Appends `bytes`, rotating first when the file has passed its cap. An error is
    /// logged once; the bytes are then dropped (the process must never block on its pipe).
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_write(bytes) {
            if !self.warned {
                tracing::warn!("cannot write the log {}: {e}", self.path.display());
                self.warned = true;
            }
        }
    }

    /// One line of the supervisor's own (`[b00t] started …`).
    pub(crate) fn mark(&mut self, line: &str) {
        self.write(format!("{MARK}{line}\n").as_bytes());
    }

    fn try_write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.written >= self.cap {
            self.rotate()?;
        }
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(&self.path, rotated(&self.path))?;
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

/// `<name>.log.1`.
pub(crate) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Copies `stream` (a child's stdout or stderr) into `log` until end of file.
pub(crate) async fn pump(mut stream: impl AsyncRead + Unpin, log: SharedLog) {
    let mut buf = vec![0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                log.write(&buf[..n]);
            }
        }
    }
}

/// The last `lines` non-empty lines the process printed (the supervisor's marks left
/// out), from `path` and, when it holds fewer, from its rotated `.1`.
pub(crate) fn tail(path: &Path, lines: usize) -> Vec<String> {
    let mut out = tail_of(path, lines);
    if out.len() < lines {
        let mut older = tail_of(&rotated(path), lines - out.len());
        older.append(&mut out);
        out = older;
    }
    out
}

fn tail_of(path: &Path, lines: usize) -> Vec<String> {
    let Ok(mut file) = File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut found: Vec<String> = text
        .lines()
        // The first line may have been cut by the seek.
        .skip(usize::from(start > 0))
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim().is_empty() && !line.starts_with(MARK))
        .map(|line| {
            let mut cut: String = line.chars().take(LINE_CHARS).collect();
            if cut.len() < line.len() {
                cut.push('…');
            }
            cut
        })
        .collect();
    let skip = found.len().saturating_sub(lines);
    found.drain(..skip);
    found
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn it_appends_with_mode_0600_and_rotates_once_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.log");
        let mut log = LogFile::open(&path, 100).unwrap();
        log.write(&[b'a'; 60]);
        log.write(&[b'b'; 60]);
        assert!(
            !rotated(&path).exists(),
            "not past the cap before this write"
        );
        log.write(b"third\n");
        assert_eq!(std::fs::read(rotated(&path)).unwrap().len(), 120);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "third\n");
        log.write(&[b'c'; 200]);
        log.write(b"fourth\n");
        // Rotated once more: the older `.1` is replaced, never a `.2`.
        assert_eq!(std::fs::read(rotated(&path)).unwrap().len(), 206);
        assert!(!dir.path().join("web.log.2").exists());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Reopened, it goes on from the file's length.
        drop(log);
        let log = LogFile::open(&path, 100).unwrap();
        assert_eq!(log.written, 7);
    }

    #[test]
    fn a_symlink_in_place_of_the_log_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.path().join("web.log");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(LogFile::open(&path, 100).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    fn the_tail_skips_marks_and_blank_lines_and_reaches_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.log");
        std::fs::write(rotated(&path), "old one\nold two\n").unwrap();
        std::fs::write(&path, "[b00t] started `x`\n\nnew one\r\nnew two\n").unwrap();
        assert_eq!(tail(&path, 2), ["new one", "new two"]);
        assert_eq!(tail(&path, 3), ["old two", "new one", "new two"]);
        assert!(tail(&dir.path().join("absent.log"), 3).is_empty());
    }

    #[test]
    fn the_tail_of_a_long_file_drops_the_line_cut_by_the_seek() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let mut text = "x".repeat(TAIL_BYTES as usize);
        text.push_str("\nlast\n");
        std::fs::write(&path, text).unwrap();
        assert_eq!(tail(&path, 5), ["last"]);
    }
}
