//! Reaching the Docker engine and choosing where group agents run (`CONTAINER_RUNTIME`:
//! `docker`, `none` or `auto`).
//!
//! bollard speaks API 1.49 by default, which older engines refuse outright (Docker 20.10
//! answers 400 "client version 1.49 is too new"), and its version negotiation itself
//! asks at 1.49. So [`connect`] tries 1.49 and, when refused, 1.41 (Docker 20.10's API,
//! which has everything this crate uses), then negotiates down from there.

use std::time::Duration;

use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};

use crate::error::{engine_message, ContainerError};

/// Where group agents run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// In Docker containers (an engine answered).
    Docker,
    /// As local processes of this machine, without isolation.
    None,
}

/// How long `auto` waits for the engine before choosing `none`.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Timeout of one request to the engine (a build's or a wait's stream is not limited).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// Docker 20.10's API: the oldest this crate is written against.
const FLOOR_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Decides from a `CONTAINER_RUNTIME` value (`docker`, `none` or `auto`): `auto` is
/// `docker` when an engine answers a ping within [`PING_TIMEOUT`], else `none` (logged with
/// the reason); `docker` with no engine is an error saying what to do.
pub async fn choose(setting: &str) -> Result<RuntimeChoice, ContainerError> {
    choose_on(setting, &docker_host()).await
}

async fn choose_on(setting: &str, host: &str) -> Result<RuntimeChoice, ContainerError> {
    match setting.trim() {
        "none" => Ok(RuntimeChoice::None),
        "docker" => {
            connect_within_to(host, PING_TIMEOUT).await?;
            Ok(RuntimeChoice::Docker)
        }
        "auto" => match connect_within_to(host, PING_TIMEOUT).await {
            Ok(_) => Ok(RuntimeChoice::Docker),
            Err(e) => {
                tracing::info!("group agents run as local processes (CONTAINER_RUNTIME=auto): {e}");
                Ok(RuntimeChoice::None)
            }
        },
        other => Err(ContainerError::RuntimeSetting {
            value: other.to_owned(),
        }),
    }
}

/// Connects to the engine named by `DOCKER_HOST` (default: the local socket) and settles
/// the API version both sides speak. Fails when no engine answers.
pub async fn connect() -> Result<Docker, ContainerError> {
    connect_to(&docker_host()).await
}

async fn connect_to(host: &str) -> Result<Docker, ContainerError> {
    let first = open(host, API_DEFAULT_VERSION)?;
    match first.negotiate_version().await {
        Ok(docker) => Ok(docker),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 400, ..
        }) => open(host, &FLOOR_VERSION)?
            .negotiate_version()
            .await
            .map_err(|e| unreachable(host, &e)),
        Err(e) => Err(unreachable(host, &e)),
    }
}

/// [`connect`] and a ping, within `timeout`.
pub async fn connect_within(timeout: Duration) -> Result<Docker, ContainerError> {
    connect_within_to(&docker_host(), timeout).await
}

async fn connect_within_to(host: &str, timeout: Duration) -> Result<Docker, ContainerError> {
    let attempt = async {
        let docker = connect_to(host).await?;
        docker.ping().await.map_err(|e| unreachable(host, &e))?;
        Ok(docker)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ContainerError::Unreachable {
            host: host.to_owned(),
            message: format!("no answer within {} ms", timeout.as_millis()),
        }),
    }
}

/// `DOCKER_HOST`, else the local socket.
pub fn docker_host() -> String {
    b00t_config::env::var(b00t_config::env::DOCKER_HOST)
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
}

fn open(host: &str, version: &ClientVersion) -> Result<Docker, ContainerError> {
    let opened = if host.starts_with("unix://") {
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version)
    } else {
        return Err(ContainerError::Unreachable {
            host: host.to_owned(),
            message: "only unix:// and tcp:// hosts are supported".to_owned(),
        });
    };
    opened.map_err(|e| unreachable(host, &e))
}

fn unreachable(host: &str, error: &bollard::errors::Error) -> ContainerError {
    ContainerError::Unreachable {
        host: host.to_owned(),
        message: engine_message(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn none_needs_no_engine_and_bad_values_list_the_choices() {
        assert_eq!(choose("none").await.unwrap(), RuntimeChoice::None);
        let e = choose("podman").await.unwrap_err().to_string();
        assert!(
            e.contains("`podman`") && e.contains("`docker`, `none` or `auto`"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn without_an_engine_auto_runs_locally_and_docker_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("unix://{}", dir.path().join("no-docker.sock").display());
        assert_eq!(choose_on("auto", &host).await.unwrap(), RuntimeChoice::None);
        let e = choose_on("docker", &host).await.unwrap_err().to_string();
        assert!(
            e.contains("start Docker") && e.contains("CONTAINER_RUNTIME=none"),
            "{e}"
        );
        assert!(e.contains("no-docker.sock"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_host_scheme_is_refused_by_name() {
        let e = connect_to("ssh://box").await.unwrap_err().to_string();
        assert!(e.contains("`ssh://box`"), "{e}");
    }
}
