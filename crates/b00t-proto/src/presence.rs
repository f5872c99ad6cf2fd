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
}

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
            ..self.clone()
        }
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
        };
        let v: serde_json::Value = serde_json::from_slice(&card.to_json()).unwrap();
        assert_eq!(v["state"], "online");
        assert!(v.get("host").is_none() && v.get("pid").is_none(), "{v}");
        let off = card.with_state(AgentState::Offline);
        assert_eq!(
            StatusCard::parse(&off.to_json()).unwrap().state,
            AgentState::Offline
        );
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
