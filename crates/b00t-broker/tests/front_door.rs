//! The front door, driven by raw MQTT 3.1.1 over TCP as a hostile or careless client
//! would: packets written by hand, so nothing in the client hides what the broker does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use b00t_broker::{BrokerSettings, EmbeddedBroker, Hold, Tap, Tapped};
use b00t_testkit::mqtt::{field, packet, Connect, Will};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

const WAIT: Duration = Duration::from_secs(5);

async fn broker(max_connections: usize) -> EmbeddedBroker {
    let settings = BrokerSettings {
        max_connections,
        max_subscriptions: 4,
        max_inflight: 8,
        max_filters: 64,
        ..BrokerSettings::loopback()
    };
    EmbeddedBroker::start(settings).await.unwrap()
}

/// A raw MQTT client.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A CONNECT with a keep alive of 60 s and, when given, a retained QoS 0 will.
fn connect_packet(client_id: &str, will: Option<(&str, &str)>) -> Vec<u8> {
    Connect {
        will: will.map(|(topic, message)| Will {
            topic,
            message: message.as_bytes(),
            qos: 0,
            retain: true,
        }),
        ..Connect::new(client_id)
    }
    .packet()
}

fn publish_packet(topic: &str, payload: &[u8], qos: u8, pkid: u16) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&pkid.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

fn subscribe_packet(pkid: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for filter in filters {
        field(&mut body, filter.as_bytes());
        body.push(1);
    }
    packet(0x82, &body)
}

impl Raw {
    async fn open(broker: &EmbeddedBroker) -> Raw {
        Raw {
            stream: TcpStream::connect(broker.addr()).await.unwrap(),
            buf: Vec::new(),
        }
    }

    /// Connects and returns the CONNACK's return code.
    async fn connect(
        broker: &EmbeddedBroker,
        client_id: &str,
        will: Option<(&str, &str)>,
    ) -> (Raw, u8) {
        let mut raw = Raw::open(broker).await;
        raw.send(&connect_packet(client_id, will)).await;
        let (kind, body) = raw.next().await.expect("a CONNACK");
        assert_eq!(kind, 0x20, "CONNACK");
        (raw, body[1])
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet's first byte and body, or None when the connection closed.
    async fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(WAIT, self.read_packet())
            .await
            .expect("a packet or a close within the wait")
    }

    /// Like `next`, but None also when nothing comes within `limit`.
    async fn next_within(&mut self, limit: Duration) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(limit, self.read_packet())
            .await
            .ok()
            .flatten()
    }

    async fn read_packet(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let mut len = 0usize;
                let mut shift = 0;
                let mut at = 1;
                let mut complete = false;
                while at < self.buf.len() && at <= 4 {
                    let byte = self.buf[at];
                    len |= ((byte & 0x7f) as usize) << shift;
                    shift += 7;
                    at += 1;
                    if byte & 0x80 == 0 {
                        complete = true;
                        break;
                    }
                }
                if complete && self.buf.len() >= at + len {
                    let first = self.buf[0];
                    let body = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some((first, body));
                }
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until a PUBLISH arrives; returns its topic and payload.
    async fn next_publish(&mut self) -> Option<(String, Vec<u8>)> {
        let (_, topic, payload) = self.next_publish_with_qos().await?;
        Some((topic, payload))
    }

    /// Reads until a PUBLISH arrives and acknowledges it if its QoS asks; returns the QoS
    /// it came at, its topic and its payload.
    async fn next_publish_with_qos(&mut self) -> Option<(u8, String, Vec<u8>)> {
        loop {
            let (first, body) = self.next().await?;
            if first >> 4 != 3 {
                continue;
            }
            let qos = (first >> 1) & 3;
            let topic_len = u16::from_be_bytes([body[0], body[1]]) as usize;
            let topic = String::from_utf8(body[2..2 + topic_len].to_vec()).unwrap();
            let mut at = 2 + topic_len;
            if qos > 0 {
                let pkid = [body[at], body[at + 1]];
                at += 2;
                self.send(&packet(0x40, &pkid)).await;
            }
            return Some((qos, topic, body[at..].to_vec()));
        }
    }

    async fn subscribe(&mut self, filters: &[&str]) -> Vec<u8> {
        self.send(&subscribe_packet(9, filters)).await;
        loop {
            let (first, body) = self.next().await.expect("a SUBACK");
            if first == 0x90 {
                return body[2..].to_vec();
            }
        }
    }
}

