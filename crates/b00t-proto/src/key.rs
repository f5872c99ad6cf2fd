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

/// How an agent's ledger keys a task's id: with the sender, so that nobody can take
/// another sender's id first (`t-1@family`; a task without `from` keeps its bare id).
/// Task ids never hold `@`, so the two parts cannot be confused.
pub fn sender_scoped_id(id: &str, from: Option<&str>) -> String {
    match from {
        Some(from) if !from.is_empty() => format!("{id}@{from}"),
        _ => id.to_owned(),
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

    #[test]
    fn ids_are_scoped_by_sender() {
        assert_eq!(sender_scoped_id("t-1", Some("family")), "t-1@family");
        assert_eq!(sender_scoped_id("t-1", None), "t-1");
        assert_ne!(
            sender_scoped_id("sched-1-2", Some("scheduler")),
            sender_scoped_id("sched-1-2", Some("family"))
        );
    }
}
