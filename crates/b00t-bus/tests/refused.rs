//! A broker of the list that refuses a subscription is left for the next one, on two real
//! embedded brokers: the first allows one subscription per client, the second the
//! default. The client ends up subscribed on the second, and the first, left with a
//! DISCONNECT, never publishes the client's will.

use std::time::Duration;

mod support;

use b00t_bus::{Bus, BusOptions, Qos, Will};
use b00t_config::BrokerUrl;
use tokio_util::sync::CancellationToken;

use support::{broker, connected, next_message};

#[tokio::test]
async fn a_refusing_broker_is_left_for_the_next_without_its_will() {
    let stop = CancellationToken::new();
    let (_strict, strict_url) = broker(1).await;
    let (_open, open_url) = broker(256).await;

    // Whoever watches the first broker for the will.
    let (watcher, mut watched) = connected(&strict_url, "watcher", &stop).await;
    watcher
        .subscribe_confirmed("t/will", Qos::AtLeastOnce, Duration::from_secs(5))
        .await
        .unwrap();

    let list = BrokerUrl::parse(&format!("{strict_url},{open_url}")).unwrap();
    let mut options = BusOptions::new(list, "mover");
    options.will = Some(Will {
        topic: "t/will".into(),
        payload: b"gone".to_vec(),
        retain: false,
    });
    let (mover, mut moved) = Bus::connect(options, &stop);
    mover.wait_connected(Duration::from_secs(5)).await.unwrap();
    // One filter is within the first broker's limit; the second is refused there.
    mover
        .subscribe_confirmed("t/one", Qos::AtLeastOnce, Duration::from_secs(5))
        .await
        .unwrap();
    mover
        .subscribe_confirmed("t/two", Qos::AtLeastOnce, Duration::from_secs(10))
        .await
        .expect("both filters granted on the second broker");

    // Both filters hold on the second broker.
    let (sender, _) = connected(&open_url, "sender", &stop).await;
    for topic in ["t/one", "t/two"] {
        sender
            .publish(topic, Qos::AtLeastOnce, false, topic.as_bytes().to_vec())
            .await
            .unwrap();
        let got = next_message(&mut moved).await;
        assert_eq!(got.topic, topic);
    }

    // The first broker saw a goodbye, not a lost client: the first thing its watcher
    // gets is the marker published after the move, not the will.
    watcher
        .publish("t/will", Qos::AtLeastOnce, false, b"marker".to_vec())
        .await
        .unwrap();
    let first = next_message(&mut watched).await;
    assert_eq!(&first.payload[..], b"marker", "the will was published");
    stop.cancel();
}
