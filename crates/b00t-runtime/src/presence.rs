//! Who is on the bus: the last status card of each agent and its last heartbeat, as the
//! watcher sees them go by, and when each was last heard from. Read by the gate and by
//! the `runtime` agent; [`Presence::silent`] names the online agents whose heartbeats
//! stopped, which the watcher marks offline (a will dies with a dead broker node).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use b00t_proto::{AgentState, Heartbeat, StatusCard, MISSED_BEATS_OFFLINE, MISSED_BEATS_STALE};
use serde::Serialize;

/// One agent as last seen.
#[derive(Clone, Debug, Serialize)]
pub struct AgentEntry {
    #[serde(flatten)]
    pub card: StatusCard,
    /// The `ts` of the last heartbeat seen, if any.
    pub last_heartbeat: Option<String>,
    /// Tasks executed, from the last heartbeat.
    pub executed: Option<u64>,
    /// Milliseconds since the runtime last heard from it (its last heartbeat, or its card
    /// when no heartbeat came since), filled in by [`Presence::snapshot`].
    pub last_heartbeat_ago_ms: Option<u64>,
    /// Online, but silent for two heartbeat periods or more: not yet marked offline.
    pub stale: bool,
    /// When the runtime last heard from it, on its own clock (never the agent's `ts`).
    #[serde(skip)]
    heard: Instant,
    /// The runtime already marked this online card offline; set until a new card comes.
    #[serde(skip)]
    marking: bool,
}

/// The shared presence table.
#[derive(Clone, Default)]
pub struct Presence {
    agents: Arc<Mutex<BTreeMap<String, AgentEntry>>>,
}

impl Presence {
    pub fn card(&self, card: StatusCard) {
        self.card_at(card, Instant::now());
    }

    /// A card came at `now`.
    pub fn card_at(&self, card: StatusCard, now: Instant) {
        let mut agents = self.agents.lock().expect("presence lock");
        let entry = agents
            .entry(card.agent.clone())
            .or_insert_with(|| AgentEntry {
                card: card.clone(),
                last_heartbeat: None,
                executed: None,
                last_heartbeat_ago_ms: None,
                stale: false,
                heard: now,
                marking: false,
            });
        entry.card = card;
        entry.heard = now;
        entry.marking = false;
    }

    /// A retained card was cleared (empty payload).
    pub fn forget(&self, agent: &str) {
        self.agents.lock().expect("presence lock").remove(agent);
    }

    pub fn heartbeat(&self, beat: Heartbeat) {
        self.heartbeat_at(beat, Instant::now());
    }

    /// A heartbeat came at `now`.
    pub fn heartbeat_at(&self, beat: Heartbeat, now: Instant) {
        let mut agents = self.agents.lock().expect("presence lock");
        if let Some(entry) = agents.get_mut(&beat.agent) {
            entry.last_heartbeat = Some(beat.ts);
            entry.executed = Some(beat.executed);
            entry.heard = now;
        }
    }

    /// The online agents silent for [`MISSED_BEATS_OFFLINE`] heartbeat periods at `now`
    /// (cards that name no `heartbeat_ms` are never judged), each returned once per
    /// card: the offline card to publish for each, saying why.
    pub fn silent(&self, now: Instant, marked_by: &str, reason: &str) -> Vec<StatusCard> {
        let mut agents = self.agents.lock().expect("presence lock");
        agents
            .values_mut()
            .filter(|e| {
                !e.marking
                    && e.card.state == AgentState::Online
                    && silent_for(e, now, MISSED_BEATS_OFFLINE)
            })
            .map(|e| {
                e.marking = true;
                e.card.marked_offline(marked_by, reason)
            })
            .collect()
    }

    /// The skills of `agent` when it is online.
    pub fn online_skills(&self, agent: &str) -> Option<Vec<String>> {
        let agents = self.agents.lock().expect("presence lock");
        agents
            .get(agent)
            .filter(|e| e.card.state == AgentState::Online)
            .map(|e| e.card.skills.clone())
    }

    pub fn is_online(&self, agent: &str) -> bool {
        self.online_skills(agent).is_some()
    }

    /// Every agent seen, by name.
    pub fn snapshot(&self) -> Vec<AgentEntry> {
        self.snapshot_at(Instant::now())
    }

