//! Who is on the bus: the last status card of each agent and its last heartbeat, as the
//! watcher sees them go by. Read by the gate and by the `runtime` agent.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use b00t_proto::{AgentState, Heartbeat, StatusCard};
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
}

/// The shared presence table.
#[derive(Clone, Default)]
pub struct Presence {
    agents: Arc<Mutex<BTreeMap<String, AgentEntry>>>,
}

impl Presence {
    pub fn card(&self, card: StatusCard) {
        let mut agents = self.agents.lock().expect("presence lock");
        let entry = agents
            .entry(card.agent.clone())
            .or_insert_with(|| AgentEntry {
                card: card.clone(),
                last_heartbeat: None,
                executed: None,
            });
        entry.card = card;
    }

    /// A retained card was cleared (empty payload).
    pub fn forget(&self, agent: &str) {
        self.agents.lock().expect("presence lock").remove(agent);
    }

    pub fn heartbeat(&self, beat: Heartbeat) {
        let mut agents = self.agents.lock().expect("presence lock");
        if let Some(entry) = agents.get_mut(&beat.agent) {
            entry.last_heartbeat = Some(beat.ts);
            entry.executed = Some(beat.executed);
        }
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
        self.agents
            .lock()
            .expect("presence lock")
            .values()
            .cloned()
            .collect()
    }
}
