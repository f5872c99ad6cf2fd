//! The agent image's build context, as a tar file: the context folder's own files (the
//! `Dockerfile` and whatever the user added), plus a generated `rootfs/` holding the b00t
//! binary, every shared library it loads (at the path `ldd` gave, content copied through
//! symlinks), `/etc/passwd`, `/etc/group` and `/etc/nsswitch.conf` for the `b00t` user,
//! and empty `/tmp` and `/workspace`.
//!
//! The tar goes to a temporary file rather than memory: a debug b00t binary is some
//! hundreds of MB. The `tar` crate writes it (headers, long names, modes) so that no tar
//! format is hand-written here.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Component, Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use crate::error::ContainerError;

/// The Dockerfile shipped in `container/`, used when the context folder does not exist.
pub const DEFAULT_DOCKERFILE: &str = include_str!("../../../container/Dockerfile");

/// The unprivileged user the image runs as, `b00t`.
pub const AGENT_UID: u32 = 10001;
/// The `b00t` user's group.
pub const AGENT_GID: u32 = 10001;

/// Where the binary lands in the image.
pub const BINARY_IN_IMAGE: &str = "/usr/local/bin/b00t";

/// What goes into `rootfs/`.
#[derive(Clone, Debug)]
pub(crate) struct RootfsPlan {
    pub binary: PathBuf,
    pub libraries: Vec<PathBuf>,
}

/// Writes the build context for `context_dir` and `rootfs` to a temporary file, rewound
/// to its start. Blocking: call it from `spawn_blocking`.
pub(crate) fn write_context(
    context_dir: &Path,
    rootfs: &RootfsPlan,
) -> Result<File, ContainerError> {
    let file = tempfile::tempfile()
        .map_err(|e| ContainerError::io("create a temporary file in", std::env::temp_dir(), e))?;
    let mut builder = tar::Builder::new(file);
    builder.mode(HeaderMode::Deterministic);
    builder.follow_symlinks(false);
    let tmp = std::env::temp_dir();
    let write_err = |e: std::io::Error| ContainerError::io("write the build context in", &tmp, e);

    let generated = generated_paths(rootfs);
    if context_dir.is_dir() {
        if !context_dir.join("Dockerfile").is_file() {
            return Err(ContainerError::NoDockerfile {
                path: context_dir.to_owned(),
            });
        }
        append_tree(&mut builder, context_dir, Path::new(""), &generated)?;
    } else {
        tracing::info!(
            "no build context at `{}`: using the built-in Dockerfile",
            context_dir.display()
        );
        append_bytes(
            &mut builder,
            "Dockerfile",
            DEFAULT_DOCKERFILE.as_bytes(),
            0o644,
        )
        .map_err(write_err)?;
    }

    // Directories first, each once, so that every file has a parent with a sane mode.
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for path in &generated {
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if dir.as_os_str().is_empty() {
                break;
            }
            dirs.insert(dir.to_owned());
            parent = dir.parent();
        }
    }
    dirs.insert(PathBuf::from("rootfs/workspace"));
    dirs.insert(PathBuf::from("rootfs/tmp"));
    for dir in &dirs {
        let mode = if dir == Path::new("rootfs/tmp") {
            0o1777
        } else {
            0o755
        };
        append_dir(&mut builder, dir, mode).map_err(write_err)?;
    }

    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nb00t:x:{AGENT_UID}:{AGENT_GID}:b00t agent:/workspace/group:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nb00t:x:{AGENT_GID}:\n");
    append_bytes(&mut builder, "rootfs/etc/passwd", passwd.as_bytes(), 0o644).map_err(write_err)?;
    append_bytes(&mut builder, "rootfs/etc/group", group.as_bytes(), 0o644).map_err(write_err)?;
    // Without it glibc asks DNS first and never reads /etc/hosts, where the engine writes
    // `host.docker.internal`.
    append_bytes(
        &mut builder,
        "rootfs/etc/nsswitch.conf",
        b"passwd: files\ngroup: files\nhosts: files dns\n",
        0o644,
    )
    .map_err(write_err)?;

    append_file(
        &mut builder,
        &rootfs.binary,
        &in_rootfs(Path::new(BINARY_IN_IMAGE)),
    )?;
    for library in &rootfs.libraries {
        append_file(&mut builder, library, &in_rootfs(library))?;
    }

    let mut file = builder.into_inner().map_err(write_err)?;
    file.flush().map_err(write_err)?;
    file.rewind().map_err(write_err)?;
    Ok(file)
}

