//! The TCP ports a container listens on, read on the host from `/proc/<pid>/net/tcp` and
//! `tcp6` of its main process, which show the sockets of the container's network
//! namespace: no tool is needed inside the image.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use crate::error::ContainerError;
use crate::observe::facts::Listening;

/// The socket state `TCP_LISTEN`, as `/proc/net/tcp` writes it.
const TCP_LISTEN: &str = "0A";

/// The listening TCP sockets in the network namespace of the host process `pid` (a
/// container's `State.Pid`, see `Facts::pid`), by port then address, each once.
pub async fn listening(pid: i64) -> Result<Vec<Listening>, ContainerError> {
    if pid <= 0 {
        return Err(ContainerError::io(
            "read the sockets of",
            format!("/proc/{pid}/net/tcp"),
            std::io::Error::other("no process: the container is not running"),
        ));
    }
    let mut found = BTreeSet::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let path = PathBuf::from(format!("/proc/{pid}/net/{file}"));
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => found.extend(parse_proc_net_tcp(&text, v6)),
            // A kernel without IPv6 has no tcp6.
            Err(e) if v6 && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ContainerError::io("read the sockets of", path, e)),
        }
    }
    Ok(found
        .into_iter()
        .map(|(port, address)| Listening { port, address })
        .collect())
}

/// The listening sockets in the text of a `/proc/net/tcp` (`v6` false) or `tcp6` file,
/// as (port, address).
fn parse_proc_net_tcp(text: &str, v6: bool) -> Vec<(u16, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != TCP_LISTEN {
                return None;
            }
            let (address, port) = local.split_once(':')?;
            let port = u16::from_str_radix(port, 16).ok()?;
            let address = if v6 {
                parse_v6(address)?.to_string()
            } else {
                parse_v4(address)?.to_string()
            };
            Some((port, address))
        })
        .collect()
}

/// The kernel prints the address as the 32-bit word in memory (network order) read as a
/// native integer: its native bytes are the address's bytes.
fn parse_v4(hex: &str) -> Option<Ipv4Addr> {
    if hex.len() != 8 {
        return None;
    }
    let word = u32::from_str_radix(hex, 16).ok()?;
    Some(Ipv4Addr::from(word.to_ne_bytes()))
}

/// Four such words, in order.
fn parse_v6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    Some(Ipv6Addr::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tcp` line as the kernel writes it, for this machine's byte order.
    fn v4_line(address: [u8; 4], port: u16, state: &str) -> String {
        format!(
            "   0: {:08X}:{port:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 1060 1 0000000000000000 100 0 0 10 0",
            u32::from_ne_bytes(address)
        )
    }

    fn v6_line(address: Ipv6Addr, port: u16, state: &str) -> String {
        let hex: String = address
            .octets()
            .chunks_exact(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect();
        format!(
            "   1: {hex}:{port:04X} 00000000000000000000000000000000:0000 {state} 00000000:00000000 00:00000000 00000000     0        0 2070 1 0000000000000000 100 0 0 10 0"
        )
    }

    fn check(text: &str, v6: bool, expected: &[(u16, &str)]) {
        let got = parse_proc_net_tcp(text, v6);
        let expected: Vec<(u16, String)> = expected
            .iter()
            .map(|(p, a)| (*p, (*a).to_owned()))
            .collect();
        assert_eq!(got, expected, "{text}");
    }

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    #[test]
    fn v4_listeners_are_read_and_other_states_skipped() {
        let text = format!(
            "{HEADER}{}\n{}\n{}\n",
            v4_line([0, 0, 0, 0], 8080, "0A"),
            v4_line([127, 0, 0, 1], 5432, "0A"),
            v4_line([172, 17, 0, 2], 40000, "01"),
        );
        check(&text, false, &[(8080, "0.0.0.0"), (5432, "127.0.0.1")]);
    }

    #[test]
    fn the_literal_kernel_text_of_this_little_endian_machine_parses() {
        if cfg!(target_endian = "little") {
            let text = format!(
                "{HEADER}   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
            );
            check(&text, false, &[(8080, "127.0.0.1")]);
            let text = format!(
                "{HEADER}   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
            );
            check(&text, true, &[(80, "::1")]);
        }
    }

    #[test]
    fn v6_listeners_are_read() {
        let text = format!(
            "{HEADER}{}\n{}\n{}\n",
            v6_line(Ipv6Addr::UNSPECIFIED, 80, "0A"),
            v6_line(Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped(), 6379, "0A"),
            v6_line("fe80::1".parse().unwrap(), 22, "06"),
        );
        check(&text, true, &[(80, "::"), (6379, "::ffff:127.0.0.1")]);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        check(
            &format!("{HEADER}nonsense\n   0: zz:1F90 0 0A\n   0: 00000000:1F90\n"),
            false,
            &[],
        );
        check("", false, &[]);
    }

    #[tokio::test]
    async fn no_process_is_an_error_saying_the_container_is_not_running() {
        let e = listening(0).await.unwrap_err().to_string();
        assert!(e.contains("not running"), "{e}");
    }

    #[tokio::test]
    async fn this_process_can_read_its_own_sockets() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = listening(i64::from(std::process::id())).await.unwrap();
        assert!(
            found.contains(&Listening {
                port,
                address: "127.0.0.1".into()
            }),
            "{found:?}"
        );
    }
}
