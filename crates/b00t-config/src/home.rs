//! The home: the folder holding `b00t.toml`, `agents/`, `datums/` and the git-ignored
//! state folder. Found from `--home`, then `B00T_HOME`, then the current directory.

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

    /// The state folder (journal, keys, audit log), made on first use.
    pub fn state_dir(&self) -> Result<PathBuf, ConfigError> {
        let dir = self.root.join(&self.config.state.dir);
        fs_err::create_dir_all(&dir).map_err(|source| ConfigError::Read {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }
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