/// A tap that holds every task until `release` is notified, and counts what it sees.
#[derive(Default)]
struct Gate {
    release: Arc<Notify>,
    seen: AtomicUsize,
}

impl Tap for Gate {
    fn publish(&self, message: &Tapped<'_>) -> Option<Hold> {
        self.seen.fetch_add(1, Ordering::SeqCst);
        if !message.topic.ends_with("/task") {
            return None;
        }
        let release = self.release.clone();
        Some(Box::pin(async move {
            release.notified().await;
            Ok(())
        }))
    }
}

#[tokio::test]
async fn a_task_is_neither_acknowledged_nor_delivered_before_the_tap_lets_it_through() {
    let broker = broker(16).await;
    let gate = Arc::new(Gate::default());
    broker.set_tap(gate.clone()).unwrap();
    let (mut sub, code) = Raw::connect(&broker, "sub", None).await;
    assert_eq!(code, 0);
    assert_eq!(sub.subscribe(&["b00t.echo.echo/task"]).await, vec![1]);
    let (mut publisher, _) = Raw::connect(&broker, "pub", None).await;
    publisher
        .send(&publish_packet(
            "b00t.echo.echo/task",
            b"{\"id\":\"t-1\"}",
            1,
            7,
        ))
        .await;
    assert!(
        publisher
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "no PUBACK while the tap holds the task"
    );
    assert!(sub.next_within(Duration::from_millis(100)).await.is_none());
    gate.release.notify_one();
    let (first, body) = publisher.next().await.expect("the PUBACK");
    assert_eq!((first, body), (0x40, vec![0, 7]));
    let (topic, payload) = sub.next_publish().await.unwrap();
    assert_eq!(topic, "b00t.echo.echo/task");
    assert_eq!(payload, b"{\"id\":\"t-1\"}");
    assert!(gate.seen.load(Ordering::SeqCst) >= 1);
    assert!(broker.set_tap(gate.clone()).is_err(), "one tap only");
}

#[tokio::test]
async fn order_is_kept_behind_a_held_task() {
    let broker = broker(16).await;
    let gate = Arc::new(Gate::default());
    broker.set_tap(gate.clone()).unwrap();
    let (mut sub, _) = Raw::connect(&broker, "sub", None).await;
    sub.subscribe(&["b00t.a.b/#"]).await;
    let (mut publisher, _) = Raw::connect(&broker, "pub", None).await;
    publisher
        .send(&publish_packet("b00t.a.b/task", b"1", 1, 1))
        .await;
    publisher
        .send(&publish_packet("b00t.a.b/result", b"2", 0, 0))
        .await;
    assert!(sub.next_within(Duration::from_millis(200)).await.is_none());
    gate.release.notify_one();
    assert_eq!(sub.next_publish().await.unwrap().1, b"1");
    assert_eq!(sub.next_publish().await.unwrap().1, b"2");
}

