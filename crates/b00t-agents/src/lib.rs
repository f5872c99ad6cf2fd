//! Agents: anything that answers tasks on `b00t.<agent>.<skill>`. An agent is an
//! [`AgentSpec`] (name, kind, skills, handler); [`host::run`] connects it to the bus and
//! does everything the protocol asks of it (presence card and will, heartbeats, acks,
//! execute-once per id, replies on `reply_to`) so a handler only computes a result.
//! The same code runs inside `b00t up` and as `b00t agent run` in a container.
//!
//! Layout: `spec` (the abstraction), `host` (the loop), `ledger` (which ids ran, and their
//! stored replies), `seen` (a Bloom filter of executed ids, so new ids skip the journal), `reply` (where replies go), `kinds` (built-in kinds: `echo`), `error`.

pub mod error;
pub mod host;
pub mod kinds;
pub mod ledger;
pub mod reply;
mod seen;
pub mod spec;

pub use error::AgentError;
pub use host::{run, HostOptions};
pub use ledger::Ledger;
pub use spec::{AgentSpec, Failure, Handler, HandlerFuture, Progress, TaskContext};
