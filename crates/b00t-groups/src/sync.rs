//! Skills into groups: every group's `.skills/` mirrors the home's `skills/` (or the
//! subset its group.toml selects), once at start and then live on every change, through
//! a debounced notify watch of the skills folder and the groups folder.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use b00t_proto::Name;
use b00t_skills::SyncReport;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::CONFIG_FILE;
use crate::error::GroupError;
use crate::groups::{Group, Groups, SKILLS_DIR};
use crate::name::GLOBAL;

/// The live sync's debounce: well under a second, so an edit reaches every group within
/// one, while a burst of saves still makes one sync.
pub const LIVE_DEBOUNCE: Duration = Duration::from_millis(100);

/// Mirrors the skills `group` selects from `skills_dir` into its `.skills/`.
pub fn sync_group(group: &Group, skills_dir: &Path) -> Result<SyncReport, GroupError> {
    b00t_skills::sync(skills_dir, &group.skills_dir(), &group.config.selection()).map_err(
        |source| GroupError::Sync {
            group: group.name.to_string(),
            source,
        },
    )
}

/// Syncs every group (never `global`) with its selection, and logs what changed. Only an
/// unreadable groups folder is an error: a folder that is not a usable group, a group
/// whose sync fails, a selected skill that does not exist and a skill with a problem are
/// logged (warn or error) and the other groups are still synced. Returns the report of
/// each group synced.
pub fn sync_skills(
    groups: &Groups,
    skills_dir: &Path,
) -> Result<Vec<(Name, SyncReport)>, GroupError> {
    let list = groups.list()?;
    for problem in &list.problems {
        tracing::warn!("not a usable group, skills not synced: {problem}");
    }
    let mut reports = Vec::with_capacity(list.groups.len());
    let mut skill_problems_logged = false;
    for group in list.groups {
        match sync_group(&group, skills_dir) {
            Ok(report) => {
                if !skill_problems_logged {
                    for problem in &report.problems {
                        tracing::warn!("skill not synced: {problem}");
                    }
                    skill_problems_logged = true;
                }
                log_report(&group, &report);
                reports.push((group.name, report));
            }
            // Removed (`b00t group remove`) since it was listed: nothing to sync.
            Err(_) if !group.dir.exists() => {
                tracing::debug!(group = %group.name, "group removed during the skill sync")
            }
            Err(e) => tracing::error!("{e}"),
        }
    }
    Ok(reports)
}

fn log_report(group: &Group, report: &SyncReport) {
    if report.changed() {
        tracing::info!(
            group = %group.name,
            added = ?report.added,
            updated = ?report.updated,
            removed = ?report.removed,
            "skills synced"
        );
    }
    if !report.missing.is_empty() {
        tracing::warn!(
            "group `{}`: `skills` in {} names {} that {} not a valid skill: see `b00t skills list`",
            group.name,
            group.config_file().display(),
            report
                .missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if report.missing.len() == 1 {
                "is"
            } else {
                "are"
            },
        );
    }
    for path in &report.skipped {
        tracing::warn!(
            group = %group.name,
            "not synced: `{}` is a symlink out of the skills folder or a special file",
            path.display()
        );
    }
}

/// Syncs every group now, then keeps them synced until `shutdown`: a change under
/// `skills_dir` (an edit, a new or deleted skill) or to the groups (a new group folder, an
/// edited group.toml, a tampered `.skills/`) syncs every group again, debounced by
/// [`LIVE_DEBOUNCE`]. Conversation history and memory writes are ignored.
///
/// Missing folders are created. Blocks while the first sync runs (it reads and compares
/// files). Must be called inside a tokio runtime.
pub fn spawn_skill_sync(
    groups: Groups,
    skills_dir: PathBuf,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, GroupError> {
    let groups_root = absolute(groups.root());
    let skills_root = absolute(&skills_dir);
    let relevant = {
        let (groups_root, skills_root) = (groups_root.clone(), skills_root.clone());
        move |path: &Path| path.starts_with(&skills_root) || concerns_skill_sync(&groups_root, path)
    };
    let on_change = {
        let (groups, skills_dir) = (groups.clone(), skills_dir.clone());
        move || {
            if let Err(e) = sync_skills(&groups, &skills_dir) {
                tracing::error!("skill sync: {e}");
            }
        }
    };
    // The watch starts first, so that a change made during the first sync is not missed.
    let watch_shutdown = shutdown.child_token();
    let handle = b00t_skills::watch_filtered(
        vec![skills_root, groups_root],
        LIVE_DEBOUNCE,
        watch_shutdown.clone(),
        relevant,
        on_change,
    )
    .map_err(GroupError::Watch)?;
    if let Err(e) = sync_skills(&groups, &skills_dir) {
        watch_shutdown.cancel();
        return Err(e);
    }
    Ok(handle)
}

/// Whether a change at `path` (under the groups folder) can change what a sync does: a
/// group folder made, removed or renamed; its group.toml; anything in its `.skills/`.
fn concerns_skill_sync(groups_root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(groups_root) else {
        return false;
    };
    let parts: Vec<&std::ffi::OsStr> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part),
            _ => None,
        })
        .collect();
    match parts.as_slice() {
        [group, ..] if *group == GLOBAL => false,
        [_] => true,
        [_, file] => *file == CONFIG_FILE || *file == SKILLS_DIR,
        [_, dir, ..] => *dir == SKILLS_DIR,
        [] => false,
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_that_matter_to_the_sync_count() {
        let root = Path::new("/h/groups");
        for (path, expected) in [
            ("/h/groups/family", true),
            ("/h/groups/family/group.toml", true),
            ("/h/groups/family/.skills", true),
            ("/h/groups/family/.skills/x/SKILL.md", true),
            ("/h/groups/family/MEMORY.md", false),
            ("/h/groups/family/history.jsonl", false),
            ("/h/groups/family/notes/group.toml", false),
            ("/h/groups/global", false),
            ("/h/groups/global/MEMORY.md", false),
            ("/h/groups", false),
            ("/h/skills/x", false),
        ] {
            assert_eq!(
                concerns_skill_sync(root, Path::new(path)),
                expected,
                "{path}"
            );
        }
    }
}

