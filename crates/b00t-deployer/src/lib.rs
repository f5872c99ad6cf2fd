//! The deployer: deploys as messages. A task on `b00t.deployer.<orchestrator>` names a
//! stack or job datum and an action (`plan`, `up`, `down`, `status`); the deployer reads
//! the intent (`b00t-deploy`), translates it for the orchestrator, judges it as the
//! installer judges installs (operator signature, else policy.toml, members included),
//! audits the decision, installs cli/apt/mcp members through the installer, and hands
//! the manifests to the real tool. b00t is never its own orchestrator: compose is
//! `docker-compose`, kubernetes is `kubectl`, nomad is Nomad's HTTP API, and direct is
//! local processes supervised here.
//!
//! # Layout
//! - `agent.rs`: the agent: skills, judging, audit, and the actions.
//! - `request.rs`: the task body.
//! - `status.rs`: what every executor answers (`Deployed`, endpoints).
//! - `detect.rs`: which orchestrators are usable here, and the commands that told.
//! - `compose.rs`, `kubectl.rs`, `nomad.rs`, `direct/`: the executors; `images.rs`
//!   (images present before compose runs) and `ports.rs` (host ports free before
//!   anything starts) serve them.
//! - `installs.rs`: cli/apt/bash/mcp members, installed through the installer's skills.
//! - `records.rs`: what is deployed, one file per deployment under the state folder.
//! - `error.rs`: `DeployerError`.

pub mod agent;
pub mod compose;
pub mod detect;
pub mod direct;
pub mod error;
pub mod images;
pub mod installs;
pub mod kubectl;
pub mod nomad;
pub mod ports;
pub mod records;
pub mod request;
pub mod status;

pub use agent::{spec, DeployerOptions, AGENT, SKILLS};
pub use error::DeployerError;
pub use status::{Deployed, Endpoint, JobState, Progress, ServiceState};
