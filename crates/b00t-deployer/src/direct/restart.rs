//! The restart policy of a supervised process and its backoff: whether an exit starts it
//! again, and after how long (100 ms doubling to 10 s, back to 100 ms after 10 s up).

use std::time::Duration;

use b00t_deploy::intent::{Restart, WorkloadRole};

/// The first delay before a restart.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay before a restart.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);
/// A run this long resets the delay to [`FIRST_DELAY`].
pub(crate) const RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether a process that exited with `code` (128 + signal when a signal ended it) after
/// `restarts_so_far` restarts starts again. A job that succeeded is done whatever its
/// policy; otherwise services and jobs follow it alike: `no` never, `always` and
/// `unless-stopped` on any exit (a stop by b00t is not an exit: it never restarts),
/// `on-failure` on a non-zero code, up to its limit when it has one.
pub(crate) fn restarts(
    role: WorkloadRole,
    policy: Restart,
    code: i64,
    restarts_so_far: u64,
) -> bool {
    if role == WorkloadRole::Job && code == 0 {
        return false;
    }
    match policy {
        Restart::No => false,
        Restart::Always | Restart::UnlessStopped => true,
        Restart::OnFailure(limit) => {
            code != 0 && limit.is_none_or(|limit| restarts_so_far < u64::from(limit))
        }
    }
}

/// The delay before each restart of one process.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: FIRST_DELAY }
    }

    /// The delay before the restart after a run of `ran_for`.
    pub(crate) fn after_run(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.next = FIRST_DELAY;
        }
        let delay = self.next;
        self.next = (delay * 2).min(MAX_DELAY);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_policy_decides_as_documented() {
        use WorkloadRole::{Job, Service};
        let check = |role, policy, code, so_far, expected: bool| {
            assert_eq!(
                restarts(role, policy, code, so_far),
                expected,
                "{role:?} {policy:?} code {code} after {so_far}"
            );
        };
        check(Service, Restart::No, 1, 0, false);
        check(Service, Restart::No, 0, 0, false);
        check(Service, Restart::Always, 0, 99, true);
        check(Service, Restart::UnlessStopped, 143, 5, true);
        check(Service, Restart::OnFailure(None), 0, 0, false);
        check(Service, Restart::OnFailure(None), 3, 1000, true);
        check(Service, Restart::OnFailure(Some(2)), 3, 0, true);
        check(Service, Restart::OnFailure(Some(2)), 3, 1, true);
        check(Service, Restart::OnFailure(Some(2)), 3, 2, false);
        check(Service, Restart::OnFailure(Some(0)), 3, 0, false);
        check(Job, Restart::Always, 0, 0, false);
        check(Job, Restart::Always, 1, 0, true);
        check(Job, Restart::OnFailure(Some(1)), 1, 0, true);
        check(Job, Restart::OnFailure(Some(1)), 1, 1, false);
        check(Job, Restart::No, 1, 0, false);
    }

    #[test]
    fn the_delay_doubles_to_its_cap_and_resets_after_a_long_run() {
        let mut backoff = Backoff::new();
        let short = Duration::from_millis(5);
        let delays: Vec<u64> = (0..9)
            .map(|_| backoff.after_run(short).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
        );
        assert_eq!(backoff.after_run(RESET_AFTER), FIRST_DELAY);
        assert_eq!(backoff.after_run(short), Duration::from_millis(200));
    }
}
