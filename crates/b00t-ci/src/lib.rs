//! The deterministic logic of the container CI agents: one agent per container, named
//! from the container, answering `services`, `diagnose`, `health` and `optimize` from the
//! engine's facts. Pure functions over data: no IO, no async, no engine and no bus here
//! (`b00t-container` gathers the facts, the runtime publishes the answers).
//!
//! Layout:
//! - `names`: container name → agent name (`ci-web`), and the [`Registry`] that hands
//!   them out stably, with short-id suffixes on collisions.
//! - `services`: processes from the engine's `top` classified by `services.toml`.
//! - `exit_codes`: what an exit code means (126, 127, 137, 139, 143, …).
//! - `diagnose`: the analyzers and their [`Finding`]s, and the `health` [`Verdict`].
//! - `optimize`: [`Advice`] on limits, user, health check, privileges and image size.
//! - `units`: sizes and excerpts for people; `error`: [`CiError`].
//!
//! Every output type is `Serialize`: they become JSON result bodies on the bus.

mod diagnose;
mod error;
mod exit_codes;
mod names;
mod optimize;
mod services;
#[cfg(test)]
mod testing;
mod units;

pub use diagnose::{
    code as finding_code, diagnose, diagnose_with, verdict, verdict_with, Evidence, Finding,
    RestartWindow, Severity, Thresholds, Verdict, LOG_ERROR_PATTERNS,
};
pub use error::CiError;
pub use exit_codes::{meaning as exit_meaning, signal_name, ExitKind, ExitMeaning};
pub use names::{
    agent_name, Assignment, Registry, Renamed, AGENT_PREFIX, FALLBACK_ID_DIGITS, SUFFIX_ID_DIGITS,
};
pub use optimize::{
    advise, code as advice_code, is_long_running, runs_as_root, Advice, LARGE_IMAGE_BYTES,
};
pub use services::{classify, Service, ServiceEntry, ServiceTable, Services, SERVICES_TOML};
