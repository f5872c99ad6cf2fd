//! What a journaled ledger has ever executed, as a Bloom filter of `(address, id)`: a
//! task whose key is not in it was certainly never executed, so the journal is asked
//! only about likely duplicates. Fixed size (1 MiB): about 2% false positives at a
//! million keys, each of which costs one look-up, never a wrong answer.

use std::hash::{BuildHasher, Hasher};

/// Bits in the filter: 2^23 (1 MiB).
const BITS: usize = 1 << 23;
/// Bits set per key.
const PROBES: u64 = 5;

/// The filter; `insert` and `may_contain` are the whole interface.
#[derive(Clone)]
pub(crate) struct Seen {
    words: Vec<u64>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seen")
    }
}

impl Seen {
    pub(crate) fn new() -> Seen {
        Seen {
            words: vec![0; BITS / 64],
            hasher: Default::default(),
        }
    }

    pub(crate) fn insert(&mut self, address: &str, id: &str) {
        for bit in self.bits(address, id) {
            self.words[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False only when the key was never inserted.
    pub(crate) fn may_contain(&self, address: &str, id: &str) -> bool {
        self.bits(address, id)
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// The key's bits, by double hashing from one 64-bit hash.
    fn bits(&self, address: &str, id: &str) -> impl Iterator<Item = usize> {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(address.as_bytes());
        hasher.write_u8(0);
        hasher.write(id.as_bytes());
        let hash = hasher.finish();
        let (a, b) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        (0..PROBES).map(move |i| (a.wrapping_add(i.wrapping_mul(b)) % BITS as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_always_found_and_others_rarely() {
        let mut seen = Seen::new();
        for n in 0..100_000 {
            seen.insert("b00t.echo.echo", &format!("t-{n}"));
        }
        for n in 0..100_000 {
            assert!(seen.may_contain("b00t.echo.echo", &format!("t-{n}")));
        }
        let false_positives = (0..100_000)
            .filter(|n| seen.may_contain("b00t.echo.echo", &format!("u-{n}")))
            .count();
        assert!(
            false_positives < 100,
            "{false_positives} false positives in 100,000"
        );
        assert!(!Seen::new().may_contain("a", "b"));
    }
}
