//! [`Store`]: the schedules in the journal, for async code. Each operation runs the
//! journal's synchronous [`ScheduleStore`] on a blocking thread, and every change wakes
//! the firing loop so that it sleeps until the right schedule, and is noted (by id) for
//! the replication publisher.

use std::path::Path;
use std::sync::Arc;

use b00t_journal::{Inserted, ScheduleRow, ScheduleStore};
use tokio::sync::Notify;

use crate::changes::Changes;
use crate::{Schedule, SchedulerError};

/// A cloneable handle to the schedules; clones share the connection and the wake-up.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<ScheduleStore>,
    /// Signalled on every add and remove; the firing loop waits on it beside its timer.
    /// A signal with nobody waiting is kept (one permit), so none is lost.
    wake: Arc<Notify>,
    /// The ids of every add, remove and fire, for `replica::run_publisher` (the one
    /// taker); bounded, and kept whether or not anyone replicates.
    pub(crate) changes: Arc<Changes>,
}

/// What [`Store::add`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    Added,
    /// The group already has this many schedules, the limit.
    GroupFull(usize),
    /// The id is taken; pick another.
    IdTaken,
}

impl Store {
    /// The schedules of the journal at `journal_path` (created when missing).
    pub fn open(journal_path: &Path) -> Result<Store, SchedulerError> {
        Ok(Store {
            inner: Arc::new(ScheduleStore::open(journal_path)?),
            wake: Arc::new(Notify::new()),
            changes: Arc::new(Changes::default()),
        })
    }

    /// Adds `schedule` unless its group has `max_per_group` already.
    pub async fn add(
        &self,
        schedule: &Schedule,
        max_per_group: usize,
    ) -> Result<Added, SchedulerError> {
        let row = schedule.to_row();
        let inserted = self
            .blocking(move |s| s.insert(&row, max_per_group))
            .await?;
        Ok(match inserted {
            Inserted::Added => {
                self.wake.notify_one();
                self.changes.record(&schedule.id);
                Added::Added
            }
            Inserted::GroupFull(n) => Added::GroupFull(n),
            Inserted::IdTaken => Added::IdTaken,
        })
    }

    /// Every schedule, or `group`'s, soonest first. A row that no longer reads is
    /// logged and left out.
    pub async fn list(&self, group: Option<&str>) -> Result<Vec<Schedule>, SchedulerError> {
        let group = group.map(str::to_owned);
        let rows = self.blocking(move |s| s.list(group.as_deref())).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| match Schedule::from_row(row) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            })
            .collect())
    }

    /// Removes `id`; `false` when there was no such schedule.
    pub async fn remove(&self, id: &str) -> Result<bool, SchedulerError> {
        let owned = id.to_owned();
        let removed = self.blocking(move |s| s.remove(&owned)).await?;
        if removed {
            self.wake.notify_one();
            self.changes.record(id);
        }
        Ok(removed)
    }

    /// Records the fire of `id`'s slot `due_ms` at `fired_ms`: the next fire, or for a
    /// schedule that never fires again, its removal.
    pub async fn fired(
        &self,
        id: &str,
        due_ms: i64,
        fired_ms: i64,
        next_ms: Option<i64>,
    ) -> Result<(), SchedulerError> {
        let owned = id.to_owned();
        self.blocking(move |s| match next_ms {
            Some(_) => s.fired(&owned, due_ms, fired_ms, next_ms).map(drop),
            None => s.remove(&owned).map(drop),
        })
        .await?;
        self.changes.record(id);
        Ok(())
    }

    /// The stored row of `id`, as it is (read or not), if there is one.
    pub(crate) async fn row(&self, id: &str) -> Result<Option<ScheduleRow>, SchedulerError> {
        let id = id.to_owned();
        self.blocking(move |s| s.get(&id)).await
    }

    /// Every stored row, as it is.
    pub(crate) async fn rows(&self) -> Result<Vec<ScheduleRow>, SchedulerError> {
        self.blocking(|s| s.list(None)).await
    }

    /// Resolves on the next add or remove (or at once if one came since the last wait).
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&ScheduleStore) -> Result<T, b00t_journal::JournalError> + Send + 'static,
    ) -> Result<T, SchedulerError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| SchedulerError::Blocking(e.to_string()))?
            .map_err(SchedulerError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::When;
    use b00t_proto::Name;
    use std::time::Duration;

    fn schedule(id: &str, group: &str, when: When, next_ms: i64) -> Schedule {
        Schedule {
            id: id.into(),
            group: Name::parse(group).unwrap(),
            text: format!("text of {id}"),
            when,
            next_ms: Some(next_ms),
            created_ms: 1,
            last_fired_ms: None,
            fired: 0,
        }
    }

    #[tokio::test]
    async fn schedules_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("journal.db");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let cron = schedule(
            "s-00000001",
            "family",
            When::Cron("0 9 * * 1-5".into()),
            300,
        );
        let every = schedule(
            "s-00000002",
            "family",
            When::Every(Duration::from_secs(60)),
            100,
        );
        let once = schedule("s-00000003", "main", When::Once(200), 200);
        {
            let store = Store::open(&path).unwrap();
            for s in [&cron, &every, &once] {
                assert_eq!(store.add(s, 100).await.unwrap(), Added::Added);
            }
            assert_eq!(store.add(&once, 100).await.unwrap(), Added::IdTaken);
            store.fired(&every.id, 100, 150, Some(160)).await.unwrap();
            store.fired(&once.id, 200, 210, None).await.unwrap();
        }
        let store = Store::open(&path).unwrap();
        let all = store.list(None).await.unwrap();
        let mut every_after = every.clone();
        every_after.next_ms = Some(160);
        every_after.last_fired_ms = Some(150);
        every_after.fired = 1;
        assert_eq!(
            all,
            [every_after, cron.clone()],
            "a once schedule is gone after its fire"
        );
        assert_eq!(store.list(Some("main")).await.unwrap(), []);
        assert!(store.remove(&cron.id).await.unwrap());
        assert!(!store.remove(&cron.id).await.unwrap());
    }

    #[tokio::test]
    async fn a_group_holds_at_most_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("j.db")).unwrap();
        for n in 0..3 {
            let s = schedule(&format!("s-0000000{n}"), "family", When::Once(5), 5);
            assert_eq!(store.add(&s, 3).await.unwrap(), Added::Added);
        }
        let s = schedule("s-00000009", "family", When::Once(5), 5);
        assert_eq!(store.add(&s, 3).await.unwrap(), Added::GroupFull(3));
    }

    #[tokio::test]
    async fn a_change_wakes_the_waiter_even_if_it_came_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("j.db")).unwrap();
        let s = schedule("s-00000001", "family", When::Once(5), 5);
        store.add(&s, 10).await.unwrap();
        // The signal was kept: this resolves at once.
        tokio::time::timeout(Duration::from_secs(5), store.changed())
            .await
            .expect("the add was signalled");
    }
}
