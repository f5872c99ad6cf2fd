//! The conversation of a group: its last turns (a user message and the assistant's reply),
//! kept in memory and persisted in the group folder as `history.json`, written whole to a
//! temporary file then renamed so that a crash never leaves half a file (not synced to
//! disk: see `History::push`). The group's container can write the folder, so every file
//! is opened relative to it without following a symlink; a `history.json` that cannot be
//! read as history (a symlink, a FIFO, too large, not JSON) is moved aside unread, with a
//! warning, and the group starts afresh.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use b00t_skills::{Folder, FolderError};
use serde::{Deserialize, Serialize};

/// The history file in a group folder.
pub const HISTORY_FILE: &str = "history.json";

/// The most a `history.json` may hold: 1000 turns (the most `history_turns` allows) of
/// 32 KiB each; a larger file is moved aside unread.
pub(crate) const MAX_HISTORY_BYTES: u64 = 32 * 1024 * 1024;

/// The temporary file of a write starts with this.
const TEMP_PREFIX: &str = ".history.";

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
    group_dir: PathBuf,
    max_turns: usize,
    /// The turns, oldest first; held only to copy or to push and write.
    turns: Mutex<Vec<Turn>>,
}

impl History {
    /// Loads `<group_dir>/history.json`, keeping the last `max_turns`. A missing file is an
    /// empty history; one that cannot be read as history is renamed (the symlink itself,
    /// when it is one) to `history.json.corrupt-<unix seconds>`.
    pub(crate) fn load(group_dir: &Path, max_turns: usize) -> History {
        let mut turns = load_turns(group_dir);
        keep_last(&mut turns, max_turns);
        History {
            group_dir: group_dir.to_owned(),
            max_turns,
            turns: Mutex::new(turns),
        }
    }

    /// The turns now, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<Turn> {
        self.lock().clone()
    }

    /// Adds a turn, drops the oldest beyond the limit, and writes the file: to a new
    /// temporary file, renamed over `history.json` (which replaces a symlink there, never
    /// its target).
    pub(crate) fn push(&self, turn: Turn) -> Result<(), String> {
        let mut turns = self.lock();
        turns.push(turn);
        keep_last(&mut turns, self.max_turns);
        let file = HistoryFile {
            version: VERSION,
            turns: turns.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| format!("cannot encode the history: {e}"))?;
        bytes.push(b'\n');
        // No fsync: it cost about 2 ms per chat task (`b00t bench --groups`), on the reply's
        // path. The rename still replaces the file whole, so a crashed process never leaves
        // half a history; a power cut may lose the last turns, and a file it leaves unreadable
        // is moved aside at load. The journal, not this file, is what must survive.
        Folder::open(&self.group_dir)
            .and_then(|folder| folder.replace(HISTORY_FILE, TEMP_PREFIX, &bytes, 0o600))
            .map_err(|e| format!("cannot save the history: {e}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Turn>> {
        self.turns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The turns in `<group_dir>/history.json`; none when it is missing or unusable (logged).
fn load_turns(group_dir: &Path) -> Vec<Turn> {
    let path = group_dir.join(HISTORY_FILE);
    let folder = match Folder::open(group_dir) {
        Ok(folder) => folder,
        Err(e) => {
            tracing::warn!("{e}; the conversation starts without a history");
            return Vec::new();
        }
    };
    let why = match folder.read(HISTORY_FILE, MAX_HISTORY_BYTES) {
        Ok(None) => return Vec::new(),
        Ok(Some(bytes)) => match serde_json::from_slice::<HistoryFile>(&bytes) {
            Ok(file) if file.version == VERSION => return file.turns,
            Ok(file) => format!("unknown version {}", file.version),
            Err(e) => describe_json_error(&e),
        },
        Err(
            e @ (FolderError::Symlink { .. }
            | FolderError::NotAFile { .. }
            | FolderError::TooLarge { .. }),
        ) => e.to_string(),
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read the history, starting without it: {e}");
            return Vec::new();
        }
    };
    move_aside(&folder, &path, &why);
    Vec::new()
}

/// What is wrong with a history file, by kind and place: serde_json's message may quote a
/// value of the file, which is the group's conversation and stays out of the log.
fn describe_json_error(error: &serde_json::Error) -> String {
    let what = match error.classify() {
        serde_json::error::Category::Io => "cannot be read",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "is JSON but not a history",
        serde_json::error::Category::Eof => "is cut short",
    };
    format!(
        "it {what} (line {}, column {})",
        error.line(),
        error.column()
    )
}

fn keep_last(turns: &mut Vec<Turn>, max: usize) {
    if turns.len() > max {
        turns.drain(..turns.len() - max);
    }
}

fn move_aside(folder: &Folder, path: &Path, why: &str) {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = format!("{HISTORY_FILE}.corrupt-{seconds}");
    match folder.rename(HISTORY_FILE, &aside) {
        Ok(()) => tracing::warn!(
            file = %path.display(),
            moved_to = %folder.path().join(&aside).display(),
            "the history is not readable ({why}); it was moved aside and the conversation starts afresh"
        ),
        Err(e) => tracing::warn!(
            file = %path.display(),
            "the history is not readable ({why}) and cannot be moved aside ({e}); it will be overwritten"
        ),
    }
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

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_symlinked_history_is_neither_read_nor_written_through() {
        let home = tempfile::tempdir().unwrap();
        let main = home.path().join("main");
        let family = home.path().join("family");
        std::fs::create_dir(&main).unwrap();
        std::fs::create_dir(&family).unwrap();
        History::load(&main, 20).push(turn(7)).unwrap();
        let secret = std::fs::read(main.join(HISTORY_FILE)).unwrap();
        std::os::unix::fs::symlink("../main/history.json", family.join(HISTORY_FILE)).unwrap();

        let history = History::load(&family, 20);
        assert!(
            history.snapshot().is_empty(),
            "another group's turns were read"
        );
        history.push(turn(1)).unwrap();
        assert_eq!(std::fs::read(main.join(HISTORY_FILE)).unwrap(), secret);
        let names = names(&family);
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[0], HISTORY_FILE);
        assert!(names[1].starts_with("history.json.corrupt-"), "{names:?}");
        let aside = std::fs::symlink_metadata(family.join(&names[1])).unwrap();
        assert!(aside.is_symlink(), "the link itself is moved aside");
        let meta = std::fs::symlink_metadata(family.join(HISTORY_FILE)).unwrap();
        assert!(meta.is_file());
        assert_eq!(History::load(&family, 20).snapshot(), [turn(1)]);
    }

    #[test]
    fn a_fifo_or_an_oversized_history_is_moved_aside_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(HISTORY_FILE);
        crate::testing::make_fifo(&fifo);
        let group = dir.path().to_owned();
        let history = crate::testing::without_blocking_on(&fifo, move || History::load(&group, 20));
        assert!(history.snapshot().is_empty());
        assert!(!dir.path().join(HISTORY_FILE).exists());
        history.push(turn(1)).unwrap();

        // Valid JSON, padded past the limit with spaces.
        let mut text = std::fs::read_to_string(dir.path().join(HISTORY_FILE)).unwrap();
        text.push_str(&" ".repeat(MAX_HISTORY_BYTES as usize));
        std::fs::write(dir.path().join(HISTORY_FILE), text).unwrap();
        assert!(History::load(dir.path(), 20).snapshot().is_empty());
        assert!(!dir.path().join(HISTORY_FILE).exists());
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
