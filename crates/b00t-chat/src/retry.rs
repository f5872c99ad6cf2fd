//! When a reply that the platform refused is sent again: a flood-control refusal (429)
//! after the wait the platform asked for, a transient one (5xx, the network) after 2, 5
//! and 10 s (NanoClaw's schedule), anything else never.

use std::time::Duration;

/// Waits between attempts after a transient failure.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];
/// Flood-control refusals honoured before giving up.
pub const MAX_FLOOD_WAITS: usize = 5;
/// The longest wait a platform may ask for before the bridge gives up instead.
pub const MAX_FLOOD_WAIT: Duration = Duration::from_secs(300);

/// How a failed attempt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Flood control: wait this long.
    Flood(Duration),
    /// A 5xx or a network error.
    Transient,
    /// Anything else: sending it again would fail the same way.
    Final,
}

/// Counts the failures of one reply and says how long to wait before the next attempt.
#[derive(Clone, Debug, Default)]
pub struct Retries {
    transient: usize,
    flood: usize,
}

impl Retries {
    /// The wait before the next attempt after `refusal`, or `None`: give up.
    pub fn next(&mut self, refusal: Refusal) -> Option<Duration> {
        match refusal {
            Refusal::Flood(wait) => {
                self.flood += 1;
                (self.flood <= MAX_FLOOD_WAITS && wait <= MAX_FLOOD_WAIT)
                    .then_some(wait.max(Duration::from_millis(100)))
            }
            Refusal::Transient => {
                let wait = BACKOFF.get(self.transient).copied();
                self.transient += 1;
                wait
            }
            Refusal::Final => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_wait_2_5_10_then_give_up() {
        let mut retries = Retries::default();
        let waits: Vec<_> = (0..4).map(|_| retries.next(Refusal::Transient)).collect();
        assert_eq!(
            waits,
            [
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(5)),
                Some(Duration::from_secs(10)),
                None
            ]
        );
    }

    #[test]
    fn flood_control_waits_as_asked_a_few_times() {
        let mut retries = Retries::default();
        let wait = Duration::from_secs(1);
        for _ in 0..MAX_FLOOD_WAITS {
            assert_eq!(retries.next(Refusal::Flood(wait)), Some(wait));
        }
        assert_eq!(retries.next(Refusal::Flood(wait)), None);
        assert_eq!(
            Retries::default().next(Refusal::Flood(Duration::from_secs(3600))),
            None
        );
        assert_eq!(Retries::default().next(Refusal::Final), None);
    }
}
