//! The scheduler: per-group scheduled tasks, stored in the journal's `schedules` table and
//! fired as tasks on the group's chat address `b00t.<group>.chat/task`. A schedule is a
//! cron expression (5 fields, or 6 with seconds first, in the host's local time zone as
//! `TZ` or `/etc/localtime` set it), an interval (`every 30m`), or once (`at` an RFC 3339
//! time, or `in` a duration). The `scheduler` agent adds, lists and removes them; the
//! firing loop fires them.
//!
//! A fire's task id is `sched-<schedule id>-<due ms>-<tag>` (the tag keyed by the home's
//! secret, so nobody can guess it and publish it first), the same each time that slot is
//! fired, so a fire repeated after a crash is de-duplicated by the bus. After downtime, a
//! cron or interval schedule whose slots were missed fires once at start (not once per
//! missed slot), then keeps its usual times; a once schedule fires late, then is removed.
//!
//! Layout: `when` (the three forms and their next fire times), `schedule` (the model, its
//! stored row and its task), `request` (skill bodies), `store` (the journal's table for
//! async code, and the wake-up of the firing loop), `changes` (which schedules changed,
//! for replication), `agent` (the skills), `firing` (the loop), `replica` (the copy of
//! the schedules a standby runtime keeps, over the bus), `error`.

pub mod agent;
mod changes;
pub mod error;
pub mod firing;
pub mod replica;
pub mod request;
pub mod schedule;
pub mod store;
pub mod when;

use std::future::Future;
use std::path::{Path, PathBuf};

use b00t_agents::AgentSpec;
use b00t_bus::Bus;
use tokio_util::sync::CancellationToken;

pub use agent::{AGENT, MAX_PER_GROUP, SKILLS};
pub use error::SchedulerError;
pub use firing::run_firing;
pub use replica::{run_publisher, Applied, Follower, Replica, Replication};
pub use request::MAX_TEXT_BYTES;
pub use schedule::{FireKey, Schedule};
pub use store::Store;
pub use when::When;

/// Starts the scheduler of the journal at `journal_path` (the home's
/// `state/journal.db`) for the groups under `groups_root`: returns the `scheduler`
/// agent, to run with `b00t_agents::run`, and the firing loop, to spawn, which publishes
/// on `bus` (a connected client of the same broker) until `shutdown` is cancelled. With
/// `replication`, the loop also publishes every schedule on `bus` for a standby runtime
/// to follow ([`replica::run_publisher`]).
pub fn start(
    journal_path: &Path,
    groups_root: PathBuf,
    bus: Bus,
    key: FireKey,
    replication: Option<Replication>,
    shutdown: CancellationToken,
) -> Result<(AgentSpec, impl Future<Output = ()> + Send + 'static), SchedulerError> {
    let store = Store::open(journal_path)?;
    let spec = agent::spec(store.clone(), groups_root);
    let firing = run_firing(bus.clone(), store.clone(), key, shutdown.clone());
    let publisher = replication.map(|r| run_publisher(bus, store, r, shutdown));
    Ok((spec, async move {
        match publisher {
            Some(publisher) => {
                tokio::join!(firing, publisher);
            }
            None => firing.await,
        }
    }))
}