/// `rootfs/` plus the absolute path, without its leading `/`.
fn in_rootfs(absolute: &Path) -> PathBuf {
    let mut out = PathBuf::from("rootfs");
    for component in absolute.components() {
        if let Component::Normal(part) = component {
            out.push(part);
        }
    }
    out
}

/// Every file path `write_context` generates under `rootfs/`.
fn generated_paths(rootfs: &RootfsPlan) -> BTreeSet<PathBuf> {
    let mut paths: BTreeSet<PathBuf> = [
        "rootfs/etc/passwd",
        "rootfs/etc/group",
        "rootfs/etc/nsswitch.conf",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    paths.insert(in_rootfs(Path::new(BINARY_IN_IMAGE)));
    paths.extend(rootfs.libraries.iter().map(|l| in_rootfs(l)));
    paths
}

/// The context folder's files, in name order; symlinks stay symlinks; a `rootfs/` file
/// that b00t generates is left out (b00t's copy wins).
fn append_tree(
    builder: &mut tar::Builder<File>,
    root: &Path,
    relative: &Path,
    generated: &BTreeSet<PathBuf>,
) -> Result<(), ContainerError> {
    let dir = root.join(relative);
    let mut entries: Vec<PathBuf> = fs_err::read_dir(&dir)
        .map_err(|e| ContainerError::io("read the build context folder", &dir, e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| ContainerError::io("read the build context folder", &dir, e))?;
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name() else {
            continue;
        };
        let rel = relative.join(name);
        if generated.contains(&rel) {
            continue;
        }
        let meta = fs_err::symlink_metadata(&path)
            .map_err(|e| ContainerError::io("read the build context file", &path, e))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            builder
                .append_dir(&rel, &path)
                .map_err(|e| ContainerError::io("add to the build context", &path, e))?;
            append_tree(builder, root, &rel, generated)?;
        } else if kind.is_file() || kind.is_symlink() {
            builder
                .append_path_with_name(&path, &rel)
                .map_err(|e| ContainerError::io("add to the build context", &path, e))?;
        } else {
            tracing::warn!(
                "`{}` is neither a file nor a folder: left out of the build context",
                path.display()
            );
        }
    }
    Ok(())
}

/// Adds `source` (through any symlinks: the content, not the link) at `name`, 0755.
fn append_file(
    builder: &mut tar::Builder<File>,
    source: &Path,
    name: &Path,
) -> Result<(), ContainerError> {
    let mut file = File::open(source).map_err(|e| ContainerError::io("read", source, e))?;
    let meta = file
        .metadata()
        .map_err(|e| ContainerError::io("read", source, e))?;
    if !meta.is_file() {
        return Err(ContainerError::io(
            "copy into the image",
            source,
            std::io::Error::other("not a regular file"),
        ));
    }
    let mut header = header(EntryType::Regular, meta.len(), 0o755);
    builder
        .append_data(&mut header, name, &mut file)
        .map_err(|e| ContainerError::io("add to the build context", source, e))
}

