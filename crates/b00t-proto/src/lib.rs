//! The b00t bus protocol v1 as plain data: names, addresses, topics, the task envelope,
//! replies and presence cards. Every side of the bus (runtime, agents, CLI) shares these
//! definitions; this crate does no IO.
//!
//! Layout: `name` (agent and skill names), `address` (`b00t.<agent>.<skill>`), `topic`
//! (the channels under an address), `task` (envelope parsing and validation), `reply`
//! (ack, progress, result, error), `presence` (status card and heartbeat), `id` (task ids),
//! `clock` (timestamps), `lease` (which runtime acts for a bus).

pub mod address;
pub mod clock;
pub mod id;
mod key;
pub mod lease;
pub mod name;
pub mod presence;
pub mod reply;
pub mod task;
pub mod topic;

pub use address::{Address, AddressError};
pub use id::{TaskId, TaskIdError};
pub use key::{sender_scoped_id, TaskKey};
pub use lease::{Lease, LEASE_TOPIC};
pub use name::{Name, NameError};
pub use presence::{
    AgentState, ContainerRef, Heartbeat, StatusCard, HEARTBEATS_STOPPED, MISSED_BEATS_OFFLINE,
    MISSED_BEATS_STALE,
};
pub use reply::{ErrorBody, ErrorCode, Reply, ReplyHead};
pub use task::{json_kind, parse_task, Rejection, Task, TaskSource};
pub use topic::{AgentChannel, Channel};

/// The protocol version this crate implements.
pub const PROTOCOL_VERSION: u32 = 1;

/// The prefix every address and agent-level topic starts with.
pub const PREFIX: &str = "b00t";
