//! One schedule: which group gets which text when, and its record of fires; how it is
//! stored in the journal, shown as JSON, and turned into a task on the group's chat
//! address.

use b00t_journal::ScheduleRow;
use b00t_proto::{Address, Channel, Name, Task, TaskId};
use chrono::TimeZone;
use serde_json::{json, Value};

use crate::when::{rfc3339, When};
use crate::SchedulerError;

/// The skill of a group's agent that scheduled tasks go to.
pub const CHAT_SKILL: &str = "chat";

/// Who scheduled tasks are `from`.
pub const FROM: &str = "scheduler";

/// A scheduled task of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// `s-` and 8 hex digits: short, and valid inside a task id.
    pub id: String,
    pub group: Name,
    pub text: String,
    pub when: When,
    /// When it fires next (ms since the epoch); `None` when it never fires again.
    pub next_ms: Option<i64>,
    pub created_ms: i64,
    pub last_fired_ms: Option<i64>,
    pub fired: u64,
}

/// A fresh schedule id: `s-` and 8 hex digits.
pub fn new_id() -> String {
    format!("s-{:08x}", fastrand::u32(..))
}

/// Whether `id` has the shape of a schedule id.
pub fn is_id(id: &str) -> bool {
    id.len() == 10
        && id.starts_with("s-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Schedule {
    /// The address fires go to: `b00t.<group>.chat`.
    pub fn address(&self) -> Address {
        Address::new(
            self.group.clone(),
            Name::parse(CHAT_SKILL).expect("a valid skill name"),
        )
    }

    /// The topic fires are published on: `b00t.<group>.chat/task`.
    pub fn topic(&self) -> String {
        self.address().topic(Channel::Task)
    }

    /// The id of the task fired for the slot due at `due_ms`: the same every time that
    /// slot is fired, so a fire repeated after a crash is de-duplicated by the bus, and
    /// not guessable from `b00t.scheduler.list`: `sched-<id>-<due ms>-<tag>`, the tag
    /// keyed by the home's secret.
    pub fn task_id(&self, due_ms: i64, key: &FireKey) -> String {
        format!("sched-{}-{due_ms}-{}", self.id, key.tag(&self.id, due_ms))
    }

    /// The task fired for the slot due at `due_ms`.
    pub fn task(&self, due_ms: i64, key: &FireKey) -> Task {
        // Schedule ids are `s-<hex>`, due times numbers, tags hex: always a valid id.
        let id = TaskId::parse(&self.task_id(due_ms, key)).expect("a valid task id");
        let body = json!({"text": self.text, "schedule": self.id});
        Task::outgoing(id, Some(FROM), None, body)
    }

    /// How a task, a reply or `b00t schedule list` shows it, with times in `tz`.
    pub fn to_json<Tz: TimeZone>(&self, tz: &Tz) -> Value
    where
        Tz::Offset: std::fmt::Display,
    {
        json!({
            "id": self.id,
            "group": self.group.as_str(),
            "text": self.text,
            "when": self.when.describe(tz),
            "next": self.next_ms.map(|ms| rfc3339(ms, tz)),
            "created": rfc3339(self.created_ms, tz),
            "last_fired": self.last_fired_ms.map(|ms| rfc3339(ms, tz)),
            "fired": self.fired,
        })
    }

    pub fn to_row(&self) -> ScheduleRow {
        let (kind, spec) = self.when.to_stored();
        ScheduleRow {
            id: self.id.clone(),
            group: self.group.to_string(),
            text: self.text.clone(),
            kind: kind.to_owned(),
            spec,
            next_ms: self.next_ms,
            created_ms: self.created_ms,
            last_fired_ms: self.last_fired_ms,
            fired: self.fired,
        }
    }

    pub fn from_row(row: ScheduleRow) -> Result<Schedule, SchedulerError> {
        let stored = |problem: String| SchedulerError::Stored {
            id: row.id.clone(),
            problem,
        };
        let group = Name::parse(&row.group).map_err(|e| stored(format!("group {e}")))?;
        let when = When::from_stored(&row.kind, &row.spec).map_err(stored)?;
        Ok(Schedule {
            id: row.id,
            group,
            text: row.text,
            when,
            next_ms: row.next_ms,
            created_ms: row.created_ms,
            last_fired_ms: row.last_fired_ms,
            fired: row.fired,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use b00t_proto::{parse_task, TaskSource};
    use chrono::Utc;
    use std::time::Duration;

    fn sample() -> Schedule {
        Schedule {
            id: new_id(),
            group: Name::parse("family").unwrap(),
            text: "water the plants".into(),
            when: When::Every(Duration::from_secs(1800)),
            next_ms: Some(1_795_168_800_000),
            created_ms: 1_795_168_000_000,
            last_fired_ms: None,
            fired: 0,
        }
    }

    #[test]
    fn ids_are_short_and_valid_in_task_ids() {
        let s = sample();
        assert!(is_id(&s.id), "{}", s.id);
        assert!(!is_id("s-1234567"));
        assert!(!is_id("s-ABCDEF12"));
        assert!(!is_id("x-12345678"));
        let key = FireKey::new([7; 32]);
        let task = s.task(1_795_168_800_000, &key).to_envelope();
        let parsed = parse_task(&task, 1 << 20).unwrap();
        assert_eq!(parsed.source, TaskSource::Json);
        assert_eq!(
            parsed.id.as_str(),
            s.task_id(1_795_168_800_000, &key),
            "the same slot always gets the same id"
        );
        assert!(parsed
            .id
            .as_str()
            .starts_with(&format!("sched-{}-1795168800000-", s.id)));
        assert_ne!(
            s.task_id(1_795_168_800_000, &key),
            s.task_id(1_795_168_800_000, &FireKey::new([8; 32])),
            "another home's key gives another id"
        );
        assert_eq!(parsed.from.as_deref(), Some("scheduler"));
        assert_eq!(
            parsed.body,
            json!({"text": "water the plants", "schedule": s.id})
        );
        assert_eq!(s.topic(), "b00t.family.chat/task");
    }

    #[test]
    fn a_row_reads_back_the_same() {
        let s = sample();
        assert_eq!(Schedule::from_row(s.to_row()).unwrap(), s);
        let mut bad = s.to_row();
        bad.kind = "weekly".into();
        let err = Schedule::from_row(bad).unwrap_err().to_string();
        assert!(
            err.contains(&format!("stored schedule `{}`", s.id)),
            "{err}"
        );
        assert!(err.contains("unknown kind `weekly`"), "{err}");
    }

    #[test]
    fn shows_as_json() {
        let s = sample();
        assert_eq!(
            s.to_json(&Utc),
            json!({
                "id": s.id,
                "group": "family",
                "text": "water the plants",
                "when": "every 30m",
                "next": "2026-11-20T10:00:00Z",
                "created": "2026-11-20T09:46:40Z",
                "last_fired": null,
                "fired": 0,
            })
        );
    }
}

/// The home's secret behind fire ids (32 bytes, kept in the state folder).
#[derive(Clone)]
pub struct FireKey([u8; 32]);

impl std::fmt::Debug for FireKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FireKey(…)")
    }
}

impl FireKey {
    pub fn new(bytes: [u8; 32]) -> FireKey {
        FireKey(bytes)
    }

    /// 16 hex digits of HMAC-SHA256 over the schedule id and the slot.
    fn tag(&self, schedule: &str, due_ms: i64) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(format!("{schedule}\n{due_ms}").as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}
