//! The runtime's lease: which runtime acts for a bus. The active runtime publishes this
//! card retained on [`LEASE_TOPIC`] when it takes the lease and again on every heartbeat;
//! a standby takes over when no renewal came for `ttl_ms`. A claim names an epoch one
//! higher than the lease it replaces; of two claims, the higher epoch wins, and at one
//! epoch the greater holder id, so every runtime that reads both agrees on the winner.

use serde::{Deserialize, Serialize};

/// Where the lease card lives, retained, QoS 1.
pub const LEASE_TOPIC: &str = "b00t.runtime/lease";

/// Longest holder id accepted.
const MAX_HOLDER: usize = 128;
/// Shortest and longest lapse a card may ask for: a card outside them is not believed.
pub const MIN_TTL_MS: u64 = 500;
pub const MAX_TTL_MS: u64 = 3_600_000;

/// The lease card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The holding runtime's id (`state/runtime-id` of its home).
    pub holder: String,
    /// Raised by one at every takeover.
    pub epoch: u64,
    /// Renewals since the lease was taken.
    pub seq: u64,
    /// The lease lapses when no renewal came for this long.
    pub ttl_ms: u64,
    /// When the lease was taken (RFC 3339).
    pub since: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Lease {
    /// A new lease taken by `holder` at `epoch`.
    pub fn take(holder: &str, epoch: u64, ttl_ms: u64) -> Lease {
        Lease {
            holder: holder.to_owned(),
            epoch,
            seq: 0,
            ttl_ms,
            since: crate::clock::now_rfc3339(),
            host: None,
            pid: None,
        }
    }

    /// Parses a card, `None` when it is not one a runtime would write: unknown shape, an
    /// empty or overlong holder, a lapse outside [`MIN_TTL_MS`]..=[`MAX_TTL_MS`].
    pub fn parse(payload: &[u8]) -> Option<Lease> {
        let lease: Lease = serde_json::from_slice(payload).ok()?;
        let holder_ok = !lease.holder.is_empty()
            && lease.holder.len() <= MAX_HOLDER
            && lease
                .holder
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        (holder_ok && (MIN_TTL_MS..=MAX_TTL_MS).contains(&lease.ttl_ms)).then_some(lease)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether this claim wins over `other`: a higher epoch, or at one epoch the greater
    /// holder id.
    pub fn beats(&self, other: &Lease) -> bool {
        (self.epoch, self.holder.as_str()) > (other.epoch, other.holder.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_no_runtime_writes() {
        let lease = Lease {
            host: Some("pc1".into()),
            pid: Some(7),
            ..Lease::take("a1", 3, 3000)
        };
        assert_eq!(Lease::parse(&lease.to_json()), Some(lease.clone()));
        for bad in [
            r#"{"holder":"","epoch":1,"seq":0,"ttl_ms":3000,"since":"x"}"#,
            r#"{"holder":"a/b","epoch":1,"seq":0,"ttl_ms":3000,"since":"x"}"#,
            r#"{"holder":"a","epoch":1,"seq":0,"ttl_ms":10,"since":"x"}"#,
            r#"{"holder":"a","epoch":-1,"seq":0,"ttl_ms":3000,"since":"x"}"#,
            r#"{"holder":"a","seq":0,"ttl_ms":3000,"since":"x"}"#,
            "not json",
            "",
        ] {
            assert_eq!(Lease::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn the_higher_epoch_then_the_greater_holder_wins() {
        let a2 = Lease::take("a", 2, 3000);
        let b1 = Lease::take("b", 1, 3000);
        let b2 = Lease::take("b", 2, 3000);
        assert!(a2.beats(&b1));
        assert!(b2.beats(&a2));
        assert!(!a2.beats(&b2));
        assert!(!a2.beats(&a2));
    }
}
