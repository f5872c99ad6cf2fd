//! The Telegram bridge: `api` (the Bot API over HTTP, every answer read within a size
//! limit, errors without the token), `bridge` (the platform of the shared engine: long
//! polling or the webhook, typing, sending the answers), `webhook` (the server Telegram
//! calls in webhook mode: the secret token checked, each update journaled before the
//! 200), `settings` (webhook mode's URL, secret and address), `error` (why webhook mode
//! cannot start) and `plain` (an HTML part as plain text, when Telegram refuses the HTML).

pub mod api;
pub(crate) mod bridge;
mod error;
pub mod plain;
pub mod settings;
pub mod webhook;

pub use api::{BotApi, CallError};
pub use bridge::{Telegram, TYPING_EVERY};
pub use error::TelegramError;
pub use settings::Webhook;
