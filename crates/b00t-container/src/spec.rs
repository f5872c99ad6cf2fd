//! What a group agent runs as: [`GroupContainer`] (image, command, env, mounts, limits,
//! user, labels), the same for a container and a local process; its names (`home_id`,
//! `container_name`), its labels and the hash that tells whether an existing container
//! still matches the configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ContainerError;

/// Marks every container b00t creates.
pub const MANAGED_LABEL: &str = "b00t.managed";
/// The home (see [`home_id`]) a container belongs to.
pub const HOME_LABEL: &str = "b00t.home";
/// The group a container runs.
pub const GROUP_LABEL: &str = "b00t.group";
/// The hash of the spec a container was created from ([`GroupContainer::spec_hash`]).
pub const SPEC_LABEL: &str = "b00t.spec";

/// Where the group's own folder is mounted (read-write).
pub const GROUP_TARGET: &str = "/workspace/group";
/// Where `groups/global` is mounted (read-only, read-write for `main`).
pub const GLOBAL_TARGET: &str = "/workspace/global";
/// Where the home is mounted, for `main` only (read-only).
pub const PROJECT_TARGET: &str = "/workspace/project";

/// Tells the agent where its group folder is: `/workspace/group` in a container, the
/// host path for a local process.
pub const GROUP_DIR_ENV: &str = b00t_config::env::B00T_GROUP_DIR;
/// Where `groups/global` is, when mounted.
pub const GLOBAL_DIR_ENV: &str = b00t_config::env::B00T_GLOBAL_DIR;
/// Where the home is, for `main`.
pub const PROJECT_DIR_ENV: &str = b00t_config::env::B00T_PROJECT_DIR;

/// One group agent, as a container (or, with the `none` runtime, a local process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GroupContainer {
    /// The group, which is also the agent's name.
    pub group: String,
    /// The container's name, `b00t-<home-id>-<group>` (see [`container_name`]).
    pub name: String,
    /// The image, such as `b00t-agent:0.1.0`.
    pub image: String,
    /// The arguments to the image's entrypoint (`/usr/local/bin/b00t`), such as
    /// `agent run group --name family`; a local process runs the same after b00t's path.
    pub command: Vec<String>,
    /// Environment variables (the workspace paths are added by the runtime: see
    /// [`workspace_env`]).
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub limits: Limits,
    /// `uid:gid`, never root (see [`crate::container_user`]).
    pub user: String,
    /// At least `b00t.managed`, `b00t.home` and `b00t.group`; `b00t.spec` is added at
    /// creation.
    pub labels: BTreeMap<String, String>,
}

/// One mount of a group container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// The host folder (canonical). For a [`MountKind::Mask`], the host path it hides,
    /// which is never mounted.
    pub host: PathBuf,
    /// The absolute path in the container.
    pub target: String,
    pub read_only: bool,
    pub kind: MountKind,
}

/// How a [`Mount`] is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MountKind {
    /// `host` bound at `target`.
    Bind,
    /// An empty read-only tmpfs at `target`, hiding what a bind mount beneath it holds.
    Mask,
}

/// Resource limits of one group agent (enforced in a container; a local process only
/// gets its output capped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub memory_bytes: i64,
    /// CPUs × 10⁹.
    pub nano_cpus: i64,
    pub pids: i64,
    /// Size of the private `/tmp`.
    pub tmp_bytes: i64,
    /// The container log's size cap (one file).
    pub log_max_bytes: u64,
}

impl Default for Limits {
    /// The defaults of `[containers]`: 512 MiB, one CPU, 256 pids, 64 MiB of /tmp, 64 KiB
    /// of log.
    fn default() -> Self {
        Limits::from(&b00t_config::ContainersConfig::default())
    }
}

