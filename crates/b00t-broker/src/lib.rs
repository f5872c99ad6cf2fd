//! The embedded MQTT broker: rumqttd's router plus one MQTT 3.1.1 listener, run inside
//! the caller's tokio runtime instead of the threads and runtimes `Broker::start` makes.
//! Only this crate touches rumqttd.
//!
//! Layout: `settings` (our knobs and the rumqttd config built from them), `probe` (fail
//! fast and clearly on a taken port, wait until the listener answers), `nodelay` (turn
//! Nagle's algorithm off for every connection), `error`.
//!
//! rumqttd has no shutdown API: the router thread and the listener task live until the
//! process exits. `b00t up` stops its own agents, flushes its journal, then exits.

mod error;
mod nodelay;
mod probe;
mod settings;

use std::net::SocketAddr;
use std::time::Duration;

pub use error::BrokerError;
pub use settings::BrokerSettings;

/// A broker that accepts connections on `addr`.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts the router thread and the listener task, and returns once the listener
    /// accepts connections. Must be called inside a tokio runtime.
    pub async fn start(settings: BrokerSettings) -> Result<EmbeddedBroker, BrokerError> {
        let addr = probe::claim(settings.listen)?;
        let (router_config, server_settings) = settings.rumqttd(addr);
        let router_tx = rumqttd::Router::new(0, router_config).spawn();
        let mut server =
            rumqttd::Server::new(server_settings, router_tx, rumqttd::protocol::v4::V4);
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
        tracing::info!(%addr, "embedded broker listening");
        Ok(EmbeddedBroker { addr })
    }

    /// Where the broker listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
