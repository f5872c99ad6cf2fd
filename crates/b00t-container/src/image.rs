//! The agent image: building `b00t-agent:<version>` from the build context with the
//! engine's classic builder (BuildKit may want to pull its frontend, which an engine
//! without a registry cannot), and telling whether an image is missing, stale or current
//! by the label `b00t.binary=<fingerprint>`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bollard::query_parameters::{BuildImageOptions, BuilderVersion, RemoveImageOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::context::{write_context, RootfsPlan};
use crate::error::{engine_message, is_not_found, ContainerError};
use crate::ldd::shared_libraries;

/// The label holding the fingerprint of the binary inside an image.
pub const BINARY_LABEL: &str = "b00t.binary";

/// What to build.
#[derive(Clone, Debug)]
pub struct ImageBuild {
    /// The image's tag, such as `b00t-agent:0.1.0`.
    pub tag: String,
    /// The build context folder (`<home>/container`); when it does not exist, the
    /// built-in Dockerfile is used.
    pub context_dir: PathBuf,
    /// The binary to put in the image (`std::env::current_exe()` by default).
    pub binary: PathBuf,
    /// Extra image labels (`b00t.binary` is always added).
    pub labels: BTreeMap<String, String>,
}

impl ImageBuild {
    /// The running binary and the default context, with `tag`.
    pub fn current(tag: &str, context_dir: &Path) -> Result<ImageBuild, ContainerError> {
        let binary = std::env::current_exe()
            .map_err(|e| ContainerError::io("find the running binary", "/proc/self/exe", e))?;
        Ok(ImageBuild {
            tag: tag.to_owned(),
            context_dir: context_dir.to_owned(),
            binary,
            labels: BTreeMap::new(),
        })
    }
}

/// A built (or found) image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub tag: String,
    /// `sha256:…`.
    pub id: String,
    /// Bytes.
    pub size: i64,
    /// The `b00t.binary` label: whose binary is inside.
    pub fingerprint: String,
}

/// Whether the image matches the binary (see [`inspect_image`] for the image itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageState {
    /// The engine has no image with this tag.
    Missing,
    /// The image holds another binary (or none that b00t labelled): its fingerprint
    /// differs.
    Stale,
    /// The image holds this binary.
    Current,
}

/// Builds the image, logging the builder's output at `info`. See
/// [`build_image_with`] to receive the lines and to stop a build.
pub async fn build_image(docker: &Docker, build: &ImageBuild) -> Result<ImageInfo, ContainerError> {
    build_image_with(docker, build, &CancellationToken::new(), |line| {
        tracing::info!("image {}: {line}", build.tag);
    })
    .await
}

/// Builds the image: collects the binary's libraries with `ldd`, writes the context to a
/// temporary tar, streams it to the engine's classic builder (`rm`, `forcerm`, no pull)
/// and passes each line the builder prints to `on_line`. A failed step is an error
/// naming the step (`Step 3/7 : COPY …`) and the builder's message.
pub async fn build_image_with(
    docker: &Docker,
    build: &ImageBuild,
    stop: &CancellationToken,
    mut on_line: impl FnMut(&str) + Send,
) -> Result<ImageInfo, ContainerError> {
    validate_tag(&build.tag)?;
    let fingerprint = binary_fingerprint(&build.binary)?;
    let previous = inspect_image(docker, &build.tag).await?.map(|i| i.id);
    let libraries = shared_libraries(&build.binary).await?;
    let context = if build.context_dir.is_dir() {
        format!("`{}`", build.context_dir.display())
    } else {
        format!(
            "the built-in Dockerfile (no `{}`)",
            build.context_dir.display()
        )
    };
    on_line(&format!(
        "context: {context} + `{}` and {} librar{}",
        build.binary.display(),
        libraries.len(),
        if libraries.len() == 1 { "y" } else { "ies" }
    ));
    let plan = RootfsPlan {
        binary: build.binary.clone(),
        libraries,
    };
    let context_dir = build.context_dir.clone();
    let tar = tokio::task::spawn_blocking(move || write_context(&context_dir, &plan))
        .await
        .map_err(|e| {
            ContainerError::io(
                "write the build context for",
                &build.binary,
                std::io::Error::other(e),
            )
        })??;
    let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(tar));

    let mut labels: HashMap<String, String> = build.labels.clone().into_iter().collect();
    labels.insert(BINARY_LABEL.to_owned(), fingerprint.clone());
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(build.tag.clone()),
        rm: true,
        forcerm: true,
        pull: None,
        labels: Some(labels),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut stream = docker.build_image(options, None, Some(bollard::body_try_stream(body)));
    let mut step = String::from("sending the context");
    let build_error = |step: &str, message: String| ContainerError::Build {
        tag: build.tag.clone(),
        step: step.to_owned(),
        message: message.trim().to_owned(),
    };
    loop {
        let item = tokio::select! {
            biased;
            () = stop.cancelled() => return Err(ContainerError::Cancelled { tag: build.tag.clone() }),
            item = stream.next() => item,
        };
        let Some(item) = item else { break };
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail.and_then(|d| d.message).or(info.error) {
                    return Err(build_error(&step, detail));
                }
                for text in [info.stream, info.status].into_iter().flatten() {
                    for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                        if line.starts_with("Step ") {
                            step = line.to_owned();
                        }
                        on_line(line);
                    }
                }
            }
            Err(e) => return Err(build_error(&step, engine_message(&e))),
        }
    }
    let info = inspect_image(docker, &build.tag).await?.ok_or_else(|| {
        build_error(
            &step,
            "the builder finished but the engine has no image with this tag".to_owned(),
        )
    })?;
    on_line(&format!(
        "built {} {} ({} bytes)",
        info.tag, info.id, info.size
    ));
    // The image this tag named before is now untagged: remove it, unless a container
    // still uses it (then the engine refuses, and it stays until that container goes).
    if let Some(old) = previous.filter(|old| *old != info.id) {
        match docker
            .remove_image(&old, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => on_line(&format!("removed the previous image {old}")),
            Err(e) => {
                tracing::debug!(image = %old, error = %engine_message(&e), "the previous image stays")
            }
        }
    }
    Ok(info)
}

