//! A tiny image for tests on an engine that cannot pull: Debian's static busybox
//! (`busybox-static`) on `scratch`, every applet linked in `/bin` (`sh`, `httpd`, `nc`,
//! `tail`, …), tagged [`BUSYBOX_IMAGE`]; and test containers on it, removed when their
//! guard drops, a failed test's too.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{BuildImageOptions, BuilderVersion, CreateContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;

use crate::error::{engine_message, ContainerError};
use crate::image::{binary_fingerprint, inspect_image};
use crate::ldd::shared_libraries;

/// The test image's tag.
pub const BUSYBOX_IMAGE: &str = "b00t-test-busybox:1";

/// Where Debian's `busybox-static` installs the binary.
pub const BUSYBOX_BINARY: &str = "/bin/busybox";

/// The label on every test container (`docker rm -f $(docker ps -aq --filter
/// label=b00t.test)` clears what a killed test run left).
pub const TEST_LABEL: &str = "b00t.test";

/// The image label holding the fingerprint of the busybox inside.
const BUSYBOX_LABEL: &str = "b00t.test.busybox";

const DOCKERFILE: &str = "FROM scratch\nCOPY rootfs/ /\nCMD [\"sh\"]\n";

/// Builds [`BUSYBOX_IMAGE`] from the host's [`BUSYBOX_BINARY`] unless the engine has it
/// with this busybox already; returns the tag. Test processes on one machine build one
/// at a time (a lock file in the temporary folder), so the first builds and the others
/// find it.
pub async fn ensure_busybox_image(docker: &Docker) -> Result<String, ContainerError> {
    ensure_busybox_image_as(docker, BUSYBOX_IMAGE).await
}

/// Builds the busybox image as `tag` unless the engine has it with this busybox already
/// (the deployer's `[b00t.build] base = "busybox-static"` images); returns the tag.
pub async fn ensure_busybox_image_as(docker: &Docker, tag: &str) -> Result<String, ContainerError> {
    crate::image::validate_tag(tag)?;
    let fail = |step: &str, message: String| ContainerError::Build {
        tag: tag.to_owned(),
        step: step.to_owned(),
        message,
    };
    if !Path::new(BUSYBOX_BINARY).is_file() {
        return Err(fail(
            "find /bin/busybox",
            "no such file: install Debian's `busybox-static` (`apt-get install busybox-static`; scripts/test does)".to_owned(),
        ));
    }
    // Debian's dynamic `busybox` installs the same path, and cannot run on `scratch`.
    if !shared_libraries(Path::new(BUSYBOX_BINARY))
        .await?
        .is_empty()
    {
        return Err(fail(
            "check /bin/busybox",
            "it is dynamically linked: install Debian's `busybox-static` instead (`apt-get install busybox-static`)".to_owned(),
        ));
    }
    let fingerprint = binary_fingerprint(Path::new(BUSYBOX_BINARY))?;
    let _lock = lock().await?;
    if busybox_label(docker, tag).await?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(tag.to_owned());
    }
    let applets = applets().await?;
    let busybox = tokio::fs::read(BUSYBOX_BINARY)
        .await
        .map_err(|e| ContainerError::io("read", BUSYBOX_BINARY, e))?;
    let context = context_tar(&busybox, &applets)?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(tag.to_owned()),
        rm: true,
        forcerm: true,
        labels: Some(HashMap::from([(BUSYBOX_LABEL.to_owned(), fingerprint)])),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut stream = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail("build", engine_message(&e)))?;
        if let Some(message) = info.error_detail.and_then(|d| d.message).or(info.error) {
            return Err(fail("build", message));
        }
    }
    Ok(tag.to_owned())
}

/// How a test container checks its health.
#[derive(Clone, Debug)]
pub struct TestHealth {
    /// Run with `/bin/sh -c` (`CMD-SHELL`).
    pub command: String,
    pub interval: Duration,
    /// Failures in a row before `unhealthy`.
    pub retries: i64,
}

/// A test container's restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestRestart {
    Always,
    /// At most this many restarts.
    OnFailure(i64),
}

