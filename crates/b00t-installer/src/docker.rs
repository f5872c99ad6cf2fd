//! Docker datums, through the engine's API (bollard): whether an image is present, and
//! pulling it with the engine's progress streamed as lines.

use std::time::Duration;

use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn connect() -> Result<Docker, String> {
    Docker::connect_with_defaults()
        .map_err(|e| format!("cannot reach the Docker engine ({e}): start it, or set DOCKER_HOST"))
}

/// `Ok(Some(id))` when `image` is present, `Ok(None)` when the engine does not have it.
pub async fn image_present(image: &str) -> Result<Option<String>, String> {
    let docker = connect()?;
    match docker.inspect_image(image).await {
        Ok(found) => Ok(Some(found.id.unwrap_or_default())),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(format!(
            "cannot ask the Docker engine about `{image}` ({e}): is it running?"
        )),
    }
}

/// Pulls `image`, sending the engine's status lines to `lines`.
pub async fn pull(
    image: &str,
    timeout: Duration,
    stop: &CancellationToken,
    lines: &mpsc::UnboundedSender<String>,
) -> Result<(), String> {
    let docker = connect()?;
    let options = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.to_owned()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, None);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = &mut deadline => return Err(format!(
                "pulling `{image}` took longer than {} s; raise [installer] step_timeout_ms in b00t.toml",
                timeout.as_secs()
            )),
            () = stop.cancelled() => return Err(format!("pulling `{image}` was stopped by shutdown")),
        };
        match item {
            None => return Ok(()),
            Some(Ok(info)) => {
                if let Some(error) = info.error_detail.and_then(|d| d.message).or(info.error) {
                    return Err(format!("the engine could not pull `{image}`: {error}"));
                }
                let line = [info.id, info.status, info.progress]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if !line.is_empty() {
                    let _ = lines.send(line);
                }
            }
            Some(Err(e)) => {
                return Err(format!(
                    "the engine could not pull `{image}`: {}",
                    engine_message(&e)
                ))
            }
        }
    }
}

fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