/// Whether the engine's `tag` holds `binary` (by the `b00t.binary` label).
pub async fn image_state(
    docker: &Docker,
    tag: &str,
    binary: &Path,
) -> Result<ImageState, ContainerError> {
    validate_tag(tag)?;
    let wanted = binary_fingerprint(binary)?;
    Ok(match inspect_image(docker, tag).await? {
        None => ImageState::Missing,
        Some(image) if image.fingerprint == wanted => ImageState::Current,
        Some(_) => ImageState::Stale,
    })
}

/// The image `tag`, or `None` when the engine has none.
pub async fn inspect_image(
    docker: &Docker,
    tag: &str,
) -> Result<Option<ImageInfo>, ContainerError> {
    match docker.inspect_image(tag).await {
        Ok(image) => Ok(Some(ImageInfo {
            tag: tag.to_owned(),
            id: image.id.unwrap_or_default(),
            size: image.size.unwrap_or_default(),
            fingerprint: image
                .config
                .and_then(|c| c.labels)
                .and_then(|mut l| l.remove(BINARY_LABEL))
                .unwrap_or_default(),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(ContainerError::engine(
            format!("inspect the image `{tag}`"),
            &e,
        )),
    }
}

/// Removes the image `tag` (forced: containers using it keep running); no image is fine.
pub async fn remove_image(docker: &Docker, tag: &str) -> Result<(), ContainerError> {
    let options = RemoveImageOptions {
        force: true,
        noprune: false,
    };
    match docker.remove_image(tag, Some(options), None).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ContainerError::engine(
            format!("remove the image `{tag}`"),
            &e,
        )),
    }
}

/// A cheap fingerprint of `binary`: its size, modification time and b00t's version
/// (`183204864-1718000000.123456789-0.1.0`). Hashing hundreds of MB at every `b00t up`
/// would cost seconds; a rebuilt binary changes its mtime.
pub fn binary_fingerprint(binary: &Path) -> Result<String, ContainerError> {
    let meta =
        fs_err::metadata(binary).map_err(|e| ContainerError::io("read the binary", binary, e))?;
    if !meta.is_file() {
        return Err(ContainerError::io(
            "use as the agent binary",
            binary,
            std::io::Error::other("not a regular file"),
        ));
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    Ok(format!(
        "{}-{}.{:09}-{}",
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos(),
        env!("CARGO_PKG_VERSION")
    ))
}

/// A reference the engine accepts as `-t`: `name[:tag]`, lowercase name components of
/// `a-z 0-9 . _ -` separated by `/` (a registry host may add a `:port`), a tag of
/// `A-Z a-z 0-9 . _ -` up to 128 characters.
pub fn validate_tag(tag: &str) -> Result<(), ContainerError> {
    let bad = |problem| ContainerError::InvalidTag {
        tag: tag.to_owned(),
        problem,
    };
    if tag.is_empty() || tag.len() > 255 {
        return Err(bad("use 1 to 255 characters, such as `b00t-agent:0.1.0`"));
    }
    let (name, version) = match tag.rsplit_once(':') {
        Some((name, version)) if !version.contains('/') => (name, Some(version)),
        _ => (tag, None),
    };
    if let Some(version) = version {
        let ok = !version.is_empty()
            && version.len() <= 128
            && !version.starts_with(['.', '-'])
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(bad(
                "the part after `:` must be 1 to 128 of `A-Z a-z 0-9 . _ -`",
            ));
        }
    }
    for (i, component) in name.split('/').enumerate() {
        let component = if i == 0 {
            component
                .split_once(':')
                .map_or(component, |(host, _port)| host)
        } else {
            component
        };
        let ok = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(bad(
                "each name part must be lowercase `a-z 0-9 . _ -`, starting with a letter or digit",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked() {
        for good in [
            "b00t-agent:0.1.0",
            "b00t-agent",
            "localhost:5000/b00t/agent:dev",
            "a_b.c:V1-x",
        ] {
            validate_tag(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "",
            "B00t:1",
            "b00t agent:1",
            "b00t:",
            "b00t:-x",
            "/b00t:1",
            "b00t:1;rm",
        ] {
            let e = validate_tag(bad).expect_err(bad).to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }

    #[test]
    fn the_fingerprint_changes_with_the_binary_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("b00t");
        fs_err::write(&binary, "one").unwrap();
        let first = binary_fingerprint(&binary).unwrap();
        assert!(
            first.starts_with("3-") && first.ends_with(env!("CARGO_PKG_VERSION")),
            "{first}"
        );
        assert_eq!(first, binary_fingerprint(&binary).unwrap());
        fs_err::write(&binary, "longer").unwrap();
        assert_ne!(first, binary_fingerprint(&binary).unwrap());
        let e = binary_fingerprint(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let e = binary_fingerprint(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
