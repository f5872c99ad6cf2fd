//! `b00t up`: start the broker (or reach the external one), open the journal, start the
//! watcher and the local agents, drive journaled tasks again, serve until the shutdown
//! signal, then stop everything within a time limit: agents publish their offline
//! cards, the watcher stops, the journal is flushed.
//!
//! On an external broker a runtime acts only while it holds the lease (`lease`): one
//! that finds another's live lease stands by, its watcher following (journaling) the
//! bus, and takes over when that lease lapses; one whose lease is taken stops.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use b00t_acl::{Acl, Who};
use b00t_agents::{kinds, AgentSpec, HostOptions, Ledger};
use b00t_broker::{BrokerSettings, Credentials, EmbeddedBroker};
use b00t_bus::{Bus, BusOptions, Qos};
use b00t_config::{AclFile, BrokerUrl, CredentialFiles, Home};
use b00t_journal::Journal;
use b00t_proto::{Lease, Name};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::door::Door;
use crate::intake::{self, Intake};
use crate::lease::{Held, LeaseKeeper};
use crate::presence::Presence;
use crate::watcher::{Command, Watcher, SUBSCRIBE_LIMIT};
use crate::{groups, runtime_agent, RuntimeError};

/// Overrides from the command line.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// `--listen`: where the embedded broker listens.
    pub listen: Option<SocketAddr>,
    /// `--broker`: use this broker instead of the embedded one.
    pub broker: Option<BrokerUrl>,
    /// Run only the embedded broker: no watcher, journal or agents.
    pub broker_only: bool,
    /// `--standby`: on an external broker, leave a free lease free for one lapse before
    /// taking it (another runtime is expected to be the active one).
    pub standby: bool,
}

/// What `up` tells its caller as it goes.
#[derive(Debug)]
pub enum Report<'a> {
    /// Another runtime holds a live lease: this one follows and waits.
    StandingBy {
        url: &'a BrokerUrl,
        lease: &'a Lease,
    },
    /// Everything serves.
    Ready(&'a Ready),
}

/// What is running, reported once everything is up.
#[derive(Clone, Debug)]
pub struct Ready {
    pub url: BrokerUrl,
    pub embedded: bool,
    pub journal: Option<PathBuf>,
    pub agents: Vec<String>,
}

/// Longest time shutdown takes before giving up on stragglers.
const STOP_LIMIT: Duration = Duration::from_secs(4);
/// Longest wait for a local agent to come online at start.
const AGENT_ONLINE_LIMIT: Duration = Duration::from_secs(10);

