//! Tasks the watcher is responsible for: each waits for its ack under a timer. No ack by
//! the deadline: publish again, up to `max_retries` times `retry_delay` apart, then give
//! up. Finished keys are remembered for a while, as 64-bit hashes, so that a late copy
//! of a finished task (a retry that crossed its result) is not tracked again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::time::Duration;

use b00t_bus::Bytes;
use b00t_proto::TaskKey;
use tokio_util::time::{delay_queue, DelayQueue};

/// `(address, id)`: b00t-proto's [`TaskKey`].
pub type Key = TaskKey;

/// One task waiting for its ack or final reply.
#[derive(Debug)]
pub struct Tracked {
    pub payload: Bytes,
    pub reply_to: Option<String>,
    /// Publications after the first.
    pub attempts: u32,
    /// The ack timer; `None` once acked.
    pub timer: Option<delay_queue::Key>,
    /// Arrival order, so that held tasks are delivered in the order they came.
    pub seq: u64,
}

/// What the timer says is due for a task.
#[derive(Debug, PartialEq, Eq)]
pub enum Due {
    /// Publish it again; this is retry number `attempt`.
    Retry { attempt: u32 },
    /// Give up: dead letter plus `undeliverable`.
    Dead { attempts: u32 },
}

/// All tasks in flight, and their timers.
pub struct Table {
    tasks: HashMap<Key, Tracked>,
    timers: DelayQueue<Key>,
    /// Hashes of recently finished keys: 16 bytes each, however long the id.
    finished: HashSet<u64>,
    finished_order: VecDeque<u64>,
    ack_timeout: Duration,
    retry_delay: Duration,
    max_retries: u32,
    next_seq: u64,
}

/// Finished keys remembered: enough to cover retries that cross their result. Later
/// duplicates are tracked anew and answered by the agent's ledger, which is harmless.
const FINISHED_MEMORY: usize = 16_384;

impl Table {
    pub fn new(ack_timeout: Duration, retry_delay: Duration, max_retries: u32) -> Table {
        Table {
            tasks: HashMap::new(),
            timers: DelayQueue::new(),
            finished: HashSet::new(),
            finished_order: VecDeque::new(),
            ack_timeout,
            retry_delay,
            max_retries,
            next_seq: 0,
        }
    }

    /// Whether the task is being tracked or was finished recently.
    pub fn knows(&self, key: &Key) -> bool {
        self.tasks.contains_key(key) || self.finished.contains(&fingerprint(key))
    }

    /// Starts tracking a task just published (or driven again after a restart).
    pub fn track(&mut self, key: Key, payload: Bytes, reply_to: Option<String>, attempts: u32) {
        let timer = self.timers.insert(key.clone(), self.ack_timeout);
        self.next_seq += 1;
        self.tasks.insert(
            key,
            Tracked {
                payload,
                reply_to,
                attempts,
                timer: Some(timer),
                seq: self.next_seq,
            },
        );
    }

    /// The task was acked: stop its timer. Returns whether it was tracked and not acked.
    pub fn ack(&mut self, key: &Key) -> bool {
        match self.tasks.get_mut(key).and_then(|t| t.timer.take()) {
            Some(timer) => {
                self.timers.remove(&timer);
                true
            }
            None => false,
        }
    }

    /// The task ended. Returns whether it was being tracked.
    pub fn finish(&mut self, key: &Key) -> bool {
        let tracked = self.tasks.remove(key);
        if let Some(timer) = tracked.as_ref().and_then(|t| t.timer) {
            self.timers.remove(&timer);
        }
        let print = fingerprint(key);
        if self.finished.insert(print) {
            self.finished_order.push_back(print);
            if self.finished_order.len() > FINISHED_MEMORY {
                if let Some(old) = self.finished_order.pop_front() {
                    self.finished.remove(&old);
                }
            }
        }
        tracked.is_some()
    }

    /// Whether a reply on `base` can be the reply to `key`: on its `reply_to` when it
    /// named one, on its address otherwise. Unknown tasks expect nothing.
    pub fn expects(&self, key: &Key, base: &str) -> bool {
        self.get(key)
            .is_some_and(|t| t.reply_to.as_deref().unwrap_or(key.address.as_str()) == base)
    }

    pub fn get(&self, key: &Key) -> Option<&Tracked> {
        self.tasks.get(key)
    }

    /// Waits for the next timer; pending forever while there is none.
    pub async fn expired(&mut self) -> Key {
        loop {
            if let Some(expired) = std::future::poll_fn(|cx| self.timers.poll_expired(cx)).await {
                return expired.into_inner();
            }
            // No timers: wait for ever (the caller's select! has other branches).
            std::future::pending::<()>().await;
        }
    }

    /// Decides what an expired timer means and re-arms it for a retry.
    pub fn due(&mut self, key: &Key) -> Option<Due> {
        let task = self.tasks.get_mut(key)?;
        task.timer = None;
        if task.attempts < self.max_retries {
            task.attempts += 1;
            task.timer = Some(self.timers.insert(key.clone(), self.retry_delay));
            Some(Due::Retry {
                attempt: task.attempts,
            })
        } else {
            Some(Due::Dead {
                attempts: task.attempts,
            })
        }
    }

