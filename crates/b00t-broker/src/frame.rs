//! A look at an MQTT 3.1.1 frame before rumqttd's codec decodes it: the packet type, a
//! PUBLISH's QoS and packet id, which rumqttd's `Publish` keeps private. Only what the
//! front door needs to decide; the codec still validates the whole packet.

/// The head of the next complete frame in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The packet type, the high nibble of the first byte (3 is PUBLISH).
    pub(crate) kind: u8,
    /// For a PUBLISH: its QoS (0, 1 or 2); 0 otherwise.
    pub(crate) qos: u8,
    /// For a PUBLISH of QoS 1 or 2: its packet id.
    pub(crate) pkid: u16,
}

/// PUBLISH's packet type.
pub(crate) const PUBLISH: u8 = 3;

/// Reads the head of the frame at the start of `buf`, or `None` when the buffer does not
/// yet hold it (or the frame is malformed: the codec reports that).
pub(crate) fn peek(buf: &[u8]) -> Option<Head> {
    let first = *buf.first()?;
    let kind = first >> 4;
    if kind != PUBLISH {
        return Some(Head {
            kind,
            qos: 0,
            pkid: 0,
        });
    }
    let qos = (first >> 1) & 0b11;
    // The remaining length: at most four bytes of 7 bits each.
    let mut at = 1;
    loop {
        let byte = *buf.get(at)?;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return None;
        }
    }
    let topic_len = u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]) as usize;
    let pkid_at = at + 2 + topic_len;
    let pkid = if qos > 0 {
        u16::from_be_bytes([*buf.get(pkid_at)?, *buf.get(pkid_at + 1)?])
    } else {
        0
    };
    Some(Head { kind, qos, pkid })
}

/// Whether `topic` may be published to: not empty, no wildcard, no NUL.
pub(crate) fn valid_topic_name(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(qos: u8, topic: &str, pkid: u16) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&pkid.to_be_bytes());
        }
        body.extend_from_slice(b"payload");
        let mut frame = vec![0x30 | (qos << 1), body.len() as u8];
        frame.extend(body);
        frame
    }

    #[test]
    fn reads_qos_and_packet_id_of_a_publish() {
        let frame = publish(1, "b00t.echo.echo/task", 513);
        assert_eq!(
            peek(&frame),
            Some(Head {
                kind: PUBLISH,
                qos: 1,
                pkid: 513
            })
        );
        assert_eq!(peek(&publish(0, "a", 0)).unwrap().qos, 0);
        assert_eq!(peek(&publish(2, "a/b", 7)).unwrap().pkid, 7);
    }

    #[test]
    fn an_incomplete_frame_is_not_read() {
        let frame = publish(1, "b00t.echo.echo/task", 513);
        for cut in 0..6 {
            assert_eq!(peek(&frame[..cut]), None, "cut at {cut}");
        }
        // A remaining length of five bytes is malformed.
        assert_eq!(peek(&[0x32, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 1]), None);
        // Another packet type needs only its first byte.
        assert_eq!(peek(&[0xc0]).unwrap().kind, 12);
    }

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("b00t.echo.echo/task"));
        for bad in ["", "a/+", "#", "a\0b"] {
            assert!(!valid_topic_name(bad), "{bad:?}");
        }
    }
}
