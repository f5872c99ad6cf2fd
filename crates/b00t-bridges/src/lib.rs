//! The pure core every b00t chat bridge shares: cutting a long reply into parts a platform
//! accepts, turning the assistant's Markdown-ish text into what the platform renders, the
//! Telegram Bot API's objects as serde types, whether a group message addresses the bot,
//! the WhatsApp Cloud API's webhook pieces, and the Matrix client-server API's JSON.
//!
//! Layout: `split` (parts within a limit, cut on paragraph, line, then word boundaries,
//! fences closed and reopened), `format` (Telegram HTML, Telegram MarkdownV2, WhatsApp,
//! Matrix HTML; [`telegram_parts`], [`whatsapp_parts`] and [`matrix_parts`] split and
//! format in one step), `mention`
//! ([`addresses_bot`]), `telegram::types` (the Bot API's `Update`, `Message`, request
//! bodies and the `{"ok": …}` envelope), `error` ([`ApiError`], a refused Bot API call),
//! `whatsapp` (the webhook's JSON, the signature and subscription checks, de-duplication),
//! `matrix` (the `/sync` answer, room events, the message sent, mentions, ids).
//! No IO, no async: the bus client, the config and the HTTP side live elsewhere.

mod error;
pub mod format;
pub mod matrix;
mod mention;
pub mod split;
pub mod telegram;
pub mod whatsapp;

pub use error::ApiError;
pub use format::{matrix_parts, telegram_parts, whatsapp_parts};
pub use mention::{addresses_bot, BotIdentity};
pub use split::{split, Unit, TELEGRAM_LIMIT, WHATSAPP_LIMIT};
