//! What a bus connection is asked to be: which brokers, which client id, which will, and
//! whether the broker keeps its session while it is away.

use std::time::Duration;

use b00t_config::{BrokerAddr, BrokerUrl};

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
    /// The broker, or the brokers of a cluster: the driver connects to the first that
    /// answers and, when the connection is lost, moves to the next.
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
    /// Clean session off: the broker keeps this client id's subscriptions and queues its
    /// QoS 1 messages while it is away, so a client that moves to another node of a
    /// cluster gets what was sent in between. Only with a client id that is stable for
    /// its identity (a random one would leave a session on the broker per run).
    pub persistent_session: bool,
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
            persistent_session: false,
        }
    }

    /// The brokers to try, in order.
    pub(crate) fn endpoints(&self) -> Vec<BrokerAddr> {
        self.url.endpoints().collect()
    }

    /// rumqttc's options for one broker of the list (rumqttc holds one host and port, so
    /// moving to another broker means new options).
    /// The first broker through its local door when the URL names one
    /// ([`BrokerUrl::local_socket`]: the runtime's own clients), else over TCP.
    pub(crate) fn mqtt(&self, broker: &BrokerAddr) -> rumqttc::MqttOptions {
        let local = self
            .url
            .local_socket
            .as_ref()
            .filter(|_| broker.host == self.url.host && broker.port == self.url.port);
        let mut o = match local.and_then(|path| path.to_str()) {
            Some(path) => {
                let mut o = rumqttc::MqttOptions::new(&self.client_id, path, 0);
                o.set_transport(rumqttc::Transport::Unix);
                o
            }
            None => rumqttc::MqttOptions::new(&self.client_id, &broker.host, broker.port),
        };
        o.set_keep_alive(self.keep_alive)
            .set_clean_session(!self.persistent_session)
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
    /// messages; a bounded connect time (5 s, 2 s per broker of a list) so an
    /// unreachable broker is reported or left for the next.
    pub(crate) fn network(&self) -> rumqttc::NetworkOptions {
        let mut n = rumqttc::NetworkOptions::new();
        n.set_tcp_nodelay(true);
        // On a cluster a node that does not answer soon is left for the next: a NATS
        // node holds a CONNECT while JetStream elects a leader, and a new attempt after
        // the election answers at once.
        n.set_connection_timeout(if self.url.alternates.is_empty() { 5 } else { 2 });
        n
    }
}
