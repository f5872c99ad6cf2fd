//! Starting bridges: [`run_bridge`] runs one (`b00t bridge run <name>`, or a task of
//! `b00t up`) until shutdown, on the platform its kind names: its presence card (agent `bridge-<name>`, kind `bridge`,
//! skill `status`) through b00t-agents' host, its requester connection on the reply base
//! `b00t.bridge-<name>/reply`, and the platform's loop. [`start_enabled`] starts every
//! enabled bridge of a home for `b00t up`, logging (and recording for `b00t bridge list`)
//! why one cannot start instead of failing the runtime.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, HostOptions, Ledger, TaskContext};
use b00t_bus::{Bus, BusOptions};
use b00t_config::{env, BridgeConfig, BrokerUrl, Config, Home};
use b00t_journal::BridgeStore;
use b00t_proto::{Name, TaskId};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::{Board, Engine, Platform, Setup};
use crate::matrix::{Matrix, MatrixApi, MatrixError};
use crate::telegram::api::DEFAULT_API_URL;
use crate::telegram::{BotApi, Telegram, Webhook};
use crate::whatsapp::{Settings, WhatsApp};
use crate::ChatError;

/// How long the bridge's connection may take to come up.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// The agent name of bridge `bridge`: `bridge-<bridge>`.
pub fn agent_name(bridge: &str) -> String {
    format!("bridge-{bridge}")
}

/// The names of the bridges `b00t up` runs: configured and enabled.
pub fn enabled(config: &Config) -> Vec<String> {
    config
        .bridges
        .iter()
        .filter(|(_, bridge)| bridge.enabled)
        .map(|(name, _)| name.clone())
        .collect()
}

/// How a bridge reaches the bus.
#[derive(Clone, Debug)]
pub struct BridgeRun {
    pub url: BrokerUrl,
    pub packet_limit: usize,
    pub max_payload: usize,
    pub heartbeat: Duration,
}

impl BridgeRun {
    /// `url` with the home's broker settings.
    pub fn for_home(home: &Home, url: BrokerUrl) -> BridgeRun {
        let config = home.config();
        BridgeRun {
            url,
            packet_limit: config.broker.packet_limit(),
            max_payload: config.broker.max_payload_bytes,
            heartbeat: config.agents.heartbeat(),
        }
    }
}

/// Runs bridge `name` of `home` until `shutdown`.
pub async fn run_bridge(
    home: &Home,
    name: &str,
    run: BridgeRun,
    shutdown: CancellationToken,
) -> Result<(), ChatError> {
    let Some(config) = home.config().bridges.get(name).cloned() else {
        return Err(ChatError::NotConfigured {
            name: name.to_owned(),
            path: home.root().join(Config::FILE_NAME),
        });
    };
    // The platform's secrets are read first: a missing one fails before the bus is used.
    match config.kind_or(name) {
        "telegram" => {
            let token = env::var(env::TELEGRAM_BOT_TOKEN).ok_or_else(|| ChatError::NoToken {
                bridge: name.to_owned(),
            })?;
            let api_url =
                env::var(env::TELEGRAM_API_URL).unwrap_or_else(|| DEFAULT_API_URL.to_owned());
            let api = BotApi::new(&api_url, &token)?;
            // Webhook mode: its secret checked and its address bound before the bus is used.
            let platform = match Webhook::from_env(name, &config)? {
                Some(hook) => {
                    let listener = crate::telegram::webhook::bind(hook.listen, name).await?;
                    Telegram::with_webhook(api, hook, listener)
                }
                None => Telegram::new(api),
            };
            serve(home, name, config, run, platform, shutdown).await
        }
        "whatsapp" => {
            let settings = Settings::from_env(name, &config)?;
            let listener = crate::whatsapp::webhook::bind(settings.listen, name).await?;
            let platform = WhatsApp::new(settings, listener, home.root().to_owned());
            serve(home, name, config, run, platform, shutdown).await
        }
        "matrix" => {
            let token = env::var(env::MATRIX_ACCESS_TOKEN).ok_or_else(|| MatrixError::NoToken {
                bridge: name.to_owned(),
            })?;
            let Some(homeserver) = config.homeserver.clone() else {
                return Err(MatrixError::NoHomeserver {
                    bridge: name.to_owned(),
                }
                .into());
            };
            let api = MatrixApi::new(name, &homeserver, &token)?;
            let platform = Matrix::new(api, home.root().to_owned());
            serve(home, name, config, run, platform, shutdown).await
        }
        other => Err(ChatError::Platform(format!(
            "[bridges.{name}] kind `{other}` is not a bridge this build runs"
        ))),
    }
}

