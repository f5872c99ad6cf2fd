//! [`ApiError`]: a Bot API call that Telegram refused, with what the bridge should do about
//! it (wait `retry_after`, send again later, fix the token, use the migrated chat id).

use std::time::Duration;

/// A Bot API call answered `{"ok": false, …}`, or `ok` without a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429: flood control; the same call may be made again after `retry_after` seconds.
    #[error(
        "Telegram `{method}` answered 429 `{description}`: wait {retry_after} s and send it again"
    )]
    TooManyRequests {
        method: String,
        description: String,
        retry_after: u64,
    },
    /// The group became a supergroup with a new id; the message was not sent.
    #[error("Telegram `{method}` refused: the group is now the supergroup `{migrate_to_chat_id}`; bind that chat id instead")]
    Migrated {
        method: String,
        migrate_to_chat_id: i64,
    },
    /// Any other refusal, with Telegram's own code and words.
    #[error("Telegram `{method}` answered {error_code} `{description}`{}", hint(*error_code))]
    Refused {
        method: String,
        error_code: i64,
        description: String,
    },
    /// `ok` was true but there was no `result`: not a Bot API server.
    #[error("Telegram `{method}` answered ok without a `result`: the API base is not a Bot API server; check `TELEGRAM_API_URL`")]
    NoResult { method: String },
}

impl ApiError {
    /// How long to wait before the same call, when Telegram said so (429).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::TooManyRequests { retry_after, .. } => {
                Some(Duration::from_secs(*retry_after))
            }
            _ => None,
        }
    }

    /// Whether the same call may succeed later unchanged: 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::TooManyRequests { .. } => true,
            ApiError::Refused { error_code, .. } => *error_code >= 500,
            ApiError::Migrated { .. } | ApiError::NoResult { .. } => false,
        }
    }
}

fn hint(error_code: i64) -> &'static str {
    match error_code {
        401 => ": the bot token is wrong or revoked; check `TELEGRAM_BOT_TOKEN` (BotFather's /token)",
        403 => ": the bot was blocked, removed from the chat, or may not write there",
        409 => ": another bot instance polls with this token, or a webhook is set; stop it or call deleteWebhook",
        500..=599 => ": Telegram's side failed; send it again later",
        _ => "",
    }
}
