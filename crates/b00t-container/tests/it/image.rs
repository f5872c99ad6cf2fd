//! The agent image: built on `scratch` from the shipped Dockerfile with a real
//! dynamically linked program, labelled with the binary's fingerprint, and judged
//! missing, current or stale; a failing step is reported by name.

use std::time::Duration;

use b00t_container::testing::docker_or_skip;
use b00t_container::{
    binary_fingerprint, build_image_with, image_state, ImageBuild, ImageState, BINARY_LABEL,
};
use tokio_util::sync::CancellationToken;

use crate::common::{build_test_image, shipped_context, unique, Cleanup};

#[tokio::test]
async fn the_image_builds_from_scratch_and_its_state_follows_the_binary() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let missing_tag = format!("{}:none", unique("b00t-test-missing"));
    let image = build_test_image(&docker, &cleanup, false).await;

    // The builder's output was streamed: the steps of the shipped Dockerfile.
    assert!(
        image
            .lines
            .iter()
            .any(|l| l.starts_with("Step 1/") && l.contains("FROM scratch")),
        "{:#?}",
        image.lines
    );
    assert!(
        image.lines.iter().any(|l| l.contains("COPY rootfs/ /")),
        "{:#?}",
        image.lines
    );
    assert!(image.info.id.starts_with("sha256:"), "{:?}", image.info);
    assert!(image.info.size > 0);

    // What the engine holds: the label, the user, the entrypoint.
    let inspected = docker.inspect_image(&image.info.tag).await.unwrap();
    let config = inspected.config.unwrap();
    let labels = config.labels.unwrap();
    assert_eq!(
        labels[BINARY_LABEL],
        binary_fingerprint(&image.binary).unwrap()
    );
    assert_eq!(labels["b00t.test"], "1");
    assert_eq!(config.user.as_deref(), Some("10001:10001"));
    assert_eq!(
        config.entrypoint,
        Some(vec!["/usr/local/bin/b00t".to_owned()])
    );
    assert_eq!(config.working_dir.as_deref(), Some("/workspace/group"));

    assert_eq!(
        image_state(&docker, &missing_tag, &image.binary)
            .await
            .unwrap(),
        ImageState::Missing
    );
    assert_eq!(
        image_state(&docker, &image.info.tag, &image.binary)
            .await
            .unwrap(),
        ImageState::Current
    );
    let found = b00t_container::inspect_image(&docker, &image.info.tag)
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&image.info));
    // A rebuilt binary (a new mtime) makes the image stale.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&image.binary)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(
        image_state(&docker, &image.info.tag, &image.binary)
            .await
            .unwrap(),
        ImageState::Stale
    );
    assert_ne!(
        binary_fingerprint(&image.binary).unwrap(),
        labels[BINARY_LABEL]
    );
}

#[tokio::test]
async fn a_failing_step_is_named_with_the_builders_message() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let dir = tempfile::tempdir().unwrap();
    let context = dir.path().join("container");
    fs_err::create_dir_all(&context).unwrap();
    fs_err::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY no-such-file /x\n",
    )
    .unwrap();
    let tag = format!("{}:broken", unique("b00t-test-broken"));
    cleanup.image(&tag);
    let build = ImageBuild {
        tag: tag.clone(),
        context_dir: context,
        binary: "/bin/dash".into(),
        labels: Default::default(),
    };
    let e = build_image_with(&docker, &build, &CancellationToken::new(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("`{tag}`")), "{e}");
    // Step 3 is the builder's own LABEL step for `b00t.binary`.
    assert!(
        e.contains("failed at `Step 2/3 : COPY no-such-file /x`"),
        "{e}"
    );
    assert!(e.contains("no-such-file"), "{e}");
}

#[tokio::test]
async fn the_shipped_context_builds_with_the_real_dockerfile_untouched() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let tag = format!("{}:shipped", unique("b00t-test-shipped"));
    cleanup.image(&tag);
    // A statically linked or dynamic binary both work; /bin/cat is dynamic.
    let build = ImageBuild {
        tag: tag.clone(),
        context_dir: shipped_context(),
        binary: "/bin/cat".into(),
        labels: Default::default(),
    };
    let info = build_image_with(&docker, &build, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(info.tag, tag);
    assert_eq!(
        info.fingerprint,
        binary_fingerprint(std::path::Path::new("/bin/cat")).unwrap()
    );
}

#[tokio::test]
async fn a_stopped_build_says_so() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let cleanup = Cleanup::default();
    let tag = format!("{}:stopped", unique("b00t-test-stopped"));
    cleanup.image(&tag);
    let stop = CancellationToken::new();
    stop.cancel();
    let build = ImageBuild {
        tag: tag.clone(),
        context_dir: shipped_context(),
        binary: "/bin/cat".into(),
        labels: Default::default(),
    };
    let e = build_image_with(&docker, &build, &stop, |_| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("stopped by shutdown"), "{e}");
}