#[tokio::test]
async fn the_connection_limit_refuses_the_next_client_and_the_broker_recovers() {
    let broker = broker(3).await;
    let mut held = Vec::new();
    for i in 0..3 {
        let (raw, code) = Raw::connect(&broker, &format!("c{i}"), None).await;
        assert_eq!(code, 0);
        held.push(raw);
    }
    let (mut refused, code) = Raw::connect(&broker, "c3", None).await;
    assert_eq!(code, 3, "server unavailable");
    assert!(refused.next().await.is_none(), "closed after the refusal");
    // At the limit, the same client id connecting again and again (rumqttd 0.20's
    // server panicked here and refused every later connection). A client that holds a
    // connection may take it over (a reconnect); a new one may not.
    for _ in 0..20 {
        let (mut again, code) = Raw::connect(&broker, "c1", None).await;
        assert_eq!(code, 0, "a takeover at the limit gets the place it frees");
        assert_eq!(again.subscribe(&["t"]).await, vec![1]);
        held[1] = again;
        let (_raw, code) = Raw::connect(&broker, "c9", None).await;
        assert_eq!(code, 3, "a new client id is still refused");
    }
    held.clear();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (mut sub, code) = Raw::connect(&broker, "after", None).await;
        if code == 0 {
            sub.subscribe(&["x/y"]).await;
            let (mut publisher, code) = Raw::connect(&broker, "after-pub", None).await;
            assert_eq!(code, 0);
            publisher
                .send(&publish_packet("x/y", b"still serving", 1, 1))
                .await;
            assert_eq!(sub.next_publish().await.unwrap().1, b"still serving");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broker never freed its places"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_takeover_closes_the_old_connection_and_publishes_its_will() {
    let broker = broker(16).await;
    let (mut watcher, _) = Raw::connect(&broker, "watcher", None).await;
    watcher.subscribe(&["b00t.agent/status"]).await;
    let (mut old, _) = Raw::connect(&broker, "same", Some(("b00t.agent/status", "offline"))).await;
    let (mut new, code) = Raw::connect(&broker, "same", None).await;
    assert_eq!(code, 0);
    assert!(old.next().await.is_none(), "the old connection is closed");
    assert_eq!(watcher.next_publish().await.unwrap().1, b"offline");
    new.subscribe(&["t"]).await;
    new.send(&publish_packet("t", b"mine", 0, 0)).await;
    assert_eq!(new.next_publish().await.unwrap().1, b"mine");
    // The will was retained: a late subscriber gets it.
    let (mut late, _) = Raw::connect(&broker, "late", None).await;
    late.subscribe(&["b00t.agent/status"]).await;
    assert_eq!(late.next_publish().await.unwrap().1, b"offline");
}

#[tokio::test]
async fn a_client_that_vanishes_gets_its_will_published_and_a_clean_one_does_not() {
    let broker = broker(16).await;
    let (mut watcher, _) = Raw::connect(&broker, "watcher", None).await;
    watcher.subscribe(&["w/+"]).await;
    let (clean, _) = Raw::connect(&broker, "clean", Some(("w/clean", "gone"))).await;
    let mut clean = clean;
    clean.send(&packet(0xe0, &[])).await;
    drop(clean);
    let (vanishing, _) = Raw::connect(&broker, "vanishing", Some(("w/vanished", "gone"))).await;
    drop(vanishing);
    let (topic, _) = watcher.next_publish().await.unwrap();
    assert_eq!(topic, "w/vanished", "only the vanished client's will");
}

#[tokio::test]
async fn a_will_of_qos_1_reaches_a_qos_1_subscriber_at_qos_1_and_is_retained() {
    let broker = broker(16).await;
    let (mut watcher, _) = Raw::connect(&broker, "watcher", None).await;
    assert_eq!(watcher.subscribe(&["w/+"]).await, vec![1]);
    for (id, qos) in [("one", 1), ("two", 2)] {
        let topic = format!("w/{id}");
        let will = Will {
            topic: &topic,
            message: b"gone",
            qos,
            retain: true,
        };
        let mut raw = Raw::open(&broker).await;
        raw.send(
            &Connect {
                will: Some(will),
                ..Connect::new(id)
            }
            .packet(),
        )
        .await;
        assert_eq!(raw.next().await.map(|(kind, _)| kind), Some(0x20));
        drop(raw);
        // Acknowledged as it is read, so the broker sends it once.
        let will = watcher.next_publish_with_qos().await.expect("the will");
        assert_eq!(
            will,
            (1, topic, b"gone".to_vec()),
            "{id}: delivered at QoS 1"
        );
    }
    assert!(
        watcher
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "each will once"
    );
    let (mut late, _) = Raw::connect(&broker, "late", None).await;
    late.subscribe(&["w/+"]).await;
    let mut retained = vec![
        late.next_publish().await.unwrap().0,
        late.next_publish().await.unwrap().0,
    ];
    retained.sort();
    assert_eq!(retained, ["w/one", "w/two"]);
}

#[tokio::test]
async fn subscriptions_over_the_limit_are_refused_and_the_client_goes_on() {
    let broker = broker(16).await;
    let (mut client, _) = Raw::connect(&broker, "greedy", None).await;
    assert_eq!(client.subscribe(&["a", "b", "c"]).await, vec![1, 1, 1]);
    assert_eq!(
        client.subscribe(&["d", "e"]).await,
        vec![0x80, 0x80],
        "over 4"
    );
    assert_eq!(
        client.subscribe(&["a/#/b"]).await,
        vec![0x80],
        "an invalid filter"
    );
    assert_eq!(
        client.subscribe(&["a", "d"]).await,
        vec![1, 1],
        "a is held already"
    );
    client.send(&publish_packet("d", b"ok", 0, 0)).await;
    assert_eq!(client.next_publish().await.unwrap().1, b"ok");
}

#[tokio::test]
async fn unreleased_qos2_publishes_over_the_limit_close_the_client() {
    let broker = broker(16).await;
    let (mut client, _) = Raw::connect(&broker, "hoarder", None).await;
    for pkid in 1..=20u16 {
        client.send(&publish_packet("q/2", b"x", 2, pkid)).await;
    }
    let mut closed = false;
    for _ in 0..40 {
        if client.next().await.is_none() {
            closed = true;
            break;
        }
    }
    assert!(closed, "closed after 8 unreleased QoS 2 publishes");
    let (_other, code) = Raw::connect(&broker, "other", None).await;
    assert_eq!(code, 0);
}

#[tokio::test]
async fn garbage_and_silence_are_closed_and_the_broker_serves_on() {
    let broker = broker(16).await;
    let mut junk = Raw::open(&broker).await;
    junk.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(junk.next().await.is_none());
    let (mut bad, _) = Raw::connect(&broker, "bad", None).await;
    bad.send(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]).await;
    assert!(bad.next().await.is_none(), "a malformed length closes it");
    let (mut wild, _) = Raw::connect(&broker, "wild", None).await;
    wild.send(&publish_packet("a/#", b"x", 0, 0)).await;
    assert!(
        wild.next().await.is_none(),
        "a publish to a wildcard closes it"
    );
    let (mut second, _) = Raw::connect(&broker, "second", None).await;
    second.send(&connect_packet("second", None)).await;
    assert!(second.next().await.is_none(), "a second CONNECT closes it");
    let (mut ok, code) = Raw::connect(&broker, "ok", None).await;
    assert_eq!(code, 0);
    ok.subscribe(&["z"]).await;
    ok.send(&publish_packet("z", b"fine", 1, 3)).await;
    assert_eq!(ok.next_publish().await.unwrap().1, b"fine");
    assert_eq!(broker.connections(), 1);
}

