//! The installer: installs happen as messages. A task on `b00t.installer.<type>` names a
//! datum; the installer resolves it and its dependencies from the catalog
//! (`b00t-datums`), checks what is installed, judges the plan against the policy unless
//! the operator signed the task, logs the decision, and installs what is missing in
//! dependency order with live progress.
//!
//! Layout: `agent` (the handler and its skills), `request` (the task body), `plan` (nodes
//! and states), `check` (installed detection), `methods` (what installing runs, by type),
//! `install` (carrying out a plan), `once` (the same run asked twice at once runs once), `runner` (child processes with timeouts), `env` (PATH with user bin folders), `docker`
//! (the engine's API), `policy` (the whitelist), `sign` (operator signatures), `audit`
//! (the decision log), `error`.

pub mod agent;
pub mod audit;
pub mod check;
pub mod docker;
pub mod env;
pub mod error;
pub mod install;
pub mod methods;
pub mod once;
pub mod plan;
pub mod policy;
pub mod request;
pub mod runner;
pub mod sign;
#[cfg(test)]
mod testutil;
pub mod wire;

pub use agent::{spec, InstallerOptions, AGENT, SKILLS};
pub use error::InstallerError;
pub use sign::OperatorKey;
