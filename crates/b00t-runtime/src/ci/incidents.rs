//! Incidents as messages: the engine's events about a container with an agent become
//! incidents (`died`, `oom_killed`, `unhealthy`, `crash_loop`), each diagnosed by
//! b00t-ci's analyzers and published on `b00t.ci-<name>/event`, and told to `[ci] chat`
//! as a chat task, at most one per container a minute (`chat.rs`).
//!
//! The [`Tracker`] is pure: per container a bounded window of restart times and what the
//! last events said, so that a stop someone asked for (`docker stop`, `rm -f`, `restart`)
//! is no incident, the `die` that follows an `oom` is part of it, and the deaths of a
//! crash loop are told once, as the loop. The worker does the IO: one loop, fed through
//! a bounded queue, that reads the evidence, publishes and sends, in the order of the
//! events; it never holds up the manager.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use b00t_bus::{Bus, Qos};
use b00t_ci::{Finding, RestartWindow, Verdict};
use b00t_container::{ContainerEvent, Docker};
use b00t_proto::{Address, Channel, ContainerRef, Task, TaskId};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::ci::chat::{self, Outbox};
use crate::ci::evidence::evidence;

/// Restarts within [`CRASH_LOOP_WINDOW`] from which a container is in a crash loop.
pub(crate) const CRASH_LOOP_RESTARTS: u32 = 3;
/// The window restarts are counted in.
pub(crate) const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(60);
/// The channel incidents are published on, under the agent: `b00t.ci-<name>/event`.
pub(crate) const EVENT_CHANNEL: &str = "event";
/// Containers tracked at most (one per agent); past it a new one has no incidents.
const MAX_TRACKED: usize = 4096;
/// Restart times kept per container (more than a window ever needs to see a loop).
const MAX_RESTART_TIMES: usize = 64;
/// A `die` this soon after a `kill` or `stop` event was asked for.
const REQUESTED_STOP_WINDOW: Duration = Duration::from_secs(30);
/// A `die` this soon after an `oom` event is the OOM kill's.
const OOM_DIE_WINDOW: Duration = Duration::from_secs(5);
/// How long after an `oom` event the evidence is read, so that the engine has recorded
/// the death that follows.
const OOM_SETTLE: Duration = Duration::from_millis(300);
/// How long the chat message about a death waits when the engine restarts the
/// container, so that a crash loop that follows is told instead.
const CHAT_HOLD: Duration = Duration::from_secs(5);
/// Incidents waiting for the worker; past it, new ones are dropped with a warning.
const QUEUE: usize = 256;
/// Longest time reading the evidence of one incident may take.
const EVIDENCE_LIMIT: Duration = Duration::from_secs(5);
/// Log lines read for the analyzers.
const LOG_LINES: usize = 200;
/// How long the worker is given to finish when the manager stops.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// What broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IncidentKind {
    /// A `die` with a non-zero exit code nobody asked for.
    Died,
    /// An `oom` event.
    OomKilled,
    /// `health_status: unhealthy`.
    Unhealthy,
    /// [`CRASH_LOOP_RESTARTS`] restarts within [`CRASH_LOOP_WINDOW`].
    CrashLoop,
}

/// What the tracker concluded from one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spotted {
    pub container: ContainerRef,
    pub agent: String,
    pub kind: IncidentKind,
    /// The `die`'s exit code; a crash loop's last one.
    pub exit_code: Option<i64>,
    /// Restarts within the window at the event.
    pub restarts: RestartWindow,
    /// The event's time, unix nanoseconds.
    pub time_nano: i64,
}

/// Per container, what its recent events said.
struct History {
    container: ContainerRef,
    agent: String,
    /// Restart times (unix ns), oldest first, at most [`MAX_RESTART_TIMES`].
    restarts: VecDeque<i64>,
    /// A `die` nobody asked for that no `start` has followed yet.
    died: bool,
    /// When a `kill` or `stop` event last said someone stops it.
    requested_at: Option<i64>,
    /// When the last `oom` event came, until the `die` that follows it.
    oom_at: Option<i64>,
    /// When the last OOM kill was told, until the next `start`: the engine may send
    /// `oom` twice for one kill, before and after its `die`.
    oom_told_at: Option<i64>,
    /// When it last started.
    started_at: Option<i64>,
    /// The last `start` was counted as a restart, or was asked for: the `restart` event
    /// that may follow it is not counted again.
    start_accounted: bool,
    last_exit: Option<i64>,
    unhealthy: bool,
    in_crash_loop: bool,
}

