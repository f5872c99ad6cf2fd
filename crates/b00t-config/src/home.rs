//! The home: the folder holding `b00t.toml`, `agents/`, `datums/` and the git-ignored
//! state folder. Found from `--home`, then `B00T_HOME`, then the current directory. The
//! state folder is private (mode 0700) and so is every file b00t writes there (0600,
//! [`open_private_file`]): it holds the operator key, the containers' passwords, and
//! the tasks with everything they said.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{env, Config, ConfigError};

/// A home folder and its loaded configuration.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
    config: Config,
}

impl Home {
    /// Finds the home (`flag`, then `B00T_HOME`, then the current directory) and loads it.
    pub fn resolve(flag: Option<&Path>) -> Result<Home, ConfigError> {
        let root = match flag {
            Some(p) => p.to_owned(),
            None => match env::var(env::B00T_HOME) {
                Some(p) => PathBuf::from(p),
                None => std::env::current_dir().map_err(ConfigError::CurrentDir)?,
            },
        };
        Home::open(root)
    }

    /// Loads the home at `root`.
    pub fn open(root: PathBuf) -> Result<Home, ConfigError> {
        if !root.is_dir() {
            return Err(ConfigError::NoHome { path: root });
        }
        let root = std::path::absolute(&root).unwrap_or(root);
        let config = Config::load(&root)?;
        Ok(Home { root, config })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The state folder (journal, keys, audit log), made on first use with mode 0700; an
    /// existing one that others may enter is made 0700 (`up` asks first of all).
    pub fn state_dir(&self) -> Result<PathBuf, ConfigError> {
        let dir = self.root.join(&self.config.state.dir);
        private_dir(&dir).map_err(|source| ConfigError::StateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }
}

/// Makes `dir` and its missing parents with mode 0700, or takes the group's and others'
/// permissions off an existing `dir`. A shared folder (the sticky bit, as on `/tmp`) is
/// refused rather than taken from everyone else.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o1000 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "it is a shared folder (its sticky bit is set, as on /tmp); give it a folder of its own",
        ));
    }
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

/// Opens `path` with `options` (which say read, write, create, truncate) as a private
/// file: created with mode 0600, and an existing one that others may read made 0600
/// before anything is written to it.
pub fn open_private_file(path: &Path, options: &mut OpenOptions) -> std::io::Result<File> {
    let file = options.mode(0o600).open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o600))?;
    }
    Ok(file)
}

/// Replaces the contents of `path` with `contents`, as a private file
/// ([`open_private_file`]).
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = open_private_file(
        path,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    file.write_all(contents)
}

impl Home {
    /// The file where a running `b00t up` records its broker URL for client commands.
    pub fn broker_url_file(&self) -> PathBuf {
        self.root.join(&self.config.state.dir).join("broker.url")
    }

    /// The catalog folders: the home's `datums/` (when it exists: a home need not have
    /// one), then `[datums] paths` in order (a missing one is reported by the catalog).
    pub fn datum_roots(&self) -> Vec<PathBuf> {
        let own = self.root.join("datums");
        let mut roots: Vec<PathBuf> = own.is_dir().then_some(own).into_iter().collect();
        roots.extend(self.config.datums.paths.iter().map(|p| self.root.join(p)));
        roots
    }

    /// The install whitelist, `<home>/policy.toml`.
    pub fn policy_file(&self) -> PathBuf {
        self.root.join("policy.toml")
    }

    /// The operator's signing key, in the state folder; never mounted into a container.
    pub fn operator_key_file(&self) -> PathBuf {
        self.root.join(&self.config.state.dir).join("operator.key")
    }

    /// The group folders, `<home>/groups`: one per group agent, plus `global`.
    pub fn groups_dir(&self) -> PathBuf {
        self.root.join("groups")
    }

    /// The skills synced into every group, `<home>/skills`.
    pub fn skills_dir(&self) -> PathBuf {
        self.root.join("skills")
    }

    /// The agent image's build context, `<home>/container`.
    pub fn container_dir(&self) -> PathBuf {
        self.root.join("container")
    }

    /// Every install decision, one JSON line each.
    pub fn audit_file(&self) -> PathBuf {
        self.root.join(&self.config.state.dir).join("audit.jsonl")
    }

    /// The deployer's folder: one record per deployment, the manifests it applied, and
    /// the direct runs' working folders and logs.
    pub fn deploy_dir(&self) -> PathBuf {
        self.root.join(&self.config.state.dir).join("deploy")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_a_folder_with_config() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("b00t.toml"), "[agents]\necho = false\n").unwrap();
        let home = Home::open(dir.path().to_owned()).unwrap();
        assert!(!home.config().agents.echo);
        let state = home.state_dir().unwrap();
        assert!(state.ends_with("state") && state.is_dir());
        assert_eq!(mode(&state), 0o700);
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_state_folder_is_private_new_or_old() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(
            dir.path().join("b00t.toml"),
            "[state]\ndir = \"var/state\"\n",
        )
        .unwrap();
        let home = Home::open(dir.path().to_owned()).unwrap();
        let state = home.state_dir().unwrap();
        assert_eq!(
            (mode(&state), mode(&dir.path().join("var"))),
            (0o700, 0o700)
        );

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
        home.state_dir().unwrap();
        assert_eq!(mode(&state), 0o700, "an existing 0755 folder is tightened");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o500)).unwrap();
        home.state_dir().unwrap();
        assert_eq!(
            mode(&state),
            0o500,
            "only the group's and others' bits are taken"
        );
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();

        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        fs_err::write(dir.path().join("b00t.toml"), "[state]\ndir = \"shared\"\n").unwrap();
        let home = Home::open(dir.path().to_owned()).unwrap();
        let err = home.state_dir().unwrap_err().to_string();
        assert!(err.contains("sticky bit"), "{err}");
        assert_eq!(mode(&shared), 0o777, "a shared folder is left as it is");
    }

    #[test]
    fn private_files_are_0600_new_or_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.url");
        write_private_file(&path, b"mqtt://127.0.0.1:1883\n").unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&path, b"mqtt://127.0.0.1:1884\n").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"mqtt://127.0.0.1:1884\n");
        let lock = dir.path().join("up.lock");
        std::fs::write(&lock, "pid=1\n").unwrap();
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
        open_private_file(
            &lock,
            OpenOptions::new().read(true).write(true).create(true),
        )
        .unwrap();
        assert_eq!(mode(&lock), 0o600);
        assert_eq!(std::fs::read(&lock).unwrap(), b"pid=1\n", "not truncated");
    }

    #[test]
    fn refuses_a_missing_folder() {
        let err = Home::open(PathBuf::from("/no/such/home"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`/no/such/home`") && err.contains("--home"),
            "{err}"
        );
    }
}
