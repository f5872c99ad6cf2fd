//! `broker/acl.toml`: what the default topic rules do not allow and a home does. The
//! defaults need no editing (an agent sends tasks to its own addresses, the installer
//! and the scheduler); this file adds, per agent identity, the addresses it may also send
//! tasks to:
//!
//! ```toml
//! [sends]
//! family = ["b00t.main.chat", "b00t.echo.*"]
//! ```
//!
//! An entry is an address or `b00t.<agent>.*` for every skill of an agent. A missing
//! file is the defaults; unknown keys are errors naming the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ConfigError;

/// The parsed `broker/acl.toml`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AclFile {
    /// Agent identity -> extra addresses it may send tasks to.
    pub sends: BTreeMap<String, Vec<String>>,
}

impl AclFile {
    /// Where it lives in a home.
    pub fn path(home: &Path) -> PathBuf {
        home.join("broker").join("acl.toml")
    }

    /// Reads the home's file; a missing one is the defaults.
    pub fn load(home: &Path) -> Result<AclFile, ConfigError> {
        let path = AclFile::path(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AclFile::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let file: AclFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        for (agent, entries) in &file.sends {
            for entry in entries {
                if !valid_entry(entry) {
                    return Err(ConfigError::Parse {
                        path: path.clone(),
                        message: format!("`sends.{agent}`: `{entry}` is neither an address (`b00t.<agent>.<skill>`) nor `b00t.<agent>.*`"),
                    });
                }
            }
        }
        Ok(file)
    }
}

fn valid_entry(entry: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let mut parts = entry.split('.');
    parts.next() == Some("b00t")
        && parts.next().is_some_and(name)
        && parts.next().is_some_and(|s| s == "*" || name(s))
        && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_is_default_and_entries_are_checked() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(AclFile::load(home.path()).unwrap(), AclFile::default());
        std::fs::create_dir(home.path().join("broker")).unwrap();
        let write = |text: &str| std::fs::write(AclFile::path(home.path()), text).unwrap();
        write("[sends]\nfamily = [\"b00t.main.chat\", \"b00t.echo.*\"]\n");
        let file = AclFile::load(home.path()).unwrap();
        assert_eq!(file.sends["family"], ["b00t.main.chat", "b00t.echo.*"]);
        write("[sends]\nfamily = [\"#\"]\n");
        let e = AclFile::load(home.path()).unwrap_err().to_string();
        assert!(e.contains("`#` is neither an address"), "{e}");
        write("[send]\n");
        assert!(AclFile::load(home.path()).is_err());
    }
}