#[cfg(test)]
mod live_tests {
    use std::time::Instant;

    use super::*;

    fn write_skill(skills: &Path, name: &str, body: &str) {
        let dir = skills.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            format!("---\nname: {name}\ndescription: about {name}\n---\n{body}\n"),
        )
        .unwrap();
    }

    fn synced(groups: &Groups, group: &str) -> Vec<String> {
        let set = b00t_skills::load_dir(&groups.root().join(group).join(SKILLS_DIR));
        set.skills
            .iter()
            .map(|s| format!("{}: {}", s.name, s.body.trim()))
            .collect()
    }

    /// Polls until `condition` holds, for up to 10 s.
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn a_selection_picks_a_subset_and_unknown_names_only_warn() {
        let home = tempfile::tempdir().unwrap();
        let skills = home.path().join("skills");
        write_skill(&skills, "alpha", "a");
        write_skill(&skills, "beta", "b");
        let groups = Groups::new(home.path().join("groups"));
        groups.ensure_defaults().unwrap();
        let picky = groups.add("picky").unwrap();
        std::fs::write(picky.config_file(), "skills = [\"beta\", \"gamma\"]\n").unwrap();

        let reports = sync_skills(&groups, &skills).unwrap();
        let summary: Vec<_> = reports
            .iter()
            .map(|(name, r)| format!("{name} +{:?} missing {:?}", r.added, r.missing))
            .collect();
        assert_eq!(
            summary,
            [
                "main +[\"alpha\", \"beta\"] missing []",
                "picky +[\"beta\"] missing [\"gamma\"]"
            ]
        );
        assert_eq!(synced(&groups, "picky"), ["beta: b"]);
        assert!(
            !groups.global_dir().join(SKILLS_DIR).exists(),
            "global is not a group"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn edits_additions_and_deletions_reach_every_group_live() {
        let home = tempfile::tempdir().unwrap();
        let skills = home.path().join("skills");
        write_skill(&skills, "alpha", "version 1");
        let groups = Groups::new(home.path().join("groups"));
        groups.ensure_defaults().unwrap();
        groups.add("family").unwrap();
        let shutdown = CancellationToken::new();
        let task = spawn_skill_sync(groups.clone(), skills.clone(), shutdown.clone()).unwrap();
        // The first sync is done when it returns.
        assert_eq!(synced(&groups, "main"), ["alpha: version 1"]);
        assert_eq!(synced(&groups, "family"), ["alpha: version 1"]);

        let everywhere = |expected: &[&str]| {
            let groups = groups.clone();
            let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            move || {
                ["main", "family"]
                    .iter()
                    .all(|g| synced(&groups, g) == expected)
            }
        };
        write_skill(&skills, "alpha", "version 2");
        eventually(
            "the edit reached every group",
            everywhere(&["alpha: version 2"]),
        )
        .await;

        write_skill(&skills, "beta", "new");
        eventually(
            "the new skill reached every group",
            everywhere(&["alpha: version 2", "beta: new"]),
        )
        .await;

        std::fs::remove_dir_all(skills.join("alpha")).unwrap();
        eventually(
            "the deletion reached every group",
            everywhere(&["beta: new"]),
        )
        .await;

        // A group added while the sync runs gets the skills; so does a group.toml edit.
        std::fs::create_dir(groups.root().join("late")).unwrap();
        eventually("the new group got the skills", || {
            synced(&groups, "late") == ["beta: new"]
        })
        .await;
        write_skill(&skills, "gamma", "g");
        std::fs::write(
            groups.root().join("family").join(CONFIG_FILE),
            "skills = [\"gamma\"]\n",
        )
        .unwrap();
        eventually("family follows its group.toml", || {
            synced(&groups, "family") == ["gamma: g"]
        })
        .await;
        eventually("main has everything", || {
            synced(&groups, "main") == ["beta: new", "gamma: g"]
        })
        .await;

        // A skill file tampered with inside a group is put back.
        std::fs::write(groups.root().join("main/.skills/beta/SKILL.md"), "tampered").unwrap();
        eventually("the tampered file is restored", || {
            synced(&groups, "main") == ["beta: new", "gamma: g"]
        })
        .await;

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the live sync stops on shutdown")
            .unwrap();
    }
}
