//! The firing loop: sleeps until the soonest schedule is due (or a schedule is added or
//! removed), publishes each due schedule's task on `b00t.<group>.chat/task` with QoS 1,
//! then records the fire and the next time. A slot missed while nothing ran fires once,
//! late, and the next fire comes after now: missed slots are not repeated.

use std::time::Duration;

use b00t_bus::{Bus, Qos};
use chrono::Local;
use tokio_util::sync::CancellationToken;

use crate::{FireKey, Schedule, SchedulerError, Store};

/// The longest sleep between two looks at the schedules: a wall clock that jumps (or a
/// machine that slept) is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// How soon a fire that could not be published or recorded is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Fires the schedules in `store` on `bus` until `shutdown` is cancelled. The publish
/// comes before the record, so a crash in between fires that slot again after restart,
/// under the same task id, which the bus de-duplicates.
pub async fn run_firing(bus: Bus, store: Store, key: FireKey, shutdown: CancellationToken) {
    loop {
        let wait = match fire_due(&bus, &store, &key).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!("scheduler: {e}; trying again in {} s", RETRY.as_secs());
                RETRY
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = store.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::debug!("scheduler firing loop stopped");
}

/// Fires what is due now; returns how long to sleep before the next look.
async fn fire_due(bus: &Bus, store: &Store, key: &FireKey) -> Result<Duration, SchedulerError> {
    let schedules = store.list(None).await?;
    let now = b00t_journal::now_ms();
    let mut soonest: Option<i64> = None;
    let mut retry = false;
    for schedule in schedules {
        let Some(due) = schedule.next_ms else {
            continue;
        };
        if due > now {
            soonest = Some(soonest.map_or(due, |s| s.min(due)));
            continue;
        }
        match fire(bus, store, &schedule, due, key).await {
            Ok(Some(next)) => soonest = Some(soonest.map_or(next, |s| s.min(next))),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(schedule = %schedule.id, group = %schedule.group, "scheduler: {e}");
                retry = true;
            }
        }
    }
    let until_soonest = soonest.map_or(MAX_SLEEP, |t| {
        Duration::from_millis(t.saturating_sub(b00t_journal::now_ms()).max(0) as u64)
    });
    Ok(if retry {
        until_soonest.min(RETRY)
    } else {
        until_soonest.min(MAX_SLEEP)
    })
}

/// Publishes the slot `due` of `schedule` and records it; returns the next fire.
async fn fire(
    bus: &Bus,
    store: &Store,
    schedule: &Schedule,
    due: i64,
    key: &FireKey,
) -> Result<Option<i64>, String> {
    if !bus.is_connected() {
        return Err(format!(
            "not connected to the broker at `{}`; the fire waits",
            bus.url()
        ));
    }
    let payload = schedule.task(due, key).to_envelope();
    bus.publish(&schedule.topic(), Qos::AtLeastOnce, false, payload)
        .await
        .map_err(|e| e.to_string())?;
    let now = b00t_journal::now_ms();
    let next = schedule.when.after_fire(due, now, &Local);
    tracing::info!(
        schedule = %schedule.id,
        group = %schedule.group,
        task = %schedule.task_id(due, key),
        late_ms = now - due,
        "schedule fired"
    );
    store
        .fired(&schedule.id, due, now, next)
        .await
        .map_err(|e| e.to_string())?;
    Ok(next)
}