    /// Keeps waiting for an ack without counting a delivery: the agent is being
    /// started, and its tasks wait for it however long its turn takes.
    pub fn hold(&mut self, key: &Key) {
        if let Some(task) = self.tasks.get_mut(key) {
            match &task.timer {
                Some(timer) => self.timers.reset(timer, self.ack_timeout),
                None => task.timer = Some(self.timers.insert(key.clone(), self.ack_timeout)),
            }
        }
    }

    /// [`Table::hold`] for a task whose timer has just expired (its timer key is spent).
    pub fn hold_expired(&mut self, key: &Key) {
        if let Some(task) = self.tasks.get_mut(key) {
            task.timer = Some(self.timers.insert(key.clone(), self.ack_timeout));
        }
    }

    /// Tasks on `<agent>.*` addresses that have no ack yet, oldest first.
    pub fn unacked_for(&self, agent: &str) -> Vec<Key> {
        let prefix = format!("{}.{agent}.", b00t_proto::PREFIX);
        let mut keys: Vec<(u64, &Key)> = self
            .tasks
            .iter()
            .filter(|(k, t)| t.timer.is_some() && k.address.starts_with(&prefix))
            .map(|(k, t)| (t.seq, k))
            .collect();
        keys.sort_unstable_by_key(|(seq, _)| *seq);
        keys.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// Every tracked task on `<agent>.*` addresses, oldest first.
    pub fn all_for(&self, agent: &str) -> Vec<Key> {
        let prefix = format!("{}.{agent}.", b00t_proto::PREFIX);
        let mut keys: Vec<(u64, &Key)> = self
            .tasks
            .iter()
            .filter(|(k, _)| k.address.starts_with(&prefix))
            .map(|(k, t)| (t.seq, k))
            .collect();
        keys.sort_unstable_by_key(|(seq, _)| *seq);
        keys.into_iter().map(|(_, k)| k.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

/// A stable 64-bit hash of a key; a collision only means a duplicate is not tracked.
fn fingerprint(key: &Key) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Key {
        TaskKey::new("b00t.a.s", id)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_then_gives_up() {
        let mut t = Table::new(Duration::from_millis(100), Duration::from_millis(50), 2);
        t.track(key("1"), Bytes::from_static(b"{}"), None, 0);
        let start = tokio::time::Instant::now();
        let k = t.expired().await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(t.due(&k), Some(Due::Retry { attempt: 1 }));
        let k = t.expired().await;
        assert_eq!(start.elapsed(), Duration::from_millis(150));
        assert_eq!(t.due(&k), Some(Due::Retry { attempt: 2 }));
        let k = t.expired().await;
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        assert_eq!(t.due(&k), Some(Due::Dead { attempts: 2 }));
        assert!(t.finish(&k));
        assert!(t.knows(&k), "finished keys are remembered");
        assert!(t.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn replies_count_only_on_the_topic_they_go_to() {
        let mut t = Table::new(Duration::from_millis(100), Duration::from_millis(50), 2);
        t.track(key("plain"), Bytes::new(), None, 0);
        t.track(key("routed"), Bytes::new(), Some("app/r".into()), 0);
        for (id, base, expected) in [
            ("plain", "b00t.a.s", true),
            ("plain", "app/r", false),
            ("routed", "app/r", true),
            ("routed", "b00t.a.s", false),
            ("unknown", "b00t.a.s", false),
        ] {
            assert_eq!(t.expects(&key(id), base), expected, "{id} on {base}");
        }
        // A forged ack for an id nobody sent leaves nothing behind.
        assert!(!t.ack(&key("forged")));
        assert!(!t.knows(&key("forged")));
        assert_eq!(t.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ack_stops_the_timer() {
        let mut t = Table::new(Duration::from_millis(100), Duration::from_millis(50), 2);
        t.track(key("1"), Bytes::from_static(b"{}"), None, 0);
        t.track(key("2"), Bytes::from_static(b"{}"), None, 0);
        assert!(t.ack(&key("1")));
        assert!(!t.ack(&key("1")), "a second ack changes nothing");
        let k = t.expired().await;
        assert_eq!(k, key("2"));
        assert!(
            t.get(&key("1")).is_some(),
            "acked tasks wait for their result"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn held_tasks_wait_uncounted_and_come_back_in_order() {
        let mut t = Table::new(Duration::from_millis(100), Duration::from_millis(50), 1);
        for id in ["3", "1", "2"] {
            t.track(key(id), Bytes::from_static(b"{}"), None, 0);
        }
        t.track(TaskKey::new("b00t.other.s", "9"), Bytes::new(), None, 0);
        for _ in 0..5 {
            let k = t.expired().await;
            t.hold_expired(&k);
        }
        // A live timer is pushed back, not duplicated.
        t.hold(&key("2"));
        t.hold(&key("2"));
        assert_eq!(
            t.get(&key("1")).unwrap().attempts,
            0,
            "holding counts nothing"
        );
        assert_eq!(t.unacked_for("a"), vec![key("3"), key("1"), key("2")]);
        t.ack(&key("1"));
        assert_eq!(t.unacked_for("a"), vec![key("3"), key("2")]);
        assert_eq!(t.all_for("a"), vec![key("3"), key("1"), key("2")]);
    }
}
