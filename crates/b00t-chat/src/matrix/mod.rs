//! The Matrix bridge (client-server API): `api` (the client: whoami, sync, join, send
//! with a transaction id, typing, members; refusals classified for retries), `bridge`
//! (the platform: the sync loop with its token journaled, invites, answers in the room),
//! `error` (why it cannot start).

pub mod api;
pub(crate) mod bridge;
mod error;

pub use api::{CallError, MatrixApi};
pub use bridge::{Matrix, TYPING_EVERY};
pub use error::MatrixError;
