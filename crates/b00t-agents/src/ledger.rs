//! Which (address, id) pairs an agent has taken, and the final reply of each finished
//! one, so that a duplicate gets the stored reply instead of a second execution.
//!
//! Memory holds the tasks running now and a bounded window of recent finished ones. With
//! a journal, every finished execution is also committed there before its result is
//! published, and a task missing from memory is looked up in it: the guarantee then
//! holds across restarts and for the journal's whole retention. Without a journal (an
//! agent process run without `--state`) the window is the guarantee. A record the journal
//! could not commit is an error to `finish` and leaves nothing behind: the task's result
//! is not published, and a later copy of the same id runs again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use b00t_journal::{ExecutionLookup, Journal, JournalError, JournalHandle};
use b00t_proto::TaskKey;

use crate::seen::Seen;
use crate::AgentError;

/// What the ledger knows of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Never seen: execute it (it is now marked running).
    New,
    /// Being executed now: ack again, do not run it twice; its final reply will also be
    /// sent to this duplicate's reply base.
    Running,
    /// Finished: send this stored final reply again.
    Done(Vec<u8>),
}

/// A final reply the journal could not commit: it must not be published.
#[derive(Debug)]
pub struct NotRecorded {
    /// Why: names the journal file and the cause.
    pub error: JournalError,
    /// Reply bases of the duplicates that came while the task ran, owed the error reply.
    pub owed: Vec<String>,
}

type Key = TaskKey;

/// A task the ledger knows.
enum Entry {
    /// Running; the reply bases of duplicates that arrived meanwhile.
    Running(Vec<String>),
    /// Finished, with its final reply.
    Done(Vec<u8>),
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Insertion order, to forget the oldest finished entries first.
    order: VecDeque<Key>,
    /// Every key this agent ever executed, journaled ones too: a key it does not hold
    /// needs no journal look-up. `None` (no journal, or it could not be read): ask.
    seen: Option<Seen>,
}

/// The journal side of a ledger: where executions are committed and looked up.
struct Store {
    writer: JournalHandle,
    /// Shared with the blocking threads that run look-ups.
    lookup: Arc<ExecutionLookup>,
}

/// The execution ledger of one agent.
pub struct Ledger {
    state: Mutex<State>,
    /// `None` keeps everything in memory only.
    store: Option<Store>,
    agent: String,
    capacity: usize,
}

impl Ledger {
    /// Finished tasks remembered in memory by a ledger without a journal.
    pub const MEMORY_CAPACITY: usize = 10_000;
    /// Finished tasks kept in memory by a journaled ledger, for fast duplicates.
    pub const JOURNALED_CAPACITY: usize = 1_024;

    /// A ledger that lives as long as the process.
    pub fn in_memory(agent: &str) -> Ledger {
        Ledger {
            state: Mutex::default(),
            store: None,
            agent: agent.to_owned(),
            capacity: Self::MEMORY_CAPACITY,
        }
    }

    /// A ledger backed by `journal`. Reads which ids `agent` executed (a Bloom filter,
    /// so that a new id costs no journal look-up).
    pub fn journaled(agent: &str, journal: &Journal) -> Result<Ledger, AgentError> {
        let lookup = journal.execution_lookup()?;
        let mut seen = Seen::new();
        let seen = match lookup.each_key_of(agent, |address, id| seen.insert(address, id)) {
            Ok(()) => Some(seen),
            Err(e) => {
                tracing::warn!(%agent, error = %e, "could not read the executions; every task id is looked up in the journal");
                None
            }
        };
        let ledger = Ledger {
            store: Some(Store {
                writer: journal.handle(),
                lookup: Arc::new(lookup),
            }),
            capacity: Self::JOURNALED_CAPACITY,
            ..Ledger::in_memory(agent)
        };
        ledger.lock().seen = seen;
        Ok(ledger)
    }

    /// Looks a task up, marking it running when it is new. `reply_base` is where this
    /// copy of the task wants its replies. An id not among the recent ones is looked up
    /// in the journal on a blocking thread, never on the async threads nor under the
    /// ledger's lock.
    pub async fn begin(&self, address: &str, id: &str, reply_base: &str) -> Begin {
        let key = TaskKey::new(address, id);
        if let Some(known) = self.begin_known(&key, reply_base) {
            return known;
        }
        let never_seen = self
            .lock()
            .seen
            .as_ref()
            .is_some_and(|seen| !seen.may_contain(address, id));
        let stored = match &self.store {
            None => None,
            Some(_) if never_seen => None,
            Some(store) => {
                let (lookup, agent) = (store.lookup.clone(), self.agent.clone());
                let TaskKey { address, id } = key.clone();
                let looked_up =
                    tokio::task::spawn_blocking(move || lookup.get(&address, &id)).await;
                match looked_up {
                    Ok(Ok(stored)) => stored,
                    Ok(Err(e)) => {
                        // Unreadable journal: running it beats dropping it; say so loudly.
                        tracing::error!(%agent, error = %e, "execution look-up failed; the task runs");
                        None
                    }
                    Err(e) => {
                        tracing::error!(%agent, error = %e, "execution look-up did not finish; the task runs");
                        None
                    }
                }
            }
        };
        // Another copy may have begun while the journal was asked.
        if let Some(known) = self.begin_known(&key, reply_base) {
            return known;
        }
        let mut state = self.lock();
        let (begin, entry) = match stored {
            Some(reply) => (Begin::Done(reply.clone()), Entry::Done(reply)),
            None => (Begin::New, Entry::Running(Vec::new())),
        };
        state.entries.insert(key.clone(), entry);
        state.order.push_back(key);
        self.evict(&mut state);
        begin
    }

