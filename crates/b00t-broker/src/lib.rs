//! The embedded MQTT broker: rumqttd's router plus one MQTT 3.1.1 listener, run inside
//! the caller's tokio runtime instead of the threads and runtimes `Broker::start` makes.
//! Only this crate touches rumqttd.
//!
//! Layout: `settings` (our knobs and the rumqttd config built from them), `guarded` (a
//! second listener that requires per-agent credentials, for containers), `probe` (fail
//! fast and clearly on a taken port, wait until the listener answers), `nodelay` (turn
//! Nagle's algorithm off for every connection), `error`.
//!
//! rumqttd has no shutdown API: the router thread and the listener task live until the
//! process exits. `b00t up` stops its own agents, flushes its journal, then exits.

mod error;
mod guarded;
mod nodelay;
mod probe;
mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use error::BrokerError;
pub use guarded::{Credentials, GuardedListener};
pub use settings::BrokerSettings;

/// A broker that accepts connections on `addr`.
pub struct EmbeddedBroker {
    addr: SocketAddr,
    settings: BrokerSettings,
    /// Makes a listener on the router; rumqttd does not export the router channel's type.
    new_server: NewServer,
}

type NewServer = Arc<
    dyn Fn(rumqttd::ServerSettings) -> rumqttd::Server<rumqttd::protocol::v4::V4> + Send + Sync,
>;

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("addr", &self.addr)
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts the router thread and the listener task, and returns once the listener
    /// accepts connections. Must be called inside a tokio runtime.
    pub async fn start(settings: BrokerSettings) -> Result<EmbeddedBroker, BrokerError> {
        let addr = probe::claim(settings.listen)?;
        let (router_config, server_settings) = settings.rumqttd(addr);
        let router_tx = rumqttd::Router::new(0, router_config).spawn();
        let new_server: NewServer = Arc::new(move |server_settings| {
            rumqttd::Server::new(
                server_settings,
                router_tx.clone(),
                rumqttd::protocol::v4::V4,
            )
        });
        serve(addr, new_server(server_settings)).await?;
        tracing::info!(%addr, "embedded broker listening");
        Ok(EmbeddedBroker {
            addr,
            settings,
            new_server,
        })
    }

    /// Opens a second listener that requires one of `guard`'s credentials, for example on
    /// the Docker bridge's gateway address so that containers, and only they, reach the
    /// bus. Returns the address it listens on (the port is chosen when `listen`'s is 0).
    pub async fn add_guarded(&self, guard: GuardedListener) -> Result<SocketAddr, BrokerError> {
        let addr = probe::claim(guard.listen)?;
        let mut server_settings = self.settings.rumqttd(addr).1;
        server_settings.name = "b00t-v4-guarded".to_owned();
        let credentials = guard.credentials.clone();
        server_settings.connections.set_auth_handler(
            move |client_id: String, user: String, password: String| {
                let ok = credentials.verify(&client_id, &user, &password);
                if !ok {
                    tracing::warn!(%client_id, %user, "refused a login on the guarded listener");
                }
                async move { ok }
            },
        );
        serve(addr, (self.new_server)(server_settings)).await?;
        tracing::info!(%addr, "guarded listener (credentials required) listening");
        Ok(addr)
    }

    /// Where the broker listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Runs one rumqttd listener on `addr` and returns once it accepts connections.
async fn serve(
    addr: SocketAddr,
    mut server: rumqttd::Server<rumqttd::protocol::v4::V4>,
) -> Result<(), BrokerError> {
    {
        let listener = tokio::spawn(async move { server.start(rumqttd::LinkType::Remote).await });
        tokio::select! {
            ready = probe::wait_until_accepting(addr, Duration::from_secs(5)) => ready?,
            ended = listener => {
                let message = match ended {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => "the listener stopped".to_owned(),
                    Err(e) => e.to_string(),
                };
                return Err(BrokerError::Listener { addr, message });
            }
        }
        nodelay::on_listener(addr);
        Ok(())
    }
}
