//! [`Who`]: the identity a connection has, decided once at CONNECT from its username.

use std::fmt;

/// The identity of one connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Who {
    /// The runtime's own parts (watcher, runtime, echo, installer and scheduler agents):
    /// may publish and subscribe to anything.
    Runtime,
    /// The operator: the CLI with the home's `state/credentials/operator`. Trusted like
    /// the runtime.
    Operator,
    /// One agent that runs outside the runtime with its own credentials (a group's
    /// assistant in its container), named after the agent.
    Agent(String),
    /// A local script on the loopback listener without credentials.
    Anonymous,
}

/// Username of the runtime's own connections.
pub const RUNTIME: &str = "runtime";
/// Username of the operator.
pub const OPERATOR: &str = "operator";
/// What an anonymous connection is called in logs and in `from`.
pub const ANONYMOUS: &str = "anonymous";

impl Who {
    /// The identity a username stands for (credentials checked elsewhere).
    pub fn from_user(user: &str) -> Who {
        match user {
            RUNTIME => Who::Runtime,
            OPERATOR => Who::Operator,
            name => Who::Agent(name.to_owned()),
        }
    }

    /// The identity's name: its username, or `anonymous`.
    pub fn name(&self) -> &str {
        match self {
            Who::Runtime => RUNTIME,
            Who::Operator => OPERATOR,
            Who::Agent(name) => name,
            Who::Anonymous => ANONYMOUS,
        }
    }

    /// Whether every rule lets it through (the runtime and the operator).
    pub fn is_trusted(&self) -> bool {
        matches!(self, Who::Runtime | Who::Operator)
    }
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Prefix of an agent's own client id: `b00t-agent-<name>`.
pub(crate) const AGENT_ID: &str = "b00t-agent-";
/// Prefix of a group's tool connection: `b00t-tools-<group>`.
pub(crate) const TOOLS_ID: &str = "b00t-tools-";
/// Prefix of the runtime's own connections: `b00t-runtime-<hex>`.
pub(crate) const RUNTIME_ID: &str = "b00t-runtime-";

/// The agent a client id is the connection of, and whether it is its tool connection.
pub(crate) fn agent_of_client_id(client_id: &str) -> Option<(&str, bool)> {
    if let Some(name) = client_id.strip_prefix(AGENT_ID) {
        return Some((name, false));
    }
    client_id.strip_prefix(TOOLS_ID).map(|name| (name, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_names() {
        assert_eq!(Who::from_user("runtime"), Who::Runtime);
        assert_eq!(Who::from_user("operator"), Who::Operator);
        assert_eq!(Who::from_user("family"), Who::Agent("family".into()));
        assert_eq!(Who::Anonymous.name(), "anonymous");
        assert!(Who::Operator.is_trusted() && !Who::Anonymous.is_trusted());
        assert_eq!(
            agent_of_client_id("b00t-agent-fam-ily"),
            Some(("fam-ily", false))
        );
        assert_eq!(agent_of_client_id("b00t-tools-fam"), Some(("fam", true)));
        assert_eq!(agent_of_client_id("b00t-cli-1"), None);
    }
}