    /// What the memory knows of `key`: running (this copy is owed the reply too) or done.
    fn begin_known(&self, key: &Key, reply_base: &str) -> Option<Begin> {
        let mut state = self.lock();
        match state.entries.get_mut(key) {
            Some(Entry::Running(waiting)) => {
                if !waiting.iter().any(|b| b == reply_base) {
                    waiting.push(reply_base.to_owned());
                }
                Some(Begin::Running)
            }
            Some(Entry::Done(reply)) => Some(Begin::Done(reply.clone())),
            None => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the final reply once it is durable (when journaled), and returns the reply
    /// bases of the duplicates that came while it ran, which are owed the reply too.
    ///
    /// When the journal cannot commit the record the task is forgotten, not marked
    /// finished: its reply must not be published (the caller answers with the error
    /// instead), and a later copy of the same id runs again.
    pub async fn finish(
        &self,
        address: &str,
        id: &str,
        reply: &[u8],
    ) -> Result<Vec<String>, NotRecorded> {
        let committed = match &self.store {
            Some(store) => {
                store
                    .writer
                    .execution(&self.agent, address, id, reply)
                    .await
            }
            None => Ok(()),
        };
        let mut state = self.lock();
        let key = TaskKey::new(address, id);
        match committed {
            Ok(()) => {
                if let Some(seen) = state.seen.as_mut() {
                    seen.insert(address, id);
                }
                match state.entries.insert(key, Entry::Done(reply.to_vec())) {
                    Some(Entry::Running(waiting)) => Ok(waiting),
                    _ => Ok(Vec::new()),
                }
            }
            Err(error) => {
                let owed = match state.entries.remove(&key) {
                    Some(Entry::Running(waiting)) => waiting,
                    _ => Vec::new(),
                };
                state.order.retain(|k| *k != key);
                Err(NotRecorded { error, owed })
            }
        }
    }

    /// Tasks in memory (running, and recent finished ones).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(&self, state: &mut State) {
        let mut scanned = 0;
        while state.entries.len() > self.capacity && scanned < state.order.len() {
            let Some(key) = state.order.pop_front() else {
                break;
            };
            if matches!(state.entries.get(&key), Some(Entry::Running(_))) {
                // Still running: keep it, look further.
                state.order.push_back(key);
                scanned += 1;
            } else {
                state.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copies_that_race_a_journal_look_up_run_once() {
        let dir = std::env::temp_dir().join(format!("b00t-ledger-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let journal = Journal::open(&dir.join("j.db")).unwrap();
        let l = std::sync::Arc::new(Ledger::journaled("a", &journal).unwrap());
        let copies = (0..8).map(|n| {
            let l = l.clone();
            tokio::spawn(async move { l.begin("b00t.a.s", "race", &format!("base-{n}")).await })
        });
        let mut new = 0;
        for copy in copies {
            match copy.await.unwrap() {
                Begin::New => new += 1,
                Begin::Running => {}
                Begin::Done(_) => panic!("nothing finished yet"),
            }
        }
        assert_eq!(new, 1, "one copy runs, the others wait for its reply");
        let owed = l.finish("b00t.a.s", "race", b"r").await.unwrap();
        assert_eq!(owed.len(), 7, "every other copy is owed the reply");
        drop(l);
        journal.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn new_running_done() {
        let l = Ledger::in_memory("a");
        assert_eq!(l.begin("b00t.a.s", "1", "base").await, Begin::New);
        assert_eq!(l.begin("b00t.a.s", "1", "other").await, Begin::Running);
        assert_eq!(l.begin("b00t.a.s", "1", "other").await, Begin::Running);
        assert_eq!(
            l.begin("b00t.a.t", "1", "base").await,
            Begin::New,
            "per address"
        );
        let owed = l.finish("b00t.a.s", "1", b"r").await.unwrap();
        assert_eq!(owed, ["other"], "each duplicate's base, once");
        assert_eq!(
            l.begin("b00t.a.s", "1", "base").await,
            Begin::Done(b"r".to_vec())
        );
    }

    #[tokio::test]
    async fn memory_is_bounded_and_forgets_oldest_finished_first() {
        let l = Ledger {
            capacity: 2,
            ..Ledger::in_memory("a")
        };
        assert_eq!(l.begin("x", "running", "b").await, Begin::New);
        l.begin("x", "1", "b").await;
        l.finish("x", "1", b"1").await.unwrap();
        l.begin("x", "2", "b").await;
        assert_eq!(l.len(), 2);
        assert_eq!(
            l.begin("x", "running", "b").await,
            Begin::Running,
            "a running entry is kept"
        );
        assert_eq!(
            l.begin("x", "1", "b").await,
            Begin::New,
            "the oldest finished one went"
        );
    }

    #[tokio::test]
    async fn journaled_ledger_finds_what_memory_forgot_and_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("b00t-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.db");
        let journal = Journal::open(&path).unwrap();
        let l = Ledger {
            capacity: 1,
            ..Ledger::journaled("a", &journal).unwrap()
        };
        l.begin("b00t.a.s", "7", "b").await;
        l.finish("b00t.a.s", "7", b"stored").await.unwrap();
        for n in 0..3 {
            l.begin("b00t.a.s", &n.to_string(), "b").await;
        }
        assert!(l.len() <= 3, "only running tasks stay beyond capacity");
        assert_eq!(
            l.begin("b00t.a.s", "7", "b").await,
            Begin::Done(b"stored".to_vec()),
            "from the journal"
        );
        drop(l);
        journal.close().await;

        let journal = Journal::open(&path).unwrap();
        let l = Ledger::journaled("a", &journal).unwrap();
        assert_eq!(
            l.begin("b00t.a.s", "7", "b").await,
            Begin::Done(b"stored".to_vec())
        );
        assert_eq!(l.begin("b00t.a.s", "8", "b").await, Begin::New);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A tmpfs mounted on a fresh folder, unmounted (lazily) and removed on drop.
    struct Tmpfs(std::path::PathBuf);

    impl Tmpfs {
        fn mount(size: &str) -> Result<Tmpfs, String> {
            let dir = std::env::temp_dir().join(format!(
                "b00t-ledger-full-{}-{}",
                std::process::id(),
                b00t_journal::now_ms()
            ));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let out = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&dir)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                std::fs::remove_dir(&dir).ok();
                return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
            }
            Ok(Tmpfs(dir))
        }

        /// Writes a file until the disk is full; returns it.
        fn fill(&self) -> std::path::PathBuf {
            use std::io::Write;
            let filler = self.0.join("filler");
            let mut file = std::fs::File::create(&filler).unwrap();
            while file.write_all(&[0u8; 4096]).is_ok() {}
            while file.write_all(&[0u8]).is_ok() {}
            filler
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    #[tokio::test]
    async fn a_record_that_does_not_commit_is_an_error_and_leaves_the_task_unfinished() {
        let fs = match Tmpfs::mount("1m") {
            Ok(fs) => fs,
            Err(why) => {
                // The journal's own tests cover a full database with max_page_count.
                eprintln!("skipping the full-disk ledger test: cannot mount a tmpfs ({why})");
                return;
            }
        };
        let path = fs.0.join("journal.db");
        let journal = Journal::open(&path).unwrap();
        let l = Ledger::journaled("a", &journal).unwrap();
        let big = vec![b'r'; 128 * 1024];
        assert_eq!(l.begin("b00t.a.s", "1", "base").await, Begin::New);
        assert_eq!(l.begin("b00t.a.s", "1", "dup").await, Begin::Running);
        let filler = fs.fill();
        let not_recorded = l.finish("b00t.a.s", "1", &big).await.unwrap_err();
        let message = not_recorded.error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("database or disk is full"), "{message}");
        assert_eq!(
            not_recorded.owed,
            ["dup"],
            "the duplicate is owed the error"
        );
        assert_eq!(
            l.begin("b00t.a.s", "1", "base").await,
            Begin::New,
            "not finished: a copy runs again"
        );

        std::fs::remove_file(&filler).unwrap();
        assert!(l.finish("b00t.a.s", "1", &big).await.unwrap().is_empty());
        assert_eq!(
            l.begin("b00t.a.s", "1", "base").await,
            Begin::Done(big.clone())
        );
        drop(l);
        journal.close().await;
        let journal = Journal::open(&path).unwrap();
        let l = Ledger::journaled("a", &journal).unwrap();
        assert_eq!(
            l.begin("b00t.a.s", "1", "base").await,
            Begin::Done(big),
            "committed"
        );
        drop(l);
        journal.close().await;
    }
}