/// Runs bridge `name` on `platform`: its journal, its bus connection and card, the
/// engine, until `shutdown`.
async fn serve<P: Platform>(
    home: &Home,
    name: &str,
    config: BridgeConfig,
    run: BridgeRun,
    platform: P,
    shutdown: CancellationToken,
) -> Result<(), ChatError> {
    let journal = home.state_dir()?.join("journal.db");
    // SQLite may wait for a lock held by another connection: not on an async worker.
    let store = tokio::task::spawn_blocking(move || BridgeStore::open(&journal))
        .await
        .map_err(|e| ChatError::Platform(format!("the journal opener failed: {e}")))??;
    let store = Arc::new(store);
    let agent = agent_name(name);

    let mut options = BusOptions::new(
        run.url.clone(),
        TaskId::fresh(&format!("b00t-bridge-{name}")).to_string(),
    );
    options.packet_limit = run.packet_limit;
    let (bus, events) = Bus::connect(options, &shutdown);
    if let Err(e) = bus.wait_connected(CONNECT_LIMIT).await {
        bus.close(Duration::from_millis(100)).await;
        return Err(e.into());
    }
    let (requester, _rest) = b00t_bus::Requester::open(
        bus.clone(),
        events,
        format!("b00t.{agent}/reply"),
        &agent,
        CONNECT_LIMIT,
        &shutdown,
    )
    .await?;
    let kind = platform.kind();
    let setup = Setup {
        name: name.to_owned(),
        home: home.root().to_owned(),
        config,
        store: store.clone(),
        requester,
    };
    let engine = Engine::new(setup, platform, &shutdown);
    let started = store.clone();
    let bridge_name = name.to_owned();
    tokio::task::spawn_blocking(move || started.started(&bridge_name, std::process::id()))
        .await
        .map_err(|e| ChatError::Platform(format!("the journal writer failed: {e}")))??;

    let card_stop = CancellationToken::new();
    let spec = AgentSpec::new(
        Name::parse(&agent).map_err(|e| ChatError::BadGroup {
            group: agent.clone(),
            problem: e.to_string(),
        })?,
        "bridge",
        vec![Name::parse("status").expect("a valid name")],
        Arc::new(StatusSkill {
            bridge: name.to_owned(),
            kind,
            board: engine.board.clone(),
        }),
    );
    let host = HostOptions {
        url: run.url.clone(),
        max_payload: run.max_payload,
        packet_limit: run.packet_limit,
        heartbeat: run.heartbeat,
        ledger: Arc::new(Ledger::in_memory(&agent)),
        drain: Duration::from_millis(500),
    };
    let card = tokio::spawn({
        let stop = card_stop.clone();
        async move {
            if let Err(e) = b00t_agents::run(spec, host, stop).await {
                tracing::error!(error = %e, "the bridge's card agent stopped");
            }
        }
    });

    engine.run().await;
    card_stop.cancel();
    let _ = card.await;
    bus.close(Duration::from_millis(300)).await;
    let bridge_name = name.to_owned();
    tokio::task::spawn_blocking(move || store.stopped(&bridge_name))
        .await
        .map_err(|e| ChatError::Platform(format!("the journal writer failed: {e}")))??;
    Ok(())
}

/// Starts every enabled bridge of `home` for `b00t up`; the tracker ends when they have
/// all stopped (after `shutdown`). `stopped` is called with the name of each bridge that
/// stops or cannot start (the runtime then releases its agent name, so that `b00t bridge
/// run` may take it).
pub fn start_enabled(
    home: &Home,
    run: &BridgeRun,
    shutdown: &CancellationToken,
    stopped: impl Fn(&str) + Send + Sync + 'static,
) -> TaskTracker {
    let tracker = TaskTracker::new();
    let stopped = Arc::new(stopped);
    for name in enabled(home.config()) {
        let (home, run, stop) = (home.clone(), run.clone(), shutdown.clone());
        let stopped = stopped.clone();
        tracker.spawn(async move {
            let outcome = run_bridge(&home, &name, run, stop).await;
            stopped(&name);
            if let Err(e) = outcome {
                tracing::error!(bridge = %name, "the chat bridge cannot run: {e}");
                let message = e.to_string();
                if let Ok(state) = home.state_dir() {
                    if let Ok(store) = BridgeStore::open(&state.join("journal.db")) {
                        let _ = store.error(&name, Some(&message));
                    }
                }
            }
        });
    }
    tracker.close();
    tracker
}

/// The card agent's `status` skill.
struct StatusSkill {
    bridge: String,
    kind: &'static str,
    board: Arc<Board>,
}

impl Handler for StatusSkill {
    fn handle(&self, _ctx: TaskContext) -> HandlerFuture {
        let body = json!({
            "bridge": self.bridge,
            "kind": self.kind,
            "bot": self.board.bot.get(),
            "in_flight": self.board.in_flight.load(Ordering::Relaxed),
            "uptime_s": self.board.started.elapsed().as_secs(),
        });
        Box::pin(async move { Ok::<_, Failure>(body) })
    }
}