#[tokio::test]
async fn distinct_filters_are_bounded_across_clients_and_known_ones_stay_open() {
    let broker = broker(16).await;
    let mut refused_at = None;
    // Clients that come, subscribe to fresh filters and go: rumqttd never frees a
    // filter, so the broker stops taking new ones at its limit.
    'clients: for client in 0..40 {
        let (mut raw, _) = Raw::connect(&broker, &format!("sweep-{client}"), None).await;
        for n in 0..4 {
            let filter = format!("sweep/{client}/{n}");
            if raw.subscribe(&[filter.as_str()]).await == vec![0x80] {
                refused_at = Some(client * 4 + n);
                break 'clients;
            }
        }
    }
    assert_eq!(refused_at, Some(64), "the 65th distinct filter is refused");
    // A filter the broker already holds is still granted, and traffic flows.
    let (mut again, _) = Raw::connect(&broker, "again", None).await;
    assert_eq!(again.subscribe(&["sweep/0/0"]).await, vec![1]);
    again
        .send(&publish_packet("sweep/0/0", b"known", 0, 0))
        .await;
    assert_eq!(again.next_publish().await.unwrap().1, b"known");
}

#[tokio::test]
async fn a_ping_is_answered() {
    let broker = broker(16).await;
    let (mut client, _) = Raw::connect(&broker, "pinger", None).await;
    for _ in 0..3 {
        client.send(&[0xc0, 0x00]).await;
        assert_eq!(client.next().await, Some((0xd0, vec![])), "PINGRESP");
    }
}

#[tokio::test]
async fn a_client_silent_past_its_keep_alive_is_closed_and_its_will_published() {
    let broker = broker(16).await;
    let (mut watcher, _) = Raw::connect(&broker, "watcher", None).await;
    watcher.subscribe(&["w/silent"]).await;
    let mut silent = Raw::open(&broker).await;
    let connect = Connect {
        keep_alive: 1,
        will: Some(Will {
            topic: "w/silent",
            message: b"gone",
            qos: 0,
            retain: false,
        }),
        ..Connect::new("silent")
    };
    silent.send(&connect.packet()).await;
    assert_eq!(silent.next().await.map(|(kind, _)| kind), Some(0x20));
    assert!(
        silent.next().await.is_none(),
        "closed after 1.5 × its keep-alive"
    );
    assert_eq!(watcher.next_publish().await.unwrap().1, b"gone");
}
