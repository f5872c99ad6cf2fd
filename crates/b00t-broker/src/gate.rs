//! The gate: how the runtime decides who may connect as what and subscribe to what. The
//! front door authenticates (a username's password against [`crate::Credentials`]; no
//! username is anonymous, refused on a guarded listener); the gate authorizes, knowing
//! b00t's identities and topics. PUBLISH rules go through the tap, which sees every
//! message anyway. Without a gate, everyone who authenticates may do everything.

use std::sync::Arc;

/// A connection asking to be let in, once its credentials are verified.
#[derive(Clone, Copy, Debug)]
pub struct Login<'a> {
    /// The identity: the verified username, or `None` for an anonymous client.
    pub user: Option<&'a str>,
    pub client_id: &'a str,
    /// Whether it came through a guarded listener (the containers' one).
    pub guarded: bool,
    /// The will's topic and payload, if it has one: published in its name later.
    pub will: Option<(&'a str, &'a [u8])>,
}

/// The name a connection is known by: its username, or `anonymous`.
pub type Identity = Arc<str>;

/// What an anonymous connection's identity is called.
pub const ANONYMOUS: &str = "anonymous";

/// Authorizes connections and subscriptions. Called on the connection's own task.
pub trait Gate: Send + Sync + 'static {
    /// Whether this login may connect; the error says why not (CONNACK "not
    /// authorized", and the broker's log).
    fn connect(&self, login: &Login<'_>) -> Result<(), String>;
    /// Whether `identity` may subscribe to `filter`; the error says why not (a failure
    /// SUBACK for the whole SUBSCRIBE, and the broker's log).
    fn subscribe(&self, identity: &str, filter: &str) -> Result<(), String>;
}
