//! The runtime that `b00t up` runs: the broker (embedded rumqttd, or an external one
//! with `--broker`), the delivery watcher that journals every task and drives retries and
//! dead letters, the presence table, and the local agents (`runtime`, `echo`).
//!
//! Layout: `up` (start everything, stop it cleanly), `watcher` (the delivery loop),
//! `gate` (what the runtime answers itself: bad addresses, unknown skills, bad tasks for
//! agents that are offline), `tracked` (tasks waiting for an ack), `load` (what the watcher tells the group
//! supervisor: how busy each group agent is, which are wanted), `presence` (who is
//! online), `intake` (how the watcher sees messages: the broker's tap, which also holds every
//! publish to the topic rules), `door` (the broker's gate: who may connect and subscribe), `home_lock` (one `up` per home), `lease` (which runtime acts on a shared broker; a standby waits), `runtime_agent` (the `runtime` agent's
//! `agents` skill), `error`.

pub mod ci;
pub mod door;
pub mod error;
pub mod gate;
pub mod groups;
pub mod home_lock;
pub mod intake;
pub mod launch;
pub mod lease;
pub mod load;
pub mod presence;
pub mod relay;
pub mod runtime_agent;
pub mod supervisor;
pub mod tracked;
pub mod up;
pub mod watcher;

pub use error::RuntimeError;
pub use home_lock::{HomeLock, HomeLockError};
pub use presence::{AgentEntry, Presence};
pub use up::{up, Ready, Report, UpOptions};
