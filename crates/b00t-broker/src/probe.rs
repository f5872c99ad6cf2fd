//! rumqttd only logs a failed bind, so the port is claimed here first: a taken port is an
//! error at once, and port 0 becomes a real free port. Then wait until it accepts.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use crate::BrokerError;

/// Checks that `listen` can be bound and returns the concrete address (port 0 resolved).
pub fn claim(listen: SocketAddr) -> Result<SocketAddr, BrokerError> {
    match TcpListener::bind(listen) {
        Ok(listener) => listener.local_addr().map_err(|source| BrokerError::Bind {
            addr: listen,
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(BrokerError::PortInUse { addr: listen })
        }
        Err(source) => Err(BrokerError::Bind {
            addr: listen,
            source,
        }),
    }
}

/// Connects to `addr` until it answers or `limit` passes.
pub async fn wait_until_accepting(addr: SocketAddr, limit: Duration) -> Result<(), BrokerError> {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if tokio::net::TcpStream::connect(target).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(BrokerError::NotReady {
                addr,
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = claim(addr).unwrap_err().to_string();
        assert!(
            err.contains(&format!("port `{}` is in use", addr.port())),
            "{err}"
        );
        assert!(
            err.contains("--listen") && err.contains("--broker"),
            "{err}"
        );
    }

    #[test]
    fn port_zero_becomes_a_real_port() {
        let addr = claim("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(addr.port(), 0);
    }
}
