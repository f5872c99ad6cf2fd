//! Test helpers for b00t: stand-ins for the outside services that cannot run here, each
//! a real HTTP/1.1 server speaking the service's documented JSON. [`FakeOllama`] answers
//! `GET /api/tags` and `POST /api/chat` (streamed or not, tool calls included) from a
//! script, so the group assistant can be tested, benchmarked and demonstrated without a
//! model; `nomad`, `telegram` and `whatsapp` stand in for Nomad's HTTP API, the
//! Telegram Bot API and Meta's WhatsApp Cloud API. `synapse` is no stand-in: it runs the
//! real Matrix homeserver for the Matrix bridge's tests; nor are `nats` (a three-node
//! NATS cluster with MQTT and JetStream) and `mosquitto_pair` (two bridged Mosquitto
//! brokers), the real clusters the failover tests kill nodes of.
//!
//! Layout: `http` (the accept loop every fake serves with), `ollama` (the handle: start,
//! script, recorded requests), `shapes` (the JSON Ollama sends), `server` (Ollama's
//! routes and status codes), `nomad`, `telegram`, `whatsapp`, `synapse`. The `fake-ollama`,
//! `fake-nomad` and `fake-telegram` binaries run one by hand (`until_signal` is their
//! shared wait for Ctrl-C or SIGTERM).

mod broker_proc;
mod http;
pub mod mosquitto_pair;
pub mod mqtt;
pub mod nats;
pub mod nomad;
mod ollama;
mod port;
mod server;
mod shapes;
pub mod synapse;
pub mod telegram;
pub mod whatsapp;

pub use ollama::{FakeOllama, Reply};
pub use port::free_port;

/// Waits for Ctrl-C or SIGTERM: how the fake programs know to stop.
pub async fn until_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
pub use shapes::DEFAULT_MODEL;
