//! A group's memory: `MEMORY.md` in its folder, read into every prompt (up to a size, so
//! a runaway file cannot crowd out the conversation) and appended to by `remember`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The memory file of a group folder (and of `groups/global`).
pub const MEMORY_FILE: &str = "MEMORY.md";

/// The most of a MEMORY.md put in a prompt.
pub(crate) const MAX_MEMORY_BYTES: usize = 64 * 1024;

/// The most one `remember` may add.
pub(crate) const MAX_NOTE_CHARS: usize = 4000;

/// The memory in `dir`, cut to its last [`MAX_MEMORY_BYTES`] (the newest notes);
/// `None` when there is none or it cannot be read (logged).
pub(crate) fn read(dir: &Path) -> Option<String> {
    let path = dir.join(MEMORY_FILE);
    match read_tail(&path) {
        Ok((text, cut)) => {
            let text = text.trim();
            if text.is_empty() {
                None
            } else if cut {
                Some(format!(
                    "[the start of {MEMORY_FILE} is left out: it is over {MAX_MEMORY_BYTES} bytes]\n{text}"
                ))
            } else {
                Some(text.to_owned())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read the memory: {e}");
            None
        }
    }
}

/// The last `MAX_MEMORY_BYTES` of `path` (from a character boundary), and whether the
/// start was left out.
fn read_tail(path: &Path) -> std::io::Result<(String, bool)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let cut = len > MAX_MEMORY_BYTES as u64;
    if cut {
        file.seek(SeekFrom::Start(len - MAX_MEMORY_BYTES as u64))?;
    }
    let mut bytes = Vec::new();
    file.take(MAX_MEMORY_BYTES as u64).read_to_end(&mut bytes)?;
    // Skip a character cut in half by the seek.
    let start = if cut {
        bytes.iter().position(|b| (*b as i8) >= -0x40).unwrap_or(0)
    } else {
        0
    };
    Ok((String::from_utf8_lossy(&bytes[start..]).into_owned(), cut))
}

/// Appends `note` to the memory in `dir` as a paragraph of its own; creates the file.
/// Returns the note as written, or what is wrong with it.
pub(crate) fn append(dir: &Path, note: &str) -> Result<String, String> {
    let note = note.trim();
    if note.is_empty() {
        return Err("`text` is empty: say what to remember".to_owned());
    }
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(format!(
            "`text` is over {MAX_NOTE_CHARS} characters: remember something shorter"
        ));
    }
    let path = dir.join(MEMORY_FILE);
    let io = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    let ends_with_newline = match std::fs::read(&path) {
        Ok(bytes) => bytes.is_empty() || bytes.ends_with(b"\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(io(e)),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    let separator = if ends_with_newline { "\n" } else { "\n\n" };
    file.write_all(format!("{separator}{note}\n").as_bytes())
        .map_err(io)?;
    Ok(note.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remember_appends_paragraphs_and_read_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        append(dir.path(), "  likes tea ").unwrap();
        std::fs::write(
            dir.path().join(MEMORY_FILE),
            std::fs::read_to_string(dir.path().join(MEMORY_FILE))
                .unwrap()
                .trim_end(),
        )
        .unwrap();
        append(dir.path(), "lives in Perth").unwrap();
        let text = std::fs::read_to_string(dir.path().join(MEMORY_FILE)).unwrap();
        assert_eq!(text, "\nlikes tea\n\nlives in Perth\n");
        assert_eq!(read(dir.path()).unwrap(), "likes tea\n\nlives in Perth");
        assert!(append(dir.path(), "   ").unwrap_err().contains("empty"));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(append(dir.path(), &long).unwrap_err().contains("over 4000"));
    }

    #[test]
    fn a_huge_memory_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}THE END", "é".repeat(MAX_MEMORY_BYTES));
        std::fs::write(dir.path().join(MEMORY_FILE), text).unwrap();
        let read = read(dir.path()).unwrap();
        assert!(read.starts_with("[the start of MEMORY.md is left out"));
        assert!(read.ends_with("THE END"));
        assert!(read.len() < MAX_MEMORY_BYTES + 100);
    }
}
