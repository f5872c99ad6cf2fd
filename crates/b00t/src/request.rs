//! The CLI's requester: b00t-bus's [`Requester`] on a private reply base
//! (`b00t.cli-<hex>.reply`), which `send`, `agents` and `chat` ask through. It follows
//! the replies until the result, an error or the deadline, and asks again with the same
//! id when it hears nothing.

use std::time::Duration;

use b00t_bus::{Bus, Events, Requester};
use tokio_util::sync::CancellationToken;

pub use b00t_bus::{Outcome, Request};

/// Opens a requester on `bus`: its replies' subscription is confirmed before this
/// returns. Also returns the connection's other events.
pub async fn requester(
    bus: &Bus,
    events: Events,
    stop: &CancellationToken,
) -> anyhow::Result<(Requester, Events)> {
    let reply_base = format!("b00t.cli-{:08x}.reply", fastrand::u32(..));
    Ok(Requester::open(
        bus.clone(),
        events,
        reply_base,
        "cli",
        Duration::from_secs(5),
        stop,
    )
    .await?)
}