/// Runs the runtime of `home` until `shutdown` is cancelled. `report` hears when it
/// stands by and, once, when everything serves.
pub async fn up(
    home: Home,
    options: UpOptions,
    shutdown: CancellationToken,
    mut report: impl FnMut(Report<'_>),
) -> Result<(), RuntimeError> {
    let config = home.config().clone();
    let external = match options.broker.clone() {
        Some(url) => Some(url),
        None => config.broker.external()?,
    };
    if options.standby && external.is_none() {
        // The embedded broker dies with its machine: there is nothing to stand by on.
        return Err(RuntimeError::StandbyNeedsBroker);
    }
    // One credential per identity; the runtime's own parts log in as `runtime`, the CLI
    // as `operator`, each group as itself (made when it first starts).
    let credential_files = CredentialFiles::open(&home.state_dir()?)?;
    let runtime_password = credential_files.get_or_make(b00t_acl::RUNTIME)?;
    let operator_password = credential_files.get_or_make(b00t_acl::OPERATOR)?;
    let store = Credentials::default();
    store.set(b00t_acl::RUNTIME, &runtime_password);
    store.set(b00t_acl::OPERATOR, &operator_password);
    let (url, broker) = match external {
        Some(url) => (url, None),
        None => {
            let broker = EmbeddedBroker::start(BrokerSettings {
                max_subscriptions: config.broker.max_subscriptions,
                max_inflight: config.broker.max_inflight,
                max_filters: config.broker.max_filters,
                credentials: store.clone(),
                ..BrokerSettings::new(
                    options.listen.unwrap_or(config.broker.listen),
                    config.broker.max_connections,
                    config.broker.packet_limit(),
                )
            })
            .await?;
            (BrokerUrl::for_listen(broker.addr()), Some(broker))
        }
    };
    let embedded = broker.is_some();
    let acl = Arc::new(rules(&home)?);
    let enforced = config.broker.acl.then(|| acl.clone());
    match (&broker, &enforced) {
        (Some(broker), Some(acl)) => broker.set_gate(Arc::new(Door::new(acl.clone())))?,
        (Some(_), None) => tracing::warn!(
            "the topic rules are OFF ([broker] acl = false): any client may act as any agent"
        ),
        (None, _) => {}
    }
    // How the runtime's own clients log in: as `runtime` on the embedded broker, and on
    // an external one when its URL names the `runtime` user without a password (the
    // rules `b00t acl export --mosquitto` wrote).
    let own_url = match (&broker, url.username.as_deref(), &url.password) {
        (Some(_), _, _) | (None, Some(b00t_acl::RUNTIME), None) => BrokerUrl {
            username: Some(b00t_acl::RUNTIME.to_owned()),
            password: Some(runtime_password.clone()),
            ..url.clone()
        },
        _ => url.clone(),
    };
    if options.broker_only {
        report(Report::Ready(&Ready {
            url,
            embedded,
            journal: None,
            agents: Vec::new(),
        }));
        shutdown.cancelled().await;
        return Ok(());
    }

    let journal_path = home.state_dir()?.join("journal.db");
    let journal = Journal::open(&journal_path)?;
    // In this process the runtime's clients reach the embedded broker through its local door, a Unix
    // socket in the state folder, rather than loopback TCP; processes and containers
    // given the URL keep TCP.
    let door_file = match &broker {
        Some(broker) => local_door(broker, &home.state_dir()?),
        None => None,
    };
    let own_url = BrokerUrl {
        local_socket: door_file.as_ref().map(|file| file.0.clone()),
        ..own_url
    };
    let presence = Presence::default();

    // The watcher sees every message before anyone else may publish a task: through the
    // embedded broker's tap, or its `#` subscription on an external broker.
    // On a cluster (a list of brokers) its session is kept while it moves between nodes,
    // under an id stable for this home (a standby has its own): the tap's secret id
    // matters only on the embedded broker.
    let cluster = broker.is_none() && !own_url.alternates.is_empty();
    let runtime_id = crate::lease::runtime_id(&home.state_dir()?)?;
    let client_id = match cluster {
        true => format!("b00t-runtime-watcher-{runtime_id}"),
        false => format!("b00t-runtime-{:016x}", client_suffix()),
    };
    let mut bus_options = BusOptions::new(own_url.clone(), client_id.clone());
    bus_options.packet_limit = config.broker.packet_limit();
    bus_options.persistent_session = cluster;
    let watcher_stop = CancellationToken::new();
    let (bus, events) = Bus::connect(bus_options, &watcher_stop);
    bus.wait_connected(Duration::from_secs(5)).await?;
    let feed = match &broker {
        Some(broker) => {
            drop(events);
            let (feed_tx, feed) = mpsc::channel(intake::FEED_CAPACITY);
            broker.set_tap(Arc::new(Intake::new(feed_tx, client_id, enforced)))?;
            feed
        }
        None => {
            bus.subscribe_confirmed("#", Qos::AtLeastOnce, SUBSCRIBE_LIMIT)
                .await?;
            intake::from_bus(events)
        }
    };
    let (commands, commands_rx) = mpsc::channel(64);
    let (board, loads) = crate::load::LoadBoard::new();
    let watcher = Watcher::new(
        bus.clone(),
        journal.handle(),
        presence.clone(),
        config.delivery.clone(),
        config.broker.max_payload_bytes,
    )
    .with_launcher(groups::launchable(&home.groups_dir()), board);
    // On an external broker the watcher follows until this runtime holds the lease: two
    // acting runtimes would both retry and dead-letter every task, and their agents
    // would evict each other.
    let watcher = match embedded {
        true => watcher,
        false => watcher.passive(),
    };
    let watcher_task = tokio::spawn(watcher.run(feed, commands_rx, watcher_stop.clone()));
    let mut keeper = None;
    // Replica rows the broker retains, heard before this runtime acted.
    let mut retained = std::collections::BTreeSet::new();
    if !embedded {
        // The schedules' replica rows go into this journal once it is known that another
        // runtime's are the truth: it stands by behind a live lease, or takes over from
        // another's lapsed one (b00t_scheduler::replica says why).
        let (rows_tx, rows) = mpsc::channel::<(String, b00t_bus::Bytes)>(256);
        let (following_tx, following) = tokio::sync::watch::channel(false);
        let follower = b00t_scheduler::Follower::open(&journal_path)?;
        let applying = tokio::spawn(async move { follower.follow(rows, following).await });
        let replica_filter = format!("{}+", b00t_scheduler::replica::TOPIC_PREFIX);
        let mut lease_keeper = LeaseKeeper::connect(
            &own_url,
            &runtime_id,
            config.agents.heartbeat(),
            config.broker.packet_limit(),
            &[replica_filter.as_str()],
            Some(rows_tx),
        )
        .await?;
        let taken = lease_keeper
            .acquire(&shutdown, options.standby, |lease| {
                tracing::warn!(holder = %lease.holder, epoch = lease.epoch, host = ?lease.host, "another b00t runtime already serves `{url}`: standing by, following its journal, until its lease lapses");
                following_tx.send_replace(true);
                report(Report::StandingBy { url: &url, lease });
            })
            .await;
        if lease_keeper.followed().is_some() {
            following_tx.send_replace(true);
        }
        // Every row heard so far is written before the scheduler starts.
        lease_keeper.stop_forwarding();
        retained = applying.await.unwrap_or_default();
        let Some(lease) = taken else {
            lease_keeper.close().await;
            watcher_stop.cancel();
            let _ = watcher_task.await;
            bus.close(Duration::from_millis(200)).await;
            journal.close().await;
            return Ok(());
        };
        tracing::info!(epoch = lease.epoch, "holding the runtime lease");
        let _ = commands.send(Command::Activate).await;
        // Renewed from now on, however long the rest of the start takes.
        let hold_stop = CancellationToken::new();
        let holding = tokio::spawn({
            let hold_stop = hold_stop.clone();
            async move {
                let held = lease_keeper.hold(lease, &hold_stop).await;
                (lease_keeper, held)
            }
        });
        keeper = Some((holding, hold_stop));
    }

    // Group agents start on demand, once tasks can be held for them.
    let groups_stop = CancellationToken::new();
    let group_agents = groups::start(
        &home,
        broker.as_ref(),
        &own_url,
        commands.clone(),
        loads,
        groups_stop.clone(),
    )
    .await?;

    let agents_stop = CancellationToken::new();
    let mut specs: Vec<AgentSpec> = vec![runtime_agent::spec(presence.clone())];
    if config.agents.echo {
        specs.push(kinds::echo(Name::parse("echo").expect("a valid name")));
    }
    if config.installer.enabled {
        specs.push(b00t_installer::spec(
            Name::parse(b00t_installer::AGENT).expect("a valid name"),
            b00t_installer::InstallerOptions::for_home(&home)?,
            agents_stop.clone(),
        ));
    }
    if config.deploy.enabled {
        // Members are installed through the installer, as tasks from the deployer on a
        // connection of its own (journaled like any other client's).
        let mut installs = BusOptions::new(
            own_url.clone(),
            format!("b00t-runtime-deployer-{:016x}", client_suffix()),
        );
        installs.packet_limit = config.broker.packet_limit();
        specs.push(b00t_deployer::spec(
            Name::parse(b00t_deployer::AGENT).expect("a valid name"),
            b00t_deployer::DeployerOptions::for_home(&home, Some(installs))?,
            agents_stop.clone(),
        ));
    }
    // The scheduler fires tasks on a connection of its own: the watcher's own
    // publishes are not shown to it (it knows them), and fired tasks must be journaled.
    let mut scheduler_options = BusOptions::new(
        own_url.clone(),
        format!("b00t-scheduler-{:016x}", client_suffix()),
    );
    scheduler_options.packet_limit = config.broker.packet_limit();
    let (scheduler_bus, scheduler_events) = Bus::connect(scheduler_options, &agents_stop);
    // The schedules also go out as retained rows, for a standby to follow (a few small
    // messages per change; nobody reads them on the embedded broker).
    let (scheduler, firing) = b00t_scheduler::start(
        &journal_path,
        home.groups_dir(),
        scheduler_bus,
        fire_key(&credential_files)?,
        Some(b00t_scheduler::Replication {
            retained,
            events: Some(scheduler_events),
        }),
        agents_stop.clone(),
    )?;
    specs.push(scheduler);
    let agents = TaskTracker::new();
    agents.spawn(firing);
    let mut names = Vec::new();
    for spec in specs {
        let name = spec.name.to_string();
        let host = HostOptions {
            url: own_url.clone(),
            max_payload: config.broker.max_payload_bytes,
            packet_limit: config.broker.packet_limit(),
            heartbeat: config.agents.heartbeat(),
            ledger: Arc::new(Ledger::journaled(&name, &journal)?),
            drain: Duration::from_secs(2),
        };
        let stop = agents_stop.clone();
        agents.spawn(async move {
            if let Err(e) = b00t_agents::run(spec, host, stop).await {
                tracing::error!(error = %e, "agent stopped");
            }
        });
        names.push(name);
    }
    agents.close();
    for name in &names {
        wait_online(&presence, name).await?;
    }

    // Container CI agents come and go with the engine's containers; `up` never waits
    // for the engine.
    let ci_stop = CancellationToken::new();
    let ci_task = config.ci.enabled.then(|| {
        crate::ci::start(
            crate::ci::CiOptions {
                config: config.ci.clone(),
                url: own_url.clone(),
                max_payload: config.broker.max_payload_bytes,
                packet_limit: config.broker.packet_limit(),
                heartbeat: config.agents.heartbeat(),
                ask: crate::ci::AskSettings {
                    ollama_url: config.assistant.ollama_url(),
                    model: config.assistant.model(),
                    timeout: config.assistant.ollama_timeout(),
                },
                actions: Arc::new(crate::ci::ActionGate::new(
                    home.policy_file(),
                    home.audit_file(),
                    home.operator_key_file(),
                    config.installer.signature_window(),
                )),
            },
            acl.clone(),
            bus.clone(),
            presence.clone(),
            ci_stop.clone(),
        )
    });

    // Chat bridges are clients of the bus like any other, started once the agents
    // they talk to can be reached.
    let bridges_stop = CancellationToken::new();
    let bridges = b00t_chat::start_enabled(
        &home,
        &b00t_chat::BridgeRun::for_home(&home, own_url.clone()),
        &bridges_stop,
        {
            // A bridge that cannot run (no token) leaves its name to `b00t bridge run`.
            let acl = acl.clone();
            move |bridge: &str| acl.release(&b00t_chat::agent_name(bridge))
        },
    );

    let open = journal.open_tasks()?;
    let _ = commands.send(Command::Redrive(open)).await;

    report(Report::Ready(&Ready {
        url: url.clone(),
        embedded,
        journal: Some(journal_path),
        agents: names,
    }));
    let (lease_keeper, held) = match keeper {
        Some((mut holding, hold_stop)) => {
            let ended = tokio::select! {
                _ = shutdown.cancelled() => None,
                ended = &mut holding => ended.ok(),
            };
            let ended = match ended {
                Some(ended) => Some(ended),
                None => {
                    hold_stop.cancel();
                    holding.await.ok()
                }
            };
            match ended {
                Some((lease_keeper, held)) => (Some(lease_keeper), held),
                None => (None, Held::Stopped),
            }
        }
        None => {
            shutdown.cancelled().await;
            (None, Held::Stopped)
        }
    };
    match &held {
        Held::Stopped => tracing::info!("shutting down"),
        Held::Lost(other) => {
            tracing::error!(holder = %other.holder, epoch = other.epoch, "another runtime took the lease: stopping so that only one acts")
        }
    }
    let stopping = async {
        bridges_stop.cancel();
        bridges.wait().await;
        ci_stop.cancel();
        if let Some(task) = ci_task {
            let _ = task.await;
        }
        groups_stop.cancel();
        let _ = group_agents.task.await;
        agents_stop.cancel();
        agents.wait().await;
        watcher_stop.cancel();
        let _ = watcher_task.await;
        bus.close(Duration::from_millis(500)).await;
        journal.close().await;
    };
    if tokio::time::timeout(STOP_LIMIT, stopping).await.is_err() {
        tracing::warn!(
            "shutdown took longer than {} s; exiting anyway",
            STOP_LIMIT.as_secs()
        );
    }
    match (lease_keeper, held) {
        (Some(lease_keeper), Held::Stopped) => lease_keeper.release().await,
        (Some(lease_keeper), Held::Lost(other)) => {
            lease_keeper.close().await;
            return Err(RuntimeError::LeaseLost {
                url: url.to_string(),
                holder: other.holder,
                epoch: other.epoch,
            });
        }
        (None, _) => {}
    }
    Ok(())
}

/// The home's secret behind schedule fire ids, kept beside the credentials.
fn fire_key(files: &CredentialFiles) -> Result<b00t_scheduler::FireKey, RuntimeError> {
    let hex_key = files.get_or_make("scheduler-key")?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&hex_key, &mut key)
        .map_err(|e| RuntimeError::Groups(format!("the scheduler key is damaged: {e}")))?;
    Ok(b00t_scheduler::FireKey::new(key))
}

