//! Free loopback ports for programs a test starts and tells where to listen (a broker,
//! `b00t up`, a compose service). Asking the kernel for port 0 hands out a port from its
//! ephemeral range, the range every outgoing connection takes its source port from: with
//! many tests connecting at once, another test's client could take the port between the
//! moment it was found free and the moment the program binds it (seen: compose's `-p`
//! refused as taken). So the port is drawn below that range, where only listeners go.

use std::net::TcpListener;

/// Where Linux says its ephemeral range starts, and the default when it cannot be read.
const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
const DEFAULT_EPHEMERAL_START: u16 = 32_768;
/// The lowest port drawn: above the well-known and the commonly configured ones.
const LOWEST: u16 = 10_000;
/// Draws before falling back to the kernel's choice.
const TRIES: usize = 200;

/// A port on 127.0.0.1 that was free when asked (bound, read back, released), outside
/// the kernel's ephemeral range when there is room below it.
pub fn free_port() -> u16 {
    let start = ephemeral_start();
    if start > LOWEST {
        for _ in 0..TRIES {
            let port = fastrand::u16(LOWEST..start);
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string(PORT_RANGE)
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_free_and_below_the_ephemeral_range() {
        let start = ephemeral_start();
        for _ in 0..20 {
            let port = free_port();
            if start > LOWEST {
                assert!((LOWEST..start).contains(&port), "{port} not below {start}");
            }
            // Free: it can be bound now.
            TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
        }
    }
}
