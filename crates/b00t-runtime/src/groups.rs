//! Group agents in `b00t up`: the group folders (`main` and `global` made when missing),
//! skills synced into every group live, the container runtime chosen
//! (`CONTAINER_RUNTIME`), and for Docker: the guarded broker listener on the bridge's
//! gateway address, the Ollama relay, and the agent image (built when missing or older
//! than this binary). Then the [`Supervisor`] starts agents as tasks ask for them.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use b00t_broker::EmbeddedBroker;
use b00t_config::{BrokerUrl, Home};
use b00t_container::{Launcher, RuntimeChoice};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::launch::{AgentPasswords, Reach, HOST_GATEWAY_NAME};
use crate::load::Loads;
use crate::relay::{self, HttpUrl};
use crate::supervisor::{Supervisor, SupervisorOptions};
use crate::watcher::{Command, Launchable};
use crate::RuntimeError;

/// What `up` keeps of the group agents' machinery.
pub struct GroupAgents {
    pub choice: RuntimeChoice,
    /// Groups whose containers were taken back from an earlier run.
    pub adopted: Vec<String>,
    /// The supervisor; ends after stopping every agent once `stop` is cancelled.
    pub task: JoinHandle<()>,
}

/// Whether `agent` names a group with a folder: tasks for it start its agent.
pub fn launchable(groups_dir: &Path) -> Launchable {
    let groups = b00t_groups::Groups::new(groups_dir.to_owned());
    // A valid, unreserved name whose folder exists and is not a symlink.
    Arc::new(move |agent: &str| groups.dir(agent).is_ok())
}

/// Prepares everything and starts the supervisor. `broker` is the embedded broker (none
/// with `--broker`); `url` is where local clients reach the bus.
pub async fn start(
    home: &Home,
    broker: Option<&EmbeddedBroker>,
    url: &BrokerUrl,
    commands: mpsc::Sender<Command>,
    loads: tokio::sync::watch::Receiver<Loads>,
    stop: CancellationToken,
) -> Result<GroupAgents, RuntimeError> {
    let config = home.config();
    let groups = b00t_groups::Groups::new(home.groups_dir());
    groups
        .ensure_defaults()
        .map_err(|e| RuntimeError::Groups(e.to_string()))?;
    b00t_groups::spawn_skill_sync(groups, home.skills_dir(), stop.clone())
        .map_err(|e| RuntimeError::Groups(e.to_string()))?;

    let setting = config.containers.runtime_setting();
    let choice = b00t_container::choose(&setting)
        .await
        .map_err(|e| RuntimeError::Groups(e.to_string()))?;
    let launcher = Launcher::for_choice(choice)
        .await
        .map_err(|e| RuntimeError::Groups(e.to_string()))?;
    // Group passwords live in the broker's own store, so that they hold on every
    // listener (the containers' one and loopback, where local group processes connect).
    let store = broker.map(EmbeddedBroker::credentials).unwrap_or_default();
    let passwords = AgentPasswords::load(home, store)?;
    let ollama = HttpUrl::parse(&config.assistant.ollama_url())?;
    let reach = match &launcher {
        Launcher::Docker(docker) => {
            let gateway = b00t_container::bridge_gateway(docker)
                .await
                .map_err(|e| RuntimeError::Groups(e.to_string()))?;
            let alternates = match broker {
                Some(_) => Vec::new(),
                None => url
                    .alternates
                    .iter()
                    .map(|a| b00t_config::BrokerAddr {
                        host: container_host(&a.host),
                        port: a.port,
                    })
                    .collect(),
            };
            let (broker_host, broker_port, credentials) = match broker {
                Some(broker) => {
                    let port = match config.containers.broker_port {
                        0 => remembered_port(home, BROKER_PORT_FILE, gateway),
                        port => port,
                    };
                    let addr = broker.add_guarded(SocketAddr::new(gateway, port)).await?;
                    remember_port(home, BROKER_PORT_FILE, addr.port());
                    (HOST_GATEWAY_NAME.to_owned(), addr.port(), true)
                }
                // An external broker with b00t's exported rules (the runtime's URL names
                // its user): groups log in as themselves there too.
                None => (container_host(&url.host), url.port, url.username.is_some()),
            };
            let (ollama_url, ollama_credentials) = if ollama.is_loopback() {
                let port = remembered_port(home, RELAY_PORT_FILE, gateway);
                let addr = relay::start(
                    SocketAddr::new(gateway, port),
                    ollama.clone(),
                    passwords.relay_verifier(),
                    stop.clone(),
                )
                .await?;
                remember_port(home, RELAY_PORT_FILE, addr.port());
                (ollama.with_authority(HOST_GATEWAY_NAME, addr.port()), true)
            } else {
                (config.assistant.ollama_url(), false)
            };
            ensure_image(home, docker).await;
            Reach {
                broker_host,
                broker_port,
                broker_alternates: alternates,
                credentials,
                ollama_url,
                ollama_credentials,
                in_container: true,
            }
        }
        Launcher::Local { .. } => Reach {
            broker_host: url.host.clone(),
            broker_port: url.port,
            broker_alternates: url.alternates.clone(),
            // Local group processes log in as their group too: the embedded broker's
            // rules bind the group's client ids to its identity.
            credentials: broker.is_some() || url.username.is_some(),
            ollama_url: config.assistant.ollama_url(),
            ollama_credentials: false,
            in_container: false,
        },
    };
    tracing::info!(runtime = ?choice, broker = %format!("{}:{}", reach.broker_host, reach.broker_port), ollama = %reach.ollama_url, "group agents ready to start on demand");

    let home_id = b00t_container::home_id(home.root());
    let mut supervisor = Supervisor::new(
        home.clone(),
        launcher,
        SupervisorOptions {
            max_concurrent: config.containers.max_concurrent,
            idle_timeout: config.containers.idle_timeout(),
            home_id,
            reach,
        },
        passwords,
        commands,
    );
    let adopted = supervisor.adopt().await;
    let task = tokio::spawn(supervisor.run(loads, stop));
    Ok(GroupAgents {
        choice,
        adopted,
        task,
    })
}

