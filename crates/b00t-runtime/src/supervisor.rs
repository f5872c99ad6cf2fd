//! The group supervisor: when group agents run, and how many. One loop over one event
//! enum, like the watcher:
//!
//! - **On demand.** The watcher holds every task for a group whose agent is offline and
//!   counts it on its [`LoadBoard`](crate::load::LoadBoard), which the supervisor reads
//!   (a `watch`: the watcher owns what agents are busy with, the supervisor derives its
//!   view and never queues per-task events); the supervisor starts the agent (a container, or a local
//!   process with the `none` runtime). When its card says online, the watcher delivers
//!   the held tasks in order. If it cannot be started, the held tasks are answered
//!   `failed` with the reason ([`Command::Fail`]).
//! - **At most `max_concurrent`.** Other groups queue, first come first served. A queued
//!   group takes the slot of the running agent that has been idle longest (no task in
//!   flight), so no group waits for `idle_timeout`.
//! - **Idle stop.** An agent with no task for `idle_timeout` is stopped.
//! - **Crash restart.** An agent that exits without being asked is restarted after 1 s,
//!   2 s, 4 s … (at most 60 s). After [`MAX_CRASHES`] crashes in a row that never lasted
//!   [`STABLE`], it is left down and its waiting tasks are answered with the log's tail;
//!   the next task tries again.
//! - **Adoption.** At start, containers labelled with this home are taken back when they
//!   run the current spec (same image, mounts, credentials, limits); every other one
//!   (stale, stopped, or of a removed group) is removed. No orphans.
//! - **Shutdown.** Every agent is stopped and its container removed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use b00t_config::Home;
use b00t_container::{GroupContainer, Launched, Launcher};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::launch::{group_container, AgentPasswords, GroupPlace, Reach};
use crate::load::{AgentLoad, Change, Loads};
use crate::watcher::Command;

/// Crashes in a row after which a group is left down until its next task.
pub const MAX_CRASHES: u32 = 5;
/// Up this long, an agent's earlier crashes are forgotten.
pub const STABLE: Duration = Duration::from_secs(30);
/// Longest wait before restarting a crashed agent.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A queued group never takes the slot of an agent busy less than this long ago.
const PREEMPT_AFTER: Duration = Duration::from_secs(1);
/// How long a stopped agent is given to finish before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lines of a crashed agent's log quoted in the error.
const LOG_LINES: usize = 20;

/// Where one group's agent is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Down,
    Queued,
    Starting(u64),
    Running(u64),
    Stopping(u64),
    Backoff(Instant),
    /// Crashed too often; waits for a new task.
    Failed,
}

#[derive(Debug)]
struct Slot {
    phase: Phase,
    handle: Option<Arc<Launched>>,
    last_activity: Instant,
    started: Instant,
    failures: u32,
    online: bool,
    /// A task came while the agent was stopping: start it again afterwards.
    wanted: bool,
}

impl Slot {
    fn new() -> Slot {
        let now = Instant::now();
        Slot {
            phase: Phase::Down,
            handle: None,
            last_activity: now,
            started: now,
            failures: 0,
            online: false,
            wanted: false,
        }
    }

    /// Running, online, busy with nothing (`busy`: its tasks acked and not yet answered,
    /// as the watcher's board counts them), and quiet for at least `quiet`.
    fn idle_for(&self, now: Instant, quiet: Duration, busy: usize) -> bool {
        matches!(self.phase, Phase::Running(_))
            && self.online
            && busy == 0
            && now.duration_since(self.last_activity) >= quiet
    }

    fn occupies(&self) -> bool {
        matches!(
            self.phase,
            Phase::Starting(_) | Phase::Running(_) | Phase::Stopping(_)
        )
    }
}

/// What the supervisor loop reacts to.
enum Event {
    /// The watcher's board changed.
    Loads,
    Started {
        group: String,
        generation: u64,
        outcome: Result<Launched, String>,
    },
    Exited {
        group: String,
        generation: u64,
        code: Result<i64, String>,
    },
    Tick,
    Stop,
}

