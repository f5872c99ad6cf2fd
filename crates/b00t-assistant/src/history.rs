//! The conversation of a group: its last turns (a user message and the assistant's reply),
//! kept in memory and persisted in the group folder as `history.json`, written whole to a
//! temporary file then renamed so that a crash never leaves half a file (not synced to
//! disk: see `write_atomically`). A file that
//! cannot be read as history is moved aside with a warning and the group starts afresh.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The history file in a group folder.
pub const HISTORY_FILE: &str = "history.json";

/// One exchange of the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// When the reply was given (RFC 3339).
    pub ts: String,
    pub user: String,
    pub assistant: String,
}

/// `history.json` as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryFile {
    version: u32,
    turns: Vec<Turn>,
}

const VERSION: u32 = 1;

/// The history of one group, loaded once and written after every turn.
pub(crate) struct History {
    path: PathBuf,
    max_turns: usize,
    /// The turns, oldest first; held only to copy or to push and write.
    turns: Mutex<Vec<Turn>>,
}

impl History {
    /// Loads `<group_dir>/history.json`, keeping the last `max_turns`. A missing file is an
    /// empty history; a corrupt one is renamed to `history.json.corrupt-<unix seconds>`.
    pub(crate) fn load(group_dir: &Path, max_turns: usize) -> History {
        let path = group_dir.join(HISTORY_FILE);
        let mut turns = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<HistoryFile>(&bytes) {
                Ok(file) if file.version == VERSION => file.turns,
                Ok(file) => {
                    move_aside(&path, &format!("unknown version {}", file.version));
                    Vec::new()
                }
                Err(e) => {
                    move_aside(&path, &e.to_string());
                    Vec::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot read the history, starting without it: {e}");
                Vec::new()
            }
        };
        keep_last(&mut turns, max_turns);
        History {
            path,
            max_turns,
            turns: Mutex::new(turns),
        }
    }

    /// The turns now, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Turn> {
        self.lock().clone()
    }

    /// Adds a turn, drops the oldest beyond the limit, and writes the file.
    pub(crate) fn push(&self, turn: Turn) -> Result<(), String> {
        let mut turns = self.lock();
        turns.push(turn);
        keep_last(&mut turns, self.max_turns);
        let file = HistoryFile {
            version: VERSION,
            turns: turns.clone(),
        };
        write_atomically(&self.path, &file)
            .map_err(|e| format!("cannot write the history `{}`: {e}", self.path.display()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Turn>> {
        self.turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn keep_last(turns: &mut Vec<Turn>, max: usize) {
    if turns.len() > max {
        turns.drain(..turns.len() - max);
    }
}

fn move_aside(path: &Path, why: &str) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = path.with_file_name(format!("{HISTORY_FILE}.corrupt-{seconds}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            moved_to = %aside.display(),
            "the history is not readable ({why}); it was moved aside and the conversation starts afresh"
        ),
        Err(e) => tracing::warn!(
            file = %path.display(),
            "the history is not readable ({why}) and cannot be moved aside ({e}); it will be overwritten"
        ),
    }
}

fn write_atomically(path: &Path, file: &HistoryFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".history.")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(&mut temp, file).map_err(std::io::Error::other)?;
    temp.write_all(b"\n")?;
    // No fsync: it cost about 2 ms per chat task (`b00t bench --groups`), on the reply's
    // path. The rename still replaces the file whole, so a crashed process never leaves
    // half a history; a power cut may lose the last turns, and a file it leaves unreadable
    // is moved aside at load. The journal, not this file, is what must survive.
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(i: usize) -> Turn {
        Turn {
            ts: "2026-01-01T00:00:00Z".into(),
            user: format!("question {i}"),
            assistant: format!("answer {i}"),
        }
    }

    #[test]
    fn turns_are_capped_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::load(dir.path(), 3);
        for i in 0..5 {
            history.push(turn(i)).unwrap();
        }
        assert_eq!(history.snapshot(), [turn(2), turn(3), turn(4)]);
        let again = History::load(dir.path(), 3);
        assert_eq!(again.snapshot(), [turn(2), turn(3), turn(4)]);
        let smaller = History::load(dir.path(), 2);
        assert_eq!(smaller.snapshot(), [turn(3), turn(4)]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(leftovers, [HISTORY_FILE], "no temporary files are left");
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HISTORY_FILE), "{\"turns\": [tru").unwrap();
        let history = History::load(dir.path(), 20);
        assert!(history.snapshot().is_empty());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with("history.json.corrupt-"), "{names:?}");
        history.push(turn(1)).unwrap();
        assert_eq!(History::load(dir.path(), 20).snapshot(), [turn(1)]);
    }
}