/// Where the guarded listener's and the relay's ports are kept between runs: a
/// container taken back after a restart still has them in its environment.
const BROKER_PORT_FILE: &str = "bridge.port";
const RELAY_PORT_FILE: &str = "relay.port";

/// The port used last time when it is still free, else 0 (a free one).
fn remembered_port(home: &Home, file: &str, ip: IpAddr) -> u16 {
    let remembered = std::fs::read_to_string(home.root().join(&home.config().state.dir).join(file))
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok());
    match remembered {
        Some(port) if std::net::TcpListener::bind(SocketAddr::new(ip, port)).is_ok() => port,
        _ => 0,
    }
}

fn remember_port(home: &Home, file: &str, port: u16) {
    if let Ok(dir) = home.state_dir() {
        let _ =
            b00t_config::home::write_private_file(&dir.join(file), format!("{port}\n").as_bytes());
    }
}

/// A broker host as a container sees it: loopback means the host.
fn container_host(host: &str) -> String {
    let loopback = relay::is_loopback_host(host);
    if loopback {
        HOST_GATEWAY_NAME.to_owned()
    } else {
        host.to_owned()
    }
}

/// Builds the agent image when it is missing or holds another binary. A failure is
/// logged; starting a group then fails with the engine's reason.
async fn ensure_image(home: &Home, docker: &b00t_container::Docker) {
    let tag = home.config().containers.image_tag();
    let build = match b00t_container::ImageBuild::current(&tag, &home.container_dir()) {
        Ok(build) => build,
        Err(e) => {
            tracing::warn!(error = %e, "cannot prepare the agent image build");
            return;
        }
    };
    match b00t_container::image_state(docker, &tag, &build.binary).await {
        Ok(b00t_container::ImageState::Current) => {
            tracing::debug!(%tag, "agent image is current");
        }
        Ok(state) => {
            tracing::info!(%tag, ?state, "building the agent image (no registry needed)");
            match b00t_container::build_image(docker, &build).await {
                Ok(info) => {
                    tracing::info!(%tag, id = %info.id, size = info.size, "agent image built")
                }
                Err(e) => tracing::error!(%tag, error = %e, "the agent image could not be built"),
            }
        }
        Err(e) => tracing::warn!(%tag, error = %e, "cannot inspect the agent image"),
    }
}