    /// Every agent seen, by name, with how long ago each was heard from at `now`.
    pub fn snapshot_at(&self, now: Instant) -> Vec<AgentEntry> {
        self.agents
            .lock()
            .expect("presence lock")
            .values()
            .map(|e| AgentEntry {
                last_heartbeat_ago_ms: Some(
                    now.saturating_duration_since(e.heard).as_millis() as u64
                ),
                stale: e.card.state == AgentState::Online && silent_for(e, now, MISSED_BEATS_STALE),
                ..e.clone()
            })
            .collect()
    }
}

/// Whether `entry` has been silent for `periods` of its heartbeat period at `now`.
fn silent_for(entry: &AgentEntry, now: Instant, periods: u32) -> bool {
    let Some(period_ms) = entry.card.heartbeat_ms.filter(|ms| *ms > 0) else {
        return false;
    };
    now.saturating_duration_since(entry.heard) >= Duration::from_millis(period_ms) * periods
}

#[cfg(test)]
mod tests {
    use super::*;
    use b00t_proto::HEARTBEATS_STOPPED;

    fn card(agent: &str, state: &str, heartbeat_ms: Option<u64>) -> StatusCard {
        let mut v = serde_json::json!({"state": state, "agent": agent, "skills": ["echo"]});
        if let Some(ms) = heartbeat_ms {
            v["heartbeat_ms"] = ms.into();
        }
        StatusCard::parse(v.to_string().as_bytes()).unwrap()
    }

    fn beat(agent: &str) -> Heartbeat {
        Heartbeat {
            agent: agent.into(),
            ts: "2026-12-02T13:00:00Z".into(),
            seq: 1,
            uptime_ms: 1,
            executed: 0,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn silent(p: &Presence, now: Instant) -> Vec<String> {
        p.silent(now, "runtime", HEARTBEATS_STOPPED)
            .into_iter()
            .map(|c| c.agent)
            .collect()
    }

    #[test]
    fn three_missed_periods_mark_an_agent_offline_once() {
        let start = Instant::now();
        let p = Presence::default();
        p.card_at(card("echo", "online", Some(100)), start);
        p.heartbeat_at(beat("echo"), start + ms(100));
        // The heartbeat restarts the count: 299 ms after it, still not three periods.
        assert!(silent(&p, start + ms(399)).is_empty());
        let marked = p.silent(start + ms(400), "runtime", HEARTBEATS_STOPPED);
        assert_eq!(marked.len(), 1);
        assert_eq!(marked[0].state, AgentState::Offline);
        assert_eq!(marked[0].marked_by.as_deref(), Some("runtime"));
        assert_eq!(marked[0].reason.as_deref(), Some("heartbeats stopped"));
        assert_eq!(marked[0].skills, ["echo"]);
        // Once per card: the next tick does not mark it again.
        assert!(silent(&p, start + ms(900)).is_empty());
        // Its marked card comes back; a late heartbeat does not make it online: only its
        // own card does (the agent republishes it when it sees the mark).
        p.card_at(marked[0].clone(), start + ms(401));
        p.heartbeat_at(beat("echo"), start + ms(450));
        assert!(!p.is_online("echo"));
        p.card_at(card("echo", "online", Some(100)), start + ms(460));
        assert!(p.is_online("echo"));
        assert!(silent(&p, start + ms(700)).is_empty());
        assert_eq!(silent(&p, start + ms(760)), ["echo"]);
    }

    #[test]
    fn stale_after_two_periods_and_never_judged_without_a_period() {
        let start = Instant::now();
        let p = Presence::default();
        p.card_at(card("echo", "online", Some(1000)), start);
        p.card_at(card("script", "online", None), start);
        p.card_at(card("gone", "offline", Some(1000)), start);
        let at = |now: Instant, agent: &str| {
            p.snapshot_at(now)
                .into_iter()
                .find(|e| e.card.agent == agent)
                .unwrap()
        };
        assert!(!at(start + ms(1999), "echo").stale);
        let entry = at(start + ms(2000), "echo");
        assert!(entry.stale);
        assert_eq!(entry.last_heartbeat_ago_ms, Some(2000));
        let v = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            (v["stale"].as_bool(), v["state"].as_str()),
            (Some(true), Some("online"))
        );
        assert_eq!(v["last_heartbeat_ago_ms"], 2000);
        assert!(
            v.get("heard").is_none() && v.get("marking").is_none(),
            "{v}"
        );
        let later = start + Duration::from_secs(3600);
        assert!(!at(later, "script").stale && !at(later, "gone").stale);
        assert_eq!(silent(&p, later), ["echo"]);
    }
}
