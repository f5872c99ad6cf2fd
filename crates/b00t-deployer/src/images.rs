//! The images a compose deploy runs, made present on the local engine before
//! `docker-compose up`: an image the engine has is used as is; one with
//! `[b00t.build] base = "busybox-static"` is built from the host's static busybox; any
//! other is pulled, and one that cannot be pulled (no registry here, a typo) is an error
//! naming the image, the service and what to do, before anything starts.

use std::collections::BTreeSet;
use std::time::Duration;

use b00t_container::Docker;
use b00t_deploy::Intent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::DeployerError;
use crate::status::{say, Progress};

/// The one build base b00t knows.
pub const BUSYBOX_BASE: &str = "busybox-static";

/// Makes every image of `intent` present on `docker`, pulling within `pull_timeout` each.
pub async fn ensure(
    docker: &Docker,
    intent: &Intent,
    progress: &Progress,
    pull_timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), DeployerError> {
    let mut seen = BTreeSet::new();
    for workload in &intent.workloads {
        if !seen.insert(workload.image.clone()) {
            continue;
        }
        let image = workload.image.as_str();
        let fail = |message: String| DeployerError::Image {
            image: image.to_owned(),
            service: workload.name.clone(),
            message,
        };
        let present = b00t_container::image_id(docker, image)
            .await
            .map_err(|e| fail(e.to_string()))?;
        match (&present, workload.build.as_deref()) {
            (Some(_), Some(BUSYBOX_BASE)) | (None, Some(BUSYBOX_BASE)) => {
                // Built again when the host's busybox changed (the label says which).
                say(progress, format!("image {image}: from the host's busybox-static")).await;
                b00t_container::testing::ensure_busybox_image_as(docker, image)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
            (_, Some(other)) => {
                return Err(fail(format!(
                    "`[b00t.build] base = \"{other}\"` is not a base b00t builds: use \"{BUSYBOX_BASE}\", or build the image yourself"
                )))
            }
            (Some(_), None) => say(progress, format!("image {image}: on the engine")).await,
            (None, None) => {
                say(progress, format!("image {image}: not on the engine, pulling")).await;
                pull(docker, image, progress, pull_timeout, stop)
                    .await
                    .map_err(|message| {
                        fail(format!(
                            "it is not on this engine and could not be pulled ({message}); build it (`docker build -t {image} …`) or load it (`docker load`), then deploy again"
                        ))
                    })?;
            }
        }
    }
    Ok(())
}

async fn pull(
    docker: &Docker,
    image: &str,
    progress: &Progress,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), String> {
    let (lines, mut rx) = mpsc::channel(b00t_installer::runner::LINES_QUEUE);
    let pulling = b00t_container::pull_image(docker, image, &lines);
    tokio::pin!(pulling);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            done = &mut pulling => return done.map_err(|e| e.to_string()),
            Some(line) = rx.recv() => say(progress, line).await,
            _ = &mut deadline => return Err(format!("no pull within {} s", timeout.as_secs())),
            _ = stop.cancelled() => return Err("b00t is shutting down".to_owned()),
        }
    }
}
