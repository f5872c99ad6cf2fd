//! Replication of the schedules to a standby runtime: the active runtime publishes each
//! schedule's row retained (QoS 1) on `b00t.runtime/schedules/<id>`, and an empty
//! retained payload when the schedule is gone; a standby's [`Follower`] checks each one
//! (it comes from the bus: hostile until proven otherwise) and writes it to its journal.
//!
//! Whose rows are the truth: the active runtime's. A runtime that stands by behind
//! another's live lease, or that takes over from another's lapsed one, makes its journal's
//! schedules those rows ([`Follower::follow`]: rows it holds that the broker no longer
//! retains were removed meanwhile, and go). A runtime whose own lease lapsed (it is
//! starting again) keeps its journal, which is newer than anything it published, and
//! its publisher clears the rows the broker still retains for schedules it no longer
//! holds ([`Replication::retained`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use b00t_bus::{Bus, BusEvent, Bytes, Events, Qos};
use b00t_journal::{ScheduleRow, ScheduleStore};
use b00t_proto::Name;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::changes::Changed;
use crate::schedule::is_id;
use crate::{Schedule, SchedulerError, Store, MAX_TEXT_BYTES};

/// The topics of the replicated rows: this and the schedule id.
pub const TOPIC_PREFIX: &str = "b00t.runtime/schedules/";

/// The longest replica payload a follower reads.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// How soon a publish that failed is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// The most replica topics a follower keeps unapplied while it does not know yet whether
/// it follows; past it, rows are counted (their ids kept) but not kept.
pub const MAX_BUFFERED: usize = 4096;

/// The most schedule ids a follower counts as retained; past it (a flood on the replica
/// topics), it removes nothing from its journal, since it no longer knows what the broker
/// holds.
pub const MAX_PRESENT: usize = 65_536;

/// What the publisher knows besides its store.
#[derive(Debug, Default)]
pub struct Replication {
    /// Ids whose rows the broker may still retain, heard before this runtime acted (by
    /// [`Follower::follow`]): the first round clears those the store no longer holds,
    /// such as a removal whose publish a crash cut short.
    pub retained: BTreeSet<String>,
    /// The publisher's own bus events: after each reconnection every row is published
    /// again, since a broker that restarted may have lost what it retained.
    pub events: Option<Events>,
}

/// The topic of schedule `id`'s row.
pub fn topic(id: &str) -> String {
    format!("{TOPIC_PREFIX}{id}")
}

/// Whether `topic` is a replica topic: the prefix and one more, non-empty, level.
pub fn is_replica_topic(topic: &str) -> bool {
    topic
        .strip_prefix(TOPIC_PREFIX)
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// A row as JSON on the wire: every column of the journal's `schedules` table.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRow {
    id: String,
    group: String,
    text: String,
    kind: String,
    spec: String,
    next_ms: Option<i64>,
    created_ms: i64,
    last_fired_ms: Option<i64>,
    fired: u64,
}

/// The payload that carries `row`.
pub fn encode(row: &ScheduleRow) -> Vec<u8> {
    let wire = WireRow {
        id: row.id.clone(),
        group: row.group.clone(),
        text: row.text.clone(),
        kind: row.kind.clone(),
        spec: row.spec.clone(),
        next_ms: row.next_ms,
        created_ms: row.created_ms,
        last_fired_ms: row.last_fired_ms,
        fired: row.fired,
    };
    serde_json::to_vec(&wire).expect("strings and numbers serialize")
}

/// What one replica message says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replica {
    /// The schedule as it is now (checked: it reads as a [`Schedule`]).
    Row(ScheduleRow),
    /// The schedule with this id is gone.
    Removed(String),
}

