//! Our broker knobs, and the rumqttd configuration made from them. rumqttd's sample config
//! lets each subscription filter keep 10 segments of 100 MB in memory; a bus of small
//! messages needs little, so the log is sized down here: 512 KiB segments, four kept
//! besides the active one, so about 2.5 MiB per filter. A subscriber that falls further
//! behind than that loses the oldest messages (rumqttd skips it ahead); measured with
//! `b00t bench`, this keeps the runtime near 35 MiB after 100,000 tasks.

use std::net::SocketAddr;

use rumqttd::{ConnectionSettings, RouterConfig, ServerSettings};

/// What the embedded broker is asked to be.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    pub listen: SocketAddr,
    pub max_connections: usize,
    /// Largest MQTT packet accepted from a client.
    pub packet_limit: usize,
}

/// Bytes of one in-memory log segment per subscription filter.
const SEGMENT_BYTES: usize = 512 * 1024;
/// Segments kept per filter besides the active one: a subscriber may lag this far behind.
const SEGMENT_COUNT: usize = 4;

impl BrokerSettings {
    pub(crate) fn rumqttd(&self, addr: SocketAddr) -> (RouterConfig, ServerSettings) {
        let router = RouterConfig {
            max_connections: self.max_connections,
            max_outgoing_packet_count: 200,
            max_segment_size: SEGMENT_BYTES,
            max_segment_count: SEGMENT_COUNT,
            ..RouterConfig::default()
        };
        let server = ServerSettings {
            name: "b00t-v4".to_owned(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 0,
            connections: ConnectionSettings {
                connection_timeout_ms: 10_000,
                max_payload_size: self.packet_limit,
                max_inflight_count: 200,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        (router, server)
    }
}