/// The restart windows and event state of every container with an agent.
pub(crate) struct Tracker {
    containers: HashMap<String, History>,
}

impl Tracker {
    pub(crate) fn new() -> Tracker {
        Tracker {
            containers: HashMap::new(),
        }
    }

    /// Starts tracking a container whose agent is `agent`; false when the tracker is full.
    pub(crate) fn watch(&mut self, container: ContainerRef, agent: &str) -> bool {
        if !self.containers.contains_key(&container.id) && self.containers.len() >= MAX_TRACKED {
            return false;
        }
        let history = History {
            container: container.clone(),
            agent: agent.to_owned(),
            restarts: VecDeque::new(),
            died: false,
            requested_at: None,
            oom_at: None,
            oom_told_at: None,
            started_at: None,
            start_accounted: false,
            last_exit: None,
            unhealthy: false,
            in_crash_loop: false,
        };
        self.containers.insert(container.id, history);
        true
    }

    pub(crate) fn forget(&mut self, id: &str) {
        self.containers.remove(id);
    }

    /// The incident `event` is, if any. Events about containers not watched are ignored.
    pub(crate) fn observe(&mut self, event: &ContainerEvent) -> Option<Spotted> {
        let history = self.containers.get_mut(&event.id)?;
        let at = event.time_nano;
        let within = |since: Option<i64>, window: Duration| {
            since.is_some_and(|since| at.saturating_sub(since) <= window.as_nanos() as i64)
        };
        let kind = match event.action.as_str() {
            "kill" | "stop" => {
                history.requested_at = Some(at);
                None
            }
            "oom" => {
                if within(history.oom_told_at, OOM_DIE_WINDOW) {
                    // The same kill again (the engine sent a second `oom`).
                    None
                } else {
                    history.oom_at = Some(at);
                    history.oom_told_at = Some(at);
                    Some(IncidentKind::OomKilled)
                }
            }
            "die" => {
                history.last_exit = event.exit_code;
                let requested = within(history.requested_at, REQUESTED_STOP_WINDOW);
                let oom = within(history.oom_at.take(), OOM_DIE_WINDOW);
                history.died = !requested;
                // A loop is over once the container stayed up for a whole window.
                let stayed_up = history
                    .started_at
                    .is_none_or(|started| !within(Some(started), CRASH_LOOP_WINDOW));
                if stayed_up {
                    history.in_crash_loop = false;
                }
                let failed = event.exit_code.is_some_and(|code| code != 0);
                (!requested && !oom && failed && !history.in_crash_loop)
                    .then_some(IncidentKind::Died)
            }
            "start" => {
                history.unhealthy = false;
                history.oom_told_at = None;
                history.started_at = Some(at);
                let requested = history.requested_at.take().is_some();
                let restarted = std::mem::take(&mut history.died) && !requested;
                history.start_accounted = restarted || requested;
                if restarted {
                    history.restart(at)
                } else {
                    None
                }
            }
            "restart" => {
                if std::mem::take(&mut history.start_accounted) {
                    None
                } else {
                    history.restart(at)
                }
            }
            "health_status: unhealthy" => {
                let was = std::mem::replace(&mut history.unhealthy, true);
                (!was).then_some(IncidentKind::Unhealthy)
            }
            "health_status: healthy" => {
                history.unhealthy = false;
                None
            }
            _ => None,
        }?;
        let exit_code = match kind {
            IncidentKind::Died | IncidentKind::CrashLoop => history.last_exit,
            IncidentKind::OomKilled | IncidentKind::Unhealthy => None,
        };
        Some(Spotted {
            container: history.container.clone(),
            agent: history.agent.clone(),
            kind,
            exit_code,
            restarts: history.window(at),
            time_nano: at,
        })
    }
}

impl History {
    /// Counts a restart at `at`: a crash loop when the window fills, told once, until the
    /// container stays up for a whole window (see the `die` arm of [`Tracker::observe`]).
    fn restart(&mut self, at: i64) -> Option<IncidentKind> {
        if self.restarts.len() >= MAX_RESTART_TIMES {
            self.restarts.pop_front();
        }
        self.restarts.push_back(at);
        if self.window(at).restarts < CRASH_LOOP_RESTARTS {
            return None;
        }
        (!std::mem::replace(&mut self.in_crash_loop, true)).then_some(IncidentKind::CrashLoop)
    }

