//! Group agents in Docker containers, or as local processes where there is no Docker.
//!
//! This crate holds the mechanisms; the policy (when to start, how many at once, idle
//! stops, restarts with backoff, adoption) lives in `b00t-runtime`. It is the only crate
//! that touches bollard for containers.
//!
//! Layout:
//! - `engine`: connecting (with API version fallback for Docker 20.10) and
//!   `CONTAINER_RUNTIME` (`docker`, `none`, `auto`).
//! - `image`, `context`, `ldd`: the agent image `b00t-agent:<version>`, built on
//!   `scratch` from the `container/` folder plus the binary and the libraries `ldd`
//!   names; missing, stale or current by the `b00t.binary` label.
//! - `spec`: [`GroupContainer`], its labels, hash, names and workspace environment.
//! - `mounts`: what of the host a group sees (and why nothing else).
//! - `ownership`: the non-root uid:gid and chowning writable folders when b00t is root.
//! - `network`: the default bridge's gateway, where containers reach the host.
//! - `ops`: create (with the security spec), start, stop, remove, wait, logs, list.
//! - `pull`: other images (the installer's Docker datums): present or not, and pulling.
//! - `observe`: any container, for the container CI agents: list, events, facts (inspect),
//!   top, logs, one stats sample, listening ports from its network namespace, restart and
//!   stop; its plain data types in `observe/facts.rs`.
//! - `local`: the `none` runtime's child process.
//! - `launched`: one handle over both runtimes.
//! - `testing`: `docker_or_skip` for tests that need an engine.

mod context;
mod engine;
mod error;
mod image;
mod launched;
mod ldd;
mod local;
mod mounts;
mod network;
mod observe;
mod ops;
mod ownership;
mod pull;
mod spec;
pub mod testing;

pub use bollard::Docker;

pub use context::{AGENT_GID, AGENT_UID, BINARY_IN_IMAGE, DEFAULT_DOCKERFILE};
pub use engine::{choose, connect, connect_within, docker_host, RuntimeChoice, PING_TIMEOUT};
pub use error::ContainerError;
pub use image::{
    binary_fingerprint, build_image, build_image_with, image_state, inspect_image, remove_image,
    validate_tag, ImageBuild, ImageInfo, ImageState, BINARY_LABEL,
};
pub use launched::{Launched, Launcher};
pub use ldd::{parse_ldd, shared_libraries};
pub use local::LocalAgent;
pub use mounts::{plan_mounts, plan_mounts_hiding, HIDDEN_IN_PROJECT};
pub use network::bridge_gateway;
pub use observe::{
    events, facts, list_containers, listening, logs, restart, stats_once, stats_quick,
    stop_container, top, ContainerEvent, Facts, Health, Listed, Listening, LogLine, LogQuery, Logs,
    MountSummary, Port, Probe, Process, Stats, Stream, LOGS_MAX_BYTES, LOGS_MAX_TAIL,
    PROBE_OUTPUT_MAX_BYTES,
};
pub use ops::{
    create, create_body, inspect, list_owned, logs_tail, remove, start, stop, wait_exit, Owned,
    HOST_GATEWAY, NO_NEW_PRIVILEGES,
};
pub use ownership::{container_user, prepare_ownership};
pub use pull::{image_id, pull_image};
pub use spec::{
    container_name, home_id, workspace_env, GroupContainer, Limits, Mount, MountKind,
    GLOBAL_DIR_ENV, GLOBAL_TARGET, GROUP_DIR_ENV, GROUP_LABEL, GROUP_TARGET, HOME_LABEL,
    MANAGED_LABEL, PROJECT_DIR_ENV, PROJECT_TARGET, SPEC_LABEL,
};
