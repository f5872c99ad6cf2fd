//! Mirroring skills into a group: every file of each selected, valid skill folder of the
//! home's `skills/` is copied into the group's `.skills/`, changed files are replaced
//! atomically, and whatever is gone from the source or deselected is deleted. Symlinks
//! are never followed out of the source; special files are skipped and reported.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::error::{Problem, SkillError};
use crate::load::load_dir;
use crate::target::{Kind, TargetDir, TEMP_PREFIX};

/// Which skills a group gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every valid skill (the default when group.toml has no `skills`).
    #[default]
    All,
    /// Only these names (group.toml's `skills = [...]`).
    Only(Vec<String>),
}

impl Selection {
    /// Whether the skill `name` is selected.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// What one sync changed, by skill name, and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Skill folders new in the target.
    pub added: Vec<String>,
    /// Skill folders in which at least one file was written or deleted.
    pub updated: Vec<String>,
    /// Entries of the target deleted because their skill is gone, invalid or deselected.
    pub removed: Vec<String>,
    /// Names the selection asks for that are not valid skills of the source (a typo in
    /// group.toml, or a skill with a problem); sorted.
    pub missing: Vec<String>,
    /// Source entries not copied: symlinks leading out of the source or to a folder,
    /// FIFOs, sockets and devices.
    pub skipped: Vec<PathBuf>,
    /// Skill folders of the source that could not be used (as `load_dir` reports them);
    /// they are not synced.
    pub problems: Vec<Problem>,
}

impl SyncReport {
    /// Whether the target changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

/// Mirrors the selected valid skill folders of `source` (the home's `skills/`) into
/// `target` (a group's `.skills/`), creating `target` (not its parent) when missing. A
/// missing `source` mirrors as empty. Idempotent; when nothing changed it only reads and compares.
/// Refuses (`SymlinkTarget`) when `target` is a symlink.
pub fn sync(source: &Path, target: &Path, selection: &Selection) -> Result<SyncReport, SkillError> {
    let set = load_dir(source);
    let mut report = SyncReport::default();
    if let Selection::Only(names) = selection {
        let wanted: BTreeSet<&String> = names.iter().collect();
        report.missing = wanted
            .into_iter()
            .filter(|name| set.get(name).is_none())
            .cloned()
            .collect();
    }
    report.problems = set.problems.clone();
    let root = TargetDir::open_root(target)?;
    let source_root = std::fs::canonicalize(source).ok();
    let mut keep: BTreeSet<OsString> = BTreeSet::new();
    for skill in set
        .skills
        .iter()
        .filter(|s| selection.includes(s.name.as_str()))
    {
        let name = OsString::from(skill.name.as_str());
        let (dir, made) = root.ensure_dir(&name)?;
        let changed = mirror(
            &skill.dir,
            &dir,
            source_root.as_deref(),
            &mut report.skipped,
        )?;
        if made {
            report.added.push(skill.name.to_string());
        } else if changed {
            report.updated.push(skill.name.to_string());
        }
        keep.insert(name);
    }
    for (name, _) in root.entries()? {
        if keep.contains(&name) || root.is_fresh_temp(&name) {
            continue;
        }
        root.remove(&name)?;
        let name = name.to_string_lossy();
        if !name.starts_with(TEMP_PREFIX) {
            report.removed.push(name.into_owned());
        }
    }
    Ok(report)
}

/// Makes `target` hold exactly the files and folders of `source`; returns whether
/// anything was written or deleted.
fn mirror(
    source: &Path,
    target: &TargetDir,
    source_root: Option<&Path>,
    skipped: &mut Vec<PathBuf>,
) -> Result<bool, SkillError> {
    let list = |e| SkillError::io("list the folder", source, e);
    let mut entries: Vec<(OsString, PathBuf)> = std::fs::read_dir(source)
        .map_err(list)?
        .map(|entry| entry.map(|e| (e.file_name(), e.path())))
        .collect::<Result<_, _>>()
        .map_err(list)?;
    entries.sort();
    let mut changed = false;
    let mut keep: BTreeSet<OsString> = BTreeSet::new();
    for (name, path) in entries {
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| SkillError::io("inspect", &path, e))?;
        let kind = meta.file_type();
        let file = if kind.is_dir() {
            let (sub, made) = target.ensure_dir(&name)?;
            changed |= made;
            changed |= mirror(&path, &sub, source_root, skipped)?;
            keep.insert(name);
            continue;
        } else if kind.is_file() {
            Some(path.clone())
        } else if kind.is_symlink() {
            resolve_inside(&path, source_root)
        } else {
            None
        };
        match file.map(|f| read_source(&f)).transpose()?.flatten() {
            Some((bytes, mode)) => {
                changed |= put(target, &name, &bytes, mode)?;
                keep.insert(name);
            }
            None => skipped.push(path),
        }
    }
    for (name, kind) in target.entries()? {
        if keep.contains(&name) || (kind == Kind::File && target.is_fresh_temp(&name)) {
            continue;
        }
        target.remove(&name)?;
        changed = true;
    }
    Ok(changed)
}

