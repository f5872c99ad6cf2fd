//! The embedded broker's local door: a Unix socket on which the runtime's own clients
//! connect instead of loopback TCP. It has its own connection limit (clients filling the
//! TCP one never lock the runtime out), takes logins only, and carries messages both
//! ways with TCP clients. Opening it never follows nor deletes what is not a socket.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

mod support;

use b00t_broker::{BrokerSettings, Credentials, EmbeddedBroker};
use b00t_bus::{Bus, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use tokio_util::sync::CancellationToken;

use b00t_testkit::mqtt::{connect_packet, CONNACK_ACCEPTED};
use support::next_message;

/// A broker taking `max_connections` TCP clients, knowing the user `runtime`.
async fn broker(max_connections: usize) -> EmbeddedBroker {
    let credentials = Credentials::default();
    credentials.set("runtime", "secret");
    let settings = BrokerSettings {
        credentials,
        max_connections,
        ..BrokerSettings::loopback()
    };
    EmbeddedBroker::start(settings).await.unwrap()
}

/// The broker's URL, logging in as `user`, through `local` when given.
fn url(broker: &EmbeddedBroker, user: Option<&str>, local: Option<&std::path::Path>) -> BrokerUrl {
    BrokerUrl {
        username: user.map(str::to_owned),
        password: user.map(|_| "secret".to_owned()),
        local_socket: local.map(|p| p.to_owned()),
        ..BrokerUrl::for_listen(broker.addr())
    }
}

fn connect(url: BrokerUrl, id: &str, stop: &CancellationToken) -> (Bus, Events) {
    Bus::connect(BusOptions::new(url, id), stop)
}

#[tokio::test]
async fn the_local_door_serves_past_a_full_tcp_limit_and_only_logins() {
    let stop = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let door = dir.path().join("broker.sock");
    let broker = broker(1).await;
    broker.add_local(&door).unwrap();
    let meta = std::fs::symlink_metadata(&door).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // The one TCP place is taken; the next TCP client is refused.
    let (outside, mut outside_events) = connect(url(&broker, None, None), "outside", &stop);
    outside
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();
    let (refused, _) = connect(url(&broker, None, None), "refused", &stop);
    assert!(refused
        .wait_connected(Duration::from_millis(1500))
        .await
        .is_err());

    // Several of the runtime's clients still connect, on the local door.
    let (inside, mut inside_events) =
        connect(url(&broker, Some("runtime"), Some(&door)), "inside", &stop);
    inside.wait_connected(Duration::from_secs(5)).await.unwrap();
    let (second, _) = connect(url(&broker, Some("runtime"), Some(&door)), "second", &stop);
    second.wait_connected(Duration::from_secs(5)).await.unwrap();
    inside
        .subscribe_confirmed("t/in", Qos::AtLeastOnce, Duration::from_secs(5))
        .await
        .unwrap();
    outside
        .subscribe_confirmed("t/out", Qos::AtLeastOnce, Duration::from_secs(5))
        .await
        .unwrap();
    // Messages cross between the two doors both ways.
    outside
        .publish("t/in", Qos::AtLeastOnce, false, b"to the runtime".to_vec())
        .await
        .unwrap();
    let got = next_message(&mut inside_events).await;
    assert_eq!(&got.payload[..], b"to the runtime");
    second
        .publish(
            "t/out",
            Qos::AtLeastOnce,
            false,
            b"from the runtime".to_vec(),
        )
        .await
        .unwrap();
    let got = next_message(&mut outside_events).await;
    assert_eq!(&got.payload[..], b"from the runtime");

    // No anonymous client on the local door.
    let (anonymous, _) = connect(url(&broker, None, Some(&door)), "anonymous", &stop);
    assert!(anonymous
        .wait_connected(Duration::from_millis(1500))
        .await
        .is_err());
    stop.cancel();
}

#[tokio::test]
async fn opening_the_door_replaces_a_stale_socket_and_refuses_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(4).await;

    // A socket a killed runtime left: replaced.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    broker.add_local(&stale).unwrap();

    // A symlink (say, to a file someone wants deleted) or a file: refused, untouched.
    let target = dir.path().join("precious");
    std::fs::write(&target, b"keep me").unwrap();
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = broker.add_local(&link).unwrap_err().to_string();
    assert!(err.contains("link.sock"), "{err}");
    assert!(err.contains("something other than a socket"), "{err}");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let err = broker.add_local(&target).unwrap_err().to_string();
    assert!(err.contains("precious"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

/// A raw CONNECT for `client_id` logging in as `runtime`, keep-alive off.
fn raw_connect(client_id: &str) -> Vec<u8> {
    connect_packet(client_id, Some(("runtime", "secret")), 0)
}

#[tokio::test]
async fn a_takeover_on_a_full_local_door_takes_the_place_it_frees_not_a_tcp_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stop = CancellationToken::new();
    let dir = tempfile::tempdir().unwrap();
    let door = dir.path().join("broker.sock");
    let broker = broker(1).await;
    broker.add_local(&door).unwrap();
    // The one TCP place is taken.
    let (outside, _) = connect(url(&broker, None, None), "outside", &stop);
    outside
        .wait_connected(Duration::from_secs(5))
        .await
        .unwrap();

    // The local door's 32 places: one held by a bare socket that stops reading (a hung
    // client), 31 by the runtime's clients.
    let mut hung = tokio::net::UnixStream::connect(&door).await.unwrap();
    hung.write_all(&raw_connect("hung")).await.unwrap();
    let mut connack = [0u8; 4];
    hung.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, CONNACK_ACCEPTED, "the hung client is accepted");
    let mut inside = Vec::new();
    for n in 0..31 {
        let (bus, _) = connect(
            url(&broker, Some("runtime"), Some(&door)),
            &format!("inside-{n}"),
            &stop,
        );
        bus.wait_connected(Duration::from_secs(5)).await.unwrap();
        inside.push(bus);
    }
    let over = CancellationToken::new();
    let (refused, _) = connect(url(&broker, Some("runtime"), Some(&door)), "over", &over);
    assert!(refused
        .wait_connected(Duration::from_millis(1500))
        .await
        .is_err());
    over.cancel();

    // The hung client's id connects again: on its first try it takes over, on the place
    // the old connection frees, although the TCP limit is full too.
    let mut again = tokio::net::UnixStream::connect(&door).await.unwrap();
    again.write_all(&raw_connect("hung")).await.unwrap();
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), again.read_exact(&mut connack))
        .await
        .expect("a CONNACK in time")
        .unwrap();
    assert_eq!(
        connack, CONNACK_ACCEPTED,
        "the takeover is accepted at once"
    );
    // The old connection was closed.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), hung.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(_))),
        "the old connection ends: {closed:?}"
    );
    // And the door still refuses a 33rd client.
    let mut extra = tokio::net::UnixStream::connect(&door).await.unwrap();
    extra.write_all(&raw_connect("extra")).await.unwrap();
    let mut connack = [0u8; 4];
    extra.read_exact(&mut connack).await.unwrap();
    assert_eq!(connack, [0x20, 2, 0, 3], "refused: server unavailable");
    stop.cancel();
}