/// What a test container on [`BUSYBOX_IMAGE`] runs, and how.
#[derive(Clone, Debug, Default)]
pub struct TestContainerSpec {
    /// The start of its name; a suffix unique to this process and call follows.
    pub name_prefix: String,
    /// The command (`["sh", "-c", "…"]`, `["httpd", "-f", "-p", "8080"]`).
    pub command: Vec<String>,
    /// A memory limit in bytes, with no swap on top.
    pub memory_bytes: Option<i64>,
    pub health: Option<TestHealth>,
    pub restart: Option<TestRestart>,
    /// Whether it has a TTY (its log is then one stream).
    pub tty: bool,
    /// TCP ports published on `127.0.0.1`, each on a free host port.
    pub publish_tcp: Vec<u16>,
    /// Labels besides [`TEST_LABEL`].
    pub labels: BTreeMap<String, String>,
}

impl TestContainerSpec {
    /// A container named `<name_prefix>-…` running `command`.
    pub fn new(name_prefix: &str, command: &[&str]) -> TestContainerSpec {
        TestContainerSpec {
            name_prefix: name_prefix.to_owned(),
            command: command.iter().map(|part| (*part).to_owned()).collect(),
            ..Default::default()
        }
    }
}

/// A test container: force-removed (with its volumes) when dropped, on a thread of its
/// own, since `Drop` cannot await and may run inside a runtime.
#[derive(Debug)]
pub struct TestContainer {
    pub id: String,
    pub name: String,
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.id);
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                match crate::engine::connect().await {
                    Ok(docker) => {
                        if let Err(e) = crate::ops::remove(&docker, &id).await {
                            eprintln!("removing the test container `{id}`: {e}");
                        }
                    }
                    Err(e) => eprintln!("removing the test container `{id}`: {e}"),
                }
            });
        })
        .join();
    }
}

/// Creates (without starting) a container of `spec` on [`BUSYBOX_IMAGE`], building the
/// image first when needed.
pub async fn create_test_container(
    docker: &Docker,
    spec: &TestContainerSpec,
) -> Result<TestContainer, ContainerError> {
    let image = ensure_busybox_image(docker).await?;
    let name = unique_name(&spec.name_prefix);
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert(TEST_LABEL.to_owned(), "1".to_owned());
    let exposed: HashMap<String, HashMap<(), ()>> = spec
        .publish_tcp
        .iter()
        .map(|port| (format!("{port}/tcp"), HashMap::new()))
        .collect();
    let bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
        .publish_tcp
        .iter()
        .map(|port| {
            let binding = PortBinding {
                host_ip: Some("127.0.0.1".to_owned()),
                host_port: Some(String::new()),
            };
            (format!("{port}/tcp"), Some(vec![binding]))
        })
        .collect();
    let restart_policy = spec.restart.map(|restart| match restart {
        TestRestart::Always => RestartPolicy {
            name: Some(RestartPolicyNameEnum::ALWAYS),
            maximum_retry_count: None,
        },
        TestRestart::OnFailure(max) => RestartPolicy {
            name: Some(RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(max),
        },
    });
    let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let healthcheck = spec.health.as_ref().map(|health| HealthConfig {
        test: Some(vec!["CMD-SHELL".to_owned(), health.command.clone()]),
        interval: Some(nanos(health.interval)),
        timeout: Some(nanos(health.interval.max(Duration::from_secs(1)))),
        retries: Some(health.retries),
        start_period: Some(0),
        start_interval: None,
    });
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: Some(spec.command.clone()),
        labels: Some(labels),
        tty: Some(spec.tty),
        exposed_ports: Some(exposed),
        healthcheck,
        host_config: Some(HostConfig {
            memory: spec.memory_bytes,
            memory_swap: spec.memory_bytes,
            port_bindings: Some(bindings),
            restart_policy,
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        platform: String::new(),
    };
    let created = docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| ContainerError::engine(format!("create the test container `{name}`"), &e))?;
    Ok(TestContainer {
        id: created.id,
        name,
    })
}

/// Creates and starts a container of `spec` (see [`create_test_container`]).
pub async fn run_test_container(
    docker: &Docker,
    spec: &TestContainerSpec,
) -> Result<TestContainer, ContainerError> {
    let container = create_test_container(docker, spec).await?;
    crate::ops::start(docker, &container.id).await?;
    Ok(container)
}

fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let prefix = if prefix.is_empty() {
        "b00t-test"
    } else {
        prefix
    };
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The busybox fingerprint on the engine's image `tag`, if it has one.
async fn busybox_label(docker: &Docker, tag: &str) -> Result<Option<String>, ContainerError> {
    if inspect_image(docker, tag).await?.is_none() {
        return Ok(None);
    }
    let image = docker
        .inspect_image(tag)
        .await
        .map_err(|e| ContainerError::engine(format!("inspect the image `{tag}`"), &e))?;
    Ok(image
        .config
        .and_then(|c| c.labels)
        .and_then(|mut labels| labels.remove(BUSYBOX_LABEL)))
}

/// An exclusive lock on a file in the temporary folder, held until dropped.
async fn lock() -> Result<std::fs::File, ContainerError> {
    let path = std::env::temp_dir().join("b00t-test-busybox.lock");
    let locked = path.clone();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&locked)?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| ContainerError::io("lock", &path, std::io::Error::other(e)))?
    .map_err(|e| ContainerError::io("lock", &path, e))
}

