//! The front door: b00t's own MQTT listener. Every connection terminates here, not in
//! rumqttd's server, and reaches rumqttd's router through a local link (see
//! `connection`). That is where the bus keeps its promises: a task is journaled before
//! the router can PUBACK it (the tap), the connection limit refuses the next client
//! with a CONNACK instead of wedging, client-id takeovers are ordered, and per-client
//! limits hold.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rumqttd::local::{LinkError, LinkRx, LinkTx};
use rumqttd::Notification;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;

use crate::gate::Gate;
use crate::sessions::Sessions;
use crate::stream::Listener;
use crate::tap::Tap;
use crate::Credentials;

/// Opens a local link on the router for a client id (clean session or not). It blocks
/// until the router answers, so it runs on a blocking thread.
pub(crate) type LinkFactory =
    Arc<dyn Fn(&str, bool) -> Result<(LinkTx, LinkRx, Notification), Box<LinkError>> + Send + Sync>;

/// Limits that hold for every connection.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    /// Largest packet accepted from a client, in bytes.
    pub(crate) max_packet: usize,
    /// Distinct subscription filters one client may hold.
    pub(crate) max_subscriptions: usize,
    /// QoS 2 publishes one client may have received and not yet released.
    pub(crate) max_inflight: usize,
    /// Distinct filters the router may ever hold (it never frees one).
    pub(crate) max_filters: usize,
    /// How long a new connection has to send CONNECT.
    pub(crate) connect_timeout: Duration,
}

/// What every listener of one broker shares.
pub(crate) struct Shared {
    pub(crate) links: LinkFactory,
    pub(crate) limits: Limits,
    /// Set once by the runtime, before it lets anyone publish tasks.
    pub(crate) tap: OnceLock<Arc<dyn Tap>>,
    /// Set once by the runtime, before its own clients connect.
    pub(crate) gate: OnceLock<Arc<dyn Gate>>,
    /// Every listener's usernames and passwords.
    pub(crate) credentials: Credentials,
    pub(crate) sessions: Sessions,
    /// One permit per open connection, across listeners.
    pub(crate) permits: Arc<Semaphore>,
    /// Every filter the router was ever given: rumqttd keeps a log for each (about
    /// 6 KB) and never frees it, so their number is what bounds the broker's memory.
    pub(crate) filters: Mutex<HashSet<String>>,
}

impl Shared {
    /// Admits the filters of one SUBSCRIBE: true when every one is known or there is
    /// room for the new ones (which are then counted).
    pub(crate) fn admit_filters<'a>(&self, filters: impl Iterator<Item = &'a str>) -> bool {
        let mut known = self.filters.lock().unwrap_or_else(|p| p.into_inner());
        let fresh: HashSet<&str> = filters.filter(|f| !known.contains(*f)).collect();
        if known.len() + fresh.len() > self.limits.max_filters {
            return false;
        }
        known.extend(fresh.into_iter().map(str::to_owned));
        true
    }
}

/// Who may connect on a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Anonymous clients too, as the gate allows (the loopback listener).
    Open,
    /// Only clients with credentials (containers, on the bridge's gateway).
    Guarded,
}

/// Connections on the local door at once: the runtime's own clients, a handful. Apart
/// from the TCP listeners' limit, so that clients filling it never lock the runtime out
/// of its own broker (the router has room for both: `ROUTER_MARGIN`).
pub(crate) const LOCAL_CONNECTIONS: usize = 32;

/// Accepts connections on `listener` for as long as the process runs (rumqttd's router
/// has no shutdown either; `b00t up` exits when it is done), each under one of `permits`:
/// the TCP listeners share `Shared::permits`, the local door has [`LOCAL_CONNECTIONS`]
/// of its own.
pub(crate) async fn accept<L: Listener>(
    listener: L,
    shared: Arc<Shared>,
    auth: Auth,
    permits: Arc<Semaphore>,
) {
    loop {
        let (stream, peer) = match listener.next().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                tracing::warn!(door = L::DOOR, error = %e, "accepting a connection failed; retrying in 50 ms");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(crate::connection::serve(
            stream,
            peer,
            shared.clone(),
            auth,
            permits.clone(),
        ));
    }
}

/// Binds the local door at `path`, a Unix socket only its owner may open. Whatever a
/// previous run left there is removed only when it is a socket (a crash leaves one; the
/// home lock says no other runtime uses it); anything else, a symlink included, is an
/// error rather than followed or deleted.
pub(crate) fn bind_local(path: &std::path::Path) -> Result<UnixListener, crate::BrokerError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let fail = |source| crate::BrokerError::LocalDoor {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(fail)?,
        Ok(_) => {
            return Err(fail(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "something other than a socket is there",
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    let std_listener = std::os::unix::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    std_listener.set_nonblocking(true).map_err(fail)?;
    UnixListener::from_std(std_listener).map_err(fail)
}

/// Binds `addr` with the std listener (so a taken port is an error at once); returns the
/// listener and the address it got (port 0 resolved).
pub(crate) fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), crate::BrokerError> {
    let std_listener = std::net::TcpListener::bind(addr).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            crate::BrokerError::PortInUse { addr }
        } else {
            crate::BrokerError::Bind { addr, source }
        }
    })?;
    let bind_error = |source| crate::BrokerError::Bind { addr, source };
    let local = std_listener.local_addr().map_err(bind_error)?;
    std_listener.set_nonblocking(true).map_err(bind_error)?;
    let listener = TcpListener::from_std(std_listener).map_err(bind_error)?;
    Ok((listener, local))
}
