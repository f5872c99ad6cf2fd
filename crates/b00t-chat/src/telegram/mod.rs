//! The Telegram bridge: `api` (the Bot API over HTTP, every answer read within a size
//! limit, errors without the token) and `bridge` (the platform of the shared engine: long
//! polling, typing, sending the answers) and `plain` (an HTML part as plain text, when Telegram
//! refuses the HTML).

pub mod api;
pub(crate) mod bridge;
pub mod plain;

pub use api::{BotApi, CallError};
pub use bridge::{Telegram, TYPING_EVERY};