impl From<&b00t_config::ContainersConfig> for Limits {
    fn from(config: &b00t_config::ContainersConfig) -> Self {
        let mib = |n: u64| i64::try_from(n.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
        Limits {
            memory_bytes: mib(config.memory_mb),
            nano_cpus: (config.cpus * 1e9).round() as i64,
            pids: config.pids,
            tmp_bytes: mib(config.tmp_mb),
            log_max_bytes: config.max_output_bytes as u64,
        }
    }
}

impl GroupContainer {
    /// A spec for `group` of the home `home_id`: the name, the command
    /// `agent run group --name <group>`, the user from [`crate::container_user`], the
    /// three ownership labels, default limits, and no mounts or env yet.
    pub fn for_group(
        home_id: &str,
        group: &str,
        image: &str,
    ) -> Result<GroupContainer, ContainerError> {
        b00t_proto::Name::parse(group)
            .map_err(|e| ContainerError::spec(group, "group", e.to_string()))?;
        let (uid, gid) = crate::ownership::container_user();
        let labels = BTreeMap::from([
            (MANAGED_LABEL.to_owned(), "true".to_owned()),
            (HOME_LABEL.to_owned(), home_id.to_owned()),
            (GROUP_LABEL.to_owned(), group.to_owned()),
        ]);
        let spec = GroupContainer {
            group: group.to_owned(),
            name: container_name(home_id, group),
            image: image.to_owned(),
            command: ["agent", "run", "group", "--name", group]
                .map(str::to_owned)
                .to_vec(),
            env: Vec::new(),
            mounts: Vec::new(),
            limits: Limits::default(),
            user: format!("{uid}:{gid}"),
            labels,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// A short hash of everything in the spec but the `b00t.spec` label: equal hashes,
    /// equal containers.
    pub fn spec_hash(&self) -> String {
        let mut copy = self.clone();
        copy.labels.remove(SPEC_LABEL);
        let json = serde_json::to_vec(&copy).unwrap_or_default();
        hex::encode(&Sha256::digest(&json)[..8])
    }

    /// Checks every field; the error names the field and the group.
    pub fn validate(&self) -> Result<(), ContainerError> {
        let group = self.group.as_str();
        let bad = |field, problem: String| Err(ContainerError::spec(group, field, problem));
        if let Err(e) = b00t_proto::Name::parse(group) {
            return bad("group", e.to_string());
        }
        if !valid_container_name(&self.name) {
            return bad(
                "name",
                format!(
                    "`{}` must be 2 to 128 of `a-z A-Z 0-9 _ . -`, starting with a letter or digit",
                    self.name
                ),
            );
        }
        if let Err(e) = crate::image::validate_tag(&self.image) {
            return bad("image", e.to_string());
        }
        if self.command.is_empty() || self.command.iter().any(|a| a.contains('\0')) {
            return bad(
                "command",
                "must be a non-empty list of arguments without NUL".to_owned(),
            );
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return bad(
                    "env",
                    format!("`{key}` is not a valid variable name (or its value has NUL)"),
                );
            }
        }
        match parse_user(&self.user) {
            Some((uid, _)) if uid != 0 => {}
            Some(_) => {
                return bad(
                    "user",
                    "must not be root (uid 0): group agents run unprivileged".to_owned(),
                )
            }
            None => return bad("user", format!("`{}` must be numeric `uid:gid`", self.user)),
        }
        let limits = &self.limits;
        if limits.memory_bytes < 6 * 1024 * 1024 {
            return bad(
                "limits.memory_bytes",
                "must be at least 6 MiB (the engine's minimum)".to_owned(),
            );
        }
        if limits.nano_cpus <= 0
            || limits.pids <= 0
            || limits.tmp_bytes <= 0
            || limits.log_max_bytes == 0
        {
            return bad(
                "limits",
                "cpus, pids, tmp and log sizes must be more than 0".to_owned(),
            );
        }
        for mount in &self.mounts {
            let target = &mount.target;
            if !target.starts_with("/workspace/")
                || target.contains("/..")
                || target.contains("/./")
                || target.contains(['\0', ',', ':'])
            {
                return bad(
                    "mounts",
                    format!("target `{target}` must be a plain path under `/workspace/`"),
                );
            }
            if mount.kind == MountKind::Bind && !mount.host.is_absolute() {
                return bad(
                    "mounts",
                    format!("host path `{}` must be absolute", mount.host.display()),
                );
            }
            if mount.kind == MountKind::Mask && !mount.read_only {
                return bad(
                    "mounts",
                    format!("the mask at `{target}` must be read-only"),
                );
            }
        }
        for key in [MANAGED_LABEL, HOME_LABEL, GROUP_LABEL] {
            if !self.labels.contains_key(key) {
                return bad(
                    "labels",
                    format!("`{key}` is missing: build the spec with GroupContainer::for_group"),
                );
            }
        }
        if self.labels.get(GROUP_LABEL) != Some(&self.group) {
            return bad("labels", format!("`{GROUP_LABEL}` must be `{group}`"));
        }
        Ok(())
    }

    /// The `b00t.home` label.
    pub fn home_id(&self) -> Option<&str> {
        self.labels.get(HOME_LABEL).map(String::as_str)
    }
}

/// The environment that tells the agent where its folders are: the container targets
/// (`/workspace/group`, …) for a container, the host folders for a local process.
pub fn workspace_env(mounts: &[Mount], in_container: bool) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for mount in mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let key = match mount.target.as_str() {
            GROUP_TARGET => GROUP_DIR_ENV,
            GLOBAL_TARGET => GLOBAL_DIR_ENV,
            PROJECT_TARGET => PROJECT_DIR_ENV,
            _ => continue,
        };
        let value = if in_container {
            mount.target.clone()
        } else {
            mount.host.to_string_lossy().into_owned()
        };
        env.push((key.to_owned(), value));
    }
    env
}

