//! Credentials, one per identity: `state/credentials/<identity>` holds that identity's
//! broker password (64 hex digits), mode 0600 in a 0700 folder. `b00t up` makes the
//! `runtime` and `operator` ones and a group's when the group first starts; the CLI
//! reads `operator` to connect as the operator. Names follow the agent grammar, so a
//! name never leaves the folder.

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a credential could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential name `{0}` is not an identity name (lowercase letters, digits and `-`)")]
    Name(String),
    #[error("cannot use the credential file `{path}`: {source}; check who owns the state folder")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the credential file `{path}` is damaged (not 64 hex digits): delete it and restart `b00t up` to make a new one")]
    Damaged { path: PathBuf },
    #[error("no randomness for a new password: {0}")]
    Random(String),
}

/// The credential files of one state folder.
#[derive(Clone, Debug)]
pub struct CredentialFiles {
    dir: PathBuf,
}

impl CredentialFiles {
    /// `<state>/credentials`, made (mode 0700) when missing.
    pub fn open(state_dir: &Path) -> Result<CredentialFiles, CredentialError> {
        let dir = state_dir.join("credentials");
        let io = |source| CredentialError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        Ok(CredentialFiles { dir })
    }

    /// The folder (for messages).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The password of `name`, if one was made.
    pub fn read(&self, name: &str) -> Result<Option<String>, CredentialError> {
        let path = self.path(name)?;
        let io = |source| CredentialError::Io {
            path: path.clone(),
            source,
        };
        let mut file = match std::fs::OpenOptions::new()
            .read(true)
            // A credential planted as a symlink is not read through.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut text = String::new();
        Read::by_ref(&mut file)
            .take(256)
            .read_to_string(&mut text)
            .map_err(io)?;
        let password = text.trim();
        if password.len() != 64 || !password.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CredentialError::Damaged { path });
        }
        Ok(Some(password.to_owned()))
    }

    /// The password of `name`, made (and saved, mode 0600) on first use.
    pub fn get_or_make(&self, name: &str) -> Result<String, CredentialError> {
        if let Some(password) = self.read(name)? {
            return Ok(password);
        }
        let path = self.path(name)?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| CredentialError::Random(e.to_string()))?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let io = |source| CredentialError::Io {
            path: path.clone(),
            source,
        };
        let temp = self
            .dir
            .join(format!(".{name}.{:08x}.tmp", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io)?;
        file.write_all(format!("{password}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        // Another process may have made one meanwhile: the first one stays.
        match std::fs::hard_link(&temp, &path) {
            Ok(()) => {
                let _ = std::fs::remove_file(&temp);
                Ok(password)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&temp);
                self.read(name)?.ok_or(CredentialError::Damaged { path })
            }
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(io(e))
            }
        }
    }

    /// Forgets `name`'s password (a removed group).
    pub fn remove(&self, name: &str) -> Result<(), CredentialError> {
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CredentialError::Io { path, source }),
        }
    }

    /// Every identity with a credential, and its password, sorted by name.
    pub fn all(&self) -> Result<Vec<(String, String)>, CredentialError> {
        let io = |source| CredentialError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let name = entry.map_err(io)?.file_name();
            let Some(name) = name.to_str().filter(|n| valid_name(n)) else {
                continue;
            };
            if let Some(password) = self.read(name)? {
                out.push((name.to_owned(), password));
            }
        }
        out.sort();
        Ok(out)
    }

    fn path(&self, name: &str) -> Result<PathBuf, CredentialError> {
        if !valid_name(name) {
            return Err(CredentialError::Name(name.escape_debug().to_string()));
        }
        Ok(self.dir.join(name))
    }
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && name.len() <= 63
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_read_back() {
        let state = tempfile::tempdir().unwrap();
        let files = CredentialFiles::open(state.path()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(files.dir()), 0o700);
        assert_eq!(files.read("operator").unwrap(), None);
        let made = files.get_or_make("operator").unwrap();
        assert_eq!(made.len(), 64);
        assert_eq!(files.get_or_make("operator").unwrap(), made);
        assert_eq!(mode(&files.dir().join("operator")), 0o600);
        files.get_or_make("family").unwrap();
        let names: Vec<_> = files.all().unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["family", "operator"]);
        files.remove("family").unwrap();
        assert_eq!(files.read("family").unwrap(), None);
        assert!(matches!(files.read("../x"), Err(CredentialError::Name(_))));
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let state = tempfile::tempdir().unwrap();
        let files = CredentialFiles::open(state.path()).unwrap();
        let secret = state.path().join("secret");
        std::fs::write(&secret, "a".repeat(64)).unwrap();
        std::os::unix::fs::symlink(&secret, files.dir().join("family")).unwrap();
        assert!(files.read("family").is_err());
    }
}
