//! TCP probes: whether an address answers (a connect), for readiness and `wait_for`; and
//! whether a plan's host port is free before anything starts, through `crate::ports`.

use std::time::Duration;

use tokio::net::TcpStream;

/// How long one connect may take before the address counts as not answering.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Where to connect to reach a process listening on `host`: the loopback address for a
/// wildcard (`0.0.0.0`, `::`) or an empty host.
pub(crate) fn reach(host: &str) -> &str {
    match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    }
}

/// Whether `host:port` accepts a TCP connection now.
pub(crate) async fn answers(host: &str, port: u16) -> bool {
    let host = reach(host);
    matches!(
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await,
        Ok(Ok(_))
    )
}

/// Binds `host:port` for a moment (`crate::ports`); `Err` says why it cannot be had and
/// what to do.
pub(crate) fn check_free(host: &str, port: u16) -> Result<(), String> {
    let host = match host.trim_start_matches('[').trim_end_matches(']') {
        "" => "127.0.0.1",
        other => other,
    };
    crate::ports::check_free(host, port).map_err(|why| {
        if why.starts_with("something else listens") {
            format!("{why}: stop it, or change the datum's -p")
        } else {
            format!("cannot bind it ({why}): change the datum's -p (a port above 1023 unless b00t runs as root, on an address of this machine)")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_are_reached_on_loopback() {
        assert_eq!(reach("0.0.0.0"), "127.0.0.1");
        assert_eq!(reach(""), "127.0.0.1");
        assert_eq!(reach("::"), "::1");
        assert_eq!(reach("[::]"), "::1");
        assert_eq!(reach("127.0.0.1"), "127.0.0.1");
        assert_eq!(reach("10.1.2.3"), "10.1.2.3");
    }

    #[tokio::test]
    async fn a_listened_port_is_taken_and_answers_and_a_free_one_does_neither() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let e = check_free("127.0.0.1", port).unwrap_err();
        assert!(e.contains("something else listens there: stop it"), "{e}");
        let e = check_free("192.0.2.1", port).unwrap_err();
        assert!(e.contains("cannot bind it"), "{e}");
        assert!(answers("127.0.0.1", port).await);
        assert!(answers("0.0.0.0", port).await);
        drop(listener);
        assert!(check_free("127.0.0.1", port).is_ok());
        assert!(!answers("127.0.0.1", port).await);
    }
}