/// Writes `name` unless it already holds `bytes` with `mode`; returns whether it wrote.
fn put(target: &TargetDir, name: &OsString, bytes: &[u8], mode: u32) -> Result<bool, SkillError> {
    if let Some((old, old_mode)) = target.read_file(name, bytes.len() as u64)? {
        if old_mode == mode && old == bytes {
            return Ok(false);
        }
    }
    target.write_file(name, bytes, mode)?;
    Ok(true)
}

/// The real path of the symlink `link` when it leads to a regular file inside
/// `source_root`; `None` otherwise (out of the source, dangling, or a folder).
fn resolve_inside(link: &Path, source_root: Option<&Path>) -> Option<PathBuf> {
    let root = source_root?;
    let real = std::fs::canonicalize(link).ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

/// Reads a regular file of the source with normalised permission bits (0755 when any
/// execute bit is set, else 0644); `None` when it turns out not to be a regular file.
/// Opened without following a symlink and without blocking on a FIFO.
fn read_source(path: &Path) -> Result<Option<(Vec<u8>, u32)>, SkillError> {
    let read = |e| SkillError::io("read", path, e);
    let opened = File::options()
        .read(true)
        .custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        // Replaced by a symlink or a FIFO since it was listed: not a file to copy.
        Err(e)
            if e.raw_os_error() == Some(Errno::LOOP.raw_os_error())
                || e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(read(e)),
    };
    let meta = file.metadata().map_err(read)?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(read)?;
    let mode = if meta.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    };
    Ok(Some((bytes, mode)))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn skill(root: &Path, name: &str, description: &str) {
        write(
            root,
            &format!("{name}/SKILL.md"),
            &format!("---\nname: {name}\ndescription: {description}\n---\nbody of {name}\n"),
        );
    }

    /// Every file under `dir`, relative, with its content; folders end with `/`.
    fn tree(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    out.push(format!("{rel}/"));
                    walk(root, &path, out);
                } else if meta.is_file() {
                    let text = std::fs::read_to_string(&path).unwrap();
                    out.push(format!(
                        "{rel} {:o} {}",
                        meta.mode() & 0o777,
                        text.lines().last().unwrap_or("")
                    ));
                } else {
                    out.push(format!("{rel} (special)"));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out
    }

    /// The report without its problems, which the test checks apart.
    fn changes(report: SyncReport) -> SyncReport {
        SyncReport {
            problems: Vec::new(),
            ..report
        }
    }

    fn report(added: &[&str], updated: &[&str], removed: &[&str]) -> SyncReport {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        SyncReport {
            added: own(added),
            updated: own(updated),
            removed: own(removed),
            ..SyncReport::default()
        }
    }

    #[test]
    fn mirrors_adds_updates_and_deletes() {
        let home = tempfile::tempdir().unwrap();
        let source = home.path().join("skills");
        let target = home.path().join("groups/family/.skills");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        skill(&source, "alpha", "A");
        skill(&source, "beta", "B");
        write(&source, "beta/scripts/run.sh", "echo run");
        std::fs::set_permissions(
            source.join("beta/scripts/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        skill(&source, "broken", "[");
        write(&source, "README.md", "not a skill");

        let first = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(changes(first), report(&["alpha", "beta"], &[], &[]));
        assert_eq!(
            tree(&target),
            [
                "alpha/",
                "alpha/SKILL.md 644 body of alpha",
                "beta/",
                "beta/SKILL.md 644 body of beta",
                "beta/scripts/",
                "beta/scripts/run.sh 755 echo run",
            ]
        );

        // Nothing changed: nothing is written (the file keeps its inode).
        let inode = std::fs::metadata(target.join("alpha/SKILL.md"))
            .unwrap()
            .ino();
        assert_eq!(
            changes(sync(&source, &target, &Selection::All).unwrap()),
            SyncReport::default()
        );
        assert_eq!(
            std::fs::metadata(target.join("alpha/SKILL.md"))
                .unwrap()
                .ino(),
            inode
        );

        // An edit, a deleted file, a new skill, a deleted skill, junk in the target.
        skill(&source, "alpha", "A2");
        write(
            &source,
            "alpha/SKILL.md",
            "---\nname: alpha\ndescription: A2\n---\nedited\n",
        );
        std::fs::remove_dir_all(source.join("beta/scripts")).unwrap();
        skill(&source, "gamma", "G");
        write(&target, "stray/file.txt", "junk");
        write(&target, "alpha/extra.txt", "junk");
        let second = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(
            changes(second),
            report(&["gamma"], &["alpha", "beta"], &["stray"])
        );
        assert_eq!(
            tree(&target),
            [
                "alpha/",
                "alpha/SKILL.md 644 edited",
                "beta/",
                "beta/SKILL.md 644 body of beta",
                "gamma/",
                "gamma/SKILL.md 644 body of gamma",
            ]
        );

        std::fs::remove_dir_all(source.join("gamma")).unwrap();
        // A skill that stops being valid is no longer offered either.
        write(&source, "beta/SKILL.md", "no front matter");
        let third = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(third.problems.len(), 2, "{:?}", third.problems);
        assert_eq!(changes(third), report(&[], &[], &["beta", "gamma"]));
        assert_eq!(tree(&target), ["alpha/", "alpha/SKILL.md 644 edited"]);

        // The whole source gone: the target empties.
        std::fs::remove_dir_all(&source).unwrap();
        assert_eq!(
            sync(&source, &target, &Selection::All).unwrap(),
            report(&[], &[], &["alpha"])
        );
        assert!(tree(&target).is_empty());
    }

    #[test]
    fn a_selection_picks_a_subset_and_reports_unknown_names() {
        let home = tempfile::tempdir().unwrap();
        let (source, target) = (home.path().join("skills"), home.path().join("t"));
        skill(&source, "alpha", "A");
        skill(&source, "beta", "B");
        skill(&source, "broken", "[");
        let only = Selection::Only(vec![
            "beta".into(),
            "nope".into(),
            "broken".into(),
            "beta".into(),
        ]);
        let first = sync(&source, &target, &only).unwrap();
        assert_eq!(first.added, ["beta"]);
        assert_eq!(first.missing, ["broken", "nope"]);
        assert_eq!(tree(&target), ["beta/", "beta/SKILL.md 644 body of beta"]);
        // Deselecting removes; selecting all adds the rest.
        let none = sync(&source, &target, &Selection::Only(vec![])).unwrap();
        assert_eq!(none.removed, ["beta"]);
        let all = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(all.added, ["alpha", "beta"]);
    }

    #[test]
    fn symlinks_out_of_the_source_and_special_files_are_skipped() {
        let home = tempfile::tempdir().unwrap();
        let (source, target) = (home.path().join("skills"), home.path().join("t"));
        write(home.path(), "secret.txt", "secret");
        skill(&source, "alpha", "A");
        write(&source, "alpha/notes.md", "notes");
        std::os::unix::fs::symlink(home.path().join("secret.txt"), source.join("alpha/out.txt"))
            .unwrap();
        std::os::unix::fs::symlink(source.join("alpha/notes.md"), source.join("alpha/in.md"))
            .unwrap();
        std::os::unix::fs::symlink(home.path(), source.join("alpha/dir-link")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            source.join("alpha/pipe"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let outcome = sync(&source, &target, &Selection::All).unwrap();
        let skipped: Vec<_> = outcome
            .skipped
            .iter()
            .map(|p| p.strip_prefix(&source).unwrap().display().to_string())
            .collect();
        assert_eq!(skipped, ["alpha/dir-link", "alpha/out.txt", "alpha/pipe"]);
        assert_eq!(
            tree(&target),
            [
                "alpha/",
                "alpha/SKILL.md 644 body of alpha",
                "alpha/in.md 644 notes",
                "alpha/notes.md 644 notes",
            ]
        );
    }

    #[test]
    fn a_hostile_target_cannot_redirect_writes_or_deletes() {
        let home = tempfile::tempdir().unwrap();
        let (source, target) = (
            home.path().join("skills"),
            home.path().join("group/.skills"),
        );
        std::fs::create_dir(home.path().join("group")).unwrap();
        let outside = home.path().join("outside");
        write(&outside, "precious.txt", "keep me");
        skill(&source, "alpha", "A");
        write(&source, "alpha/docs/a.md", "a");
        sync(&source, &target, &Selection::All).unwrap();

        // The group's container swaps a skill folder and a sub-folder for symlinks to a
        // host folder, and a file for a FIFO.
        std::fs::remove_dir_all(target.join("alpha/docs")).unwrap();
        std::os::unix::fs::symlink(&outside, target.join("alpha/docs")).unwrap();
        std::fs::remove_file(target.join("alpha/SKILL.md")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            target.join("alpha/SKILL.md"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let healed = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(healed.updated, ["alpha"]);
        assert_eq!(tree(&outside), ["precious.txt 644 keep me"]);
        assert_eq!(
            tree(&target),
            [
                "alpha/",
                "alpha/SKILL.md 644 body of alpha",
                "alpha/docs/",
                "alpha/docs/a.md 644 a"
            ]
        );

        std::fs::remove_dir_all(target.join("alpha")).unwrap();
        std::os::unix::fs::symlink(&outside, target.join("alpha")).unwrap();
        let healed = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(healed.added, ["alpha"]);
        assert_eq!(tree(&outside), ["precious.txt 644 keep me"]);

        // `.skills` itself a symlink: refused, nothing outside touched.
        std::fs::remove_dir_all(&target).unwrap();
        std::os::unix::fs::symlink(&outside, &target).unwrap();
        let error = sync(&source, &target, &Selection::All)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("is a symlink") && error.contains(".skills"),
            "{error}"
        );
        assert_eq!(tree(&outside), ["precious.txt 644 keep me"]);
    }

    #[test]
    fn a_missing_parent_is_an_error_not_made_again() {
        let home = tempfile::tempdir().unwrap();
        let source = home.path().join("skills");
        skill(&source, "alpha", "A");
        let target = home.path().join("groups/removed/.skills");
        let error = sync(&source, &target, &Selection::All)
            .unwrap_err()
            .to_string();
        assert!(error.contains("groups/removed"), "{error}");
        assert!(!home.path().join("groups").exists());
    }

    #[test]
    fn leftover_temporary_files_are_removed_once_stale() {
        let home = tempfile::tempdir().unwrap();
        let (source, target) = (home.path().join("skills"), home.path().join("t"));
        skill(&source, "alpha", "A");
        sync(&source, &target, &Selection::All).unwrap();
        let stale = target.join("alpha/.b00t-sync-0000000000000001");
        let fresh = target.join("alpha/.b00t-sync-0000000000000002");
        write(&target, "alpha/.b00t-sync-0000000000000001", "half");
        write(&target, "alpha/.b00t-sync-0000000000000002", "half");
        let old = SystemTime::now() - Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let outcome = sync(&source, &target, &Selection::All).unwrap();
        assert_eq!(outcome.updated, ["alpha"]);
        assert!(!stale.exists(), "a stale temporary file is removed");
        assert!(
            fresh.exists(),
            "a concurrent sync's temporary file is left alone"
        );
    }
}