    /// The restarts within the window that ends at `at`, older ones dropped.
    fn window(&mut self, at: i64) -> RestartWindow {
        let start = at.saturating_sub(CRASH_LOOP_WINDOW.as_nanos() as i64);
        while self.restarts.front().is_some_and(|t| *t < start) {
            self.restarts.pop_front();
        }
        RestartWindow {
            restarts: self.restarts.len() as u32,
            window_s: CRASH_LOOP_WINDOW.as_secs(),
        }
    }
}

/// The manager's side: the tracker, and the queue to the worker.
pub(crate) struct Incidents {
    tracker: Tracker,
    /// To the worker. The manager holds the only sender; [`Incidents::close`] drops it,
    /// which ends the worker once it has reported what is queued.
    queue: mpsc::Sender<Work>,
    /// The worker; it also stops on the manager's stop token.
    worker: JoinHandle<()>,
    told_full: bool,
}

/// One incident for the worker, with the engine connection its event came from.
struct Work {
    docker: Docker,
    spotted: Spotted,
}

impl Incidents {
    /// Starts the worker, which publishes with `bus` and, with `chat`, sends chat tasks
    /// there; it ends when `stop` is cancelled or [`Incidents::close`] is called.
    pub(crate) fn start(bus: Bus, chat: Option<Address>, stop: CancellationToken) -> Incidents {
        let (queue, work) = mpsc::channel(QUEUE);
        let worker = Worker {
            bus,
            chat,
            outbox: Outbox::new(),
            stop,
        };
        Incidents {
            tracker: Tracker::new(),
            queue,
            worker: tokio::spawn(worker.run(work)),
            told_full: false,
        }
    }

    /// A container got its agent `agent`: its events count from now on.
    pub(crate) fn watch(&mut self, container: ContainerRef, agent: &str) {
        if !self.tracker.watch(container, agent) && !self.told_full {
            self.told_full = true;
            tracing::warn!(
                "container CI agents: {MAX_TRACKED} containers are tracked for incidents; `{agent}` and later ones have none"
            );
        }
    }

    /// A container lost its agent: its history goes.
    pub(crate) fn forget(&mut self, id: &str) {
        self.tracker.forget(id);
    }

    /// Hands the incident `event` is, if any, to the worker; never waits.
    pub(crate) fn on_event(&mut self, docker: &Docker, event: &ContainerEvent) {
        let Some(spotted) = self.tracker.observe(event) else {
            return;
        };
        let work = Work {
            docker: docker.clone(),
            spotted,
        };
        if let Err(mpsc::error::TrySendError::Full(work)) = self.queue.try_send(work) {
            tracing::warn!(
                agent = %work.spotted.agent,
                "container CI agents: {QUEUE} incidents wait to be reported; this `{:?}` is dropped",
                work.spotted.kind
            );
        }
    }

    /// Ends the worker after what is queued, within a time limit.
    pub(crate) async fn close(self) {
        drop(self.queue);
        let mut worker = self.worker;
        if tokio::time::timeout(CLOSE_LIMIT, &mut worker)
            .await
            .is_err()
        {
            worker.abort();
        }
    }
}

/// Reads the evidence, publishes the event and sends the chat task, one incident at a
/// time in the order of the events.
struct Worker {
    bus: Bus,
    chat: Option<Address>,
    /// Chat tasks held or rate-limited, per container id.
    outbox: Outbox<Task>,
    stop: CancellationToken,
}

