//! Which agents may answer on a `reply_to`: recorded when a task that names it passes
//! the front door, so that a reply on `<reply_to>/<channel>` is let through only from
//! an agent a task was addressed to. Bounded: the oldest topics are forgotten first.

use std::collections::{HashMap, VecDeque};

/// Reply topics remembered, at most.
pub(crate) const CAPACITY: usize = 16_384;
/// Agents remembered per reply topic, at most (a requester asks few agents on one base).
const AGENTS_PER_TOPIC: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct Routes {
    agents: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

impl Routes {
    /// Records that `agent` was asked to answer on `reply_to`.
    pub(crate) fn add(&mut self, reply_to: &str, agent: &str) {
        if let Some(agents) = self.agents.get_mut(reply_to) {
            if !agents.iter().any(|a| a == agent) {
                if agents.len() == AGENTS_PER_TOPIC {
                    agents.remove(0);
                }
                agents.push(agent.to_owned());
            }
            return;
        }
        while self.order.len() >= CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.agents.remove(&old);
            }
        }
        self.order.push_back(reply_to.to_owned());
        self.agents
            .insert(reply_to.to_owned(), vec![agent.to_owned()]);
    }

    /// The agents asked to answer on `reply_to`, if any task named it.
    pub(crate) fn agents(&self, reply_to: &str) -> Option<&[String]> {
        self.agents.get(reply_to).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_the_oldest() {
        let mut routes = Routes::default();
        routes.add("r/1", "echo");
        routes.add("r/1", "family");
        routes.add("r/1", "echo");
        assert_eq!(routes.agents("r/1").unwrap(), ["echo", "family"]);
        for i in 0..CAPACITY {
            routes.add(&format!("x/{i}"), "echo");
        }
        assert!(routes.agents("r/1").is_none());
        assert!(routes.agents(&format!("x/{}", CAPACITY - 1)).is_some());
        assert_eq!(routes.agents.len(), CAPACITY);
    }
}
