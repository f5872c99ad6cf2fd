//! A group's memory: `MEMORY.md` in its folder, read into every prompt (up to a size, so
//! a runaway file cannot crowd out the conversation) and appended to by `remember`. The
//! group's container can write the folder, so the file is opened relative to it without
//! following a symlink: a link, FIFO or device there is never read nor written through.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use b00t_skills::Folder;

/// The memory file of a group folder (and of `groups/global`).
pub const MEMORY_FILE: &str = "MEMORY.md";

/// The most of a MEMORY.md put in a prompt.
pub(crate) const MAX_MEMORY_BYTES: usize = 64 * 1024;

/// The most one `remember` may add.
pub(crate) const MAX_NOTE_CHARS: usize = 4000;

/// The memory in `dir`, cut to its last [`MAX_MEMORY_BYTES`] (the newest notes);
/// `None` when there is none or it cannot be read. A `MEMORY.md` that is a symlink, a
/// FIFO or anything but a regular file is treated as absent, with a warning in the log
/// that names the file: it is neither followed nor read.
pub(crate) fn read(dir: &Path) -> Option<String> {
    let file = match Folder::open(dir).and_then(|folder| folder.open_file(MEMORY_FILE)) {
        Ok(Some(file)) => file,
        Ok(None) => return None,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            tracing::warn!("{e}; the prompt goes without this memory");
            return None;
        }
    };
    match read_tail(file) {
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
        Err(e) => {
            let path = dir.join(MEMORY_FILE);
            tracing::warn!(file = %path.display(), "cannot read the memory: {e}");
            None
        }
    }
}

/// The last `MAX_MEMORY_BYTES` of `file` (from a character boundary), and whether the
/// start was left out.
fn read_tail(mut file: File) -> std::io::Result<(String, bool)> {
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
/// Returns the note as written, or what is wrong with it or with the file (a symlink or
/// anything but a regular file there is refused, and named).
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
    let mut file = Folder::open(dir)
        .and_then(|folder| folder.open_append(MEMORY_FILE))
        .map_err(|e| e.to_string())?;
    let path = dir.join(MEMORY_FILE);
    let io = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    let len = file.metadata().map_err(io)?.len();
    let ends_with_newline = len == 0 || {
        let mut last = [0u8];
        file.read_exact_at(&mut last, len - 1).map_err(io)?;
        last == *b"\n"
    };
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

    const SECRET: &str = "operator key 0123456789abcdef";

    /// A group folder `family` and a secret file beside it.
    fn group_and_secret() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let home = tempfile::tempdir().unwrap();
        let secret = home.path().join("operator.key");
        std::fs::write(&secret, SECRET).unwrap();
        let group = home.path().join("family");
        std::fs::create_dir(&group).unwrap();
        (home, group, secret)
    }

    #[test]
    fn a_symlinked_memory_is_neither_read_nor_appended_through() {
        let (_home, group, secret) = group_and_secret();
        std::os::unix::fs::symlink(&secret, group.join(MEMORY_FILE)).unwrap();
        assert_eq!(read(&group), None, "treated as absent");
        let error = append(&group, "likes tea").unwrap_err();
        assert!(
            error.contains("MEMORY.md` is a symlink") && error.contains("not followed"),
            "{error}"
        );
        assert!(!error.contains(SECRET), "{error}");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), SECRET);
    }

    #[test]
    fn a_fifo_memory_does_not_block() {
        let (_home, group, _secret) = group_and_secret();
        let fifo = group.join(MEMORY_FILE);
        crate::testing::make_fifo(&fifo);
        let dir = group.clone();
        assert_eq!(
            crate::testing::without_blocking_on(&fifo, move || read(&dir)),
            None
        );
        let dir = group.clone();
        let error =
            crate::testing::without_blocking_on(&fifo, move || append(&dir, "x")).unwrap_err();
        assert!(error.contains("is not a regular file"), "{error}");
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
