//! One handle over both runtimes, for the lifecycle in `b00t-runtime`: a [`Launcher`]
//! starts a group agent from its [`GroupContainer`] (create + start, or spawn) and
//! gives back a [`Launched`], on which the runtime waits for the exit code, stops, reads
//! the log's tail for a crash message, and removes. [`Launcher::adopt`] turns the
//! containers a home already owns (after a restart of `b00t up`) into handles.
//!
//! An enum rather than a trait: there are exactly two runtimes, both known here, and the
//! caller sometimes needs to tell them apart (only containers can be adopted). Every
//! method takes `&self`, so one task can wait for the exit while another stops.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

use crate::engine::RuntimeChoice;
use crate::error::ContainerError;
use crate::local::LocalAgent;
use crate::ops::{self, Owned};
use crate::spec::GroupContainer;

/// Starts group agents in the chosen runtime.
#[derive(Clone, Debug)]
pub enum Launcher {
    /// In containers of this engine.
    Docker(Docker),
    /// As local processes of `program` (b00t's own binary).
    Local { program: PathBuf },
}

/// A started group agent.
#[derive(Debug)]
pub enum Launched {
    Container {
        docker: Docker,
        id: String,
        name: String,
        group: String,
    },
    Process(LocalAgent),
}

impl Launcher {
    /// The launcher for `choice`: connects to the engine for `Docker`; runs this very
    /// binary for `None`.
    pub async fn for_choice(choice: RuntimeChoice) -> Result<Launcher, ContainerError> {
        match choice {
            RuntimeChoice::Docker => Ok(Launcher::Docker(crate::engine::connect().await?)),
            RuntimeChoice::None => Ok(Launcher::Local {
                program: LocalAgent::current_program()?,
            }),
        }
    }

    /// Starts `spec`: creates and starts its container (a container that cannot start is
    /// removed again), or spawns the local process.
    pub async fn launch(&self, spec: &GroupContainer) -> Result<Launched, ContainerError> {
        match self {
            Launcher::Docker(docker) => {
                let id = ops::create(docker, spec).await?;
                if let Err(e) = ops::start(docker, &id).await {
                    let _ = ops::remove(docker, &id).await;
                    return Err(e);
                }
                Ok(Launched::Container {
                    docker: docker.clone(),
                    id,
                    name: spec.name.clone(),
                    group: spec.group.clone(),
                })
            }
            Launcher::Local { program } => Ok(Launched::Process(LocalAgent::spawn(program, spec)?)),
        }
    }

    /// The containers `home_id` owns, each with a handle (nothing for local processes,
    /// which end with the b00t that started them).
    pub async fn adopt(&self, home_id: &str) -> Result<Vec<(Owned, Launched)>, ContainerError> {
        match self {
            Launcher::Docker(docker) => Ok(ops::list_owned(docker, home_id)
                .await?
                .into_iter()
                .map(|owned| {
                    let handle = Launched::Container {
                        docker: docker.clone(),
                        id: owned.id.clone(),
                        name: owned.name.clone(),
                        group: owned.group.clone(),
                    };
                    (owned, handle)
                })
                .collect()),
            Launcher::Local { .. } => Ok(Vec::new()),
        }
    }
}

impl Launched {
    pub fn group(&self) -> &str {
        match self {
            Launched::Container { group, .. } => group,
            Launched::Process(agent) => agent.group(),
        }
    }

    /// For messages: `container b00t-…-family (3f2a…)` or `process 1234`.
    pub fn describe(&self) -> String {
        match self {
            Launched::Container { id, name, .. } => {
                let short: String = id.chars().take(12).collect();
                format!("container {name} ({short})")
            }
            Launched::Process(agent) => format!("process {}", agent.pid()),
        }
    }

    /// Waits until it exits; the exit code.
    pub async fn wait_exit(&self) -> Result<i64, ContainerError> {
        match self {
            Launched::Container { docker, id, .. } => ops::wait_exit(docker, id).await,
            Launched::Process(agent) => agent.wait_exit().await,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. The container stays (see [`Launched::remove`]).
    pub async fn stop(&self, grace: Duration) -> Result<(), ContainerError> {
        match self {
            Launched::Container { docker, id, .. } => ops::stop(docker, id, grace).await,
            Launched::Process(agent) => agent.stop(grace).await.map(|_| ()),
        }
    }

    /// The last `lines` lines of its output.
    pub async fn logs_tail(&self, lines: usize) -> Result<String, ContainerError> {
        match self {
            Launched::Container { docker, id, .. } => ops::logs_tail(docker, id, lines).await,
            Launched::Process(agent) => Ok(agent.logs_tail(lines)),
        }
    }

    /// Removes the container (forced); kills a local process.
    pub async fn remove(self) -> Result<(), ContainerError> {
        match self {
            Launched::Container { docker, id, .. } => ops::remove(&docker, &id).await,
            Launched::Process(agent) => agent.stop(Duration::ZERO).await.map(|_| ()),
        }
    }
}
