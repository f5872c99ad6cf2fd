//! Presence: the retained status card on `b00t.<agent>/status` (also the agent's MQTT
//! will, with `"state": "offline"`), and the periodic heartbeat.

use serde::{Deserialize, Serialize};

/// Whether an agent is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    Online,
    Offline,
}

/// The card an agent publishes, retained, when it connects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusCard {
    pub state: AgentState,
    pub agent: String,
    #[serde(default)]
    pub skills: Vec<String>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub since: String,
    /// How often this agent sends a heartbeat, so a viewer can tell a stale one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// The host name of the machine (or container) the agent process runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The agent process's id on that host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The container a container CI agent answers for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRef>,
    /// Why the card says offline, when someone other than the agent wrote it (the
    /// runtime: `heartbeats stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who wrote an offline card for the agent: `runtime`, or none for the agent's own
    /// card and will.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marked_by: Option<String>,
}

/// What the runtime writes in `reason` when it marks a silent agent offline.
pub const HEARTBEATS_STOPPED: &str = "heartbeats stopped";

/// How many heartbeat periods without a heartbeat make the runtime mark an agent offline.
pub const MISSED_BEATS_OFFLINE: u32 = 3;

/// How many heartbeat periods without a heartbeat make a card stale (shown, not marked).
pub const MISSED_BEATS_STALE: u32 = 2;

/// Which container a `container-ci` agent answers for, on its card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRef {
    /// The engine's full id.
    pub id: String,
    /// Its name, without Docker's leading `/`.
    pub name: String,
    pub image: String,
}

impl StatusCard {
    /// The same card with another state: the will is the online card marked offline.
    pub fn with_state(&self, state: AgentState) -> StatusCard {
        StatusCard {
            state,
            reason: None,
            marked_by: None,
            ..self.clone()
        }
    }

    /// The offline card someone else (`marked_by`) writes for this agent, saying why.
    pub fn marked_offline(&self, marked_by: &str, reason: &str) -> StatusCard {
        StatusCard {
            state: AgentState::Offline,
            reason: Some(reason.to_owned()),
            marked_by: Some(marked_by.to_owned()),
            ..self.clone()
        }
    }

    /// Whether this is an offline card written for the agent by someone else.
    pub fn is_marked(&self) -> bool {
        self.marked_by.is_some()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a card always serializes")
    }

    pub fn parse(payload: &[u8]) -> Option<StatusCard> {
        serde_json::from_slice(payload).ok()
    }
}

/// `b00t.<agent>/heartbeat`, sent every `heartbeat_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent: String,
    pub ts: String,
    /// Counts heartbeats since the agent process started.
    pub seq: u64,
    pub uptime_ms: u64,
    /// Tasks this agent process has executed.
    #[serde(default)]
    pub executed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_shape() {
        let card = StatusCard {
            state: AgentState::Online,
            agent: "installer".into(),
            skills: vec!["apt".into()],
            kind: "installer".into(),
            since: "2026-11-20T10:00:00Z".into(),
            heartbeat_ms: None,
            host: None,
            pid: None,
            container: None,
            reason: None,
            marked_by: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&card.to_json()).unwrap();
        assert_eq!(v["state"], "online");
        assert!(v.get("host").is_none() && v.get("pid").is_none(), "{v}");
        let off = card.with_state(AgentState::Offline);
        assert_eq!(
            StatusCard::parse(&off.to_json()).unwrap().state,
            AgentState::Offline
        );
        assert!(
            v.get("reason").is_none() && v.get("marked_by").is_none(),
            "{v}"
        );
    }

    #[test]
    fn a_marked_card_says_who_and_why_and_an_own_card_drops_it() {
        let card =
            StatusCard::parse(br#"{"state":"online","agent":"echo","heartbeat_ms":200}"#).unwrap();
        let marked = card.marked_offline("runtime", HEARTBEATS_STOPPED);
        let v: serde_json::Value = serde_json::from_slice(&marked.to_json()).unwrap();
        assert_eq!(v["state"], "offline");
        assert_eq!(v["reason"], "heartbeats stopped");
        assert_eq!(v["marked_by"], "runtime");
        assert_eq!(v["heartbeat_ms"], 200);
        let parsed = StatusCard::parse(&marked.to_json()).unwrap();
        assert!(parsed.is_marked());
        let again = parsed.with_state(AgentState::Online);
        assert!(!again.is_marked() && again.reason.is_none());
    }

    #[test]
    fn where_it_runs_is_optional() {
        let old = br#"{"state":"online","agent":"echo","skills":["echo"],"kind":"echo","since":"2026-11-20T10:00:00Z"}"#;
        let card = StatusCard::parse(old).expect("a card without host and pid parses");
        assert_eq!((card.host.as_deref(), card.pid), (None, None));
        let new = br#"{"state":"online","agent":"echo","host":"h","pid":4242}"#;
        let card = StatusCard::parse(new).unwrap();
        assert_eq!((card.host.as_deref(), card.pid), (Some("h"), Some(4242)));
        let v: serde_json::Value = serde_json::from_slice(&card.to_json()).unwrap();
        assert_eq!(
            (v["host"].as_str(), v["pid"].as_u64()),
            (Some("h"), Some(4242))
        );
    }
}