/// Reads the message `payload` on `topic`, refusing anything but a valid schedule whose
/// id is the topic's (or an empty payload, for a removal).
pub fn decode(topic: &str, payload: &[u8]) -> Result<Replica, SchedulerError> {
    let refuse = |problem: String| SchedulerError::Replica {
        topic: topic.to_owned(),
        problem,
    };
    let Some(id) = topic.strip_prefix(TOPIC_PREFIX) else {
        return Err(refuse(format!("not under `{TOPIC_PREFIX}`")));
    };
    if !is_id(id) {
        return Err(refuse(format!(
            "`{id}` is not a schedule id (`s-` and 8 lowercase hex digits)"
        )));
    }
    if payload.is_empty() {
        return Ok(Replica::Removed(id.to_owned()));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(refuse(format!(
            "the payload is {} bytes, over the limit of {MAX_PAYLOAD}",
            payload.len()
        )));
    }
    let wire: WireRow =
        serde_json::from_slice(payload).map_err(|e| refuse(format!("not a schedule row: {e}")))?;
    if wire.id != id {
        return Err(refuse(format!(
            "the row's id `{}` is not the topic's `{id}`",
            wire.id
        )));
    }
    Name::parse(&wire.group).map_err(|e| refuse(format!("group `{}`: {e}", wire.group)))?;
    if wire.text.len() > MAX_TEXT_BYTES {
        return Err(refuse(format!(
            "the text is {} bytes, over the limit of {MAX_TEXT_BYTES}",
            wire.text.len()
        )));
    }
    let row = ScheduleRow {
        id: wire.id,
        group: wire.group,
        text: wire.text,
        kind: wire.kind,
        spec: wire.spec,
        next_ms: wire.next_ms,
        created_ms: wire.created_ms,
        last_fired_ms: wire.last_fired_ms,
        fired: wire.fired,
    };
    let schedule = Schedule::from_row(row).map_err(|e| match e {
        SchedulerError::Stored { problem, .. } => refuse(problem),
        other => refuse(other.to_string()),
    })?;
    Ok(Replica::Row(schedule.to_row()))
}

/// Publishes the schedules of `store` on `bus` until `shutdown` is cancelled: every row
/// at start, then each schedule that changes (its row now, or an empty payload once it
/// is gone), all retained at QoS 1. A failed publish is logged and, a second later, the
/// whole set is published again, as after each reconnection. The first round also
/// clears the rows of [`Replication::retained`] that the store no longer holds.
pub async fn run_publisher(
    bus: Bus,
    store: Store,
    replication: Replication,
    shutdown: CancellationToken,
) {
    // The first round publishes everything, which covers what changed before it.
    let _ = store.changes.take();
    let mut pending = Changed::All;
    // The ids the broker may hold as present, so a full round can clear those gone.
    let mut published = replication.retained;
    let mut reconnections = Reconnections {
        events: replication.events,
        connected_before: false,
    };
    loop {
        let round = tokio::select! {
            _ = shutdown.cancelled() => break,
            round = publish(&bus, &store, &pending, &mut published) => round,
        };
        pending = match round {
            Ok(()) => tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = store.changes.next() => changed,
                () = reconnections.next() => {
                    let _ = store.changes.take();
                    Changed::All
                }
            },
            Err(e) => {
                tracing::warn!(
                    "schedule replication: {e}; publishing every schedule again in {} s",
                    RETRY.as_secs()
                );
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(RETRY) => {}
                }
                let _ = store.changes.take();
                Changed::All
            }
        };
    }
    tracing::debug!("schedule replication publisher stopped");
}

/// The reconnections in a bus's events: each `Connected` after its first (the first
/// round at start already covers the first connection).
struct Reconnections {
    events: Option<Events>,
    connected_before: bool,
}

impl Reconnections {
    /// Waits for the next reconnection; never, without events or once they end.
    async fn next(&mut self) {
        loop {
            let Some(rx) = self.events.as_mut() else {
                return std::future::pending().await;
            };
            match rx.recv().await {
                Some(BusEvent::Connected) if self.connected_before => return,
                Some(BusEvent::Connected) => self.connected_before = true,
                Some(_) => {}
                None => self.events = None,
            }
        }
    }
}

