//! Errors of starting the embedded broker, each naming the address and what to do.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("port `{port}` is in use on `{ip}`: another broker is running; pass `--listen {ip}:{next}` or `--broker mqtt://{ip}:{port}`", port = addr.port(), ip = addr.ip(), next = addr.port().wrapping_add(1).max(1))]
    PortInUse { addr: SocketAddr },
    #[error("cannot listen on `{addr}`: {source}; pass another `--listen ADDR:PORT`")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the local door `{}`: {source}; check that the state folder is yours and writable, or remove what is at that path", path.display())]
    LocalDoor {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("the broker already has a tap; only the runtime sets one")]
    TapAlreadySet,
    #[error("the broker already has a gate; only the runtime sets one")]
    GateAlreadySet,
}
