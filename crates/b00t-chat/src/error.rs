//! [`ChatError`]: why a bridge cannot start or a binding cannot be changed, each naming
//! the file, variable or chat and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot), then `export TELEGRAM_BOT_TOKEN=<the token it gives>` before `b00t up` or `b00t bridge run {bridge}`")]
    NoToken { bridge: String },
    #[error("`TELEGRAM_API_URL` `{url}` {problem}: use `https://api.telegram.org` (the default) or the URL of a local Bot API server such as `http://127.0.0.1:8081`")]
    ApiUrl { url: String, problem: String },
    #[error("no bridge `{name}` in `{path}`: add `[bridges.{name}]` with `kind = \"telegram\"`")]
    NotConfigured { name: String, path: PathBuf },
    #[error("`{chat}` is not a chat: write `<platform>:<chat id>`, such as `telegram:-1001234567890` (the chat's id, shown in the hint the bot gives an unbound chat)")]
    BadChat { chat: String },
    #[error("no `{platform}` bridge is configured in `{path}` and several could be meant: pass `--bridge <name>`")]
    WhichBridge { platform: String, path: PathBuf },
    #[error("`{group}` is not a group name: {problem}")]
    BadGroup { group: String, problem: String },
    #[error("cannot edit `{path}`: {problem}")]
    Edit { path: PathBuf, problem: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] b00t_config::ConfigError),
    #[error(transparent)]
    Journal(#[from] b00t_journal::JournalError),
    #[error(transparent)]
    Bus(#[from] b00t_bus::BusError),
    #[error(transparent)]
    Telegram(#[from] crate::telegram::TelegramError),
    #[error(transparent)]
    WhatsApp(#[from] crate::whatsapp::WhatsAppError),
    #[error(transparent)]
    Matrix(#[from] crate::matrix::MatrixError),
    #[error("cannot start the HTTP client: {0}")]
    Http(String),
    /// The platform failed (its own words, without secrets).
    #[error("{0}")]
    Platform(String),
}
