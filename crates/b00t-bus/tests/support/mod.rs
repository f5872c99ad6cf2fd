//! What the bus's integration tests share: a real embedded broker on a free loopback port,
//! and clients connected to it. Each test binary uses some of it.
#![allow(dead_code)]

use std::time::Duration;

use b00t_broker::{BrokerSettings, EmbeddedBroker};
use b00t_bus::{Bus, BusEvent, BusOptions, Events};
use b00t_config::BrokerUrl;
use tokio_util::sync::CancellationToken;

/// An embedded broker allowing each client `max_subscriptions` filters, and its URL.
pub(crate) async fn broker(max_subscriptions: usize) -> (EmbeddedBroker, BrokerUrl) {
    let mut settings = BrokerSettings::loopback();
    settings.max_subscriptions = max_subscriptions;
    let broker = EmbeddedBroker::start(settings).await.unwrap();
    let url = BrokerUrl::for_listen(broker.addr());
    (broker, url)
}

/// An embedded broker with the default limits, its URL, and a token that stops clients.
pub(crate) async fn setup() -> (EmbeddedBroker, BrokerUrl, CancellationToken) {
    let (broker, url) = broker(b00t_broker::DEFAULT_MAX_SUBSCRIPTIONS).await;
    (broker, url, CancellationToken::new())
}

/// A client with id `id`, connected to `url`.
pub(crate) async fn connected(
    url: &BrokerUrl,
    id: &str,
    stop: &CancellationToken,
) -> (Bus, Events) {
    let (bus, events) = Bus::connect(BusOptions::new(url.clone(), id), stop);
    bus.wait_connected(Duration::from_secs(5)).await.unwrap();
    (bus, events)
}

/// The next message on `events`, within five seconds.
pub(crate) async fn next_message(events: &mut Events) -> b00t_bus::Message {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await {
                Some(BusEvent::Message(m)) => return m,
                Some(_) => continue,
                None => panic!("the bus closed"),
            }
        }
    })
    .await
    .expect("a message within 5 s")
}
