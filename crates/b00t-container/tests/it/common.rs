//! Helpers: unique names, a test image built from a real dynamically linked program
//! (`/bin/dash`) with `/bin/sleep` added through the context's `rootfs/`, a temporary
//! home, and a guard that removes what a test created even when it fails.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use b00t_container::{build_image_with, remove, remove_image, Docker, ImageBuild, ImageInfo};
use tokio_util::sync::CancellationToken;

/// A name no other test (or test run) uses.
pub(crate) fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The shipped build context.
pub(crate) fn shipped_context() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../container")
}

/// Removes the containers and images it was told about when dropped (after a panic too).
#[derive(Default)]
pub(crate) struct Cleanup {
    containers: Mutex<Vec<String>>,
    images: Mutex<Vec<String>>,
}

impl Cleanup {
    pub(crate) fn container(&self, id: &str) {
        self.containers.lock().unwrap().push(id.to_owned());
    }

    pub(crate) fn image(&self, tag: &str) {
        self.images.lock().unwrap().push(tag.to_owned());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let containers =
            std::mem::take(&mut *self.containers.lock().unwrap_or_else(|e| e.into_inner()));
        let images = std::mem::take(&mut *self.images.lock().unwrap_or_else(|e| e.into_inner()));
        // Drop cannot await, and may run inside a runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup");
            runtime.block_on(async {
                let Ok(docker) = b00t_container::connect().await else {
                    return;
                };
                for id in containers {
                    if let Err(e) = remove(&docker, &id).await {
                        eprintln!("cleanup: {e}");
                    }
                }
                for tag in images {
                    if let Err(e) = remove_image(&docker, &tag).await {
                        eprintln!("cleanup: {e}");
                    }
                }
            });
        })
        .join();
    }
}

/// An agent-image stand-in: `/bin/dash` as `/usr/local/bin/b00t` (so the image's
/// entrypoint runs `dash -c …`), its libraries found by `ldd`, and `/bin/sleep` added
/// through the context's `rootfs/`, on the shipped Dockerfile.
pub(crate) struct TestImage {
    pub info: ImageInfo,
    pub binary: PathBuf,
    pub lines: Vec<String>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn build_test_image(
    docker: &Docker,
    cleanup: &Cleanup,
    with_sleep: bool,
) -> TestImage {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("b00t");
    fs_err::copy("/bin/dash", &binary).unwrap();
    let context = dir.path().join("container");
    fs_err::create_dir_all(&context).unwrap();
    fs_err::copy(
        shipped_context().join("Dockerfile"),
        context.join("Dockerfile"),
    )
    .unwrap();
    if with_sleep {
        // sleep needs only libc and the loader, which dash brings.
        fs_err::create_dir_all(context.join("rootfs/bin")).unwrap();
        fs_err::copy("/bin/sleep", context.join("rootfs/bin/sleep")).unwrap();
    }
    let tag = format!("{}:test", unique("b00t-test-agent"));
    cleanup.image(&tag);
    let build = ImageBuild {
        tag,
        context_dir: context,
        binary: binary.clone(),
        labels: [("b00t.test".to_owned(), "1".to_owned())].into(),
    };
    let mut lines = Vec::new();
    let info = build_image_with(docker, &build, &CancellationToken::new(), |l| {
        lines.push(l.to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("building the test image failed: {e}"));
    TestImage {
        info,
        binary,
        lines,
        _dir: dir,
    }
}

/// A home in a temporary folder: `groups/{main,global,family}`, `state/operator.key`,
/// `b00t.toml`, readable by the container user (a temp dir is 0700).
pub(crate) struct TestHome {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl TestHome {
    pub(crate) fn new() -> TestHome {
        let dir = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(dir.path()).unwrap();
        for sub in ["groups/main", "groups/global", "groups/family", "state"] {
            fs_err::create_dir_all(root.join(sub)).unwrap();
        }
        fs_err::write(root.join("state/operator.key"), "operator-secret\n").unwrap();
        fs_err::write(root.join("groups/family/MEMORY.md"), "family-private\n").unwrap();
        fs_err::write(root.join("groups/global/MEMORY.md"), "shared-memory\n").unwrap();
        fs_err::write(root.join("b00t.toml"), "project-config\n").unwrap();
        for sub in [
            "",
            "groups",
            "groups/main",
            "groups/global",
            "groups/family",
            "state",
        ] {
            fs_err::set_permissions(root.join(sub), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        TestHome { _dir: dir, root }
    }

    pub(crate) fn path(&self, sub: &str) -> PathBuf {
        self.root.join(sub)
    }
}
