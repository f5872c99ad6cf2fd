//! [`task_id`]: the bus task id of an incoming WhatsApp message. A `wamid` holds `=`,
//! `+` and `/` (it is base64) and may be long, which a task id may not: the id is `wa-`
//! and the first 128 bits of the wamid's SHA-256 in hex, the same for every redelivery.

use sha2::{Digest, Sha256};

/// `wa-<32 hex digits>` for the message `message_id`.
pub fn task_id(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    format!("wa-{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_wamid_gives_the_same_short_plain_id() {
        let wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
        let id = task_id(wamid);
        // python3 -c "import hashlib; print(hashlib.sha256(b'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=').hexdigest()[:32])"
        assert_eq!(id, "wa-cd3f8a33a571b9a79443e5ecf0305c85");
        assert_eq!(id, task_id(wamid));
        assert_ne!(id, task_id("wamid.other"));
    }
}