impl Worker {
    async fn run(mut self, mut work: mpsc::Receiver<Work>) {
        loop {
            let due = self.outbox.next_due();
            let held = async move {
                match due {
                    Some(due) => tokio::time::sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.stop.cancelled() => break,
                next = work.recv() => match next {
                    Some(work) => self.report(work).await,
                    None => break,
                },
                _ = held => {
                    for task in self.outbox.due(Instant::now()) {
                        self.send_chat(task).await;
                    }
                }
            }
        }
    }

    async fn report(&mut self, work: Work) {
        let Work { docker, spotted } = work;
        if spotted.kind == IncidentKind::OomKilled {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(OOM_SETTLE) => {}
            }
        }
        let read = tokio::select! {
            _ = self.stop.cancelled() => return,
            read = tokio::time::timeout(
                EVIDENCE_LIMIT,
                evidence(&docker, &spotted.container.id, LOG_LINES),
            ) => read,
        };
        let mut findings = Vec::new();
        let mut verdict = None;
        let mut exit_code = spotted.exit_code;
        let mut restarts_again = false;
        match read {
            Ok(Ok(mut evidence)) => {
                evidence.restarts_in_window = Some(spotted.restarts);
                findings = b00t_ci::diagnose(&evidence);
                verdict = Some(b00t_ci::verdict(&evidence).0);
                let facts = &evidence.facts;
                if exit_code.is_none() && spotted.kind == IncidentKind::OomKilled && !facts.running
                {
                    exit_code = facts.exit_code;
                }
                restarts_again = facts.restarting
                    || matches!(
                        facts.restart_policy.as_str(),
                        "always" | "unless-stopped" | "on-failure"
                    );
            }
            Ok(Err(e)) => tracing::debug!(
                agent = %spotted.agent,
                "an incident's evidence could not be read: {e}"
            ),
            Err(_) => tracing::debug!(
                agent = %spotted.agent,
                "an incident's evidence took over {} s; reported without",
                EVIDENCE_LIMIT.as_secs()
            ),
        }
        let headline = chat::headline(
            &spotted.container,
            spotted.kind,
            exit_code,
            spotted.restarts,
        );
        let event = incident_json(&spotted, exit_code, &headline, &findings, verdict);
        let topic = event_topic(&spotted.agent);
        let payload = serde_json::to_vec(&event).expect("a JSON value serializes");
        if let Err(e) = self
            .bus
            .publish(&topic, Qos::AtLeastOnce, false, payload)
            .await
        {
            tracing::warn!(%topic, "could not publish an incident: {e}");
        }
        if self.chat.is_none() {
            return;
        }
        let text = chat::text(&spotted.agent, &spotted.container, &headline, &findings);
        let task = chat_task(&spotted, text, event);
        let hold = (spotted.kind == IncidentKind::Died && restarts_again).then_some(CHAT_HOLD);
        if let Some(task) = self
            .outbox
            .offer(&spotted.container.id, task, hold, Instant::now())
        {
            self.send_chat(task).await;
        }
    }

    async fn send_chat(&self, task: Task) {
        let Some(chat) = &self.chat else {
            return;
        };
        let topic = chat.topic(Channel::Task);
        if let Err(e) = self
            .bus
            .publish(&topic, Qos::AtLeastOnce, false, task.to_envelope())
            .await
        {
            tracing::warn!(%topic, "could not tell the chat about an incident: {e}");
        }
    }
}

/// `b00t.<agent>/event`.
pub(crate) fn event_topic(agent: &str) -> String {
    format!("{}/{EVENT_CHANNEL}", b00t_proto::address::agent_base(agent))
}

/// The event as docs/PROTOCOL.md shows it.
fn incident_json(
    spotted: &Spotted,
    exit_code: Option<i64>,
    summary: &str,
    findings: &[Finding],
    verdict: Option<Verdict>,
) -> Value {
    json!({
        "type": "incident",
        "agent": spotted.agent,
        "container": spotted.container,
        "incident": spotted.kind,
        "exit_code": exit_code,
        "ts": rfc3339(spotted.time_nano),
        "summary": summary,
        "restarts_in_window": spotted.restarts,
        "findings": findings,
        "verdict": verdict,
    })
}

/// The chat task: `{"text", "incident"}` from the container's agent, with an id of its
/// own so that it is journaled, retried and de-duplicated like any task.
fn chat_task(spotted: &Spotted, text: String, event: Value) -> Task {
    let ms = spotted.time_nano / 1_000_000;
    // An agent name is at most 63 bytes of `a-z0-9-`: always a valid id.
    let id = TaskId::parse(&format!("incident-{}-{ms}", spotted.agent))
        .unwrap_or_else(|_| TaskId::fresh("incident"));
    Task::outgoing(
        id,
        Some(&spotted.agent),
        None,
        json!({"text": text, "incident": event}),
    )
}

