//! Images that are not ours: whether the engine has one, and pulling one with the engine's
//! progress as lines. The installer's Docker datums go through here, so that bollard stays
//! in this crate.

use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::{engine_message, is_not_found, ContainerError};

/// `Ok(Some(id))` when the engine has `image`, `Ok(None)` when it does not.
pub async fn image_id(docker: &Docker, image: &str) -> Result<Option<String>, ContainerError> {
    match docker.inspect_image(image).await {
        Ok(found) => Ok(Some(found.id.unwrap_or_default())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(ContainerError::engine(
            format!("inspect the image `{image}`"),
            &e,
        )),
    }
}

/// Pulls `image`, sending each of the engine's status lines (`<layer> <status>
/// <progress>`) to `lines`, which the caller drains meanwhile (a full queue holds the
/// stream back). Not limited in time: the caller races it against its own deadline and
/// stop signal (dropping the future ends the pull's stream).
pub async fn pull_image(
    docker: &Docker,
    image: &str,
    lines: &mpsc::Sender<String>,
) -> Result<(), ContainerError> {
    let options = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..Default::default()
    };
    let refused = |message: String| ContainerError::Engine {
        action: format!("pull `{image}`"),
        message,
    };
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| refused(engine_message(&e)))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message).or(info.error) {
            return Err(refused(error));
        }
        let line = [info.id, info.status, info.progress]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !line.is_empty() {
            let _ = lines.send(line).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_image_is_none_and_an_unpullable_one_names_itself() {
        let Some(docker) = crate::testing::docker_or_skip().await else {
            return;
        };
        let image = "b00t-never-built-pull-test:1";
        assert_eq!(image_id(&docker, image).await.unwrap(), None);
        let (tx, _rx) = mpsc::channel(16);
        let e = pull_image(&docker, image, &tx)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("refused to pull `b00t-never-built-pull-test:1`"),
            "{e}"
        );
    }
}
