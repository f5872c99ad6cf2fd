//! What of the host a group container sees, and nothing more (NanoClaw's mounts):
//!
//! - its own folder `groups/<group>` read-write at `/workspace/group`;
//! - `groups/global` at `/workspace/global`: read-only for every group but `main`, which
//!   keeps it;
//! - for `main` only, the project root (the home) read-only at `/workspace/project`.
//!
//! The home holds `state/` (the operator key that signs installs past the policy, the
//! journal, the audit log) and `groups/` (every other group's folder and history). A
//! read-only bind of the home would show both, so each is covered inside the project
//! mount by an empty read-only tmpfs at `/workspace/project/state` and
//! `/workspace/project/groups`: the container sees empty folders where they are, and no
//! mount ever names a path under them. Nothing else of the host is mounted.
//!
//! Every path is canonicalized first, so a symlink cannot redirect a mount: a group folder
//! that is itself a symlink, or that does not sit directly in the groups folder, is
//! refused, and so is a path to hide that leaves the project or is a symlink.

use std::path::{Path, PathBuf};

use crate::error::ContainerError;
use crate::spec::{Mount, MountKind, GLOBAL_TARGET, GROUP_TARGET, PROJECT_TARGET};

/// The folders of the home hidden from `main`'s project mount.
pub const HIDDEN_IN_PROJECT: [&str; 2] = ["state", "groups"];

/// The mounts of one group: see the module's documentation. `project_root` is `Some`
/// for `main` only; `privileged` (main) makes `global` writable. The home's `state/` and
/// `groups/` are hidden (and made when missing, so that they can be covered).
pub fn plan_mounts(
    group_dir: &Path,
    global_dir: &Path,
    project_root: Option<&Path>,
    privileged: bool,
) -> Result<Vec<Mount>, ContainerError> {
    let hidden: Vec<&Path> = HIDDEN_IN_PROJECT.iter().map(Path::new).collect();
    plan_mounts_hiding(group_dir, global_dir, project_root, privileged, &hidden)
}

/// [`plan_mounts`] with the list of what to hide in the project mount (paths relative to
/// the project root, or absolute inside it), for a home whose state folder is elsewhere
/// than `state/`.
pub fn plan_mounts_hiding(
    group_dir: &Path,
    global_dir: &Path,
    project_root: Option<&Path>,
    privileged: bool,
    hidden: &[&Path],
) -> Result<Vec<Mount>, ContainerError> {
    let refuse = |path: &Path, problem: &str| ContainerError::Mount {
        path: path.to_owned(),
        problem: problem.to_owned(),
    };
    let real_dir = |path: &Path, what: &str| -> Result<PathBuf, ContainerError> {
        let meta = fs_err::symlink_metadata(path)
            .map_err(|e| refuse(path, &format!("the {what} cannot be read ({e})")))?;
        if meta.file_type().is_symlink() {
            return Err(refuse(
                path,
                &format!("the {what} is a symlink: use a real folder"),
            ));
        }
        if !meta.is_dir() {
            return Err(refuse(path, &format!("the {what} is not a folder")));
        }
        fs_err::canonicalize(path)
            .map_err(|e| refuse(path, &format!("the {what} cannot be resolved ({e})")))
    };

    let global = real_dir(global_dir, "global folder")?;
    let groups_root = global
        .parent()
        .ok_or_else(|| refuse(global_dir, "the global folder has no parent groups folder"))?
        .to_owned();
    let group = real_dir(group_dir, "group folder")?;
    if group.parent() != Some(groups_root.as_path()) {
        return Err(refuse(
            group_dir,
            &format!(
                "the group folder must sit directly in the groups folder `{}`",
                groups_root.display()
            ),
        ));
    }
    if group == global {
        return Err(refuse(group_dir, "the group folder is the global folder"));
    }

    let mut mounts = vec![
        bind(group, GROUP_TARGET, false),
        bind(global, GLOBAL_TARGET, !privileged),
    ];
    if let Some(root) = project_root {
        let root = real_dir(root, "project root")?;
        mounts.push(bind(root.clone(), PROJECT_TARGET, true));
        for hide in hidden {
            let joined = root.join(hide);
            let Ok(relative) = joined.strip_prefix(&root).map(Path::to_path_buf) else {
                return Err(refuse(
                    &joined,
                    "a path to hide must be inside the project root",
                ));
            };
            if relative.as_os_str().is_empty()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(refuse(
                    &joined,
                    "a path to hide must be a plain path inside the project root",
                ));
            }
            // The mask needs a folder to cover inside the read-only bind.
            if !joined.exists() {
                fs_err::create_dir_all(&joined).map_err(|e| {
                    refuse(&joined, &format!("it is missing and cannot be made ({e})"))
                })?;
            }
            let real = real_dir(&joined, "folder to hide")?;
            if real != joined {
                return Err(refuse(
                    &joined,
                    "a path to hide must not pass through a symlink",
                ));
            }
            let target = format!("{PROJECT_TARGET}/{}", relative.to_string_lossy());
            mounts.push(Mount {
                host: real,
                target,
                read_only: true,
                kind: MountKind::Mask,
            });
        }
    }
    Ok(mounts)
}

