//! Loading a skills folder: every `<dir>/<name>/SKILL.md`, sorted by name. A folder that
//! cannot be used is a `Problem`, never a failed load of the others.

use std::path::{Path, PathBuf};

use crate::error::{FileError, FolderError, Problem, SkillError};
use crate::folder::Folder;
use crate::skill::{parse, Skill, MAX_SKILL_BYTES, SKILL_FILE};

/// The valid skills of a folder and what is wrong with the others.
#[derive(Debug, Clone, Default)]
pub struct SkillSet {
    /// Sorted by name.
    pub skills: Vec<Skill>,
    /// One per skill folder that could not be used, sorted by path.
    pub problems: Vec<Problem>,
}

impl SkillSet {
    /// The skill named `name`, if it loaded.
    pub fn get(&self, name: &str) -> Option<&Skill> {
        self.skills.iter().find(|s| s.name.as_str() == name)
    }
}

/// Loads every skill folder in `dir`. A missing `dir` is an empty set. Plain files beside
/// the folders (a README) and hidden entries are ignored; a folder without SKILL.md, a
/// symlinked folder or a bad SKILL.md is a problem.
pub fn load_dir(dir: &Path) -> SkillSet {
    let mut set = SkillSet::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return set,
        Err(e) => {
            set.problems.push(Problem::new(
                dir,
                format!("cannot read the skills folder: {e}"),
            ));
            return set;
        }
    };
    let mut folders: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                set.problems.push(Problem::new(
                    dir,
                    format!("cannot read the skills folder: {e}"),
                ));
                continue;
            }
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => folders.push(path),
            Ok(meta) if meta.file_type().is_symlink() && path.is_dir() => {
                let file = path.join(SKILL_FILE);
                set.problems
                    .push(Problem::new(file, FileError::SymlinkedFolder.to_string()));
            }
            _ => {} // a README or other file beside the skill folders
        }
    }
    folders.sort();
    for folder in folders {
        match load_folder(&folder) {
            Ok(skill) => set.skills.push(skill),
            Err(error) => set.problems.push(error.into()),
        }
    }
    set.skills.sort_by(|a, b| a.name.cmp(&b.name));
    set.problems.sort_by(|a, b| a.path.cmp(&b.path));
    set
}

/// Loads `<folder>/SKILL.md`.
pub(crate) fn load_folder(folder: &Path) -> Result<Skill, SkillError> {
    let file = folder.join(SKILL_FILE);
    let text = read_skill_file(folder, &file)?;
    parse(&file, &text)
}

/// Reads the SKILL.md `file` of `folder`: a regular file (not a symlink, FIFO or device),
/// at most `MAX_SKILL_BYTES`, UTF-8. A group's `.skills/` is loaded too, which its
/// container can write, so the folder and the file are opened by handle without following
/// a symlink: swapping either for a link after `load_dir` looked cannot make the host read
/// another file.
fn read_skill_file(folder: &Path, file: &Path) -> Result<String, SkillError> {
    let fail = |error| SkillError::file(file, error);
    let read = |message: String| fail(FileError::Read { message });
    let not_a_file = || {
        read("it is not a regular file (a symlink, folder or special file): make SKILL.md a plain file".to_owned())
    };
    let bytes = Folder::open(folder)
        .and_then(|folder| folder.read(SKILL_FILE, MAX_SKILL_BYTES))
        .map_err(|e| match e {
            FolderError::SymlinkFolder { .. } => fail(FileError::SymlinkedFolder),
            FolderError::Symlink { .. } | FolderError::NotAFile { .. } => not_a_file(),
            FolderError::NotAFolder { .. } => fail(FileError::NoSkillFile),
            FolderError::TooLarge { limit, .. } => fail(FileError::TooLarge { limit }),
            FolderError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                fail(FileError::NoSkillFile)
            }
            FolderError::Io { source, .. } => read(source.to_string()),
        })?
        .ok_or_else(|| fail(FileError::NoSkillFile))?;
    String::from_utf8(bytes).map_err(|e| {
        read(format!(
            "it is not UTF-8 (bad byte at offset {}): save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_missing_folder_is_an_empty_set() {
        let set = load_dir(Path::new("/no/such/skills"));
        assert!(set.skills.is_empty() && set.problems.is_empty());
    }

    #[test]
    fn bad_folders_are_problems_and_the_rest_load() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "b-good/SKILL.md",
            "---\nname: b-good\ndescription: B\n---\nbody",
        );
        write(
            root,
            "a-good/SKILL.md",
            "---\nname: a-good\ndescription: A\n---\n",
        );
        write(root, "a-good/scripts/run.sh", "echo hi\n");
        write(root, "README.md", "not a skill");
        write(root, ".hidden/SKILL.md", "ignored");
        write(root, "empty/notes.txt", "no SKILL.md here");
        write(
            root,
            "broken/SKILL.md",
            "---\nname: broken\ndescription: [\n---\n",
        );
        write(root, "binary/SKILL.md", "");
        std::fs::write(root.join("binary/SKILL.md"), [0xff, 0xfe]).unwrap();
        write(
            root,
            "huge/SKILL.md",
            &"x".repeat(MAX_SKILL_BYTES as usize + 1),
        );
        std::os::unix::fs::symlink(root.join("a-good"), root.join("linked")).unwrap();

        let set = load_dir(root);
        let names: Vec<_> = set.skills.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a-good", "b-good"]);
        assert_eq!(set.get("b-good").unwrap().body, "body");
        let problems: Vec<_> = set
            .problems
            .iter()
            .map(|p| {
                let rel = p.path.strip_prefix(root).unwrap().display().to_string();
                format!("{rel}: {}", p.message.split(':').next().unwrap())
            })
            .collect();
        assert_eq!(
            problems,
            [
                "binary/SKILL.md: cannot read the file",
                "broken/SKILL.md: the front matter is not valid YAML",
                "empty/SKILL.md: no SKILL.md in the skill folder",
                "huge/SKILL.md: the file is larger than 262144 bytes",
                "linked/SKILL.md: the skill folder is a symlink",
            ]
        );
        assert!(
            set.problems[1].message.contains("at line 3"),
            "{}",
            set.problems[1]
        );
    }
}
