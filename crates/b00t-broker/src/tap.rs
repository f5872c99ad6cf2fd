//! The tap: how the runtime sees every message the front door receives, before the
//! router does, and holds a message back until it is safe to let it through (a task,
//! until it is journaled). The broker knows nothing of tasks or journals; it only asks.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

/// One PUBLISH a client sent, or a will the front door publishes for a client that died.
/// Borrowed from the packet: a tap copies only what it keeps.
#[derive(Clone, Copy, Debug)]
pub struct Tapped<'a> {
    /// The client id of the connection it came from.
    pub client_id: &'a str,
    /// Who that connection is: its verified username, or `anonymous`.
    pub identity: &'a str,
    pub topic: &'a str,
    pub payload: &'a Bytes,
    pub qos: u8,
    pub retain: bool,
}

/// Resolves when the message may go on to the router, or with why it may not.
pub type Hold = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send>>;

/// Why a held message was not let through. The tap has already answered the sender (an
/// error reply); the front door acknowledges the packet and drops it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Sees every message. Called on the connection's own task, in the order the client
/// sent its packets; a `Hold` delays that message and every later one of the same
/// connection (order is kept), never other connections.
pub trait Tap: Send + Sync + 'static {
    /// Returns `None` to let the message through at once.
    fn publish(&self, message: &Tapped<'_>) -> Option<Hold>;
}
