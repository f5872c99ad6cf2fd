//! Whether a host port is free, asked before anything starts so that a deploy whose port
//! is taken fails at once with the port's name, not halfway through.

use std::net::TcpListener;

/// Binds `host:port` for a moment; `Err` says why it could not (in use, not allowed).
pub fn check_free(host: &str, port: u16) -> Result<(), String> {
    match TcpListener::bind((host, port)) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err("something else listens there".to_owned())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_taken() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(check_free("127.0.0.1", port)
            .unwrap_err()
            .contains("listens"));
        drop(held);
        check_free("127.0.0.1", port).unwrap();
    }
}
