//! Telling a person about an incident: the paragraph a chat task carries, and the outbox
//! that keeps the chat quiet, at most one message per container per [`CHAT_INTERVAL`].
//! A message may be held for a moment (a container that died and that the engine
//! restarts), so that a crash loop that follows is told instead of the first death.

use std::collections::HashMap;
use std::time::Duration;

use b00t_ci::{Finding, RestartWindow};
use b00t_proto::ContainerRef;
use tokio::time::Instant;

use crate::ci::incidents::IncidentKind;

/// At most one chat message per container within this time.
pub(crate) const CHAT_INTERVAL: Duration = Duration::from_secs(60);
/// How many findings a chat message quotes.
const CHAT_FINDINGS: usize = 3;
/// Containers the outbox remembers; past it, a container not yet told waits for room.
const MAX_CONTAINERS: usize = 4096;

/// One sentence: which container and what broke.
pub(crate) fn headline(
    container: &ContainerRef,
    kind: IncidentKind,
    exit_code: Option<i64>,
    restarts: RestartWindow,
) -> String {
    let name = &container.name;
    match kind {
        IncidentKind::Died => match exit_code {
            Some(137) => format!(
                "container `{name}` died with exit code 137 (SIGKILL): likely the OOM killer, or a kill from outside the engine"
            ),
            Some(code) => format!(
                "container `{name}` died with exit code {code}: {}",
                b00t_ci::exit_meaning(code).summary
            ),
            None => format!("container `{name}` died"),
        },
        IncidentKind::OomKilled => {
            format!("container `{name}` was killed by the kernel's OOM killer (out of memory)")
        }
        IncidentKind::Unhealthy => {
            format!("container `{name}` turned unhealthy: its health check fails")
        }
        IncidentKind::CrashLoop => format!(
            "container `{name}` is in a crash loop: the engine restarted it {} times in {} s",
            restarts.restarts, restarts.window_s
        ),
    }
}

/// The paragraph for a person: the headline, the image, the top findings, and where to
/// ask for more.
pub(crate) fn text(
    agent: &str,
    container: &ContainerRef,
    headline: &str,
    findings: &[Finding],
) -> String {
    let mut text = format!("{} (image `{}`).", capitalized(headline), container.image);
    let top: Vec<&str> = findings
        .iter()
        .take(CHAT_FINDINGS)
        .map(|f| f.summary.as_str())
        .collect();
    if !top.is_empty() {
        text.push_str(&format!(" What {agent} found: {}.", top.join("; ")));
    }
    text.push_str(&format!(
        " Ask b00t.{agent}.diagnose or b00t.{agent}.logs for more."
    ));
    text
}

