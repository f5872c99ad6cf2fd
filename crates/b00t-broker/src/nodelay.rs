//! rumqttd never sets `TCP_NODELAY`, so a reply written right after another small packet
//! waits for the peer's delayed ACK (about 40 ms on Linux): every task round trip would
//! cost that. rumqttd binds its listener privately; on Linux an accepted socket inherits
//! `TCP_NODELAY` from its listener, so this finds the listener among the process's own
//! file descriptors by its address and sets the option there, once, right after it binds.

use std::net::SocketAddr;

/// Sets `TCP_NODELAY` on this process's listening socket bound to `addr`. Best effort:
/// without it the broker works, only slower, so a failure is logged, not returned.
pub fn on_listener(addr: SocketAddr) {
    match set(addr) {
        Ok(true) => tracing::debug!(%addr, "TCP_NODELAY set on the broker's listener"),
        Ok(false) => {
            tracing::warn!(%addr, "broker listener not found; replies may be delayed by Nagle's algorithm")
        }
        Err(e) => {
            tracing::warn!(%addr, error = %e, "cannot set TCP_NODELAY on the broker's listener")
        }
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set(addr: SocketAddr) -> std::io::Result<bool> {
    use std::os::fd::{BorrowedFd, RawFd};

    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let is_socket = std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // SAFETY: `fd` is open in this process (listed just now) and is only borrowed for
        // the getsockopt/setsockopt calls below; it is never closed here. Should another
        // thread close it and the number be reused meanwhile, the checks below run on the
        // new socket and change it only if it is a listener on `addr`.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let bound_here = socket.local_addr().ok().and_then(|a| a.as_socket()) == Some(addr);
        if bound_here && socket.is_listener().unwrap_or(false) {
            socket.set_tcp_nodelay(true)?;
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(not(target_os = "linux"))]
fn set(_addr: SocketAddr) -> std::io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(set(addr).unwrap(), "the listener is found");
        let _client = std::net::TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
