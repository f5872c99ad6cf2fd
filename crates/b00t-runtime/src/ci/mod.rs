//! Container CI agents: one agent `ci-<name>` per running container of the local Docker
//! engine, for as long as `b00t up` runs. The manager lists the running containers and
//! follows the engine's events (b00t-container's `observe`): a container that starts gets
//! its agent, with a card naming the container; one that is removed loses it (its card
//! is cleared). Names come from b00t-ci's registry (stable, a short-id suffix on a
//! collision). When the engine goes away the manager reconnects with backoff and
//! reconciles, so there is never a duplicate or a stale agent; the rest of the bus does
//! not wait for it.
//!
//! Scope (`[ci]`): every running container, or only those with `label`; b00t's own group
//! containers are left out unless `include_groups`, since their group agent answers for
//! them and their names would only repeat it. The agents are the runtime's own: they log
//! in as `runtime`, and their names are claimed in the topic rules while they exist.
//!
//! Every event about a container with an agent also goes to `incidents`, which turns
//! deaths, OOM kills, failing health checks and crash loops into messages.

mod actions;
mod ask;
mod chat;
mod evidence;
mod incidents;
mod skills;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use b00t_acl::{Acl, Who};
use b00t_agents::{AgentSpec, HostOptions, Ledger};
use b00t_bus::{Bus, Qos};
use b00t_ci::{Registry, ServiceTable};
use b00t_config::{BrokerUrl, CiConfig};
use b00t_container::{ContainerEvent, Docker, Listed};
use b00t_proto::{Address, AgentChannel, ContainerRef, Name};
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use actions::ActionGate;
pub use ask::AskSettings;
pub use skills::{CiAgent, SKILLS};

use incidents::Incidents;

/// The card's `kind`.
pub const KIND: &str = "container-ci";
/// Longest wait between attempts to reach the engine.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long an agent may take to say goodbye when its container goes.
const STOP_LIMIT: Duration = Duration::from_secs(3);

/// What the manager needs from `up`.
#[derive(Clone, Debug)]
pub struct CiOptions {
    pub config: CiConfig,
    /// How the agents reach the bus (the runtime's own login).
    pub url: BrokerUrl,
    pub max_payload: usize,
    pub packet_limit: usize,
    pub heartbeat: Duration,
    /// How `ask` reaches the model (the group agents' Ollama settings).
    pub ask: AskSettings,
    /// Judges and audits every agent's `restart`, `stop` and `start`.
    pub actions: Arc<ActionGate>,
}

