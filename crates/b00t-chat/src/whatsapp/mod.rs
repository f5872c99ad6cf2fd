//! The WhatsApp bridge (Cloud API): `api` (the Graph API client: a reply, "mark as read"
//! with the typing indicator, errors classified for retries), `webhook` (the server Meta
//! calls: the verification, signed notifications only, each message journaled before the
//! 200), `bridge` (the platform of the shared engine: messages in, answers and typing
//! out), `settings` (the secrets and addresses it starts with), `error` (why it cannot
//! start).

pub mod api;
pub(crate) mod bridge;
mod error;
pub mod settings;
pub mod webhook;

pub use api::{CallError, GraphApi};
pub use bridge::{WhatsApp, TYPING_EVERY};
pub use error::WhatsAppError;
pub use settings::Settings;
