//! The Telegram bridge: `api` (the Bot API over HTTP, every answer read within a size
//! limit, errors without the token) and `bridge` (long polling, the chats' tasks, typing,
//! the answers, the journal).

pub mod api;
pub(crate) mod bridge;

pub use api::{BotApi, CallError};
pub use bridge::{TelegramBridge, TYPING_EVERY};
