//! The CLI's requester: b00t-bus's [`Requester`] on a reply base of its own
//! (`b00t.cli-<2 hex>.reply`), which `send`, `agents` and `chat` ask through. It follows
//! the replies until the result, an error or the deadline, and asks again with the same
//! id when it hears nothing.

use std::time::Duration;

use b00t_bus::{Bus, Events, Requester};
use tokio_util::sync::CancellationToken;

pub(crate) use b00t_bus::{Outcome, Request};

/// Opens a requester on `bus`: its replies' subscription is confirmed before this
/// returns. Also returns the connection's other events.
pub(crate) async fn requester(
    bus: &Bus,
    events: Events,
    stop: &CancellationToken,
) -> anyhow::Result<(Requester, Events)> {
    // One of 256 bases: the broker keeps every filter it was ever given, so a fresh
    // base per command would grow it for good. Two commands that share a base each
    // take only the replies to their own task ids.
    let reply_base = format!("b00t.cli-{:02x}.reply", fastrand::u8(..));
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
