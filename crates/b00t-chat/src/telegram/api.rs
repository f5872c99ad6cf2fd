//! [`BotApi`]: the few Bot API methods the bridge calls (`getMe`, `getUpdates`,
//! `sendMessage`, `sendChatAction`, and `setWebhook` and `deleteWebhook` for the
//! webhook mode), POSTed as JSON to `<api>/bot<token>/<method>`. Every
//! answer is read up to a limit; every error is said without the URL, which holds the
//! token.

use std::time::Duration;

use b00t_bridges::telegram::types::{
    ApiResponse, GetUpdates, Message, SendChatAction, SendMessage, SetWebhook, Update, User,
};
use b00t_bridges::ApiError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::{failure, read_within, Unread};
use crate::retry::Refusal;
use crate::ChatError;

/// Telegram's own API base.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// The largest answer read (100 updates of long messages fit well within it).
pub const MAX_ANSWER: usize = 8 * 1024 * 1024;
/// How long a call other than a long poll may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Telegram answered and refused.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer, or one that is not the Bot API's.
    #[error("Telegram `{method}`: {message}")]
    Network { method: String, message: String },
}

impl CallError {
    /// How [`crate::retry::Retries`] should treat it.
    pub fn refusal(&self) -> Refusal {
        match self {
            CallError::Api(e) => match e.retry_after() {
                Some(wait) => Refusal::Flood(wait),
                None if e.is_transient() => Refusal::Transient,
                None => Refusal::Final,
            },
            CallError::Network { .. } => Refusal::Transient,
        }
    }
}

/// A bot's Bot API.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    /// `<api>/bot<token>`: secret, never logged.
    base: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi").finish_non_exhaustive()
    }
}

impl BotApi {
    /// The Bot API at `api_url` for the bot with `token`.
    pub fn new(api_url: &str, token: &str) -> Result<BotApi, ChatError> {
        let api_url = api_url.trim_end_matches('/');
        let bad = |problem: &str| ChatError::ApiUrl {
            url: api_url.to_owned(),
            problem: problem.to_owned(),
        };
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(bad("is not an http or https URL"));
        }
        if token.trim().is_empty() || token.contains('/') || token.contains(char::is_whitespace) {
            return Err(ChatError::Http(
                "`TELEGRAM_BOT_TOKEN` is not a bot token (BotFather's look like `123456:ABC-DEF…`)"
                    .to_owned(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChatError::Http(e.without_url().to_string()))?;
        Ok(BotApi {
            http,
            base: format!("{api_url}/bot{token}"),
        })
    }

    pub async fn get_me(&self) -> Result<User, CallError> {
        self.call("getMe", &serde_json::json!({}), CALL_TIMEOUT)
            .await
    }

    /// Long polls: the call may take `poll.timeout` seconds before answering.
    pub async fn get_updates(&self, poll: &GetUpdates) -> Result<Vec<Update>, CallError> {
        let wait = Duration::from_secs(poll.timeout.unwrap_or(0).into()) + CALL_TIMEOUT;
        self.call("getUpdates", poll, wait).await
    }

    pub async fn send_message(&self, message: &SendMessage) -> Result<Message, CallError> {
        self.call("sendMessage", message, CALL_TIMEOUT).await
    }

    pub async fn send_chat_action(&self, action: &SendChatAction) -> Result<bool, CallError> {
        self.call("sendChatAction", action, CALL_TIMEOUT).await
    }

    /// Has Telegram POST every update to `webhook.url`; `getUpdates` is refused (409)
    /// while it is set.
    pub async fn set_webhook(&self, webhook: &SetWebhook) -> Result<bool, CallError> {
        self.call("setWebhook", webhook, CALL_TIMEOUT).await
    }

    /// Removes the webhook, keeping the updates not yet delivered for `getUpdates`.
    pub async fn delete_webhook(&self) -> Result<bool, CallError> {
        let keep = serde_json::json!({"drop_pending_updates": false});
        self.call("deleteWebhook", &keep, CALL_TIMEOUT).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &impl Serialize,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let network = |message: String| CallError::Network {
            method: method.to_owned(),
            message,
        };
        let body = serde_json::to_vec(body).map_err(|e| network(e.to_string()))?;
        let mut response = self
            .http
            .post(format!("{}/{method}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| network(failure(e)))?;
        let status = response.status();
        let answer = match read_within(&mut response, MAX_ANSWER).await {
            Ok(answer) => answer,
            Err(Unread::Network(e)) => return Err(network(e)),
            Err(Unread::TooLarge) => {
                return Err(network(format!(
                        "the answer is larger than {MAX_ANSWER} bytes: not a Bot API server? check `TELEGRAM_API_URL`"
                    )));
            }
        };
        match serde_json::from_slice::<ApiResponse<T>>(&answer) {
            Ok(envelope) => Ok(envelope.into_result(method)?),
            Err(e) => Err(network(format!(
                "HTTP {status} with an answer that is not the Bot API's ({e}); check `TELEGRAM_API_URL`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_retries() {
        let flood = CallError::Api(ApiError::TooManyRequests {
            method: "sendMessage".into(),
            description: "Too Many Requests".into(),
            retry_after: 3,
        });
        assert_eq!(flood.refusal(), Refusal::Flood(Duration::from_secs(3)));
        let bad_gateway = CallError::Api(ApiError::Refused {
            method: "sendMessage".into(),
            error_code: 502,
            description: "Bad Gateway".into(),
        });
        assert_eq!(bad_gateway.refusal(), Refusal::Transient);
        let forbidden = CallError::Api(ApiError::Refused {
            method: "sendMessage".into(),
            error_code: 403,
            description: "Forbidden: bot was blocked by the user".into(),
        });
        assert_eq!(forbidden.refusal(), Refusal::Final);
        let network = CallError::Network {
            method: "sendMessage".into(),
            message: "connection refused".into(),
        };
        assert_eq!(network.refusal(), Refusal::Transient);
    }

    #[test]
    fn bad_urls_and_tokens_are_refused_by_name() {
        let error = BotApi::new("ftp://x", "1:a").unwrap_err().to_string();
        assert!(
            error.contains("`ftp://x` is not an http or https URL"),
            "{error}"
        );
        let error = BotApi::new(DEFAULT_API_URL, "a b").unwrap_err().to_string();
        assert!(error.contains("not a bot token"), "{error}");
        assert!(BotApi::new("http://127.0.0.1:1/", "1:a").is_ok());
    }
}