/// Unix nanoseconds as RFC 3339 in UTC with milliseconds, as the protocol writes times.
fn rfc3339(time_nano: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(time_nano)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;

    fn tracker() -> Tracker {
        let mut tracker = Tracker::new();
        let web = ContainerRef {
            id: "0123".into(),
            name: "web".into(),
            image: "nginx:1".into(),
        };
        assert!(tracker.watch(web, "ci-web"));
        tracker
    }

    fn event(action: &str, exit_code: Option<i64>, time_nano: i64) -> ContainerEvent {
        ContainerEvent {
            id: "0123".into(),
            name: Some("web".into()),
            action: action.into(),
            exit_code,
            time_nano,
        }
    }

    /// Feeds `events` (action, exit code, ms) and returns the incidents with their time
    /// in ms, exit code and restarts in the window.
    fn check(
        events: &[(&str, Option<i64>, i64)],
        expected: &[(i64, IncidentKind, Option<i64>, u32)],
    ) {
        let mut tracker = tracker();
        let got: Vec<(i64, IncidentKind, Option<i64>, u32)> = events
            .iter()
            .filter_map(|(action, code, ms)| {
                let spotted = tracker.observe(&event(action, *code, ms * MS))?;
                Some((
                    *ms,
                    spotted.kind,
                    spotted.exit_code,
                    spotted.restarts.restarts,
                ))
            })
            .collect();
        assert_eq!(got, expected, "{events:?}");
    }

    #[test]
    fn a_failed_death_is_an_incident_a_clean_one_is_not() {
        use IncidentKind::*;
        check(
            &[("start", None, 0), ("die", Some(1), 10)],
            &[(10, Died, Some(1), 0)],
        );
        check(&[("start", None, 0), ("die", Some(0), 10)], &[]);
        check(&[("die", Some(137), 10)], &[(10, Died, Some(137), 0)]);
    }

    #[test]
    fn a_stop_someone_asked_for_is_no_incident() {
        use IncidentKind::*;
        // `docker stop` / `docker rm -f`: kill, die.
        check(
            &[
                ("kill", None, 0),
                ("die", Some(137), 10),
                ("stop", None, 20),
            ],
            &[],
        );
        // `docker restart` of a running container: kill, die, stop, start, restart.
        check(
            &[
                ("kill", None, 0),
                ("die", Some(143), 10),
                ("stop", None, 20),
                ("start", None, 30),
                ("restart", None, 31),
            ],
            &[],
        );
        // Asked long ago: a later death is the container's own.
        check(
            &[("kill", None, 0), ("die", Some(1), 31_000)],
            &[(31_000, Died, Some(1), 0)],
        );
        // After a `docker start`, a crash is an incident again.
        check(
            &[
                ("kill", None, 0),
                ("die", Some(137), 10),
                ("start", None, 1_000),
                ("die", Some(2), 1_500),
            ],
            &[(1_500, Died, Some(2), 0)],
        );
    }

    #[test]
    fn the_death_after_an_oom_is_part_of_it() {
        use IncidentKind::*;
        check(
            &[
                ("start", None, 0),
                ("oom", None, 20),
                ("die", Some(137), 50),
            ],
            &[(20, OomKilled, None, 0)],
        );
        // The engine can send `oom` twice for one kill, on either side of its `die`
        // (seen with Docker on cgroup v2): told once.
        let before_die = [("oom", None, 20), ("oom", None, 21), ("die", Some(137), 50)];
        let after_die = [("oom", None, 20), ("die", Some(137), 50), ("oom", None, 51)];
        for events in [before_die, after_die] {
            check(&events, &[(20, OomKilled, None, 0)]);
        }
        // A kill after the container started again is another one, however soon.
        check(
            &[
                ("oom", None, 20),
                ("die", Some(137), 50),
                ("start", None, 200),
                ("oom", None, 300),
                ("die", Some(137), 350),
            ],
            &[(20, OomKilled, None, 0), (300, OomKilled, None, 1)],
        );
    }

    #[test]
    fn health_turning_unhealthy_is_told_once_per_turn() {
        use IncidentKind::*;
        let unhealthy = "health_status: unhealthy";
        check(
            &[
                (unhealthy, None, 1_000),
                (unhealthy, None, 2_000),
                ("health_status: healthy", None, 3_000),
                (unhealthy, None, 4_000),
            ],
            &[(1_000, Unhealthy, None, 0), (4_000, Unhealthy, None, 0)],
        );
    }

    #[test]
    fn a_crash_loop_is_told_once_and_its_deaths_stop() {
        use IncidentKind::*;
        // What the engine sends for `--restart always sh -c 'exit 1'`.
        let mut events = vec![("start", None, 0)];
        let mut t = 0;
        for backoff in [100, 200, 400, 800, 1_600, 3_200] {
            events.push(("die", Some(1), t + 30));
            t += 30 + backoff;
            events.push(("start", None, t));
        }
        check(
            &events,
            &[
                (30, Died, Some(1), 0),
                (160, Died, Some(1), 1),
                (390, Died, Some(1), 2),
                (790, CrashLoop, Some(1), 3),
            ],
        );
        // A `restart` event after a counted start (newer engines send both) counts once.
        check(
            &[
                ("die", Some(1), 0),
                ("start", None, 100),
                ("restart", None, 101),
                ("die", Some(1), 200),
                ("start", None, 300),
                ("restart", None, 301),
                ("die", Some(1), 400),
                ("start", None, 500),
            ],
            &[
                (0, Died, Some(1), 0),
                (200, Died, Some(1), 1),
                (400, Died, Some(1), 2),
                (500, CrashLoop, Some(1), 3),
            ],
        );
    }

    #[test]
    fn a_calm_window_ends_the_loop() {
        use IncidentKind::*;
        let mut events = Vec::new();
        for i in 0..4 {
            events.push(("die", Some(1), i * 100));
            events.push(("start", None, i * 100 + 50));
        }
        // Over a minute later, three restarts in the window again: a new loop.
        let later = 70_000;
        for i in 0..4 {
            events.push(("die", Some(1), later + i * 100));
            events.push(("start", None, later + i * 100 + 50));
        }
        let got: Vec<IncidentKind> = {
            let mut tracker = tracker();
            events
                .iter()
                .filter_map(|(a, c, ms)| tracker.observe(&event(a, *c, ms * MS)).map(|s| s.kind))
                .collect()
        };
        assert_eq!(
            got,
            [Died, Died, Died, CrashLoop, Died, Died, Died, CrashLoop],
            "{events:?}"
        );
    }

    #[test]
    fn a_loop_that_slows_down_is_still_one_loop() {
        use IncidentKind::*;
        // The engine's backoff grows to a minute; the container never stays up.
        let mut events = Vec::new();
        let mut t = 0;
        for backoff in [
            100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 51_200, 60_000, 60_000,
        ] {
            events.push(("die", Some(1), t + 500));
            t += 500 + backoff;
            events.push(("start", None, t));
        }
        let mut tracker = tracker();
        let kinds: Vec<IncidentKind> = events
            .iter()
            .filter_map(|(a, c, ms)| tracker.observe(&event(a, *c, ms * MS)).map(|s| s.kind))
            .collect();
        assert_eq!(kinds, [Died, Died, Died, CrashLoop], "{events:?}");
    }

    #[test]
    fn restart_times_are_bounded_and_unwatched_containers_ignored() {
        let mut tracker = tracker();
        for i in 0..1_000 {
            tracker.observe(&event("die", Some(1), i * 10 * MS));
            tracker.observe(&event("start", None, i * 10 * MS + 5 * MS));
        }
        let history = &tracker.containers["0123"];
        assert_eq!(history.restarts.len(), MAX_RESTART_TIMES);
        let mut other = event("die", Some(1), S);
        other.id = "other".into();
        assert_eq!(tracker.observe(&other), None);
        tracker.forget("0123");
        assert_eq!(tracker.observe(&event("die", Some(1), 2 * S)), None);
    }

    #[test]
    fn the_event_and_the_chat_task_say_what_the_protocol_says() {
        let mut tracker = tracker();
        let spotted = tracker
            .observe(&event("die", Some(1), 1_796_176_973_788_461_356))
            .unwrap();
        let event = incident_json(
            &spotted,
            Some(1),
            "container `web` died",
            &[],
            Some(Verdict::Unhealthy),
        );
        assert_eq!(
            event,
            json!({
                "type": "incident",
                "agent": "ci-web",
                "container": {"id": "0123", "name": "web", "image": "nginx:1"},
                "incident": "died",
                "exit_code": 1,
                "ts": "2026-12-02T02:02:53.788Z",
                "summary": "container `web` died",
                "restarts_in_window": {"restarts": 0, "window_s": 60},
                "findings": [],
                "verdict": "unhealthy",
            })
        );
        assert_eq!(event_topic("ci-web"), "b00t.ci-web/event");
        let task = chat_task(&spotted, "Container `web` died.".into(), event.clone());
        assert_eq!(task.id.as_str(), "incident-ci-web-1796176973788");
        assert_eq!(task.from.as_deref(), Some("ci-web"));
        assert_eq!(
            task.body,
            json!({"text": "Container `web` died.", "incident": event})
        );
    }
}