/// Publishes what `pending` names; `published` follows what the broker now retains.
async fn publish(
    bus: &Bus,
    store: &Store,
    pending: &Changed,
    published: &mut BTreeSet<String>,
) -> Result<(), String> {
    match pending {
        Changed::Ids(ids) => {
            for id in ids {
                let row = store.row(id).await.map_err(|e| e.to_string())?;
                publish_one(bus, id, row.as_ref()).await?;
                match row {
                    Some(_) => published.insert(id.clone()),
                    None => published.remove(id),
                };
            }
        }
        Changed::All => {
            let rows = store.rows().await.map_err(|e| e.to_string())?;
            let now: BTreeSet<String> = rows.iter().map(|r| r.id.clone()).collect();
            for row in &rows {
                publish_one(bus, &row.id, Some(row)).await?;
                published.insert(row.id.clone());
            }
            for gone in published.difference(&now).cloned().collect::<Vec<_>>() {
                publish_one(bus, &gone, None).await?;
                published.remove(&gone);
            }
        }
    }
    Ok(())
}

async fn publish_one(bus: &Bus, id: &str, row: Option<&ScheduleRow>) -> Result<(), String> {
    let payload = row.map(encode).unwrap_or_default();
    bus.publish(&topic(id), Qos::AtLeastOnce, true, payload)
        .await
        .map_err(|e| e.to_string())
}

/// What [`Follower::apply`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The schedule with this id was written (added or replaced).
    Upserted(String),
    /// The schedule with this id was removed.
    Removed(String),
    /// Nothing to do: not a replica topic, or the removal of a schedule not held here.
    Ignored,
}

/// A standby's copy of the active runtime's schedules, in its own journal.
#[derive(Clone, Debug)]
pub struct Follower {
    inner: Arc<ScheduleStore>,
}

impl Follower {
    /// The schedules of the journal at `journal_path` (the standby's
    /// `state/journal.db`, created when missing).
    pub fn open(journal_path: &Path) -> Result<Follower, SchedulerError> {
        Ok(Follower {
            inner: Arc::new(ScheduleStore::open(journal_path)?),
        })
    }

    /// Reads the replica messages of `rows` until it closes, and returns the ids whose
    /// rows the broker holds (present, not removed since). Until `following` turns true
    /// nothing is written: the latest message per topic is kept (up to [`MAX_BUFFERED`]
    /// topics; past [`MAX_PRESENT`] ids nothing is removed). When it does, or when `rows`
    /// closes with `following` true, the journal's schedules become those rows: the ones
    /// it holds with no row are removed, the kept messages applied, and each later
    /// message applied as it comes. A refused row is logged and skipped.
    pub async fn follow(
        &self,
        mut rows: mpsc::Receiver<(String, Bytes)>,
        mut following: watch::Receiver<bool>,
    ) -> BTreeSet<String> {
        let mut present = BTreeSet::new();
        let mut kept: BTreeMap<String, Bytes> = BTreeMap::new();
        let mut live = false;
        let mut told_full = false;
        let mut overflow = false;
        let mut watching = true;
        loop {
            tokio::select! {
                biased;
                changed = following.changed(), if watching && !live => {
                    watching = changed.is_ok();
                    if *following.borrow_and_update() {
                        live = true;
                        self.catch_up(&present, overflow, std::mem::take(&mut kept)).await;
                    }
                }
                message = rows.recv() => {
                    let Some((topic, payload)) = message else { break };
                    let Some(id) = topic.strip_prefix(TOPIC_PREFIX).filter(|_| is_replica_topic(&topic)) else {
                        continue;
                    };
                    if payload.is_empty() {
                        present.remove(id);
                    } else if present.len() < MAX_PRESENT || present.contains(id) {
                        present.insert(id.to_owned());
                    } else if !overflow {
                        overflow = true;
                        tracing::warn!("more than {MAX_PRESENT} schedule replica ids: this journal's schedules are no longer pruned to them");
                    }
                    if live {
                        self.apply_logged(&topic, &payload).await;
                    } else if kept.len() < MAX_BUFFERED || kept.contains_key(&topic) {
                        kept.insert(topic, payload);
                    } else if !told_full {
                        told_full = true;
                        tracing::warn!("more than {MAX_BUFFERED} schedule replica topics before this runtime knew whether it follows; the rest are not copied");
                    }
                }
            }
        }
        if !live && *following.borrow() {
            self.catch_up(&present, overflow, kept).await;
        }
        present
    }

