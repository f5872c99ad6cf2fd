//! Finding datum files: every `*.toml` under a catalog folder, recursively, in sorted path
//! order. Hidden entries (`.git`) are skipped and symlinked folders are visited once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::Problem;

/// The `*.toml` files under `root`, sorted. Unreadable folders become problems.
pub(crate) fn toml_files(root: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    match std::fs::metadata(root) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            problems.push(Problem::new(
                root,
                format!(
                    "catalog folder `{}` is not a folder: point [datums] paths in b00t.toml at the folder that holds the datum files",
                    root.display()
                ),
            ));
            return Vec::new();
        }
        Err(_) => {
            problems.push(Problem::new(
                root,
                format!(
                    "catalog folder `{}` does not exist: create it or remove it from [datums] paths in b00t.toml",
                    root.display()
                ),
            ));
            return Vec::new();
        }
    }
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        if let Ok(canonical) = std::fs::canonicalize(&folder) {
            if !visited.insert(canonical) {
                continue;
            }
        }
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(error) => {
                problems.push(Problem::new(
                    &folder,
                    format!("cannot read the folder: {error}"),
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue; // a dangling symlink
            };
            if metadata.is_dir() {
                folders.push(path);
            } else if metadata.is_file()
                && path
                    .extension()
                    .is_some_and(|extension| extension == "toml")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_toml_files_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        for file in [
            "z.cli.toml",
            "a.cli.toml",
            "b/sub/c.apt.toml",
            "b/readme.md",
            ".git/x.toml",
            ".hidden.toml",
        ] {
            std::fs::write(root.join(file), "").unwrap();
        }
        let mut problems = Vec::new();
        let files = toml_files(root, &mut problems);
        let relative: Vec<_> = files
            .iter()
            .map(|file| {
                file.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(relative, ["a.cli.toml", "b/sub/c.apt.toml", "z.cli.toml"]);
        assert!(problems.is_empty());
    }

    #[test]
    fn a_missing_root_is_a_problem() {
        let mut problems = Vec::new();
        let files = toml_files(Path::new("/no/such/b00t/datums"), &mut problems);
        assert!(files.is_empty());
        assert_eq!(
            problems[0].message,
            "catalog folder `/no/such/b00t/datums` does not exist: create it or remove it from [datums] paths in b00t.toml"
        );
    }
}
