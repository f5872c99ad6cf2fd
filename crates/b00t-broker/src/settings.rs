//! Our broker knobs, and the rumqttd router configuration made from them. rumqttd's
//! sample config lets each subscription filter keep 10 segments of 100 MB in memory; a
//! bus of small messages needs little, so the log is sized down here: 512 KiB segments,
//! four kept besides the active one, so about 2.5 MiB per filter. A subscriber that
//! falls further behind than that loses the oldest messages (rumqttd skips it ahead);
//! the runtime itself never subscribes to learn of tasks (the tap shows them), and
//! requesters ask again for a reply they missed.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttd::RouterConfig;

use crate::front_door::Limits;

/// What the embedded broker is asked to be.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    pub listen: SocketAddr,
    /// Connections open at once, across listeners; the next client is refused.
    pub max_connections: usize,
    /// Largest MQTT packet accepted from a client.
    pub packet_limit: usize,
    /// Distinct subscription filters one client may hold.
    pub max_subscriptions: usize,
    /// QoS 2 publishes one client may have sent and not yet released.
    pub max_inflight: usize,
    /// Distinct subscription filters the broker holds over its lifetime: rumqttd never
    /// frees a filter's log, so this bounds its memory (about 6 KB each).
    pub max_filters: usize,
    /// The usernames and passwords every listener accepts; the caller keeps a clone to
    /// add and remove them while the broker runs.
    pub credentials: crate::Credentials,
}

impl BrokerSettings {
    /// On 127.0.0.1, on a port the system picks, with 16 connections and 1 MiB packets:
    /// a broker for tests and benches, that never collides with another one.
    pub fn loopback() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 0)), 16, 1 << 20)
    }

    /// Settings with the per-client limits' defaults.
    pub fn new(listen: SocketAddr, max_connections: usize, packet_limit: usize) -> Self {
        BrokerSettings {
            listen,
            max_connections,
            packet_limit,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            max_filters: DEFAULT_MAX_FILTERS,
            credentials: crate::Credentials::default(),
        }
    }
}

/// Default of [`BrokerSettings::max_subscriptions`].
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 256;
/// Default of [`BrokerSettings::max_inflight`].
pub const DEFAULT_MAX_INFLIGHT: usize = 1024;
/// Default of [`BrokerSettings::max_filters`].
pub const DEFAULT_MAX_FILTERS: usize = 4096;

/// Bytes of one in-memory log segment per subscription filter.
const SEGMENT_BYTES: usize = 512 * 1024;
/// Segments kept per filter besides the active one: a subscriber may lag this far behind.
const SEGMENT_COUNT: usize = 4;
/// Router connections beyond the front door's limit: the front door refuses first, so
/// the router never silently drops a connection for want of room; the local door's
/// own limit (`front_door::LOCAL_CONNECTIONS`) fits in it.
const ROUTER_MARGIN: usize = 64;

impl BrokerSettings {
    pub(crate) fn router(&self) -> RouterConfig {
        RouterConfig {
            max_connections: self.max_connections + ROUTER_MARGIN,
            max_outgoing_packet_count: 200,
            max_segment_size: SEGMENT_BYTES,
            max_segment_count: SEGMENT_COUNT,
            ..RouterConfig::default()
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            max_packet: self.packet_limit,
            max_subscriptions: self.max_subscriptions,
            max_inflight: self.max_inflight,
            max_filters: self.max_filters,
            connect_timeout: Duration::from_secs(10),
        }
    }
}
