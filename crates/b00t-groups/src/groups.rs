//! The groups folder, `<home>/groups`: one folder per group (`MEMORY.md`, conversation
//! history, `.skills/`, optional `group.toml`), plus `global/`, shared by all. Listing,
//! finding, adding and removing groups; never touching files other crates own.

use std::io::Write;
use std::path::{Path, PathBuf};

use b00t_proto::Name;
use b00t_skills::Problem;

use crate::config::{starter, GroupConfig, CONFIG_FILE};
use crate::error::GroupError;
use crate::name::{validate_name, GLOBAL, MAIN};

/// A group's memory, markdown, read into its agent's prompt.
pub const MEMORY_FILE: &str = "MEMORY.md";

/// The folder of a group holding its synced skills.
pub const SKILLS_DIR: &str = ".skills";

/// The groups folder of a home.
#[derive(Debug, Clone)]
pub struct Groups {
    root: PathBuf,
}

/// One group: its name is its agent's name (`b00t.<name>.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: Name,
    /// `<root>/<name>`.
    pub dir: PathBuf,
    /// Whether this is `main`, the privileged group.
    pub privileged: bool,
    /// From `group.toml`; the defaults when it is absent.
    pub config: GroupConfig,
}

/// The outcome of [`Groups::list`]: the usable groups, and one problem per folder that is
/// not (an invalid or reserved name, a symlink, a bad group.toml).
#[derive(Debug, Clone, Default)]
pub struct GroupList {
    /// Sorted by name; `global` is never among them.
    pub groups: Vec<Group>,
    /// Sorted by path.
    pub problems: Vec<Problem>,
}

impl Group {
    pub fn memory_file(&self) -> PathBuf {
        self.dir.join(MEMORY_FILE)
    }

