//! The bus as an MCP server: [`BusServer`] answers MCP's `tools/*` and `resources/*` over
//! a b00t-bus [`Requester`](b00t_bus::Requester), and [`serve_stdio`] and [`serve_http`]
//! put it on a transport. No CLI concerns live here: the caller connects to the bus and
//! says how to name a datum's installer skill.
//!
//! Layout: `args` (every argument a hostile client sends, checked), `tools` (the tool
//! list and what each call asks on the bus), `resources` (agent cards as
//! `b00t://agents/<name>`), `cards` (card changes, for clients that listen), `server`
//! (the rmcp handler), `transport` (stdio and HTTP).

mod args;
mod cards;
mod error;
mod resources;
mod server;
mod tools;
mod transport;

pub use args::{MAX_BODY_BYTES, MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
pub use cards::{CardChange, CardChanges};
pub use error::McpError;
pub use server::{BusServer, DatumResolver, InstallTarget};
pub use transport::{serve_http, serve_stdio};
