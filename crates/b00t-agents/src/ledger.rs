//! Which (address, id) pairs an agent has taken, and the final reply of each finished
//! one, so that a duplicate gets the stored reply instead of a second execution. Kept in
//! memory (bounded), and in the journal when the agent has one, so that a restart does
//! not run a finished task again.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use b00t_journal::{Journal, JournalHandle};

use crate::AgentError;

/// What the ledger knows of a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begin {
    /// Never seen: execute it (it is now marked running).
    New,
    /// Being executed now: ack again, do not run it twice.
    Running,
    /// Finished: send this stored final reply again.
    Done(Vec<u8>),
}

type Key = (String, String);

#[derive(Default)]
struct State {
    entries: HashMap<Key, Option<Vec<u8>>>,
    /// Insertion order, to forget the oldest finished entries first.
    order: VecDeque<Key>,
}

/// The execution ledger of one agent.
pub struct Ledger {
    state: Mutex<State>,
    /// Where finished executions are made durable; `None` keeps them in memory only.
    journal: Option<JournalHandle>,
    agent: String,
    capacity: usize,
}

impl Ledger {
    /// Entries remembered in memory, and loaded from the journal at start.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A ledger that lives as long as the process.
    pub fn in_memory(agent: &str) -> Ledger {
        Ledger {
            state: Mutex::default(),
            journal: None,
            agent: agent.to_owned(),
            capacity: Self::DEFAULT_CAPACITY,
        }
    }

    /// A ledger backed by `journal`, primed with the agent's recent executions.
    pub fn journaled(agent: &str, journal: &Journal) -> Result<Ledger, AgentError> {
        let ledger = Ledger {
            journal: Some(journal.handle()),
            ..Ledger::in_memory(agent)
        };
        {
            let mut state = ledger.state.lock().expect("ledger lock");
            for e in journal
                .executions(agent, ledger.capacity)?
                .into_iter()
                .rev()
            {
                let key = (e.address, e.id);
                state.order.push_back(key.clone());
                state.entries.insert(key, Some(e.reply));
            }
        }
        Ok(ledger)
    }

    /// Looks a task up, marking it running when it is new.
    pub fn begin(&self, address: &str, id: &str) -> Begin {
        let mut state = self.state.lock().expect("ledger lock");
        let key = (address.to_owned(), id.to_owned());
        match state.entries.get(&key) {
            Some(None) => Begin::Running,
            Some(Some(reply)) => Begin::Done(reply.clone()),
            None => {
                state.entries.insert(key.clone(), None);
                state.order.push_back(key);
                self.evict(&mut state);
                Begin::New
            }
        }
    }

    /// Records the final reply; returns once it is durable (when journaled).
    pub async fn finish(&self, address: &str, id: &str, reply: &[u8]) {
        let committed = self
            .journal
            .as_ref()
            .map(|j| j.execution(&self.agent, address, id, reply));
        if let Some(committed) = committed {
            let _ = committed.await;
        }
        let mut state = self.state.lock().expect("ledger lock");
        let key = (address.to_owned(), id.to_owned());
        if let Some(entry) = state.entries.get_mut(&key) {
            *entry = Some(reply.to_vec());
        }
    }

    fn evict(&self, state: &mut State) {
        let mut scanned = 0;
        while state.entries.len() > self.capacity && scanned < state.order.len() {
            let Some(key) = state.order.pop_front() else {
                break;
            };
            if matches!(state.entries.get(&key), Some(None)) {
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

    #[tokio::test]
    async fn new_running_done() {
        let l = Ledger::in_memory("a");
        assert_eq!(l.begin("b00t.a.s", "1"), Begin::New);
        assert_eq!(l.begin("b00t.a.s", "1"), Begin::Running);
        assert_eq!(l.begin("b00t.a.t", "1"), Begin::New, "per address");
        l.finish("b00t.a.s", "1", b"r").await;
        assert_eq!(l.begin("b00t.a.s", "1"), Begin::Done(b"r".to_vec()));
    }

    #[tokio::test]
    async fn forgets_oldest_finished_first() {
        let l = Ledger {
            capacity: 2,
            ..Ledger::in_memory("a")
        };
        assert_eq!(l.begin("x", "running"), Begin::New);
        l.begin("x", "1");
        l.finish("x", "1", b"1").await;
        l.begin("x", "2");
        assert_eq!(
            l.begin("x", "running"),
            Begin::Running,
            "a running entry is kept"
        );
        assert_eq!(
            l.begin("x", "1"),
            Begin::New,
            "the oldest finished one went"
        );
    }

    #[tokio::test]
    async fn survives_a_restart_through_the_journal() {
        let dir = std::env::temp_dir().join(format!("b00t-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("j.db");
        let journal = Journal::open(&path).unwrap();
        let l = Ledger::journaled("a", &journal).unwrap();
        l.begin("b00t.a.s", "7");
        l.finish("b00t.a.s", "7", b"stored").await;
        drop(l);
        journal.close().await;
        let journal = Journal::open(&path).unwrap();
        let l = Ledger::journaled("a", &journal).unwrap();
        assert_eq!(l.begin("b00t.a.s", "7"), Begin::Done(b"stored".to_vec()));
        std::fs::remove_dir_all(&dir).ok();
    }
}
