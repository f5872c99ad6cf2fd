//! A consumer that lags: every QoS 1 message it was sent still reaches it, in order;
//! QoS 0 ones past `MAX_QUEUED_QOS0` queued are dropped and the connection goes on.

use std::time::Duration;

mod support;

use b00t_bus::{BusEvent, Events, Qos, MAX_QUEUED_QOS0};

use support::{connected, setup};

/// Waits until `events` holds `at_least` queued events, then a little longer so that
/// whatever else the broker would send has come; returns how many are queued.
async fn settled(events: &Events, at_least: usize) -> usize {
    tokio::time::timeout(Duration::from_secs(20), async {
        while events.len() < at_least {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} queued, {at_least} expected", events.len()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    events.len()
}

/// The payloads of the next `count` messages.
async fn take(events: &mut Events, count: usize) -> Vec<String> {
    let mut seen = Vec::with_capacity(count);
    tokio::time::timeout(Duration::from_secs(30), async {
        while seen.len() < count {
            match events.recv().await {
                Some(BusEvent::Message(m)) => {
                    seen.push(String::from_utf8_lossy(&m.payload).into_owned())
                }
                Some(_) => {}
                None => panic!("the bus closed"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {count} messages came", seen.len()));
    seen
}

#[tokio::test]
async fn a_consumer_that_lags_loses_no_qos1_message() {
    let (_broker, url, stop) = setup().await;
    let (reader, mut events) = connected(&url, "reader", &stop).await;
    reader
        .subscribe_confirmed("t/qos1", Qos::AtLeastOnce, Duration::from_secs(5))
        .await
        .unwrap();
    while events.try_recv().is_ok() {}
    let (writer, _) = connected(&url, "writer", &stop).await;
    let count = 3_000;
    for n in 0..count {
        writer
            .publish("t/qos1", Qos::AtLeastOnce, false, n.to_string())
            .await
            .unwrap();
    }
    // Nothing read while they all come.
    let queued = settled(&events, count).await;
    assert_eq!(queued, count);
    let seen = take(&mut events, count).await;
    let expected: Vec<String> = (0..count).map(|n| n.to_string()).collect();
    assert_eq!(seen, expected);
    stop.cancel();
}

#[tokio::test]
async fn qos0_past_the_queue_limit_is_dropped_and_the_connection_goes_on() {
    let (_broker, url, stop) = setup().await;
    let (reader, mut events) = connected(&url, "reader", &stop).await;
    reader
        .subscribe_confirmed("t/qos0", Qos::AtMostOnce, Duration::from_secs(5))
        .await
        .unwrap();
    while events.try_recv().is_ok() {}
    let (writer, _) = connected(&url, "writer", &stop).await;
    let count = MAX_QUEUED_QOS0 + 2_000;
    for n in 0..count {
        writer
            .publish("t/qos0", Qos::AtMostOnce, false, n.to_string())
            .await
            .unwrap();
    }
    let queued = settled(&events, MAX_QUEUED_QOS0).await;
    assert_eq!(queued, MAX_QUEUED_QOS0);
    // The first ones were kept, in order.
    let seen = take(&mut events, MAX_QUEUED_QOS0).await;
    assert_eq!(seen.first().map(String::as_str), Some("0"));
    assert_eq!(seen.last(), Some(&(MAX_QUEUED_QOS0 - 1).to_string()));
    // Room again: a later message comes through.
    writer
        .publish("t/qos0", Qos::AtMostOnce, false, "after")
        .await
        .unwrap();
    let next = take(&mut events, 1).await;
    assert_eq!(next, ["after"]);
    stop.cancel();
}