fn bind(host: PathBuf, target: &str, read_only: bool) -> Mount {
    Mount {
        host,
        target: target.to_owned(),
        read_only,
        kind: MountKind::Bind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Home {
        _dir: tempfile::TempDir,
        root: PathBuf,
    }

    fn home() -> Home {
        let dir = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(dir.path()).unwrap();
        for sub in ["groups/main", "groups/global", "groups/family", "state"] {
            fs_err::create_dir_all(root.join(sub)).unwrap();
        }
        fs_err::write(root.join("state/operator.key"), "secret").unwrap();
        Home { _dir: dir, root }
    }

    fn shape(mounts: &[Mount]) -> Vec<(String, String, bool, MountKind)> {
        mounts
            .iter()
            .map(|m| {
                (
                    m.host.display().to_string(),
                    m.target.clone(),
                    m.read_only,
                    m.kind,
                )
            })
            .collect()
    }

    #[test]
    fn an_ordinary_group_gets_its_folder_and_global_read_only_and_nothing_else() {
        let h = home();
        let mounts = plan_mounts(
            &h.root.join("groups/family"),
            &h.root.join("groups/global"),
            None,
            false,
        )
        .unwrap();
        let r = h.root.display();
        assert_eq!(
            shape(&mounts),
            [
                (
                    format!("{r}/groups/family"),
                    "/workspace/group".into(),
                    false,
                    MountKind::Bind
                ),
                (
                    format!("{r}/groups/global"),
                    "/workspace/global".into(),
                    true,
                    MountKind::Bind
                ),
            ]
        );
    }

    #[test]
    fn main_gets_global_writable_and_the_project_read_only_with_state_and_groups_masked() {
        let h = home();
        fs_err::remove_dir_all(h.root.join("state")).unwrap();
        let mounts = plan_mounts(
            &h.root.join("groups/main"),
            &h.root.join("groups/global"),
            Some(&h.root),
            true,
        )
        .unwrap();
        let r = h.root.display();
        assert_eq!(
            shape(&mounts),
            [
                (
                    format!("{r}/groups/main"),
                    "/workspace/group".into(),
                    false,
                    MountKind::Bind
                ),
                (
                    format!("{r}/groups/global"),
                    "/workspace/global".into(),
                    false,
                    MountKind::Bind
                ),
                (
                    format!("{r}"),
                    "/workspace/project".into(),
                    true,
                    MountKind::Bind
                ),
                (
                    format!("{r}/state"),
                    "/workspace/project/state".into(),
                    true,
                    MountKind::Mask
                ),
                (
                    format!("{r}/groups"),
                    "/workspace/project/groups".into(),
                    true,
                    MountKind::Mask
                ),
            ]
        );
        assert!(
            h.root.join("state").is_dir(),
            "a missing state folder is made so it can be covered"
        );
    }

    #[test]
    fn paths_are_canonicalized() {
        let h = home();
        let mounts = plan_mounts(
            &h.root.join("groups/./family"),
            &h.root.join("groups/main/../global"),
            None,
            false,
        )
        .unwrap();
        assert_eq!(mounts[0].host, h.root.join("groups/family"));
        assert_eq!(mounts[1].host, h.root.join("groups/global"));
    }

    #[test]
    fn a_symlinked_group_folder_is_refused() {
        let h = home();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), h.root.join("groups/evil")).unwrap();
        let e = plan_mounts(
            &h.root.join("groups/evil"),
            &h.root.join("groups/global"),
            None,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("symlink") && e.contains("groups/evil"), "{e}");
        std::os::unix::fs::symlink(h.root.join("state"), h.root.join("groups/keys")).unwrap();
        assert!(plan_mounts(
            &h.root.join("groups/keys"),
            &h.root.join("groups/global"),
            None,
            false
        )
        .is_err());
    }

    #[test]
    fn a_group_folder_outside_the_groups_folder_is_refused() {
        let h = home();
        for bad in [
            h.root.join("state"),
            h.root.clone(),
            h.root.join("groups"),
            h.root.join("groups/global"),
        ] {
            let e = plan_mounts(&bad, &h.root.join("groups/global"), None, false)
                .expect_err(&bad.display().to_string())
                .to_string();
            assert!(e.contains(&bad.display().to_string()), "{e}");
        }
        fs_err::create_dir_all(h.root.join("groups/family/nested")).unwrap();
        assert!(plan_mounts(
            &h.root.join("groups/family/nested"),
            &h.root.join("groups/global"),
            None,
            false
        )
        .is_err());
        let e = plan_mounts(
            &h.root.join("groups/nope"),
            &h.root.join("groups/global"),
            None,
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("groups/nope"), "{e}");
    }

    #[test]
    fn no_mount_of_main_names_the_operator_key_or_another_group() {
        let h = home();
        let mounts = plan_mounts(
            &h.root.join("groups/main"),
            &h.root.join("groups/global"),
            Some(&h.root),
            true,
        )
        .unwrap();
        for m in mounts.iter().filter(|m| m.kind == MountKind::Bind) {
            assert!(!m.host.starts_with(h.root.join("state")), "{m:?}");
            assert!(!m.host.starts_with(h.root.join("groups/family")), "{m:?}");
        }
        // The project bind covers state/ and groups/, so both must be masked.
        let masked: Vec<&str> = mounts
            .iter()
            .filter(|m| m.kind == MountKind::Mask)
            .map(|m| m.target.as_str())
            .collect();
        assert_eq!(
            masked,
            ["/workspace/project/state", "/workspace/project/groups"]
        );
    }

    #[test]
    fn paths_to_hide_must_stay_inside_the_project() {
        let h = home();
        let group = h.root.join("groups/main");
        let global = h.root.join("groups/global");
        for bad in ["../elsewhere", "/etc", ""] {
            let e = plan_mounts_hiding(&group, &global, Some(&h.root), true, &[Path::new(bad)]);
            assert!(e.is_err(), "{bad}");
        }
        std::os::unix::fs::symlink(h.root.join("state"), h.root.join("keys")).unwrap();
        let e = plan_mounts_hiding(&group, &global, Some(&h.root), true, &[Path::new("keys")])
            .unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
    }
}
