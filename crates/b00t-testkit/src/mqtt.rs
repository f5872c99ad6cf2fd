//! Raw MQTT 3.1.1 packets for tests that must see exactly what a broker answers on the
//! wire (a CONNACK's code), without a client library that retries or reconnects.

/// A CONNECT with a clean session for `client_id`, logging in as `(user, password)` when
/// given, with `keep_alive` seconds (0: off).
pub fn connect_packet(client_id: &str, login: Option<(&str, &str)>, keep_alive: u16) -> Vec<u8> {
    Connect {
        login,
        keep_alive,
        ..Connect::new(client_id)
    }
    .packet()
}

/// A CONNECT with a clean session, field by field.
#[derive(Clone, Copy, Debug)]
pub struct Connect<'a> {
    pub client_id: &'a str,
    /// `(user, password)`.
    pub login: Option<(&'a str, &'a str)>,
    /// Seconds; 0 is off.
    pub keep_alive: u16,
    pub will: Option<Will<'a>>,
}

/// The last will of a [`Connect`].
#[derive(Clone, Copy, Debug)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub message: &'a [u8],
    pub qos: u8,
    pub retain: bool,
}

impl<'a> Connect<'a> {
    /// No login, no will, a keep alive of 60 s.
    pub fn new(client_id: &'a str) -> Connect<'a> {
        Connect {
            client_id,
            login: None,
            keep_alive: 60,
            will: None,
        }
    }

    /// The packet's bytes.
    pub fn packet(&self) -> Vec<u8> {
        let mut body = Vec::new();
        field(&mut body, b"MQTT");
        body.push(4); // protocol level: 3.1.1
        let mut flags = 0x02; // clean session
        if let Some(will) = self.will {
            flags |= 0x04 | (will.qos & 3) << 3 | u8::from(will.retain) << 5;
        }
        if self.login.is_some() {
            flags |= 0x80 | 0x40; // username, password
        }
        body.push(flags);
        body.extend_from_slice(&self.keep_alive.to_be_bytes());
        field(&mut body, self.client_id.as_bytes());
        if let Some(will) = self.will {
            field(&mut body, will.topic.as_bytes());
            field(&mut body, will.message);
        }
        if let Some((user, password)) = self.login {
            field(&mut body, user.as_bytes());
            field(&mut body, password.as_bytes());
        }
        packet(0x10, &body)
    }
}

/// A packet of `body` behind its first byte and remaining length.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    remaining_length(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

/// Appends MQTT's variable-length encoding of `n`.
fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            break;
        }
    }
}

/// Appends a length-prefixed string or binary field.
pub fn field(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
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

    #[test]
    fn a_connect_with_a_will_and_a_long_body() {
        let message = [b'x'; 200];
        let will = Will {
            topic: "w",
            message: &message,
            qos: 1,
            retain: true,
        };
        let bytes = Connect {
            will: Some(will),
            ..Connect::new("c")
        }
        .packet();
        // 10 fixed + 3 (id) + 3 (topic) + 202 (message) = 218: two length bytes.
        assert_eq!(&bytes[..3], [0x10, 218 & 0x7f | 0x80, 1]);
        assert_eq!(
            bytes[3 + 7],
            0x02 | 0x04 | 0x08 | 0x20,
            "clean, will, QoS 1, retain"
        );
        assert_eq!(&bytes[3 + 10..3 + 16], [0, 1, b'c', 0, 1, b'w']);
    }
}
