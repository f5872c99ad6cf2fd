//! [`Changes`]: which schedules changed (added, removed, fired) since the replication
//! publisher last looked. A bounded set of ids: when it would overflow it forgets them
//! and asks for a full re-publish instead, so a change is never lost silently.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// How many distinct ids are kept before the set gives way to "everything changed".
pub(crate) const MAX_PENDING: usize = 1024;

/// What changed since the last look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Changed {
    /// These schedules (each once, in id order).
    Ids(Vec<String>),
    /// Too many to list, or unknown (at start, after a failure): every schedule.
    All,
}

/// The ids changed since the last [`Changes::take`]; shared by every clone of a `Store`.
#[derive(Debug)]
pub(crate) struct Changes {
    pending: Mutex<Pending>,
    /// Signalled on every record; the publisher waits on it. A signal with nobody waiting
    /// is kept (one permit), so a change recorded between a take and the wait is seen.
    notify: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Pending {
    ids: BTreeSet<String>,
    /// Set instead of holding more than `capacity` ids; cleared by the next take.
    all: bool,
}

impl Default for Changes {
    fn default() -> Changes {
        Changes::with_capacity(MAX_PENDING)
    }
}

impl Changes {
    pub(crate) fn with_capacity(capacity: usize) -> Changes {
        Changes {
            pending: Mutex::new(Pending::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Notes that schedule `id` changed.
    pub(crate) fn record(&self, id: &str) {
        {
            let mut pending = self.lock();
            if !pending.all && !pending.ids.contains(id) {
                if pending.ids.len() >= self.capacity {
                    pending.ids.clear();
                    pending.all = true;
                } else {
                    pending.ids.insert(id.to_owned());
                }
            }
        }
        self.notify.notify_one();
    }

    /// What changed since the last take, if anything; the set starts empty again.
    pub(crate) fn take(&self) -> Option<Changed> {
        let mut pending = self.lock();
        if std::mem::take(&mut pending.all) {
            pending.ids.clear();
            return Some(Changed::All);
        }
        if pending.ids.is_empty() {
            return None;
        }
        Some(Changed::Ids(
            std::mem::take(&mut pending.ids).into_iter().collect(),
        ))
    }

    /// Waits for a change and takes it.
    pub(crate) async fn next(&self) -> Changed {
        loop {
            if let Some(changed) = self.take() {
                return changed;
            }
            self.notify.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_are_kept_once_each_until_taken() {
        let changes = Changes::with_capacity(4);
        assert_eq!(changes.take(), None);
        for id in ["s-2", "s-1", "s-2"] {
            changes.record(id);
        }
        assert_eq!(
            changes.take(),
            Some(Changed::Ids(vec!["s-1".into(), "s-2".into()]))
        );
        assert_eq!(changes.take(), None);
    }

    #[test]
    fn an_overflow_asks_for_everything_and_forgets_the_ids() {
        let changes = Changes::with_capacity(2);
        for id in ["s-1", "s-2", "s-2", "s-3", "s-4"] {
            changes.record(id);
        }
        assert_eq!(changes.take(), Some(Changed::All));
        assert_eq!(changes.take(), None);
        changes.record("s-5");
        assert_eq!(changes.take(), Some(Changed::Ids(vec!["s-5".into()])));
    }

    #[tokio::test]
    async fn a_change_recorded_before_the_wait_is_seen() {
        let changes = Changes::default();
        changes.record("s-1");
        let got = tokio::time::timeout(Duration::from_secs(5), changes.next())
            .await
            .expect("the change was kept");
        assert_eq!(got, Changed::Ids(vec!["s-1".into()]));
    }
}
