//! The embedded MQTT broker: rumqttd's router behind b00t's own listener, the front
//! door. Every client connection terminates in `connection` (rumqttd's v4 codec), which
//! shows each message to the runtime's tap before handing it to the router through a
//! local link. Only this crate touches rumqttd.
//!
//! Layout: `front_door` (listeners, the shared state, the connection limit),
//! `connection` (one client: handshake, reader, forwarder, writer), `sessions` (client
//! id takeovers), `frame` (a PUBLISH's QoS and packet id), `tap` (what the runtime
//! plugs in), `gate` (what the runtime decides at CONNECT and SUBSCRIBE), `guarded`
//! (usernames and passwords), `stream` (TCP, and the local door's Unix socket for the
//! runtime's own clients), `settings`, `error`.
//!
//! rumqttd's router has no shutdown: its thread and the listeners live until the process
//! exits. `b00t up` stops its own agents, flushes its journal, then exits.

mod connection;
mod error;
mod frame;
mod front_door;
mod gate;
mod guarded;
mod sessions;
mod settings;
mod stream;
mod tap;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

pub use error::BrokerError;
pub use gate::{Gate, Identity, Login, ANONYMOUS};
pub use guarded::Credentials;
pub use settings::{
    BrokerSettings, DEFAULT_MAX_FILTERS, DEFAULT_MAX_INFLIGHT, DEFAULT_MAX_SUBSCRIPTIONS,
};
pub use tap::{Hold, Refusal, Tap, Tapped};

use front_door::{Auth, LinkFactory, Shared};

/// A broker that accepts connections on `addr`.
pub struct EmbeddedBroker {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts the router thread and the listener, which accepts connections once this
    /// returns. Must be called inside a tokio runtime.
    pub async fn start(settings: BrokerSettings) -> Result<EmbeddedBroker, BrokerError> {
        let (listener, addr) = front_door::bind(settings.listen)?;
        let router_tx = rumqttd::Router::new(0, settings.router()).spawn();
        let links: LinkFactory = Arc::new(move |client_id: &str, clean: bool| {
            rumqttd::local::LinkBuilder::new(client_id, router_tx.clone())
                .clean_session(clean)
                .dynamic_filters(true)
                .build()
                .map_err(Box::new)
        });
        let shared = Arc::new(Shared {
            links,
            limits: settings.limits(),
            tap: OnceLock::new(),
            gate: OnceLock::new(),
            credentials: settings.credentials.clone(),
            sessions: Default::default(),
            permits: Arc::new(Semaphore::new(settings.max_connections)),
            filters: Default::default(),
        });
        tokio::spawn(front_door::accept(
            listener,
            shared.clone(),
            Auth::Open,
            shared.permits.clone(),
        ));
        tracing::info!(%addr, "embedded broker listening");
        Ok(EmbeddedBroker { addr, shared })
    }

    /// Opens a second listener that requires credentials (no anonymous client), for
    /// example on the Docker bridge's gateway address so that containers, and only they,
    /// reach the bus. Returns the address it listens on (the port is chosen when
    /// `listen`'s is 0).
    pub async fn add_guarded(&self, listen: SocketAddr) -> Result<SocketAddr, BrokerError> {
        let (listener, addr) = front_door::bind(listen)?;
        tokio::spawn(front_door::accept(
            listener,
            self.shared.clone(),
            Auth::Guarded,
            self.shared.permits.clone(),
        ));
        tracing::info!(%addr, "guarded listener (credentials required) listening");
        Ok(addr)
    }

    /// Opens the local door: a Unix socket at `path` (mode 0600, in the state folder) on
    /// which the runtime's own clients connect instead of loopback TCP. They log in as on
    /// a guarded listener and pass the same gate and tap; the door has its own
    /// connection limit, so clients filling the TCP one never lock the runtime out.
    pub fn add_local(&self, path: &std::path::Path) -> Result<(), BrokerError> {
        let listener = front_door::bind_local(path)?;
        // Its own permits: the runtime's clients never wait on the TCP limit.
        let permits = Arc::new(Semaphore::new(front_door::LOCAL_CONNECTIONS));
        tokio::spawn(front_door::accept(
            listener,
            self.shared.clone(),
            Auth::Guarded,
            permits,
        ));
        tracing::info!(path = %path.display(), "local door listening");
        Ok(())
    }

    /// Shows every message to `tap` from now on. Set once; a second tap is refused.
    pub fn set_tap(&self, tap: Arc<dyn Tap>) -> Result<(), BrokerError> {
        self.shared
            .tap
            .set(tap)
            .map_err(|_| BrokerError::TapAlreadySet)
    }

    /// Authorizes every connection and subscription from now on (see [`Gate`]). Set once,
    /// before the runtime's own clients connect; a second gate is refused.
    pub fn set_gate(&self, gate: Arc<dyn Gate>) -> Result<(), BrokerError> {
        self.shared
            .gate
            .set(gate)
            .map_err(|_| BrokerError::GateAlreadySet)
    }

    /// The usernames and passwords every listener accepts: a handle on the broker's own
    /// store, to add and remove them while it runs.
    pub fn credentials(&self) -> Credentials {
        self.shared.credentials.clone()
    }

    /// Where the broker listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now, across listeners.
    pub fn connections(&self) -> usize {
        self.shared.sessions.len()
    }
}
