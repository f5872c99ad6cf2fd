//! Identifiers: the bus task id of a Matrix event (`mx-` and 128 bits of the event id's
//! SHA-256: an event id such as `$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg` holds a `$`
//! a task id refuses), the transaction id of each part of an answer (derived from the
//! task, so a part sent again after a crash is the same transaction and the homeserver
//! keeps one event), and room and event ids percent-encoded as path segments.

use sha2::{Digest, Sha256};

/// `mx-<32 hex digits>` for the event `event_id`.
pub fn task_id(event_id: &str) -> String {
    let digest = Sha256::digest(event_id.as_bytes());
    format!("mx-{}", hex::encode(&digest[..16]))
}

/// The transaction id of part `part` (from 0) of the answer to task `task_id`.
pub fn txn_id(task_id: &str, part: usize) -> String {
    format!("{task_id}.{part}")
}

/// `segment` for a URL path: every byte but RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) as `%XX`, so `!room:server` and `$event` stay one segment.
pub fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len() + 8);
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_become_plain_task_ids() {
        let event = "$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg";
        // python3 -c "import hashlib; print(hashlib.sha256(b'\$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg').hexdigest()[:32])"
        assert_eq!(task_id(event), "mx-4f27d015e6fa85c5e36694d3c485dbab");
        assert_eq!(task_id(event), task_id(event));
        assert_ne!(task_id(event), task_id("$other"));
        assert_eq!(txn_id(&task_id(event), 2), format!("{}.2", task_id(event)));
    }

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(path_segment("!abc:localhost"), "%21abc%3Alocalhost");
        assert_eq!(path_segment("$ev/en+t="), "%24ev%2Fen%2Bt%3D");
        assert_eq!(path_segment("@bot:example.org"), "%40bot%3Aexample.org");
        assert_eq!(path_segment("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
