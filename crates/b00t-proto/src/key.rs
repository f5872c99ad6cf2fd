//! [`TaskKey`]: what identifies one task on the bus, `(address, id)`. The watcher's
//! timers, the agents' ledgers and the journal all key tasks by it.

use std::fmt;

/// A task's address (`b00t.<agent>.<skill>`) and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub address: String,
    pub id: String,
}

impl TaskKey {
    pub fn new(address: impl Into<String>, id: impl Into<String>) -> TaskKey {
        TaskKey {
            address: address.into(),
            id: id.into(),
        }
    }

    /// The agent part of the address (`echo` of `b00t.echo.echo`), if it has one.
    pub fn agent(&self) -> Option<&str> {
        let mut parts = self.address.split('.');
        parts.next()?;
        parts.next()
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task `{}` on `{}`", self.id, self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_display() {
        let key = TaskKey::new("b00t.echo.echo", "t-1");
        assert_eq!(key.agent(), Some("echo"));
        assert_eq!(key.to_string(), "task `t-1` on `b00t.echo.echo`");
        assert_eq!(TaskKey::new("b00t", "x").agent(), None);
    }
}
