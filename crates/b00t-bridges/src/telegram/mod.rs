//! The Telegram Bot API as data: the objects a bridge reads and the request bodies it
//! sends (`types`), exactly as <https://core.telegram.org/bots/api> documents them.

pub mod types;
