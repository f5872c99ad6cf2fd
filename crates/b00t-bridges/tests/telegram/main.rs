//! The Telegram pieces against the test kit's stand-in Bot API: our types read what it
//! sends, it accepts every part `telegram_parts` makes, its refusals become `ApiError`s
//! (`fake.rs`), and python-telegram-bot's own `Update` reads the same JSON (`python.rs`).

mod fake;
mod python;
mod support;
