//! [`SeenMessages`]: the ids of the last messages a WhatsApp webhook took, so that Meta's
//! redeliveries (it retries every notification not answered 200 in time) are taken once.
//! It lives in memory and forgets on restart; the durable record of what was received
//! belongs in the journal, which the bridge consults later (issue 13, "Nothing lost").

use std::collections::{HashSet, VecDeque};

/// A bounded set of message ids: the most recent `capacity`, the oldest forgotten first.
#[derive(Clone, Debug)]
pub struct SeenMessages {
    capacity: usize,
    /// Ids in the order first seen; the front is forgotten first.
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Default for SeenMessages {
    fn default() -> Self {
        SeenMessages::new(SeenMessages::DEFAULT_CAPACITY)
    }
}

impl SeenMessages {
    /// How many ids [`SeenMessages::default`] remembers.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// Remembers the last `capacity` ids (at least one).
    pub fn new(capacity: usize) -> SeenMessages {
        let capacity = capacity.max(1);
        SeenMessages {
            capacity,
            order: VecDeque::with_capacity(capacity.min(1024)),
            ids: HashSet::with_capacity(capacity.min(1024)),
        }
    }

    /// `true` the first time `id` is offered (and remembers it), `false` while it is
    /// remembered: a redelivery.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
        true
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redelivery_is_seen_and_the_oldest_id_is_forgotten_first() {
        let mut seen = SeenMessages::new(2);
        assert!(seen.first_time("wamid.a"));
        assert!(!seen.first_time("wamid.a"));
        assert!(seen.first_time("wamid.b"));
        assert!(seen.first_time("wamid.c"));
        assert_eq!(seen.len(), 2);
        assert!(!seen.contains("wamid.a"));
        assert!(seen.contains("wamid.b") && seen.contains("wamid.c"));
        // A redelivery does not refresh its id: `b` is still the oldest.
        assert!(!seen.first_time("wamid.b"));
        assert!(seen.first_time("wamid.d"));
        assert!(!seen.contains("wamid.b"));
        assert!(seen.first_time("wamid.a"));
    }

    #[test]
    fn the_default_holds_ten_thousand_and_stays_bounded() {
        let mut seen = SeenMessages::default();
        assert!(seen.is_empty());
        for n in 0..SeenMessages::DEFAULT_CAPACITY + 500 {
            assert!(seen.first_time(&format!("wamid.{n}")));
        }
        assert_eq!(seen.len(), SeenMessages::DEFAULT_CAPACITY);
        assert!(!seen.contains("wamid.499"));
        assert!(seen.contains("wamid.500"));
        assert!(!seen.first_time("wamid.10499"));
        let mut tiny = SeenMessages::new(0);
        assert!(tiny.first_time("x"));
        assert!(!tiny.first_time("x"));
        assert!(tiny.first_time("y"));
        assert_eq!(tiny.len(), 1);
    }
}