/// Settings of the supervisor.
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    pub max_concurrent: usize,
    pub idle_timeout: Duration,
    pub home_id: String,
    pub reach: Reach,
}

/// The supervisor's state.
pub struct Supervisor {
    home: Home,
    launcher: Launcher,
    options: SupervisorOptions,
    passwords: AgentPasswords,
    commands: mpsc::Sender<Command>,
    slots: HashMap<String, Slot>,
    queue: VecDeque<String>,
    /// The board as last read.
    seen: HashMap<String, AgentLoad>,
    generation: u64,
    /// Launches and exits reported by the supervisor's own tasks: at most two per group
    /// agent at a time, so a small queue; a full one makes the task wait.
    internal_tx: mpsc::Sender<Event>,
    internal_rx: mpsc::Receiver<Event>,
}

impl Supervisor {
    pub fn new(
        home: Home,
        launcher: Launcher,
        options: SupervisorOptions,
        passwords: AgentPasswords,
        commands: mpsc::Sender<Command>,
    ) -> Supervisor {
        let (internal_tx, internal_rx) = mpsc::channel(64);
        Supervisor {
            home,
            launcher,
            options,
            passwords,
            commands,
            slots: HashMap::new(),
            queue: VecDeque::new(),
            seen: HashMap::new(),
            generation: 0,
            internal_tx,
            internal_rx,
        }
    }

