//! Which uid:gid a group container runs as, and making its writable folders its own.
//!
//! When b00t runs as root (as on CI), containers still run as the unprivileged `b00t`
//! user (10001:10001), and the folders they may write are chowned to it. Otherwise they
//! run as the host user itself, who already owns the folders: nothing is chowned.

use std::path::Path;

use crate::context::{AGENT_GID, AGENT_UID};
use crate::error::ContainerError;

/// The uid and gid group containers run as: the `b00t` user (10001:10001) when this
/// process runs as root, else this process's own effective uid and gid.
pub fn container_user() -> (u32, u32) {
    let uid = rustix::process::geteuid().as_raw();
    if uid == 0 {
        (AGENT_UID, AGENT_GID)
    } else {
        (uid, rustix::process::getegid().as_raw())
    }
}

/// Chowns each folder and everything under it to `uid:gid`, so that an unprivileged
/// container can write what is mounted read-write. Symlinks are changed themselves and
/// never followed (a link a container planted cannot turn this on a host file). Does
/// nothing when this process is not root (it could not, and need not: see
/// [`container_user`]).
pub fn prepare_ownership(dirs: &[&Path], uid: u32, gid: u32) -> Result<(), ContainerError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    for dir in dirs {
        chown_tree(dir, uid, gid)?;
    }
    Ok(())
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), ContainerError> {
    let meta = fs_err::symlink_metadata(path).map_err(|e| ContainerError::io("read", path, e))?;
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .map_err(|e| ContainerError::io("change the owner of", path, e))?;
    if meta.is_dir() {
        let entries = fs_err::read_dir(path).map_err(|e| ContainerError::io("read", path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ContainerError::io("read", path, e))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn the_container_user_is_never_root() {
        let (uid, gid) = container_user();
        assert_ne!(uid, 0);
        if rustix::process::geteuid().is_root() {
            assert_eq!((uid, gid), (10001, 10001));
        } else {
            assert_eq!(uid, rustix::process::geteuid().as_raw());
        }
    }

    #[test]
    fn as_root_a_tree_is_chowned_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("host-file");
        fs_err::write(&target, "host").unwrap();
        let group = dir.path().join("family");
        fs_err::create_dir_all(group.join("a/b")).unwrap();
        fs_err::write(group.join("a/b/file"), "x").unwrap();
        std::os::unix::fs::symlink(&target, group.join("a/link")).unwrap();
        let before = fs_err::metadata(&target).unwrap().uid();

        prepare_ownership(&[&group], 10001, 10001).unwrap();

        if rustix::process::geteuid().is_root() {
            for p in ["", "a", "a/b", "a/b/file"] {
                let meta = fs_err::metadata(group.join(p)).unwrap();
                assert_eq!((meta.uid(), meta.gid()), (10001, 10001), "{p}");
            }
            assert_eq!(
                fs_err::symlink_metadata(group.join("a/link"))
                    .unwrap()
                    .uid(),
                10001
            );
        } else {
            assert_eq!(
                fs_err::metadata(&group).unwrap().uid(),
                rustix::process::geteuid().as_raw()
            );
        }
        assert_eq!(
            fs_err::metadata(&target).unwrap().uid(),
            before,
            "the link's target is untouched"
        );
        let e = prepare_ownership(&[&dir.path().join("missing")], 1, 1);
        if rustix::process::geteuid().is_root() {
            assert!(e.unwrap_err().to_string().contains("missing"));
        }
    }
}
