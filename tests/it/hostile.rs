//! Hostile clients against the real `b00t up`: filling the connection limit and
//! connecting one client id again and again (rumqttd 0.20's own server panicked here and
//! refused every later client until a restart). The bus refuses cleanly and serves on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{Bus, Home, Mode};

fn connect_packet(client_id: &str) -> Vec<u8> {
    b00t_testkit::mqtt::connect_packet(client_id, None, 60)
}

/// Connects with a raw CONNECT; returns the stream and the CONNACK's return code (None
/// when the broker closed without one).
fn raw_connect(port: u16, client_id: &str) -> (TcpStream, Option<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(&connect_packet(client_id))
        .expect("send CONNECT");
    let mut connack = [0u8; 4];
    let code = stream.read_exact(&mut connack).ok().map(|()| connack[3]);
    (stream, code)
}

/// Connects up to `tries` clients `hog-N` and holds those accepted, until one is not:
/// the held streams, and the first refusal's CONNACK code (`Some(None)`: closed without
/// one; `None`: none was refused).
fn fill(port: u16, tries: usize) -> (Vec<TcpStream>, Option<Option<u8>>) {
    let mut held = Vec::new();
    for i in 0..tries {
        match raw_connect(port, &format!("hog-{i}")) {
            (stream, Some(0)) => held.push(stream),
            (_, other) => return (held, Some(other)),
        }
    }
    (held, None)
}

#[test]
fn a_full_connection_limit_and_client_id_takeovers_do_not_wedge_the_broker() {
    let home = Home::new("[broker]\nmax_connections = 24\n");
    let bus = Bus::start(Mode::Embedded, &home);
    let (mut held, refused) = fill(bus.port, 40);
    assert_eq!(
        refused,
        Some(Some(3)),
        "the next client gets CONNACK 3 (server unavailable)"
    );
    // At the limit, one client id again and again, and a taken one.
    for _ in 0..30 {
        let _ = raw_connect(bus.port, "hog-0");
        let _ = raw_connect(bus.port, "twice");
    }
    held.clear();
    // Places free up as the broker sees the closed connections; then everyone is served.
    let mut results = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"after-the-hogs"}"#);
    results.wait("b00t.echo.echo/result", "after-the-hogs");
    let (_again, code) = raw_connect(bus.port, "twice");
    assert_eq!(code, Some(0));
    let (_taken_over, code) = raw_connect(bus.port, "twice");
    assert_eq!(
        code,
        Some(0),
        "a second connection with one client id takes it over"
    );
    assert!(bus.runtime_is_alive());
}

#[test]
fn the_runtimes_own_clients_come_through_the_local_door_not_the_tcp_limit() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    // The runtime has more clients of its own (watcher, runtime agent, echo, installer,
    // deployer, scheduler) than this limit: over TCP it could not even start.
    let home = Home::new("[broker]\nmax_connections = 3\n");
    let mut bus = Bus::start(Mode::Embedded, &home);
    let door = home.path().join("state/broker.sock");
    let meta = std::fs::symlink_metadata(&door).expect("the local door's socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Every TCP place is the outside's: three, then CONNACK 3.
    let (mut held, refused) = fill(bus.port, 10);
    assert_eq!(held.len(), 3, "the runtime holds none of the TCP places");
    assert_eq!(refused, Some(Some(3)));
    held.clear();

    let mut results = bus.sub("b00t.echo.echo/result");
    bus.publish("b00t.echo.echo/task", r#"{"id":"through-the-door"}"#);
    results.wait("b00t.echo.echo/result", "through-the-door");

    // A clean stop removes the socket.
    drop(results);
    bus.runtime.signal("TERM");
    bus.runtime
        .wait_exit(Duration::from_secs(10))
        .expect("up stops on SIGTERM");
    assert!(
        !door.exists(),
        "the local door's socket is removed at a clean stop"
    );
}