/// A short, stable id of a home: a hash of its canonical path (12 hex digits).
pub fn home_id(home_root: &Path) -> String {
    let path = fs_err::canonicalize(home_root)
        .or_else(|_| std::path::absolute(home_root))
        .unwrap_or_else(|_| home_root.to_owned());
    hex::encode(&Sha256::digest(path.as_os_str().as_encoded_bytes())[..6])
}

/// `b00t-<home-id>-<group>`.
pub fn container_name(home_id: &str, group: &str) -> String {
    format!("b00t-{home_id}-{group}")
}

/// `uid:gid` → numbers.
pub(crate) fn parse_user(user: &str) -> Option<(u32, u32)> {
    let (uid, gid) = user.split_once(':')?;
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

fn valid_container_name(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GroupContainer {
        GroupContainer::for_group("0123456789ab", "family", "b00t-agent:0.1.0").unwrap()
    }

    #[test]
    fn a_spec_for_a_group_has_its_name_command_labels_and_a_non_root_user() {
        let spec = spec();
        assert_eq!(spec.name, "b00t-0123456789ab-family");
        assert_eq!(spec.command, ["agent", "run", "group", "--name", "family"]);
        assert_eq!(spec.labels[MANAGED_LABEL], "true");
        assert_eq!(spec.labels[HOME_LABEL], "0123456789ab");
        assert_eq!(spec.labels[GROUP_LABEL], "family");
        assert_eq!(spec.home_id(), Some("0123456789ab"));
        let (uid, _) = parse_user(&spec.user).unwrap();
        assert_ne!(uid, 0);
        assert!(GroupContainer::for_group("h", "Bad/Group", "b00t-agent:1").is_err());
    }

    #[test]
    fn the_spec_hash_follows_the_spec_but_not_its_own_label() {
        let a = spec();
        let mut b = a.clone();
        b.labels.insert(SPEC_LABEL.to_owned(), a.spec_hash());
        assert_eq!(a.spec_hash(), b.spec_hash());
        assert_eq!(a.spec_hash().len(), 16);
        b.limits.memory_bytes *= 2;
        assert_ne!(a.spec_hash(), b.spec_hash());
        let mut c = a.clone();
        c.env.push(("OLLAMA_MODEL".into(), "x".into()));
        assert_ne!(a.spec_hash(), c.spec_hash());
    }

    #[test]
    fn bad_fields_are_named() {
        let check = |edit: &dyn Fn(&mut GroupContainer), field: &str| {
            let mut spec = spec();
            edit(&mut spec);
            let e = spec.validate().expect_err(field).to_string();
            assert!(
                e.contains(&format!("`{field}`")) && e.contains("`family`"),
                "{e}"
            );
        };
        check(&|s| s.user = "0:0".into(), "user");
        check(&|s| s.user = "root".into(), "user");
        check(&|s| s.image = "Not An Image".into(), "image");
        check(&|s| s.name = "/bad".into(), "name");
        check(&|s| s.command.clear(), "command");
        check(&|s| s.env.push(("A=B".into(), "c".into())), "env");
        check(&|s| s.limits.memory_bytes = 1, "limits.memory_bytes");
        check(&|s| s.limits.pids = 0, "limits");
        check(
            &|s| {
                s.labels.remove(HOME_LABEL);
            },
            "labels",
        );
        check(
            &|s| {
                s.mounts.push(Mount {
                    host: "/etc".into(),
                    target: "/etc".into(),
                    read_only: true,
                    kind: MountKind::Bind,
                })
            },
            "mounts",
        );
        check(
            &|s| {
                s.mounts.push(Mount {
                    host: "rel".into(),
                    target: "/workspace/x".into(),
                    read_only: true,
                    kind: MountKind::Bind,
                })
            },
            "mounts",
        );
    }

    #[test]
    fn workspace_env_points_at_targets_in_a_container_and_host_folders_outside() {
        let mounts = vec![
            Mount {
                host: "/h/groups/main".into(),
                target: GROUP_TARGET.into(),
                read_only: false,
                kind: MountKind::Bind,
            },
            Mount {
                host: "/h/groups/global".into(),
                target: GLOBAL_TARGET.into(),
                read_only: false,
                kind: MountKind::Bind,
            },
            Mount {
                host: "/h".into(),
                target: PROJECT_TARGET.into(),
                read_only: true,
                kind: MountKind::Bind,
            },
            Mount {
                host: "/h/state".into(),
                target: "/workspace/project/state".into(),
                read_only: true,
                kind: MountKind::Mask,
            },
        ];
        let inside = workspace_env(&mounts, true);
        assert_eq!(
            inside,
            [
                (GROUP_DIR_ENV.to_owned(), GROUP_TARGET.to_owned()),
                (GLOBAL_DIR_ENV.to_owned(), GLOBAL_TARGET.to_owned()),
                (PROJECT_DIR_ENV.to_owned(), PROJECT_TARGET.to_owned()),
            ]
        );
        let outside = workspace_env(&mounts, false);
        assert_eq!(outside[0].1, "/h/groups/main");
        assert_eq!(outside[2].1, "/h");
        assert_eq!(outside.len(), 3);
    }

    #[test]
    fn home_ids_are_stable_short_and_differ_per_home() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = home_id(a.path());
        assert_eq!(id.len(), 12);
        assert_eq!(id, home_id(&a.path().join(".")));
        assert_ne!(id, home_id(b.path()));
        assert_eq!(container_name(&id, "main"), format!("b00t-{id}-main"));
    }

    #[test]
    fn limits_come_from_the_config() {
        let limits = Limits::default();
        assert_eq!(limits.memory_bytes, 512 * 1024 * 1024);
        assert_eq!(limits.nano_cpus, 1_000_000_000);
        assert_eq!(limits.pids, 256);
        assert_eq!(limits.tmp_bytes, 64 * 1024 * 1024);
        assert_eq!(limits.log_max_bytes, 64 * 1024);
    }
}
