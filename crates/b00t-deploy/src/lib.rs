//! Deploys as data. A stack or job datum states the intent (what runs, what it needs,
//! what it waits for, which resources); `intent` reads it from the catalog into an
//! [`Intent`]; each adapter under `adapters/` is a pure translation of an intent into one
//! orchestrator's manifests ([`Manifests`]). Nothing here runs a process, opens a socket
//! or writes a file: `b00t-deployer` drives the real tools with what these produce.
//!
//! # Layout
//! - `intent.rs`: the model ([`Intent`], [`Workload`], ports, volumes, health, resources).
//! - `read.rs`: [`Intent::from_catalog`], which reads the datum fields and flattens a
//!   stack's members and a job's required stacks into one deployment.
//! - `docker_args.rs`: the arguments of `docker run` a docker datum carries, parsed into
//!   the model; an argument with no translation is an error naming it.
//! - `refs.rs`: `${STACK:<stack>:<service>:endpoint|host|port}`, `${VAR}` and
//!   `${VAR:-default}`, resolved per orchestrator.
//! - `adapters/`: `compose.rs`, `kubernetes.rs`, `nomad.rs`, `direct.rs`, and the
//!   [`Orchestrator`] names.
//! - `error.rs`: [`DeployError`].

pub mod adapters;
pub mod docker_args;
pub mod error;
pub mod intent;
mod read;
pub mod refs;

pub use adapters::{translate, Manifest, Manifests, McpCall, Orchestrator};
pub use error::DeployError;
pub use intent::{
    Health, HealthTest, Intent, IntentKind, Port, Protocol, Resources, Restart, Volume,
    VolumeSource, Wait, Workload, WorkloadRole,
};
