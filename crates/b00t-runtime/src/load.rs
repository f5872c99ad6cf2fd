//! What the watcher knows about the agents it can start (group agents), kept by the
//! watcher alone in a [`LoadBoard`] and read by the group supervisor through a `watch`:
//! one small value per group, bounded by the groups rather than by the traffic, and
//! never a queue of per-task events that could grow without limit or, once bounded, make
//! the watcher wait on a supervisor that waits on the watcher ([`Command::Fail`]).
//!
//! The edges the supervisor must not miss (a task wanted the agent, its card turned
//! online, a task of it ended) are counters, so that a reader that skipped values (a
//! `watch` keeps only the latest) still sees each of them; see [`Change::between`].
//!
//! [`Command::Fail`]: crate::watcher::Command::Fail

use std::collections::{HashMap, HashSet};

use tokio::sync::watch;
use tokio::time::Instant;

/// One agent as the supervisor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentLoad {
    /// Its card says online.
    pub online: bool,
    /// Times its card turned online (only grows).
    pub came_online: u64,
    /// Times a task waited for it while it was offline (only grows).
    pub wanted: u64,
    /// Times a task of it got its final reply (only grows).
    pub finished: u64,
    /// Tasks it acked and has not answered yet.
    pub busy: usize,
    /// Its last ack, final reply or coming online.
    pub last_activity: Instant,
}

impl AgentLoad {
    fn new() -> AgentLoad {
        AgentLoad {
            online: false,
            came_online: 0,
            wanted: 0,
            finished: 0,
            busy: 0,
            last_activity: Instant::now(),
        }
    }
}

/// Every agent the watcher reported on, by name.
pub type Loads = HashMap<String, AgentLoad>;

/// The watcher's end: the ids each agent is busy with (tasks the watcher tracks, so as
/// many as its table holds at most) and the published view.
#[derive(Debug)]
pub struct LoadBoard {
    busy: HashMap<String, HashSet<String>>,
    view: watch::Sender<Loads>,
}

impl LoadBoard {
    /// A board and the supervisor's end of it.
    pub fn new() -> (LoadBoard, watch::Receiver<Loads>) {
        let (view, loads) = watch::channel(Loads::new());
        let board = LoadBoard {
            busy: HashMap::new(),
            view,
        };
        (board, loads)
    }

    fn update(&self, agent: &str, change: impl FnOnce(&mut AgentLoad)) {
        self.view.send_modify(|loads| {
            let load = match loads.get_mut(agent) {
                Some(load) => load,
                None => loads.entry(agent.to_owned()).or_insert_with(AgentLoad::new),
            };
            change(load);
        });
    }

    /// A task came for `agent` while it is offline.
    pub(crate) fn wanted(&mut self, agent: &str) {
        self.update(agent, |load| load.wanted += 1);
    }

    /// `agent` acked task `id`, one the watcher tracks.
    pub(crate) fn acked(&mut self, agent: &str, id: &str) {
        let ids = self.busy.entry(agent.to_owned()).or_default();
        ids.insert(id.to_owned());
        let busy = ids.len();
        self.update(agent, |load| {
            load.busy = busy;
            load.last_activity = Instant::now();
        });
    }

    /// `agent` sent the final reply of task `id`.
    pub(crate) fn finished(&mut self, agent: &str, id: &str) {
        let busy = self.busy.get_mut(agent).map_or(0, |ids| {
            ids.remove(id);
            ids.len()
        });
        self.update(agent, |load| {
            load.busy = busy;
            load.finished += 1;
            load.last_activity = Instant::now();
        });
    }

    /// `agent`'s card turned online.
    pub(crate) fn online(&mut self, agent: &str) {
        self.update(agent, |load| {
            load.online = true;
            load.came_online += 1;
            load.last_activity = Instant::now();
        });
    }

    /// `agent`'s card turned offline: what it was busy with went down with it.
    pub(crate) fn offline(&mut self, agent: &str) {
        self.busy.remove(agent);
        self.update(agent, |load| {
            load.online = false;
            load.busy = 0;
        });
    }
}

/// What happened to one agent between two values the supervisor read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// A task waited for it while it was offline.
    pub wanted: bool,
    /// Its card turned online (perhaps after going offline in between).
    pub came_online: bool,
    /// Its card says offline now and said online before.
    pub went_offline: bool,
    /// A task of it ended.
    pub finished: bool,
}

impl Change {
    /// From `before` (`None`: not seen yet) to `now`.
    pub fn between(before: Option<&AgentLoad>, now: &AgentLoad) -> Change {
        let (wanted, came_online, finished, was_online) = before.map_or((0, 0, 0, false), |b| {
            (b.wanted, b.came_online, b.finished, b.online)
        });
        Change {
            wanted: now.wanted > wanted,
            came_online: now.came_online > came_online,
            went_offline: !now.online && (was_online || now.came_online > came_online),
            finished: now.finished > finished,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(loads: &watch::Receiver<Loads>, agent: &str) -> AgentLoad {
        loads.borrow()[agent]
    }

    #[tokio::test(start_paused = true)]
    async fn the_board_counts_what_each_agent_is_busy_with() {
        let (mut board, loads) = LoadBoard::new();
        board.online("family");
        board.acked("family", "t1");
        board.acked("family", "t2");
        // An ack seen twice is one task.
        board.acked("family", "t2");
        assert_eq!(load(&loads, "family").busy, 2);
        tokio::time::advance(std::time::Duration::from_secs(3)).await;
        board.finished("family", "t1");
        // A reply to a task it never acked ends nothing it was busy with.
        board.finished("family", "t9");
        let now = load(&loads, "family");
        assert_eq!((now.busy, now.finished), (1, 2));
        assert_eq!(now.last_activity, Instant::now());
        board.offline("family");
        let now = load(&loads, "family");
        assert_eq!((now.online, now.busy), (false, 0));
        // Another agent has its own count.
        board.wanted("work");
        assert_eq!(load(&loads, "work").wanted, 1);
        assert_eq!(load(&loads, "work").busy, 0);
    }

    /// What the watcher does to the board between two reads.
    type Acts = Box<dyn Fn(&mut LoadBoard)>;

    #[test]
    fn a_reader_that_skipped_values_still_sees_every_edge() {
        let (mut board, loads) = LoadBoard::new();
        let cases: Vec<(&str, Acts, Change)> = vec![
            (
                "a task waits for an agent never seen",
                Box::new(|b| b.wanted("g")),
                Change {
                    wanted: true,
                    ..Change::default()
                },
            ),
            (
                "online, busy and done, read once",
                Box::new(|b| {
                    b.online("g");
                    b.acked("g", "t1");
                    b.finished("g", "t1");
                }),
                Change {
                    came_online: true,
                    finished: true,
                    ..Change::default()
                },
            ),
            (
                "offline, wanted and back online",
                Box::new(|b| {
                    b.offline("g");
                    b.wanted("g");
                    b.online("g");
                }),
                Change {
                    wanted: true,
                    came_online: true,
                    ..Change::default()
                },
            ),
            (
                "online then offline between two reads",
                Box::new(|b| {
                    b.offline("g");
                    b.online("g");
                    b.offline("g");
                }),
                Change {
                    came_online: true,
                    went_offline: true,
                    ..Change::default()
                },
            ),
            ("nothing", Box::new(|_| {}), Change::default()),
        ];
        let mut seen: Option<AgentLoad> = None;
        for (what, act, expected) in cases {
            act(&mut board);
            let now = loads.borrow().get("g").copied().expect("g on the board");
            assert_eq!(Change::between(seen.as_ref(), &now), expected, "{what}");
            seen = Some(now);
        }
    }
}