    pub fn skills_dir(&self) -> PathBuf {
        self.dir.join(SKILLS_DIR)
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
}

impl Groups {
    /// The groups folder at `root` (usually `<home>/groups`); nothing is read yet.
    pub fn new(root: PathBuf) -> Groups {
        Groups { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/global`, the folder every group shares.
    pub fn global_dir(&self) -> PathBuf {
        self.root.join(GLOBAL)
    }

    /// Every group folder except `global`. A missing groups folder has no groups; only an
    /// unreadable one is an error. Plain files (a README) and hidden entries are ignored.
    pub fn list(&self) -> Result<GroupList, GroupError> {
        let mut list = GroupList::default();
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(list),
            Err(e) => return Err(GroupError::io("list the groups folder", &self.root, e)),
        };
        for entry in entries {
            let entry =
                entry.map_err(|e| GroupError::io("list the groups folder", &self.root, e))?;
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                list.problems.push(Problem::new(
                    &path,
                    "the folder name is not UTF-8, so it cannot be a group name: rename it",
                ));
                continue;
            };
            if name.starts_with('.') || name == GLOBAL {
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue; // gone since it was listed
            };
            if meta.file_type().is_symlink() {
                list.problems.push(Problem::new(
                    path,
                    "a symlink, not a group: a group folder must be a real folder inside the groups folder; remove the link",
                ));
                continue;
            }
            if !meta.is_dir() {
                continue;
            }
            match validate_name(name).and_then(|name| self.load(name, path.clone())) {
                Ok(group) => list.groups.push(group),
                Err(e) => list.problems.push(Problem::new(path, e.to_string())),
            }
        }
        list.groups.sort_by(|a, b| a.name.cmp(&b.name));
        list.problems.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(list)
    }

    /// The group `name`, with its config.
    pub fn get(&self, name: &str) -> Result<Group, GroupError> {
        let (name, dir) = self.existing(name)?;
        self.load(name, dir)
    }

    /// Creates the group `name`: its folder with a starter `MEMORY.md`, an empty
    /// `.skills/` and a commented `group.toml`; makes sure `global/` exists too. Refuses a
    /// group that exists. Skills are not synced here (see [`crate::sync_group`]).
    pub fn add(&self, name: &str) -> Result<Group, GroupError> {
        let (name, dir) = self.locate(name)?;
        std::fs::create_dir_all(&self.root)
            .map_err(|e| GroupError::io("create the groups folder", &self.root, e))?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(GroupError::Exists {
                    name: name.to_string(),
                    path: dir,
                })
            }
            Err(e) => return Err(GroupError::io("create the group folder", &dir, e)),
        }
        let memory = format!(
            "# Memory of the group `{name}`\n\n\
             What the assistant keeps in mind for this group across conversations. It reads\n\
             this file before every task and adds to it with its `remember` tool; edit it freely.\n"
        );
        write_new(&dir.join(MEMORY_FILE), &memory)?;
        write_new(&dir.join(CONFIG_FILE), &starter(name.as_str()))?;
        let skills = dir.join(SKILLS_DIR);
        std::fs::create_dir(&skills)
            .map_err(|e| GroupError::io("create the folder", &skills, e))?;
        self.ensure_global()?;
        self.load(name, dir)
    }

    /// Deletes the group `name` and everything in its folder (memory, history, skills).
    /// Refuses `main` and `global`. Returns the deleted folder.
    pub fn remove(&self, name: &str) -> Result<PathBuf, GroupError> {
        if name == MAIN {
            return Err(GroupError::Protected {
                name: name.to_owned(),
                why:
                    "it is the privileged group, which `b00t up` needs; clear its MEMORY.md instead",
            });
        }
        if name == GLOBAL {
            return Err(GroupError::Protected {
                name: name.to_owned(),
                why: "`global` is the folder every group shares, not a group; edit its MEMORY.md instead",
            });
        }
        // Not `get`: a group whose group.toml is broken can still be removed.
        let (_, dir) = self.existing(name)?;
        std::fs::remove_dir_all(&dir).map_err(|e| GroupError::io("remove", &dir, e))?;
        Ok(dir)
    }

    /// Makes sure `main` and `global` exist (each with its MEMORY.md); leaves existing
    /// ones as they are.
    pub fn ensure_defaults(&self) -> Result<(), GroupError> {
        match self.add(MAIN) {
            Ok(_) | Err(GroupError::Exists { .. }) => {}
            Err(e) => return Err(e),
        }
        self.ensure_global()
    }

    /// Validates `name` and finds its folder, refusing a symlink there.
    fn locate(&self, name: &str) -> Result<(Name, PathBuf), GroupError> {
        let name = validate_name(name)?;
        let dir = self.root.join(name.as_str());
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(GroupError::Symlink { path: dir });
        }
        Ok((name, dir))
    }

    /// The folder of the existing group `name`, without reading its group.toml: the name
    /// is valid and the folder is a real folder (not a symlink).
    pub fn dir(&self, name: &str) -> Result<PathBuf, GroupError> {
        self.existing(name).map(|(_, dir)| dir)
    }

    /// Like `locate`, and the folder must exist.
    fn existing(&self, name: &str) -> Result<(Name, PathBuf), GroupError> {
        let (name, dir) = self.locate(name)?;
        match std::fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => Ok((name, dir)),
            Ok(_) => Err(GroupError::NotAFolder { path: dir }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(self.not_found(name.as_str()))
            }
            Err(e) => Err(GroupError::io("inspect", &dir, e)),
        }
    }

    fn load(&self, name: Name, dir: PathBuf) -> Result<Group, GroupError> {
        let config = GroupConfig::load(&dir.join(CONFIG_FILE))?;
        Ok(Group {
            privileged: name.as_str() == MAIN,
            name,
            dir,
            config,
        })
    }

    fn ensure_global(&self) -> Result<(), GroupError> {
        let global = self.global_dir();
        if std::fs::symlink_metadata(&global).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(GroupError::Symlink { path: global });
        }
        std::fs::create_dir_all(&global)
            .map_err(|e| GroupError::io("create the folder", &global, e))?;
        let memory = global.join(MEMORY_FILE);
        match write_new(
            &memory,
            "# Shared memory\n\n\
             Every group's assistant reads this file. Only the `main` group may change it.\n",
        ) {
            Ok(()) => Ok(()),
            Err(GroupError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn not_found(&self, name: &str) -> GroupError {
        let known: Vec<String> = self
            .list()
            .map(|l| l.groups.iter().map(|g| format!("`{}`", g.name)).collect())
            .unwrap_or_default();
        let hint = if known.is_empty() {
            format!("create it with `b00t group add {name}`")
        } else {
            format!(
                "create it with `b00t group add {name}`; the groups are {}",
                known.join(", ")
            )
        };
        GroupError::NotFound {
            name: name.to_owned(),
            root: self.root.clone(),
            hint,
        }
    }
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> Result<(), GroupError> {
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| GroupError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &GroupList) -> Vec<&str> {
        list.groups.iter().map(|g| g.name.as_str()).collect()
    }

    #[test]
    fn add_list_get_remove() {
        let home = tempfile::tempdir().unwrap();
        let groups = Groups::new(home.path().join("groups"));
        assert!(
            groups.list().unwrap().groups.is_empty(),
            "no folder, no groups"
        );

        let family = groups.add("family").unwrap();
        assert_eq!(family.dir, home.path().join("groups/family"));
        assert!(!family.privileged);
        assert_eq!(family.config, GroupConfig::default());
        let memory = std::fs::read_to_string(family.memory_file()).unwrap();
        assert!(
            memory.starts_with("# Memory of the group `family`"),
            "{memory}"
        );
        assert!(family.skills_dir().is_dir());
        let toml = std::fs::read_to_string(family.config_file()).unwrap();
        assert!(
            toml.contains("# skills = [") && toml.contains("# model = "),
            "{toml}"
        );
        let global = std::fs::read_to_string(groups.global_dir().join(MEMORY_FILE)).unwrap();
        assert!(global.starts_with("# Shared memory"));

        let error = groups.add("family").unwrap_err().to_string();
        assert!(
            error.contains("group `family` already exists")
                && error.contains("b00t group remove family"),
            "{error}"
        );
        let error = groups.add("../escape").unwrap_err().to_string();
        assert!(error.contains("could escape the groups folder"), "{error}");
        assert!(!home.path().join("escape").exists());

        groups.ensure_defaults().unwrap();
        groups.add("work").unwrap();
        // What lives beside the groups is ignored or reported, never fatal.
        std::fs::write(groups.root().join("README.md"), "about groups").unwrap();
        std::fs::create_dir(groups.root().join(".trash")).unwrap();
        std::fs::create_dir(groups.root().join("Bad_Name")).unwrap();
        std::fs::create_dir(groups.root().join("echo")).unwrap();
        std::fs::create_dir(groups.root().join("broken")).unwrap();
        std::fs::write(groups.root().join("broken/group.toml"), "skils = []\n").unwrap();
        let list = groups.list().unwrap();
        assert_eq!(names(&list), ["family", "main", "work"]);
        assert!(list.groups[1].privileged);
        let problems: Vec<_> = list.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems[0].contains("Bad_Name") && problems[0].contains("not valid"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("broken/group.toml")
                && problems[1].contains("unknown field `skils`"),
            "{}",
            problems[1]
        );
        assert!(
            problems[2].contains("echo") && problems[2].contains("reserved"),
            "{}",
            problems[2]
        );

        assert_eq!(groups.get("work").unwrap().name.as_str(), "work");
        let error = groups.get("nope").unwrap_err().to_string();
        assert!(
            error.contains("no group `nope`")
                && error.contains("b00t group add nope")
                && error.contains("`family`, `main`, `work`"),
            "{error}"
        );
        let error = groups.get("broken").unwrap_err().to_string();
        assert!(
            error.contains("broken/group.toml`: ") && error.contains("skils"),
            "{error}"
        );

        // A history file the assistant wrote goes with the group.
        std::fs::write(family.dir.join("history.jsonl"), "{}\n").unwrap();
        assert_eq!(groups.remove("family").unwrap(), family.dir);
        assert!(!family.dir.exists());
        assert_eq!(
            groups.remove("broken").unwrap(),
            groups.root().join("broken")
        );
        let error = groups.remove("family").unwrap_err().to_string();
        assert!(error.contains("no group `family`"), "{error}");
        for protected in ["main", "global"] {
            let error = groups.remove(protected).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("cannot remove `{protected}`")),
                "{error}"
            );
        }
        assert!(groups.root().join("main").is_dir() && groups.global_dir().is_dir());
        assert_eq!(names(&groups.list().unwrap()), ["main", "work"]);
    }

    #[test]
    fn a_symlink_where_a_group_should_be_is_refused() {
        let home = tempfile::tempdir().unwrap();
        let groups = Groups::new(home.path().join("groups"));
        groups.ensure_defaults().unwrap();
        let outside = home.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "keep").unwrap();
        std::os::unix::fs::symlink(&outside, groups.root().join("linked")).unwrap();

        for error in [
            groups.add("linked").unwrap_err(),
            groups.get("linked").unwrap_err(),
            groups.remove("linked").unwrap_err(),
        ] {
            let error = error.to_string();
            assert!(error.contains("groups/linked` is a symlink"), "{error}");
        }
        assert!(outside.join("keep.txt").exists());
        let list = groups.list().unwrap();
        assert_eq!(names(&list), ["main"]);
        assert_eq!(list.problems.len(), 1);
        assert!(list.problems[0]
            .to_string()
            .contains("a symlink, not a group"));
    }

    #[test]
    fn ensure_defaults_keeps_what_exists() {
        let home = tempfile::tempdir().unwrap();
        let groups = Groups::new(home.path().join("groups"));
        groups.ensure_defaults().unwrap();
        let main = groups.get("main").unwrap();
        assert!(main.privileged);
        std::fs::write(main.memory_file(), "# mine\n").unwrap();
        std::fs::write(groups.global_dir().join(MEMORY_FILE), "# ours\n").unwrap();
        groups.ensure_defaults().unwrap();
        assert_eq!(
            std::fs::read_to_string(main.memory_file()).unwrap(),
            "# mine\n"
        );
        assert_eq!(
            std::fs::read_to_string(groups.global_dir().join(MEMORY_FILE)).unwrap(),
            "# ours\n"
        );
    }
}
