//! Tests against the real Docker engine: the agent image built on `scratch`, the created
//! container's security spec inspected through the API, its run, and the operations;
//! observing any container as the container CI agents do (on a local busybox image).
//! Each test skips when no engine answers, and fails instead when `B00T_REQUIRE_DOCKER=1`.
//! Every container and image a test makes has a unique name and is removed when the test
//! ends, failed or not.

mod common;
mod container;
mod image;
mod observe;