/// One running agent.
struct Running {
    name: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The manager: owns the registry and the running agents.
struct Manager {
    options: CiOptions,
    acl: Arc<Acl>,
    /// The runtime's connection, to clear the card of an agent that went.
    bus: Bus,
    /// The runtime's presence table: the watcher does not see what its own connection
    /// publishes, so a cleared card is forgotten here too.
    presence: crate::Presence,
    registry: Registry,
    running: HashMap<String, Running>,
    services: &'static ServiceTable,
    /// The restart windows of the containers with agents, and the worker that reports
    /// their incidents.
    incidents: Incidents,
    stop: CancellationToken,
}

/// Runs the container CI agents until `stop` is cancelled; they are stopped (and their
/// cards cleared) before this returns.
pub fn start(
    options: CiOptions,
    acl: Arc<Acl>,
    bus: Bus,
    presence: crate::Presence,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let services = ServiceTable::embedded();
    let chat = match options.config.chat.as_str() {
        "" => None,
        chat => match Address::parse(chat) {
            Ok(address) => Some(address),
            Err(e) => {
                tracing::warn!("`[ci] chat`: {e}; incidents are not told to a chat");
                None
            }
        },
    };
    let incidents = Incidents::start(bus.clone(), chat, stop.clone());
    let manager = Manager {
        presence,
        options,
        acl,
        bus,
        registry: Registry::new(),
        running: HashMap::new(),
        services,
        incidents,
        stop,
    };
    tokio::spawn(manager.run())
}

impl Manager {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(500);
        let mut told = false;
        loop {
            let docker = tokio::select! {
                _ = self.stop.cancelled() => break,
                docker = b00t_container::connect_within(Duration::from_secs(2)) => docker,
            };
            let docker = match docker {
                Ok(docker) => docker,
                Err(e) => {
                    if !told {
                        tracing::info!("container CI agents wait for the Docker engine: {e}; trying again with backoff");
                        told = true;
                    }
                    if self.pause(&mut backoff).await {
                        break;
                    }
                    continue;
                }
            };
            told = false;
            // Events first, then the list: nothing between the two is missed.
            let mut events = b00t_container::events(&docker);
            match b00t_container::list_containers(&docker, false).await {
                Ok(listed) => {
                    backoff = Duration::from_millis(500);
                    self.reconcile(&docker, listed).await;
                }
                Err(e) => {
                    tracing::warn!("container CI agents: listing the containers failed: {e}");
                    if self.pause(&mut backoff).await {
                        break;
                    }
                    continue;
                }
            }
            loop {
                let next = tokio::select! {
                    _ = self.stop.cancelled() => None,
                    next = events.next() => Some(next),
                };
                match next {
                    None => break,
                    Some(Some(Ok(event))) => self.on_event(&docker, event).await,
                    Some(Some(Err(e))) => {
                        tracing::warn!(
                            "container CI agents: the engine's events stopped: {e}; reconnecting"
                        );
                        break;
                    }
                    Some(None) => {
                        tracing::warn!(
                            "container CI agents: the engine's event stream ended; reconnecting"
                        );
                        break;
                    }
                }
            }
            if self.stop.is_cancelled() || self.pause(&mut backoff).await {
                break;
            }
        }
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            self.remove(&id).await;
        }
        self.incidents.close().await;
    }

    /// Waits the backoff (doubling it); true when stopped meanwhile.
    async fn pause(&self, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = self.stop.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }

    fn in_scope(&self, listed: &Listed) -> bool {
        let config = &self.options.config;
        if !config.include_groups && listed.labels.contains_key(b00t_container::MANAGED_LABEL) {
            return false;
        }
        if config.label.is_empty() {
            return true;
        }
        match config.label.split_once('=') {
            Some((key, value)) => listed.labels.get(key).is_some_and(|v| v == value),
            None => listed.labels.contains_key(&config.label),
        }
    }

    /// Brings the agents in line with what runs now: no duplicate, no stale one.
    async fn reconcile(&mut self, docker: &Docker, listed: Vec<Listed>) {
        let wanted: Vec<Listed> = listed
            .into_iter()
            .filter(|l| l.state == "running" && self.in_scope(l))
            .collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !wanted.iter().any(|l| &l.id == *id))
            .cloned()
            .collect();
        for id in gone {
            self.remove(&id).await;
        }
        for listed in wanted {
            if !self.running.contains_key(&listed.id) {
                self.add(docker, &listed);
            }
        }
    }

    async fn on_event(&mut self, docker: &Docker, event: ContainerEvent) {
        match event.action.as_str() {
            "start" if !self.running.contains_key(&event.id) => {
                match b00t_container::facts(docker, &event.id).await {
                    Ok(facts) => {
                        let listed = Listed::from(facts);
                        if self.in_scope(&listed) {
                            self.add(docker, &listed);
                        }
                    }
                    Err(e) => tracing::debug!(id = %event.id, "a started container vanished: {e}"),
                }
            }
            "destroy" => self.remove(&event.id).await,
            "rename" => {
                // The agent is named after the container: a new name, a new agent.
                if let Ok(facts) = b00t_container::facts(docker, &event.id).await {
                    self.remove(&event.id).await;
                    let listed = Listed::from(facts);
                    if listed.state == "running" && self.in_scope(&listed) {
                        self.add(docker, &listed);
                    }
                }
            }
            _ => {}
        }
        // After the agent is added or removed: only containers with an agent have
        // incidents.
        self.incidents.on_event(docker, &event);
    }

    fn add(&mut self, docker: &Docker, listed: &Listed) {
        let name = self.registry.assign(listed);
        let Ok(agent) = Name::parse(&name) else {
            tracing::warn!(%name, "not a valid agent name; container left without an agent");
            self.registry.remove(&listed.id);
            return;
        };
        let skills = SKILLS
            .iter()
            .map(|s| Name::parse(s).expect("a valid skill name"))
            .collect();
        let handler = Arc::new(CiAgent {
            docker: docker.clone(),
            id: listed.id.clone(),
            services: self.services,
            max_reply: self.options.max_payload,
            ask: self.options.ask.clone(),
            actions: self.options.actions.clone(),
            recent_stats: Default::default(),
        });
        let container = ContainerRef {
            id: listed.id.clone(),
            name: listed.name.clone(),
            image: listed.image.clone(),
        };
        self.incidents.watch(container.clone(), &name);
        let spec = AgentSpec::new(agent, KIND, skills, handler).for_container(container);
        let host = HostOptions {
            url: self.options.url.clone(),
            max_payload: self.options.max_payload,
            packet_limit: self.options.packet_limit,
            heartbeat: self.options.heartbeat,
            ledger: Arc::new(Ledger::in_memory(&name)),
            drain: Duration::from_secs(1),
        };
        self.acl.claim(&name, Who::Runtime);
        let stop = self.stop.child_token();
        let token = stop.clone();
        let agent_name = name.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = b00t_agents::run(spec, host, token).await {
                tracing::warn!(agent = %agent_name, "container CI agent stopped: {e}");
            }
        });
        tracing::info!(agent = %name, container = %listed.name, "container CI agent started");
        self.running
            .insert(listed.id.clone(), Running { name, stop, task });
    }

    async fn remove(&mut self, id: &str) {
        self.registry.remove(id);
        self.incidents.forget(id);
        let Some(running) = self.running.remove(id) else {
            return;
        };
        running.stop.cancel();
        let _ = tokio::time::timeout(STOP_LIMIT, running.task).await;
        // The container is gone: so is its card (an empty retained message clears it).
        let topic = AgentChannel::Status.topic(&running.name);
        if let Err(e) = self
            .bus
            .publish(&topic, Qos::AtLeastOnce, true, Vec::new())
            .await
        {
            tracing::warn!(agent = %running.name, "could not clear the card: {e}");
        }
        self.presence.forget(&running.name);
        self.acl.release(&running.name);
        tracing::info!(agent = %running.name, "container CI agent stopped: its container is gone");
    }
}
