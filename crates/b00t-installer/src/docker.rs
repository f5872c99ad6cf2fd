//! Docker datums, through `b00t-container`'s engine API (the only crate that touches
//! bollard): whether an image is present, and pulling it within the step's timeout with the
//! engine's progress streamed as lines.

use std::time::Duration;

use b00t_container::{ContainerError, Docker};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn connect() -> Result<Docker, String> {
    b00t_container::connect().await.map_err(|e| match e {
        ContainerError::Unreachable { host, message } => format!(
            "cannot reach the Docker engine at `{host}` ({message}): start it, or set DOCKER_HOST"
        ),
        other => other.to_string(),
    })
}

/// `Ok(Some(id))` when `image` is present, `Ok(None)` when the engine does not have it.
pub async fn image_present(image: &str) -> Result<Option<String>, String> {
    let docker = connect().await?;
    b00t_container::image_id(&docker, image)
        .await
        .map_err(|e| format!("cannot ask the Docker engine about `{image}` ({e}): is it running?"))
}

/// Pulls `image`, sending the engine's status lines to `lines`.
pub async fn pull(
    image: &str,
    timeout: Duration,
    stop: &CancellationToken,
    lines: &mpsc::Sender<String>,
) -> Result<(), String> {
    let docker = connect().await?;
    tokio::select! {
        pulled = b00t_container::pull_image(&docker, image, lines) => pulled.map_err(|e| match e {
            ContainerError::Engine { message, .. } => {
                format!("the engine could not pull `{image}`: {message}")
            }
            other => other.to_string(),
        }),
        () = tokio::time::sleep(timeout) => Err(format!(
            "pulling `{image}` took longer than {} s; raise [installer] step_timeout_ms in b00t.toml",
            timeout.as_secs()
        )),
        () = stop.cancelled() => Err(format!("pulling `{image}` was stopped by shutdown")),
    }
}
