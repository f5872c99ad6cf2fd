//! The bus client. [`Bus`] is a cloneable handle (publish, subscribe, close); a driver
//! task owns rumqttc's event loop, reconnects with backoff, re-subscribes after every
//! reconnect (rumqttc does not restore subscriptions), and hands every incoming message
//! to one [`Events`] receiver. Only this crate touches rumqttc.
//!
//! Layout: `options` (what a connection is asked to be), `client` (the handle), `driver`
//! (the loop that owns the connection), `events` (what it received, with QoS 0 bounded
//! for a consumer that lags), `requester` (ask an agent and await its reply, asking again
//! on silence), `error`.

mod client;
mod driver;
mod error;
mod events;
mod options;
mod requester;

pub use bytes::Bytes;
pub use client::Bus;
pub use error::BusError;
pub use events::{Events, MAX_QUEUED_QOS0};
pub use options::{BusOptions, Will};
pub use requester::{Outcome, Request, Requester};

/// Quality of service of a publish or subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    AtMostOnce,
    AtLeastOnce,
}

/// A message received from the broker.
#[derive(Clone, Debug)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
}

/// What the driver reports, in order.
#[derive(Clone, Debug)]
pub enum BusEvent {
    /// A (re)connection was accepted and every subscription was sent again.
    Connected,
    Message(Message),
    /// The connection dropped; the driver is reconnecting.
    Disconnected {
        error: String,
    },
}

impl Qos {
    fn mqtt(self) -> rumqttc::QoS {
        match self {
            Qos::AtMostOnce => rumqttc::QoS::AtMostOnce,
            Qos::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        }
    }
}
