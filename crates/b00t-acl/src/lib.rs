//! Who is who on the bus, and what each may publish and subscribe to.
//!
//! Every connection to the embedded broker has an identity ([`Who`]): the runtime's own
//! parts, the operator (the CLI with the home's credentials), one identity per agent
//! that runs outside the runtime (a group's assistant), or an anonymous local script.
//! [`Acl`] holds the rules the front door enforces for each: which client ids an
//! identity may use (exactly its own, never by prefix), which filters it may subscribe
//! to, and which messages it may publish, down to the `from` of a task and the `agent`
//! of a reply. [`mosquitto`] writes the same rules as Mosquitto's `acl_file`, where its
//! format can say them.
//!
//! Layout: `who` (identities and client ids), `filter` (MQTT filter matching and
//! coverage), `routes` (which agents may answer on a `reply_to`), `acl` (the rules),
//! `mosquitto` (the export). No IO: the runtime and the CLI own files and sockets.

mod acl;
mod filter;
pub mod mosquitto;
mod routes;
mod who;

pub use acl::{Acl, Denied, RESERVED_SENDERS};
pub use filter::{covers, matches};
pub use who::{Who, ANONYMOUS, OPERATOR, RUNTIME};
