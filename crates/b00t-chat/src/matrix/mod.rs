//! The Matrix bridge (client-server API): `api` (the client: whoami, sync, join, send
//! with a transaction id, typing, members; refusals classified for retries), `error`
//! (why it cannot start).

pub mod api;
mod error;

pub use api::{CallError, MatrixApi};
pub use error::MatrixError;