fn capitalized(sentence: &str) -> String {
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The chat messages waiting or sent, per container id.
pub(crate) struct Outbox<T> {
    /// When a message about each container last went.
    last_sent: HashMap<String, Instant>,
    /// A message held until its time, per container: the newest one, due when the first
    /// was.
    held: HashMap<String, (Instant, T)>,
}

impl<T> Outbox<T> {
    pub(crate) fn new() -> Outbox<T> {
        Outbox {
            last_sent: HashMap::new(),
            held: HashMap::new(),
        }
    }

    /// Offers a message about container `id`. With `hold`, it waits that long (see
    /// [`Outbox::due`]); without, it goes now (returned) if the container's interval
    /// allows, and any message held for the container is dropped: the newer one says
    /// more. `None`: nothing to send now.
    pub(crate) fn offer(
        &mut self,
        id: &str,
        message: T,
        hold: Option<Duration>,
        now: Instant,
    ) -> Option<T> {
        if let Some(hold) = hold {
            if self.allowed(id, now) {
                let due = self.held.get(id).map_or(now + hold, |(due, _)| *due);
                if self.held.contains_key(id) || self.held.len() < MAX_CONTAINERS {
                    self.held.insert(id.to_owned(), (due, message));
                }
            }
            return None;
        }
        self.held.remove(id);
        self.take(id, now).then_some(message)
    }

    /// The held messages whose time has come and whose container's interval allows them.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<T> {
        let ready: Vec<String> = self
            .held
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for id in ready {
            if let Some((_, message)) = self.held.remove(&id) {
                if self.take(&id, now) {
                    out.push(message);
                }
            }
        }
        out
    }

    /// When the next held message is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.held.values().map(|(due, _)| *due).min()
    }

    fn allowed(&self, id: &str, now: Instant) -> bool {
        self.last_sent
            .get(id)
            .is_none_or(|last| now.duration_since(*last) >= CHAT_INTERVAL)
    }

    /// Counts a message about `id` sent now, if its interval allows and there is room.
    fn take(&mut self, id: &str, now: Instant) -> bool {
        if !self.allowed(id, now) {
            return false;
        }
        if !self.last_sent.contains_key(id) && self.last_sent.len() >= MAX_CONTAINERS {
            self.last_sent
                .retain(|_, last| now.duration_since(*last) < CHAT_INTERVAL);
            if self.last_sent.len() >= MAX_CONTAINERS {
                return false;
            }
        }
        self.last_sent.insert(id.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> ContainerRef {
        ContainerRef {
            id: "0123".into(),
            name: "web".into(),
            image: "nginx:1".into(),
        }
    }

    const CALM: RestartWindow = RestartWindow {
        restarts: 0,
        window_s: 60,
    };

    #[test]
    fn one_message_per_container_per_interval() {
        let start = Instant::now();
        let mut outbox = Outbox::new();
        assert_eq!(outbox.offer("a", "died", None, start), Some("died"));
        assert_eq!(
            outbox.offer("a", "again", None, start + Duration::from_secs(30)),
            None
        );
        // Another container has its own interval.
        assert_eq!(outbox.offer("b", "oom", None, start), Some("oom"));
        assert_eq!(
            outbox.offer("a", "later", None, start + CHAT_INTERVAL),
            Some("later")
        );
    }

    #[test]
    fn a_held_message_goes_when_due_unless_a_newer_one_went() {
        let start = Instant::now();
        let hold = Some(Duration::from_secs(5));
        let mut outbox = Outbox::new();
        assert_eq!(outbox.offer("a", "died", hold, start), None);
        assert_eq!(outbox.next_due(), Some(start + Duration::from_secs(5)));
        assert!(outbox.due(start + Duration::from_secs(4)).is_empty());
        assert_eq!(outbox.due(start + Duration::from_secs(5)), vec!["died"]);
        assert_eq!(outbox.next_due(), None);

        // A crash loop while a death is held: the loop is told, the death never.
        let later = start + CHAT_INTERVAL * 2;
        assert_eq!(outbox.offer("a", "died", hold, later), None);
        // A second death keeps the first one's time.
        assert_eq!(
            outbox.offer("a", "died again", hold, later + Duration::from_secs(1)),
            None
        );
        assert_eq!(outbox.next_due(), Some(later + Duration::from_secs(5)));
        assert_eq!(
            outbox.offer("a", "crash loop", None, later + Duration::from_secs(2)),
            Some("crash loop")
        );
        assert!(outbox.due(later + Duration::from_secs(10)).is_empty());
        // Within the interval nothing is even held.
        assert_eq!(
            outbox.offer("a", "died", hold, later + Duration::from_secs(20)),
            None
        );
        assert_eq!(outbox.next_due(), None);
    }

    #[test]
    fn the_text_says_which_container_what_broke_and_why() {
        let finding = Finding {
            code: b00t_ci::finding_code::EXIT_CODE,
            severity: b00t_ci::Severity::Critical,
            summary: "exited with code 1: the program failed".into(),
            evidence: serde_json::json!({}),
        };
        let head = headline(&web(), IncidentKind::Died, Some(1), CALM);
        assert!(
            head.starts_with("container `web` died with exit code 1: "),
            "{head}"
        );
        let told = text("ci-web", &web(), &head, &[finding]);
        assert!(
            told.starts_with("Container `web` died with exit code 1"),
            "{told}"
        );
        assert!(told.contains("(image `nginx:1`)"), "{told}");
        assert!(
            told.contains("What ci-web found: exited with code 1"),
            "{told}"
        );
        assert!(
            told.ends_with("Ask b00t.ci-web.diagnose or b00t.ci-web.logs for more."),
            "{told}"
        );

        let killed = headline(&web(), IncidentKind::Died, Some(137), CALM);
        assert!(killed.contains("likely the OOM killer"), "{killed}");
        let looping = RestartWindow {
            restarts: 4,
            window_s: 60,
        };
        let head = headline(&web(), IncidentKind::CrashLoop, Some(1), looping);
        assert!(head.contains("restarted it 4 times in 60 s"), "{head}");
        let told = text("ci-web", &web(), &head, &[]);
        assert!(!told.contains("found:"), "{told}");
    }
}
