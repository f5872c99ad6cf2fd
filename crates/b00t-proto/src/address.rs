//! Addresses: `b00t.<agent>.<skill>` names one skill of one agent, `b00t.<agent>` the agent.

use std::fmt;

use crate::name::{self, Name, NameError};
use crate::PREFIX;

/// One agent's skill: `b00t.<agent>.<skill>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    agent: Name,
    skill: Name,
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address `{0}` must look like `b00t.<agent>.<skill>`, for example `b00t.echo.echo`")]
    Shape(String),
    #[error("address `{address}`: agent {source}")]
    Agent { address: String, source: NameError },
    #[error("address `{address}`: skill {source}")]
    Skill { address: String, source: NameError },
}

impl Address {
    pub fn new(agent: Name, skill: Name) -> Address {
        Address { agent, skill }
    }

    /// Parses `b00t.<agent>.<skill>`.
    pub fn parse(address: &str) -> Result<Address, AddressError> {
        let shape = || AddressError::Shape(address.to_owned());
        let rest = address
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(shape)?;
        let (agent, skill) = rest.split_once('.').ok_or_else(shape)?;
        let agent = Name::parse(agent).map_err(|source| AddressError::Agent {
            address: address.to_owned(),
            source,
        })?;
        let skill = Name::parse(skill).map_err(|source| AddressError::Skill {
            address: address.to_owned(),
            source,
        })?;
        Ok(Address { agent, skill })
    }

    pub fn agent(&self) -> &Name {
        &self.agent
    }

    pub fn skill(&self) -> &Name {
        &self.skill
    }

    /// `b00t.<agent>.<skill>/<channel>`.
    pub fn topic(&self, channel: crate::Channel) -> String {
        format!("{self}/{}", channel.as_str())
    }
}

/// `b00t.<agent>`, the base of an agent's status and heartbeat topics.
pub fn agent_base(agent: &str) -> String {
    format!("{PREFIX}.{agent}")
}

/// Parses `b00t.<agent>` into the agent name.
pub fn parse_agent_base(base: &str) -> Option<&str> {
    let agent = base.strip_prefix(PREFIX)?.strip_prefix('.')?;
    name::validate(agent).ok().map(|_| agent)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}.{}.{}", self.agent, self.skill)
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let a = Address::parse("b00t.installer.apt").unwrap();
        assert_eq!(a.agent().as_str(), "installer");
        assert_eq!(a.skill().as_str(), "apt");
        assert_eq!(a.to_string(), "b00t.installer.apt");
        assert_eq!(a.topic(crate::Channel::Task), "b00t.installer.apt/task");
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            "",
            "b00t",
            "b00t.echo",
            "boot.echo.echo",
            "b00t.echo.echo.x",
            "b00t..echo",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        let err = Address::parse("b00t.Echo.echo").unwrap_err().to_string();
        assert!(err.contains("agent"), "{err}");
    }

    #[test]
    fn agent_base_parses() {
        assert_eq!(parse_agent_base("b00t.echo"), Some("echo"));
        assert_eq!(parse_agent_base("b00t.echo.echo"), None);
        assert_eq!(parse_agent_base("x.echo"), None);
    }
}