    /// Takes back the containers this home owns that match the current spec, and
    /// removes every other one. Returns the groups adopted.
    pub async fn adopt(&mut self) -> Vec<String> {
        let owned = match self.launcher.adopt(&self.options.home_id).await {
            Ok(owned) => owned,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the containers this home owns");
                return Vec::new();
            }
        };
        let mut adopted = Vec::new();
        for (owned, handle) in owned {
            let desired = self.spec_for(&owned.group).ok();
            let keep = owned.running
                && desired
                    .as_ref()
                    .is_some_and(|d| d.spec_hash() == owned.spec_hash)
                && !self.slots.contains_key(&owned.group);
            if !keep {
                tracing::info!(group = %owned.group, container = %owned.name, running = owned.running, "removing a container this home no longer wants");
                if let Err(e) = handle.remove().await {
                    tracing::warn!(container = %owned.name, error = %e, "cannot remove an old container");
                }
                continue;
            }
            tracing::info!(group = %owned.group, container = %owned.name, "took back a running container");
            self.generation += 1;
            let generation = self.generation;
            let handle = Arc::new(handle);
            self.watch_exit(&owned.group, generation, handle.clone());
            let slot = self
                .slots
                .entry(owned.group.clone())
                .or_insert_with(Slot::new);
            slot.phase = Phase::Running(generation);
            slot.handle = Some(handle);
            adopted.push(owned.group);
        }
        adopted
    }

    /// Runs until `shutdown`, then stops every agent.
    pub async fn run(mut self, mut loads: watch::Receiver<Loads>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // Once the watcher is gone, its board no longer changes.
        let mut board_open = true;
        loop {
            let event = tokio::select! {
                biased;
                _ = shutdown.cancelled() => Event::Stop,
                Some(event) = self.internal_rx.recv() => event,
                changed = loads.changed(), if board_open => match changed {
                    Ok(()) => Event::Loads,
                    Err(_) => {
                        board_open = false;
                        continue;
                    }
                },
                _ = tick.tick() => Event::Tick,
            };
            match event {
                Event::Stop => break,
                Event::Loads => {
                    let now: Vec<(String, AgentLoad)> = loads
                        .borrow_and_update()
                        .iter()
                        .map(|(agent, load)| (agent.clone(), *load))
                        .collect();
                    self.on_loads(now).await;
                }
                Event::Started {
                    group,
                    generation,
                    outcome,
                } => self.on_started(group, generation, outcome).await,
                Event::Exited {
                    group,
                    generation,
                    code,
                } => self.on_exited(group, generation, code).await,
                Event::Tick => self.on_tick().await,
            }
        }
        self.stop_all().await;
    }

    /// What changed on the watcher's board since the last read: agents that came online
    /// or went offline, how busy each is, and tasks that wait for an agent to start.
    async fn on_loads(&mut self, now: Vec<(String, AgentLoad)>) {
        let mut wanted = Vec::new();
        let mut finished = false;
        for (agent, load) in now {
            let change = Change::between(self.seen.get(&agent), &load);
            self.seen.insert(agent.clone(), load);
            if change.came_online {
                let slot = self.slots.entry(agent.clone()).or_insert_with(Slot::new);
                slot.online = true;
                tracing::info!(group = %agent, "group agent online");
            }
            if let Some(slot) = self.slots.get_mut(&agent) {
                if change.went_offline {
                    slot.online = false;
                }
                slot.last_activity = slot.last_activity.max(load.last_activity);
            }
            finished |= change.finished;
            if change.wanted {
                wanted.push(agent);
            }
        }
        for group in wanted {
            self.want(&group).await;
        }
        if finished {
            self.preempt();
        }
    }

    /// A task waits for `group`: start its agent, or queue it.
    async fn want(&mut self, group: &str) {
        let slot = self.slots.entry(group.to_owned()).or_insert_with(Slot::new);
        match slot.phase {
            Phase::Down | Phase::Failed => {
                slot.failures = if slot.phase == Phase::Failed {
                    0
                } else {
                    slot.failures
                };
                self.request_start(group).await;
            }
            Phase::Stopping(_) => slot.wanted = true,
            Phase::Queued | Phase::Starting(_) | Phase::Running(_) | Phase::Backoff(_) => {}
        }
    }

    async fn request_start(&mut self, group: &str) {
        if self.occupied() < self.options.max_concurrent {
            self.start(group).await;
            return;
        }
        if let Some(slot) = self.slots.get_mut(group) {
            slot.phase = Phase::Queued;
        }
        if !self.queue.iter().any(|g| g == group) {
            tracing::info!(%group, max = self.options.max_concurrent, "all container slots are taken; the group waits its turn");
            self.queue.push_back(group.to_owned());
        }
        self.preempt();
    }

    fn occupied(&self) -> usize {
        self.slots.values().filter(|s| s.occupies()).count()
    }

    /// Starts `group`'s agent in the background; [`Event::Started`] reports.
    async fn start(&mut self, group: &str) {
        let spec = match self.spec_for(group) {
            Ok(spec) => spec,
            Err(message) => {
                self.fail(group, &message).await;
                if let Some(slot) = self.slots.get_mut(group) {
                    slot.phase = Phase::Failed;
                }
                return;
            }
        };
        self.generation += 1;
        let generation = self.generation;
        let slot = self.slots.entry(group.to_owned()).or_insert_with(Slot::new);
        slot.phase = Phase::Starting(generation);
        slot.wanted = false;
        slot.online = false;
        tracing::info!(%group, image = %spec.image, "starting group agent");
        let launcher = self.launcher.clone();
        let tx = self.internal_tx.clone();
        let group = group.to_owned();
        tokio::spawn(async move {
            let outcome = launcher.launch(&spec).await.map_err(|e| e.to_string());
            let _ = tx
                .send(Event::Started {
                    group,
                    generation,
                    outcome,
                })
                .await;
        });
    }

    fn spec_for(&mut self, group: &str) -> Result<GroupContainer, String> {
        let groups = b00t_groups::Groups::new(self.home.groups_dir());
        let found = groups.get(group).map_err(|e| e.to_string())?;
        let place = GroupPlace {
            name: group.to_owned(),
            dir: found.dir.clone(),
            privileged: found.privileged,
            model: found.config.model.clone(),
        };
        let password = if self.options.reach.needs_password() {
            Some(self.passwords.password(group).map_err(|e| e.to_string())?)
        } else {
            None
        };
        group_container(
            &self.home,
            &self.options.home_id,
            &place,
            &self.options.reach,
            password.as_deref(),
        )
        .map_err(|e| e.to_string())
    }

    async fn on_started(
        &mut self,
        group: String,
        generation: u64,
        outcome: Result<Launched, String>,
    ) {
        let current = self
            .slots
            .get(&group)
            .is_some_and(|s| s.phase == Phase::Starting(generation));
        match outcome {
            Ok(launched) if current => {
                tracing::info!(%group, agent = %launched.describe(), "group agent started");
                let handle = Arc::new(launched);
                self.watch_exit(&group, generation, handle.clone());
                let slot = self.slots.get_mut(&group).expect("a current slot");
                slot.phase = Phase::Running(generation);
                slot.handle = Some(handle);
                slot.started = Instant::now();
                slot.last_activity = Instant::now();
            }
            Ok(launched) => {
                // Given up on while it started (shutdown, removal): undo it.
                let _ = launched.stop(STOP_GRACE).await;
                let _ = launched.remove().await;
            }
            Err(message) => {
                tracing::warn!(%group, error = %message, "group agent could not start");
                if current {
                    if let Some(slot) = self.slots.get_mut(&group) {
                        slot.phase = Phase::Failed;
                    }
                    self.fail(
                        &group,
                        &format!("the agent of group `{group}` could not start: {message}"),
                    )
                    .await;
                    self.pump().await;
                }
            }
        }
    }

    fn watch_exit(&self, group: &str, generation: u64, handle: Arc<Launched>) {
        let tx = self.internal_tx.clone();
        let group = group.to_owned();
        tokio::spawn(async move {
            let code = handle.wait_exit().await.map_err(|e| e.to_string());
            drop(handle);
            let _ = tx
                .send(Event::Exited {
                    group,
                    generation,
                    code,
                })
                .await;
        });
    }

    async fn on_exited(&mut self, group: String, generation: u64, code: Result<i64, String>) {
        let Some(slot) = self.slots.get_mut(&group) else {
            return;
        };
        let handle = slot.handle.take();
        let phase = slot.phase;
        slot.online = false;
        match phase {
            Phase::Stopping(g) if g == generation => {
                tracing::info!(%group, "group agent stopped");
                slot.phase = Phase::Down;
                let wanted = std::mem::take(&mut slot.wanted);
                remove(handle).await;
                if wanted {
                    self.request_start(&group).await;
                }
            }
            Phase::Running(g) if g == generation => {
                let tail = match &handle {
                    Some(h) => h.logs_tail(LOG_LINES).await.unwrap_or_default(),
                    None => String::new(),
                };
                let code = match code {
                    Ok(code) => format!("exit code {code}"),
                    Err(e) => e,
                };
                remove(handle).await;
                let slot = self.slots.get_mut(&group).expect("the slot is there");
                slot.failures = if slot.started.elapsed() >= STABLE {
                    1
                } else {
                    slot.failures + 1
                };
                let failures = slot.failures;
                if failures > MAX_CRASHES {
                    slot.phase = Phase::Failed;
                    tracing::error!(%group, %code, "group agent keeps crashing; left down until its next task");
                    let last = tail.lines().last().unwrap_or("").trim().to_owned();
                    self.fail(
                        &group,
                        &format!(
                            "the agent of group `{group}` crashed {failures} times in a row ({code}; last log line: {last:?}); see `docker logs` or the b00t log"
                        ),
                    )
                    .await;
                } else {
                    let delay = backoff(failures);
                    tracing::warn!(%group, %code, restart_in_ms = delay.as_millis() as u64, log = %tail.trim_end(), "group agent crashed; restarting");
                    slot.phase = Phase::Backoff(Instant::now() + delay);
                }
            }
            _ => remove(handle).await,
        }
        self.pump().await;
    }

    async fn on_tick(&mut self) {
        let now = Instant::now();
        let idle = self.options.idle_timeout;
        let mut to_stop = Vec::new();
        let mut to_start = Vec::new();
        let groups_dir = self.home.groups_dir();
        let mut removed = Vec::new();
        for (group, slot) in &self.slots {
            if slot.idle_for(now, idle, busy(&self.seen, group)) {
                tracing::info!(%group, idle_s = idle.as_secs(), "group agent idle; stopping it");
                to_stop.push(group.clone());
            }
            if matches!(slot.phase, Phase::Backoff(until) if now >= until) {
                to_start.push(group.clone());
            }
            if !groups_dir.join(group).is_dir() && slot.phase != Phase::Down {
                removed.push(group.clone());
            }
        }
        for group in to_stop {
            self.stop(&group);
        }
        for group in to_start {
            if let Some(slot) = self.slots.get_mut(&group) {
                slot.phase = Phase::Down;
            }
            self.request_start(&group).await;
        }
        // A group may be waiting for the slot of an agent that has just become idle.
        self.preempt();
        for group in removed {
            tracing::info!(%group, "group folder removed; stopping its agent");
            self.queue.retain(|g| *g != group);
            self.stop(&group);
            if let Some(slot) = self.slots.get_mut(&group) {
                if !slot.occupies() {
                    slot.phase = Phase::Down;
                }
            }
            let _ = self.passwords.forget(&group);
            self.fail(&group, &format!("group `{group}` was removed"))
                .await;
        }
    }

    /// Asks `group`'s running agent to stop; [`Event::Exited`] follows.
    fn stop(&mut self, group: &str) {
        let Some(slot) = self.slots.get_mut(group) else {
            return;
        };
        let Phase::Running(generation) = slot.phase else {
            return;
        };
        slot.phase = Phase::Stopping(generation);
        if let Some(handle) = slot.handle.clone() {
            tokio::spawn(async move {
                if let Err(e) = handle.stop(STOP_GRACE).await {
                    tracing::warn!(error = %e, "stopping a group agent failed");
                }
            });
        }
    }

    /// Starts queued groups while there are free slots.
    async fn pump(&mut self) {
        while self.occupied() < self.options.max_concurrent {
            let Some(group) = self.queue.pop_front() else {
                break;
            };
            if self
                .slots
                .get(&group)
                .is_some_and(|s| s.phase == Phase::Queued)
            {
                self.start(&group).await;
            }
        }
        self.preempt();
    }

    /// A group waits and every slot is taken: stop the agent idle the longest, if any.
    fn preempt(&mut self) {
        if self.queue.is_empty() || self.occupied() < self.options.max_concurrent {
            return;
        }
        if self
            .slots
            .values()
            .any(|s| matches!(s.phase, Phase::Stopping(_)))
        {
            return; // A slot is already being freed.
        }
        if let Some(group) = idlest(&self.slots, &self.seen, Instant::now()) {
            tracing::info!(%group, waiting = %self.queue[0], "freeing a slot: stopping the idlest group agent");
            self.stop(&group);
        }
    }

    /// Answers every task waiting for `group` with `failed`.
    async fn fail(&self, group: &str, message: &str) {
        let _ = self
            .commands
            .send(Command::Fail {
                agent: group.to_owned(),
                message: message.to_owned(),
            })
            .await;
    }

    async fn stop_all(&mut self) {
        let handles: Vec<Arc<Launched>> = self
            .slots
            .values_mut()
            .filter_map(|s| s.handle.take())
            .collect();
        if handles.is_empty() {
            return;
        }
        tracing::info!(count = handles.len(), "stopping group agents");
        let stops = handles.into_iter().map(|handle| async move {
            let _ = handle.stop(STOP_GRACE).await;
            remove(Some(handle)).await;
        });
        futures_util::future::join_all(stops).await;
    }
}

