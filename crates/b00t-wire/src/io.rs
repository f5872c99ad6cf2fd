//! The only file access of the crate: reading an app's file (absent reads as empty), and
//! replacing it atomically (a temp file in the same folder, renamed over it, with the old
//! file's permissions) after copying the old one to `<file>.b00t.bak`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::WireError;

/// The backup a write keeps of the file it replaces.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".b00t.bak");
    path.with_file_name(name)
}

/// The file's text, or `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, WireError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(WireError::Io {
            path: path.to_owned(),
            source: error,
        }),
    }
}

/// Refuses a file whose permissions have no write bit (even for root, who could write it).
pub fn check_writable(path: &Path) -> Result<(), WireError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.permissions().readonly() => Err(WireError::ReadOnly {
            path: path.to_owned(),
        }),
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(WireError::Io {
            path: path.to_owned(),
            source: error,
        }),
    }
}

/// Replaces `path` with `text`: the old file copied to its backup, the new text written to
/// a temp file beside it with the old permissions, then renamed over it. A failure leaves
/// the old file as it was. Missing folders are made.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), WireError> {
    check_writable(path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(WireError::io(&dir))?;
    let permissions = match std::fs::metadata(path) {
        Ok(metadata) => {
            std::fs::copy(path, backup_path(path)).map_err(WireError::io(backup_path(path)))?;
            Some(metadata.permissions())
        }
        Err(_) => None,
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".b00t-wire")
        .tempfile_in(&dir)
        .map_err(WireError::io(&dir))?;
    temp.write_all(text.as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(WireError::io(temp.path()))?;
    match permissions {
        Some(permissions) => std::fs::set_permissions(temp.path(), permissions),
        None => default_permissions(temp.path()),
    }
    .map_err(WireError::io(temp.path()))?;
    temp.persist(path)
        .map_err(|error| WireError::io(path)(error.error))?;
    Ok(())
}

/// A new file is readable by its owner and group, like one an editor makes (tempfile's
/// are 0600); apps' files hold no secrets unless the user asks.
fn default_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn a_write_keeps_permissions_and_a_backup() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/mcp.json");
        assert_eq!(read(&file).unwrap(), None);
        write_atomic(&file, "one").unwrap();
        assert_eq!(mode(&file), 0o644);
        assert!(!backup_path(&file).exists());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&file, "two").unwrap();
        assert_eq!(read(&file).unwrap().as_deref(), Some("two"));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(backup_path(&file)).unwrap(), "one");
        assert!(backup_path(&file).ends_with("mcp.json.b00t.bak"));
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "{leftovers:?}");
    }

    #[test]
    #[cfg(unix)]
    fn a_read_only_file_is_refused_and_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let error = write_atomic(&file, "y = 2\n").unwrap_err().to_string();
        assert!(
            error.contains("is read-only") && error.contains("chmod u+w"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x = 1\n");
        assert!(!backup_path(&file).exists());
    }
}