fn append_bytes(
    builder: &mut tar::Builder<File>,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> std::io::Result<()> {
    let mut header = header(EntryType::Regular, bytes.len() as u64, mode);
    builder.append_data(&mut header, name, bytes)
}

fn append_dir(builder: &mut tar::Builder<File>, name: &Path, mode: u32) -> std::io::Result<()> {
    let mut header = header(EntryType::Directory, 0, mode);
    builder.append_data(&mut header, name, std::io::empty())
}

fn header(kind: EntryType, size: u64, mode: u32) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;

    /// Every entry of the tar: path → (type, mode, content).
    fn entries(file: File) -> BTreeMap<String, (EntryType, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(file);
        let mut out = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let kind = entry.header().entry_type();
            let mode = entry.header().mode().unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            out.insert(path.trim_end_matches('/').to_owned(), (kind, mode, content));
        }
        out
    }

    #[test]
    fn the_context_holds_the_folder_the_binary_its_libraries_and_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let context = dir.path().join("container");
        fs_err::create_dir_all(context.join("rootfs/etc/ssl")).unwrap();
        fs_err::write(context.join("Dockerfile"), "FROM scratch\n").unwrap();
        fs_err::write(context.join("rootfs/etc/ssl/ca.pem"), "cert").unwrap();
        fs_err::write(context.join("rootfs/etc/passwd"), "mine").unwrap();
        std::os::unix::fs::symlink("Dockerfile", context.join("link")).unwrap();
        let lib_dir = dir.path().join("lib");
        fs_err::create_dir_all(&lib_dir).unwrap();
        fs_err::write(lib_dir.join("libreal.so.1.2"), "library bytes").unwrap();
        std::os::unix::fs::symlink("libreal.so.1.2", lib_dir.join("libreal.so.1")).unwrap();
        let binary = dir.path().join("b00t");
        fs_err::write(&binary, "binary bytes").unwrap();

        let plan = RootfsPlan {
            binary,
            libraries: vec![lib_dir.join("libreal.so.1")],
        };
        let found = entries(write_context(&context, &plan).unwrap());

        assert_eq!(found["Dockerfile"].2, b"FROM scratch\n");
        assert_eq!(found["link"].0, EntryType::Symlink);
        assert_eq!(found["rootfs/etc/ssl/ca.pem"].2, b"cert");
        let passwd = String::from_utf8(found["rootfs/etc/passwd"].2.clone()).unwrap();
        assert!(
            passwd.contains("b00t:x:10001:10001:"),
            "b00t's passwd wins: {passwd}"
        );
        assert!(String::from_utf8_lossy(&found["rootfs/etc/group"].2).contains("b00t:x:10001:"));
        assert!(
            String::from_utf8_lossy(&found["rootfs/etc/nsswitch.conf"].2)
                .contains("hosts: files dns")
        );
        let bin = &found["rootfs/usr/local/bin/b00t"];
        assert_eq!(
            (bin.0, bin.1, bin.2.as_slice()),
            (EntryType::Regular, 0o755, &b"binary bytes"[..])
        );
        // The symlink's content, under the path ldd gave.
        let lib_name = format!("rootfs{}", lib_dir.join("libreal.so.1").display());
        assert_eq!(found[&lib_name].0, EntryType::Regular);
        assert_eq!(found[&lib_name].2, b"library bytes");
        assert_eq!(found["rootfs/tmp"].0, EntryType::Directory);
        assert_eq!(found["rootfs/tmp"].1, 0o1777);
        assert_eq!(found["rootfs/workspace"].0, EntryType::Directory);
        assert_eq!(found["rootfs/usr/local/bin"].0, EntryType::Directory);
    }

    #[test]
    fn without_a_context_folder_the_built_in_dockerfile_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("b00t");
        fs_err::write(&binary, "x").unwrap();
        let plan = RootfsPlan {
            binary,
            libraries: Vec::new(),
        };
        let found = entries(write_context(&dir.path().join("absent"), &plan).unwrap());
        assert_eq!(found["Dockerfile"].2, DEFAULT_DOCKERFILE.as_bytes());
        assert!(DEFAULT_DOCKERFILE.contains("FROM scratch"));
    }

    #[test]
    fn a_context_folder_without_a_dockerfile_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("b00t");
        fs_err::write(&binary, "x").unwrap();
        let plan = RootfsPlan {
            binary,
            libraries: Vec::new(),
        };
        let e = write_context(dir.path(), &plan).unwrap_err().to_string();
        assert!(
            e.contains("no `Dockerfile`") && e.contains(&dir.path().display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn a_missing_library_file_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("b00t");
        fs_err::write(&binary, "x").unwrap();
        let plan = RootfsPlan {
            binary,
            libraries: vec![dir.path().join("gone.so")],
        };
        let e = write_context(&dir.path().join("absent"), &plan)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gone.so"), "{e}");
    }
}
