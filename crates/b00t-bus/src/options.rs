//! What a bus connection is asked to be: which broker, which client id, which will.

use std::time::Duration;

use b00t_config::BrokerUrl;

/// The last will: published by the broker when the connection dies without a goodbye.
#[derive(Clone, Debug)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// Options of one connection.
#[derive(Clone, Debug)]
pub struct BusOptions {
    pub url: BrokerUrl,
    /// Unique on the broker: a second connection with the same id evicts the first.
    pub client_id: String,
    pub will: Option<Will>,
    /// Largest packet sent or received; rumqttc's own default is only 10 KiB.
    pub packet_limit: usize,
    pub keep_alive: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// QoS 1 publishes in flight before the client waits for acks (rumqttc allocates a
    /// slot for each, per connection).
    pub inflight: u16,
}

impl BusOptions {
    pub fn new(url: BrokerUrl, client_id: impl Into<String>) -> BusOptions {
        BusOptions {
            url,
            client_id: client_id.into(),
            will: None,
            packet_limit: 16 * 1024 * 1024,
            keep_alive: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
            inflight: 200,
        }
    }

    pub(crate) fn mqtt(&self) -> rumqttc::MqttOptions {
        let mut o = rumqttc::MqttOptions::new(&self.client_id, &self.url.host, self.url.port);
        o.set_keep_alive(self.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(self.packet_limit, self.packet_limit)
            .set_inflight(self.inflight)
            .set_request_channel_capacity(4096);
        if let Some(user) = &self.url.username {
            o.set_credentials(user, self.url.password.clone().unwrap_or_default());
        }
        if let Some(will) = &self.will {
            o.set_last_will(rumqttc::LastWill::new(
                &will.topic,
                will.payload.clone(),
                rumqttc::QoS::AtLeastOnce,
                will.retain,
            ));
        }
        o
    }

    /// Socket settings: no Nagle delay, since the bus is mostly small request/reply
    /// messages; a bounded connect time so an unreachable broker is reported.
    pub(crate) fn network(&self) -> rumqttc::NetworkOptions {
        let mut n = rumqttc::NetworkOptions::new();
        n.set_tcp_nodelay(true);
        n.set_connection_timeout(5);
        n
    }
}
