//! [`TelegramError`]: why a Telegram bridge in webhook mode cannot start, each naming the
//! variable, the setting or the address and what to do.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("`TELEGRAM_WEBHOOK_SECRET` is not set, and [bridges.{bridge}] has `webhook_url`: Telegram sends the secret back with every update, and the webhook refuses calls without it; `export TELEGRAM_WEBHOOK_SECRET=$(openssl rand -hex 32)` before `b00t up` or `b00t bridge run {bridge}`, or remove `webhook_url` to poll instead")]
    NoWebhookSecret { bridge: String },
    #[error("`TELEGRAM_WEBHOOK_SECRET` {problem}: Telegram takes 1 to 256 of `A-Z`, `a-z`, `0-9`, `_` and `-`; `openssl rand -hex 32` makes one")]
    BadWebhookSecret { problem: String },
    #[error("[bridges.{bridge}] webhook_url `{url}` {problem}")]
    BadWebhookUrl {
        bridge: String,
        url: String,
        problem: String,
    },
    #[error("cannot listen on `{addr}` for the Telegram webhook of bridge `{bridge}`: {source}; set `listen = \"127.0.0.1:<free port>\"` in [bridges.{bridge}]")]
    Listen {
        addr: SocketAddr,
        bridge: String,
        source: std::io::Error,
    },
}