/// The applets this busybox has, from `busybox --list`.
async fn applets() -> Result<Vec<String>, ContainerError> {
    let output = tokio::process::Command::new(BUSYBOX_BINARY)
        .arg("--list")
        .output()
        .await
        .map_err(|e| ContainerError::io("run", BUSYBOX_BINARY, e))?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|applet| !applet.is_empty() && *applet != "busybox" && !applet.contains('/'))
        .map(str::to_owned)
        .collect())
}

/// The build context: the Dockerfile, `rootfs/bin/busybox`, a link to it for each applet,
/// `/etc/passwd` and `/etc/group` with root and nobody, and `/tmp`.
fn context_tar(busybox: &[u8], applets: &[String]) -> Result<Vec<u8>, ContainerError> {
    let write_err =
        |e: std::io::Error| ContainerError::io("write the test image context", BUSYBOX_BINARY, e);
    let mut builder = tar::Builder::new(Vec::new());
    let file = |builder: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, data)
    };
    let dir = |builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Directory);
        builder.append_data(&mut header, path, std::io::empty())
    };
    file(&mut builder, "Dockerfile", DOCKERFILE.as_bytes(), 0o644).map_err(write_err)?;
    for (path, mode) in [
        ("rootfs/", 0o755),
        ("rootfs/bin/", 0o755),
        ("rootfs/etc/", 0o755),
        ("rootfs/tmp/", 0o1777),
    ] {
        dir(&mut builder, path, mode).map_err(write_err)?;
    }
    file(&mut builder, "rootfs/bin/busybox", busybox, 0o755).map_err(write_err)?;
    file(
        &mut builder,
        "rootfs/etc/passwd",
        b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        0o644,
    )
    .map_err(write_err)?;
    file(
        &mut builder,
        "rootfs/etc/group",
        b"root:x:0:\nnobody:x:65534:\n",
        0o644,
    )
    .map_err(write_err)?;
    for applet in applets {
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o777);
        header.set_entry_type(tar::EntryType::Symlink);
        builder
            .append_link(&mut header, format!("rootfs/bin/{applet}"), "busybox")
            .map_err(write_err)?;
    }
    builder.into_inner().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_links_each_applet_to_busybox() {
        let applets = ["sh".to_owned(), "httpd".to_owned()];
        let tar = context_tar(b"\x7fELF", &applets).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut entries: Vec<(String, Option<String>)> = archive
            .entries()
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let link = entry
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                (path, link)
            })
            .collect();
        entries.sort();
        let busybox = Some("busybox".to_owned());
        for wanted in [
            ("Dockerfile".to_owned(), None),
            ("rootfs/bin/busybox".to_owned(), None),
            ("rootfs/bin/httpd".to_owned(), busybox.clone()),
            ("rootfs/bin/sh".to_owned(), busybox),
            ("rootfs/etc/passwd".to_owned(), None),
            ("rootfs/tmp/".to_owned(), None),
        ] {
            assert!(entries.contains(&wanted), "{wanted:?} not in {entries:?}");
        }
    }
}
