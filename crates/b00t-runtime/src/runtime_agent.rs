//! The `runtime` agent: the runtime's own skills on the bus. `b00t.runtime.agents`
//! answers who is online, with their skills and last heartbeat (what `b00t agents` shows).

use std::sync::Arc;

use b00t_agents::{AgentSpec, Handler, HandlerFuture, TaskContext};
use b00t_proto::Name;
use serde_json::json;

use crate::gate::RUNTIME_AGENT;
use crate::presence::Presence;

/// The `runtime` agent, reading `presence`.
pub fn spec(presence: Presence) -> AgentSpec {
    AgentSpec {
        name: Name::parse(RUNTIME_AGENT).expect("a valid name"),
        kind: "runtime".to_owned(),
        skills: vec![Name::parse("agents").expect("a valid name")],
        handler: Arc::new(Agents { presence }),
        skill_updates: None,
        container: None,
    }
}

struct Agents {
    presence: Presence,
}

impl Handler for Agents {
    fn handle(&self, _ctx: TaskContext) -> HandlerFuture {
        let agents = self.presence.snapshot();
        Box::pin(async move { Ok(json!({ "agents": agents })) })
    }
}