/// How many tasks `group`'s agent acked and has not answered, on the watcher's board:
/// the supervisor reads it there, it keeps no count of its own.
fn busy(seen: &HashMap<String, AgentLoad>, group: &str) -> usize {
    seen.get(group).map_or(0, |load| load.busy)
}

/// The running agent idle the longest (at least [`PREEMPT_AFTER`]): the one whose slot a
/// queued group takes.
fn idlest(
    slots: &HashMap<String, Slot>,
    seen: &HashMap<String, AgentLoad>,
    now: Instant,
) -> Option<String> {
    slots
        .iter()
        .filter(|(g, s)| s.idle_for(now, PREEMPT_AFTER, busy(seen, g)))
        .min_by_key(|(_, s)| s.last_activity)
        .map(|(g, _)| g.clone())
}

/// Removes a container (or reaps a process) once the tasks still holding its handle (a
/// stop that is returning, the exit watcher) let go of it; the next start of the group
/// reuses the container's name, so this is awaited.
async fn remove(handle: Option<Arc<Launched>>) {
    let Some(mut handle) = handle else {
        return;
    };
    let deadline = Instant::now() + REMOVE_LIMIT;
    let launched = loop {
        match Arc::try_unwrap(handle) {
            Ok(launched) => break launched,
            Err(shared) if Instant::now() < deadline => {
                handle = shared;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(shared) => {
                tracing::warn!(agent = %shared.describe(), "a stopped group agent is still in use; not removed");
                return;
            }
        }
    };
    if let Err(e) = launched.remove().await {
        tracing::warn!(error = %e, "cannot remove a stopped group agent");
    }
}

/// Longest wait for the other holders of a stopped agent's handle.
const REMOVE_LIMIT: Duration = Duration::from_secs(5);

/// 1 s, 2 s, 4 s … at most [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(6);
    (Duration::from_secs(1) * 2u32.pow(exp)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot in `phase`, online or not, last active `ago`.
    fn slot(phase: Phase, online: bool, ago: Duration) -> Slot {
        Slot {
            phase,
            online,
            last_activity: Instant::now() - ago,
            ..Slot::new()
        }
    }

    /// The watcher's board as the supervisor last read it: `busy` tasks for each group.
    fn board(busy: &[(&str, usize)]) -> HashMap<String, AgentLoad> {
        busy.iter()
            .map(|(group, busy)| {
                let load = AgentLoad {
                    online: true,
                    came_online: 1,
                    wanted: 0,
                    finished: 0,
                    busy: *busy,
                    last_activity: Instant::now(),
                };
                ((*group).to_owned(), load)
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn idle_agents_are_stopped_and_the_idlest_gives_its_slot() {
        // Paused time: `Instant::now() - ago` needs a clock far enough from zero.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let idle = Duration::from_secs(60);
        let s = Duration::from_secs;
        // What, the slot, its busy count on the board, whether idle stops it, whether a
        // queued group may take its place.
        let cases = [
            (
                "running, online, nothing to do, quiet long enough",
                slot(Phase::Running(1), true, s(61)),
                0,
                true,
                true,
            ),
            (
                "quiet, but busy with a task",
                slot(Phase::Running(1), true, s(61)),
                1,
                false,
                false,
            ),
            (
                "quiet, but its card is not online yet",
                slot(Phase::Running(1), false, s(61)),
                0,
                false,
                false,
            ),
            (
                "not idle long enough to stop, long enough to preempt",
                slot(Phase::Running(1), true, s(2)),
                0,
                false,
                true,
            ),
            (
                "active under a second ago",
                slot(Phase::Running(1), true, Duration::from_millis(500)),
                0,
                false,
                false,
            ),
            (
                "starting",
                slot(Phase::Starting(1), true, s(61)),
                0,
                false,
                false,
            ),
            (
                "already stopping",
                slot(Phase::Stopping(1), true, s(61)),
                0,
                false,
                false,
            ),
        ];
        let now = Instant::now();
        for (what, slot, busy, stops, preemptible) in cases {
            assert_eq!(slot.idle_for(now, idle, busy), stops, "{what}: idle stop");
            let one = HashMap::from([("g".to_owned(), slot)]);
            assert_eq!(
                idlest(&one, &board(&[("g", busy)]), now).is_some(),
                preemptible,
                "{what}: preemptible"
            );
        }
        // Of several, the one quiet the longest; the busy count is the board's, and a
        // group the board does not know is busy with nothing.
        let slots = HashMap::from([
            ("work".to_owned(), slot(Phase::Running(1), true, s(5))),
            ("family".to_owned(), slot(Phase::Running(2), true, s(30))),
            ("busy".to_owned(), slot(Phase::Running(3), true, s(300))),
        ]);
        let seen = board(&[("busy", 2), ("family", 0)]);
        assert_eq!(idlest(&slots, &seen, now).as_deref(), Some("family"));
        let seen = board(&[("busy", 0)]);
        assert_eq!(idlest(&slots, &seen, now).as_deref(), Some("busy"));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let got: Vec<u64> = (1..=8).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
