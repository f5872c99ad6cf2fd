//! The channels under an address (`/task`, `/ack`, …) and under an agent (`/status`,
//! `/heartbeat`), and parsing of a full topic back into its base and channel.

/// A channel under an address or a `reply_to` base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Task,
    Ack,
    Progress,
    Result,
    Error,
    Dead,
}

/// A channel under an agent-level address `b00t.<agent>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgentChannel {
    Status,
    Heartbeat,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Task,
        Channel::Ack,
        Channel::Progress,
        Channel::Result,
        Channel::Error,
        Channel::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Task => "task",
            Channel::Ack => "ack",
            Channel::Progress => "progress",
            Channel::Result => "result",
            Channel::Error => "error",
            Channel::Dead => "dead",
        }
    }

    fn from_str(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Splits `base/channel`; the base may itself hold `/` (a `reply_to` base may).
    pub fn split(topic: &str) -> Option<(&str, Channel)> {
        let (base, last) = topic.rsplit_once('/')?;
        Some((base, Channel::from_str(last)?))
    }
}

impl AgentChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentChannel::Status => "status",
            AgentChannel::Heartbeat => "heartbeat",
        }
    }

    /// Splits `b00t.<agent>/status` or `b00t.<agent>/heartbeat` into the agent name.
    pub fn split(topic: &str) -> Option<(&str, AgentChannel)> {
        let (base, last) = topic.split_once('/')?;
        let channel = match last {
            "status" => AgentChannel::Status,
            "heartbeat" => AgentChannel::Heartbeat,
            _ => return None,
        };
        Some((crate::address::parse_agent_base(base)?, channel))
    }

    /// `b00t.<agent>/<channel>`.
    pub fn topic(self, agent: &str) -> String {
        format!("{}/{}", crate::address::agent_base(agent), self.as_str())
    }
}

/// Whether `base` may serve as a `reply_to` topic base: a publishable topic name with no
/// wildcard, no NUL, no `$` system prefix, at most 512 bytes.
pub fn valid_reply_base(base: &str) -> bool {
    !base.is_empty()
        && base.len() <= 512
        && !base.starts_with('$')
        && !base.contains(['+', '#', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_channels() {
        assert_eq!(
            Channel::split("b00t.echo.echo/task"),
            Some(("b00t.echo.echo", Channel::Task))
        );
        assert_eq!(
            Channel::split("my/app/replies/result"),
            Some(("my/app/replies", Channel::Result))
        );
        assert_eq!(Channel::split("b00t.echo/status"), None);
        assert_eq!(Channel::split("task"), None);
        assert_eq!(
            AgentChannel::split("b00t.echo/status"),
            Some(("echo", AgentChannel::Status))
        );
        assert_eq!(AgentChannel::split("b00t.echo.echo/status"), None);
        assert_eq!(AgentChannel::Heartbeat.topic("x"), "b00t.x/heartbeat");
    }

    #[test]
    fn reply_bases() {
        assert!(valid_reply_base("b00t.cli-7f3a.reply"));
        assert!(valid_reply_base("app/replies/1"));
        for bad in ["", "a/+", "#", "$SYS/x", "a\0b"] {
            assert!(!valid_reply_base(bad), "{bad:?}");
        }
    }
}
