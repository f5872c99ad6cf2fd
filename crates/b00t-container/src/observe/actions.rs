//! The CI agents' actions on any container: restart and stop. Unlike `ops::stop` (for
//! b00t's own group containers, where a missing one is already stopped), a missing
//! container is [`ContainerError::NoSuchContainer`]; `ops::start` serves to start.

use std::time::Duration;

use bollard::query_parameters::{RestartContainerOptions, StopContainerOptions};
use bollard::Docker;

use crate::error::ContainerError;
use crate::observe::container_error;

/// Restarts the container: SIGTERM (or its stop signal), SIGKILL after `timeout`, then
/// start. A stopped container is started.
pub async fn restart(docker: &Docker, id: &str, timeout: Duration) -> Result<(), ContainerError> {
    let options = RestartContainerOptions {
        signal: None,
        t: Some(seconds(timeout)),
    };
    docker
        .restart_container(id, Some(options))
        .await
        .map_err(|e| container_error("restart the container", id, &e))
}

/// Stops the container: SIGTERM (or its stop signal), SIGKILL after `timeout`. A stopped
/// container is fine.
pub async fn stop_container(
    docker: &Docker,
    id: &str,
    timeout: Duration,
) -> Result<(), ContainerError> {
    let options = StopContainerOptions {
        signal: None,
        t: Some(seconds(timeout)),
    };
    docker
        .stop_container(id, Some(options))
        .await
        .map_err(|e| container_error("stop the container", id, &e))
}

fn seconds(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX)
}