/// The topic rules of `home`: the runtime's own agents (and chat bridges) are its; every group folder is
/// its group's; `broker/acl.toml` adds where agents may send.
fn rules(home: &Home) -> Result<Acl, RuntimeError> {
    let launchable = groups::launchable(&home.groups_dir());
    let acl = Acl::new(home.config().broker.anonymous)
        .with_lookup(move |name| launchable(name).then(|| Who::Agent(name.to_owned())));
    for own in [
        crate::gate::RUNTIME_AGENT,
        "echo",
        b00t_installer::AGENT,
        b00t_deployer::AGENT,
        "scheduler",
    ] {
        acl.claim(own, Who::Runtime);
    }
    // The chat bridges `up` runs are its own parts too.
    for bridge in b00t_chat::enabled(home.config()) {
        acl.claim(&b00t_chat::agent_name(&bridge), Who::Runtime);
    }
    for (agent, sends) in AclFile::load(home.root())?.sends {
        acl.allow_sends(&agent, sends);
    }
    Ok(acl)
}

async fn wait_online(presence: &Presence, agent: &str) -> Result<(), RuntimeError> {
    let deadline = tokio::time::Instant::now() + AGENT_ONLINE_LIMIT;
    while !presence.is_online(agent) {
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::AgentNotOnline {
                agent: agent.to_owned(),
                seconds: AGENT_ONLINE_LIMIT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

fn client_suffix() -> u64 {
    // The watcher's client id is the one connection whose messages the tap does not
    // show it, so it must not be guessable: random, not time and pid.
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return nanos ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_le_bytes(bytes)
}

/// Opens the embedded broker's local door at `state/broker.sock`; `None` (the runtime's
/// clients then use TCP) when it cannot, for example a path longer than a Unix socket
/// allows.
fn local_door(broker: &EmbeddedBroker, state_dir: &std::path::Path) -> Option<DoorFile> {
    let path = state_dir.join("broker.sock");
    match broker.add_local(&path) {
        Ok(()) => Some(DoorFile(path)),
        Err(e) => {
            tracing::warn!("{e}; the runtime's own clients use loopback TCP instead");
            None
        }
    }
}

/// The local door's socket file, removed when `up` returns, however it returns (a
/// `kill -9` leaves it, and the next start replaces it).
struct DoorFile(PathBuf);

impl Drop for DoorFile {
    fn drop(&mut self) {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(&self.0).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
