//! The adapters tested as a whole: each fixture's translation compared byte for byte with
//! the files under `tests/golden/<adapter>/<fixture>/` (`B00T_BLESS=1` rewrites them), and
//! the manifests handed to tools nobody here wrote: `docker-compose config`, PyYAML,
//! `kubernetes-validate`, a JSON parser for Nomad's job bodies.

mod catalog;
mod compose;
mod direct;
mod fixtures;
mod golden;
mod kubernetes;
mod nomad;
mod tools;
