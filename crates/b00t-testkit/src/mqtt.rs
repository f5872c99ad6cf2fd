//! Raw MQTT 3.1.1 packets for tests that must see exactly what a broker answers on the
//! wire (a CONNACK's code), without a client library that retries or reconnects.

/// A CONNECT with a clean session for `client_id`, logging in as `(user, password)` when
/// given, with `keep_alive` seconds (0: off).
pub fn connect_packet(client_id: &str, login: Option<(&str, &str)>, keep_alive: u16) -> Vec<u8> {
    let field = |out: &mut Vec<u8>, s: &[u8]| {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s);
    };
    let mut body = Vec::new();
    field(&mut body, b"MQTT");
    body.push(4); // protocol level: 3.1.1
    let mut flags = 0x02; // clean session
    if login.is_some() {
        flags |= 0x80 | 0x40; // username, password
    }
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    field(&mut body, client_id.as_bytes());
    if let Some((user, password)) = login {
        field(&mut body, user.as_bytes());
        field(&mut body, password.as_bytes());
    }
    assert!(
        body.len() < 128,
        "a CONNECT this long needs a longer length field"
    );
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    packet
}

/// The CONNACK a broker sends to accept a connection without a session.
pub const CONNACK_ACCEPTED: [u8; 4] = [0x20, 2, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_with_and_without_a_login() {
        assert_eq!(
            connect_packet("c", None, 30),
            [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 1, b'c']
        );
        let with = connect_packet("c", Some(("u", "p")), 0);
        assert_eq!(
            &with[..12],
            [0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xc2, 0, 0]
        );
        assert_eq!(&with[12..], [0, 1, b'c', 0, 1, b'u', 0, 1, b'p']);
    }
}