    /// Removes the schedules not in `present` (unless it `overflowed`), then applies
    /// `kept`.
    async fn catch_up(
        &self,
        present: &BTreeSet<String>,
        overflowed: bool,
        kept: BTreeMap<String, Bytes>,
    ) {
        let pruned = match overflowed {
            true => Ok(0),
            false => self.prune_except(present).await,
        };
        match pruned {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                "removed {n} schedule(s) the active runtime no longer holds from this journal"
            ),
            Err(e) => tracing::warn!("cannot remove stale schedules from this journal: {e}"),
        }
        for (topic, payload) in kept {
            self.apply_logged(&topic, &payload).await;
        }
    }

    async fn apply_logged(&self, topic: &str, payload: &[u8]) {
        if let Err(e) = self.apply(topic, payload).await {
            tracing::warn!("{e}");
        }
    }

    /// Removes every schedule whose id is not in `keep`; returns how many went.
    pub async fn prune_except(&self, keep: &BTreeSet<String>) -> Result<usize, SchedulerError> {
        let inner = self.inner.clone();
        let keep = keep.clone();
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for row in inner.list(None)? {
                if !keep.contains(&row.id) && inner.remove(&row.id)? {
                    removed += 1;
                }
            }
            Ok::<_, b00t_journal::JournalError>(removed)
        })
        .await
        .map_err(|e| SchedulerError::Blocking(e.to_string()))?
        .map_err(SchedulerError::from)
    }

    /// Applies the message `payload` received on `topic`. A payload that is refused is
    /// an error naming the topic and the problem: log it and go on.
    pub async fn apply(&self, topic: &str, payload: &[u8]) -> Result<Applied, SchedulerError> {
        if !is_replica_topic(topic) {
            return Ok(Applied::Ignored);
        }
        let replica = decode(topic, payload)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || match replica {
            Replica::Row(row) => inner.upsert(&row).map(|()| Applied::Upserted(row.id)),
            Replica::Removed(id) => inner.remove(&id).map(|removed| match removed {
                true => Applied::Removed(id),
                false => Applied::Ignored,
            }),
        })
        .await
        .map_err(|e| SchedulerError::Blocking(e.to_string()))?
        .map_err(SchedulerError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const TOPIC: &str = "b00t.runtime/schedules/s-0000abcd";

    fn row() -> ScheduleRow {
        ScheduleRow {
            id: "s-0000abcd".into(),
            group: "family".into(),
            text: "water the plants".into(),
            kind: "cron".into(),
            spec: "0 9 * * 1-5".into(),
            next_ms: Some(1_795_168_800_000),
            created_ms: 1_795_168_000_000,
            last_fired_ms: Some(1_795_100_000_000),
            fired: 7,
        }
    }

    fn wire() -> Value {
        serde_json::from_slice(&encode(&row())).unwrap()
    }

    /// The problem `payload` on `topic` is refused for.
    fn refusal(topic: &str, payload: &[u8]) -> String {
        let err = decode(topic, payload).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("schedule replica on `{topic}` refused: ")),
            "{err}"
        );
        err
    }

    fn with(field: &str, value: Value) -> Vec<u8> {
        let mut wire = wire();
        wire[field] = value;
        serde_json::to_vec(&wire).unwrap()
    }

    #[test]
    fn topics() {
        assert_eq!(topic("s-0000abcd"), TOPIC);
        assert!(is_replica_topic(TOPIC));
        assert!(!is_replica_topic(TOPIC_PREFIX));
        assert!(!is_replica_topic("b00t.runtime/schedules/s-0000abcd/x"));
        assert!(!is_replica_topic("b00t.runtime/lease"));
    }

    #[test]
    fn a_row_goes_round_the_wire() {
        assert_eq!(
            wire(),
            json!({
                "id": "s-0000abcd", "group": "family", "text": "water the plants",
                "kind": "cron", "spec": "0 9 * * 1-5", "next_ms": 1_795_168_800_000_i64,
                "created_ms": 1_795_168_000_000_i64, "last_fired_ms": 1_795_100_000_000_i64,
                "fired": 7,
            })
        );
        assert_eq!(decode(TOPIC, &encode(&row())).unwrap(), Replica::Row(row()));
        let mut never = row();
        never.next_ms = None;
        never.last_fired_ms = None;
        assert_eq!(decode(TOPIC, &encode(&never)).unwrap(), Replica::Row(never));
        assert_eq!(
            decode(TOPIC, b"").unwrap(),
            Replica::Removed("s-0000abcd".into())
        );
    }

    #[test]
    fn refuses_what_is_not_a_valid_schedule() {
        let bad_topic = "b00t.runtime/schedules/s-XYZ";
        assert!(refusal(bad_topic, b"").contains("`s-XYZ` is not a schedule id"));
        assert!(refusal("b00t.runtime/lease", b"").contains("not under"));
        assert!(refusal(TOPIC, &with("id", json!("s-00001111")))
            .contains("the row's id `s-00001111` is not the topic's `s-0000abcd`"));
        assert!(refusal(TOPIC, &with("owner", json!("x"))).contains("unknown field `owner`"));
        let mut big = wire();
        big["text"] = json!("x".repeat(MAX_PAYLOAD));
        assert!(refusal(TOPIC, &serde_json::to_vec(&big).unwrap()).contains("over the limit"));
        assert!(
            refusal(TOPIC, &with("text", json!("x".repeat(MAX_TEXT_BYTES + 1))))
                .contains("the text is")
        );
        assert!(refusal(TOPIC, &with("kind", json!("weekly"))).contains("unknown kind `weekly`"));
        assert!(refusal(TOPIC, &with("spec", json!("61 * * * *")))
            .contains("`61 * * * *` is not a cron expression"));
        assert!(
            refusal(TOPIC, &with("kind", json!("every"))).contains("`0 9 * * 1-5` is not a number")
        );
        assert!(refusal(TOPIC, &with("group", json!("../etc"))).contains("group `../etc`"));
        assert!(refusal(TOPIC, &with("fired", json!(-1))).contains("not a schedule row"));
        assert!(refusal(TOPIC, b"{\"id\":").contains("not a schedule row"));
        assert!(refusal(TOPIC, &[0xff, 0xfe]).contains("not a schedule row"));
    }

    #[tokio::test]
    async fn a_follower_writes_and_removes_rows_in_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let follower = Follower::open(&path).unwrap();
        let first = row();
        assert_eq!(
            follower.apply(TOPIC, &encode(&first)).await.unwrap(),
            Applied::Upserted(first.id.clone())
        );
        let mut later = first.clone();
        later.next_ms = Some(1_795_255_200_000);
        later.last_fired_ms = Some(1_795_168_800_100);
        later.fired = 8;
        assert_eq!(
            follower.apply(TOPIC, &encode(&later)).await.unwrap(),
            Applied::Upserted(first.id.clone())
        );
        assert!(follower
            .apply(TOPIC, &with("kind", json!("weekly")))
            .await
            .is_err());
        assert_eq!(
            follower
                .apply("b00t.family.chat/task", b"{}")
                .await
                .unwrap(),
            Applied::Ignored
        );
        let store = Store::open(&path).unwrap();
        let schedules = store.list(None).await.unwrap();
        assert_eq!(
            schedules,
            [Schedule::from_row(later).unwrap()],
            "the last row wins; a refused one changes nothing"
        );
        assert_eq!(
            follower.apply(TOPIC, b"").await.unwrap(),
            Applied::Removed(first.id.clone())
        );
        assert_eq!(follower.apply(TOPIC, b"").await.unwrap(), Applied::Ignored);
        assert_eq!(store.list(None).await.unwrap(), []);
    }

    fn other(id: &str) -> ScheduleRow {
        ScheduleRow {
            id: id.into(),
            ..row()
        }
    }

    /// A follower on a fresh journal holding the schedule `s-00000099` from an earlier
    /// life, fed `messages`; `follow_at` is how many messages come before `following`
    /// turns true (`None`: never), `at_close` whether it is true when the rows end.
    async fn follow(
        messages: Vec<(String, Vec<u8>)>,
        follow_at: Option<usize>,
        at_close: bool,
    ) -> (BTreeSet<String>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let follower = Follower::open(&path).unwrap();
        follower
            .apply(&topic("s-00000099"), &encode(&other("s-00000099")))
            .await
            .unwrap();
        let (rows_tx, rows) = mpsc::channel(16);
        let (following_tx, following) = watch::channel(false);
        let task = tokio::spawn({
            let follower = follower.clone();
            async move { follower.follow(rows, following).await }
        });
        for (n, (topic, payload)) in messages.into_iter().enumerate() {
            if follow_at == Some(n) {
                following_tx.send_replace(true);
                tokio::task::yield_now().await;
            }
            rows_tx.send((topic, payload.into())).await.unwrap();
        }
        if at_close {
            following_tx.send_replace(true);
        }
        drop(rows_tx);
        let present = task.await.unwrap();
        let held = Store::open(&path).unwrap().list(None).await.unwrap();
        (present, held.into_iter().map(|s| s.id).collect())
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_runtime_that_does_not_follow_keeps_its_journal_and_counts_the_retained_rows() {
        let messages = vec![
            (topic("s-00000001"), encode(&other("s-00000001"))),
            (topic("s-00000002"), encode(&other("s-00000002"))),
            (topic("s-00000002"), Vec::new()),
            ("b00t.runtime/lease".into(), b"{}".to_vec()),
        ];
        let (present, held) = follow(messages, None, false).await;
        assert_eq!(present, ids(&["s-00000001"]));
        assert_eq!(held, ["s-00000099"], "nothing written, nothing removed");
    }

    #[tokio::test]
    async fn a_follower_makes_its_schedules_the_retained_rows_then_follows_live() {
        // Following from the start: the stale row goes, every row is copied.
        let messages = vec![
            (topic("s-00000001"), encode(&other("s-00000001"))),
            (topic("s-00000002"), encode(&other("s-00000002"))),
        ];
        let (present, held) = follow(messages.clone(), Some(0), false).await;
        assert_eq!(present, ids(&["s-00000001", "s-00000002"]));
        assert_eq!(held, ["s-00000001", "s-00000002"]);

        // Following from the second message: the first was kept, then applied.
        let (_, held) = follow(messages.clone(), Some(1), false).await;
        assert_eq!(held, ["s-00000001", "s-00000002"]);

        // Following only once the rows end (it took over from another's lapsed lease),
        // with a removal heard meanwhile, and a refused row skipped.
        let mut more = messages;
        more.push((topic("s-00000001"), Vec::new()));
        more.push((topic("s-00000003"), b"{\"id\":".to_vec()));
        let (present, held) = follow(more, None, true).await;
        assert_eq!(present, ids(&["s-00000002", "s-00000003"]));
        assert_eq!(held, ["s-00000002"]);
    }

    #[tokio::test]
    async fn a_flood_of_replica_ids_stops_the_pruning_rather_than_memory() {
        // Past the limit by more than the channel holds, so it is passed before the end.
        let flood: Vec<(String, Vec<u8>)> = (0..MAX_PRESENT + 100)
            .map(|n| (topic(&format!("s-{:08x}", 0x1000_0000 + n)), b"x".to_vec()))
            .collect();
        let (present, held) = follow(flood, None, true).await;
        assert_eq!(present.len(), MAX_PRESENT);
        assert_eq!(held, ["s-00000099"], "nothing pruned past the limit");
    }
}
