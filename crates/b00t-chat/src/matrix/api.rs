//! [`MatrixApi`]: the client-server API calls the Matrix bridge makes (`/_matrix/client/v3`:
//! `whoami`, the bot's display name, `sync`, a room's `messages` back to a token, `join`, `send` of an `m.room.message` with a
//! transaction id, `typing`, `joined_members`), with the access token as a bearer. Room,
//! user and transaction ids are percent-encoded as path segments; every answer is read
//! within [`MAX_ANSWER`]; a refusal's `{errcode, error, retry_after_ms}` becomes a
//! [`CallError`] that says whether sending again may work ([`CallError::refusal`]).

use std::time::Duration;

use b00t_bridges::matrix::types::{
    EventIdAnswer, JoinedMembers, MessageContent, RoomIdAnswer, Typing, WhoAmI,
};
use b00t_bridges::matrix::{gap_filter, path_segment, ErrorBody, MessagesPage, SyncResponse};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{failure, read_within, Unread};
use crate::matrix::MatrixError;
use crate::retry::Refusal;

/// The largest answer read: a sync of many busy rooms stays well within it.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// The wait after a 429 that names none (`retry_after_ms` is optional).
pub const FLOOD_WAIT: Duration = Duration::from_secs(2);
/// How long a call other than a long poll may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The client-server API's prefix.
const V3: &str = "/_matrix/client/v3";

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The homeserver answered and refused.
    #[error("Matrix `{call}`: HTTP {status} {errcode} `{error}`{}", hint(errcode))]
    Refused {
        call: &'static str,
        status: u16,
        errcode: String,
        error: String,
        retry_after: Option<Duration>,
    },
    /// No answer, or one that is not the client-server API's.
    #[error("Matrix `{call}`: {message}")]
    Network { call: &'static str, message: String },
}

impl CallError {
    /// How [`crate::retry::Retries`] treats it: `M_LIMIT_EXCEEDED` (429) waits as asked,
    /// 5xx and the network are tried again with backoff, anything else is final.
    pub fn refusal(&self) -> Refusal {
        match self {
            CallError::Refused {
                status,
                errcode,
                retry_after,
                ..
            } if *status == 429 || errcode == "M_LIMIT_EXCEEDED" => {
                Refusal::Flood(retry_after.unwrap_or(FLOOD_WAIT))
            }
            CallError::Refused { status, .. } if *status >= 500 => Refusal::Transient,
            CallError::Refused { .. } => Refusal::Final,
            CallError::Network { .. } => Refusal::Transient,
        }
    }

    /// The homeserver's `errcode`, when it answered.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            CallError::Refused { errcode, .. } => Some(errcode),
            CallError::Network { .. } => None,
        }
    }
}

/// What to do about a refusal, where the operator can do something.
fn hint(errcode: &str) -> &'static str {
    match errcode {
        "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => ": the access token is wrong, logged out or expired; log in as the bot again and set `MATRIX_ACCESS_TOKEN`",
        "M_FORBIDDEN" => ": the bot may not do this in the room (not joined, not invited, or without the power to write)",
        "M_LIMIT_EXCEEDED" => ": the homeserver's rate limit; sending again after its wait",
        "M_UNKNOWN" | "M_UNRECOGNIZED" => ": check that `homeserver` is the client-server API's base",
        _ => "",
    }
}

/// One bot account's client-server API.
#[derive(Clone)]
pub struct MatrixApi {
    http: reqwest::Client,
    /// The homeserver's base, without a trailing `/`.
    base: String,
    /// `Bearer <token>`, marked sensitive: secret, never logged.
    authorization: HeaderValue,
}

impl std::fmt::Debug for MatrixApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl MatrixApi {
    /// The API of `homeserver` (bridge `bridge`'s setting) with the access token `token`.
    pub fn new(bridge: &str, homeserver: &str, token: &str) -> Result<MatrixApi, MatrixError> {
        let url = homeserver.trim();
        let bad = |problem: &str| MatrixError::Homeserver {
            bridge: bridge.to_owned(),
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let Some((scheme, rest)) = ["https://", "http://"]
            .into_iter()
            .find_map(|scheme| Some((scheme, url.strip_prefix(scheme)?)))
        else {
            return Err(bad("is not an http or https URL"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(bad("is not a base URL (a scheme, a host, at most a path)"));
        }
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(MatrixError::BadToken);
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| MatrixError::BadToken)?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| MatrixError::Http(e.without_url().to_string()))?;
        Ok(MatrixApi {
            http,
            base: format!("{scheme}{rest}"),
            authorization,
        })
    }

    /// Who the token belongs to.
    pub async fn whoami(&self) -> Result<WhoAmI, CallError> {
        let path = format!("{V3}/account/whoami");
        self.call("whoami", Method::GET, &path, &[], None, CALL_TIMEOUT)
            .await
    }

    /// `user_id`'s display name, `None` when it has none.
    pub async fn display_name(&self, user_id: &str) -> Result<Option<String>, CallError> {
        let path = format!("{V3}/profile/{}/displayname", path_segment(user_id));
        let answer: Result<Value, CallError> = self
            .call("displayname", Method::GET, &path, &[], None, CALL_TIMEOUT)
            .await;
        match answer {
            Ok(answer) => Ok(answer["displayname"].as_str().map(str::to_owned)),
            Err(CallError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Long polls `/sync` from `since` (none: the first sync), waiting up to `timeout` for
    /// news, with `filter` (a filter definition, sent inline).
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout: Duration,
        filter: &Value,
    ) -> Result<SyncResponse, CallError> {
        let path = format!("{V3}/sync");
        let timeout_ms = timeout.as_millis().to_string();
        let filter = filter.to_string();
        let mut query = vec![
            ("timeout", timeout_ms.as_str()),
            ("filter", filter.as_str()),
        ];
        if let Some(since) = since {
            query.push(("since", since));
        }
        self.call(
            "sync",
            Method::GET,
            &path,
            &query,
            None,
            timeout + CALL_TIMEOUT,
        )
        .await
    }

    /// A page of `room_id`'s timeline going back from `from` (a `prev_batch`) and
    /// stopping at `to` (the `since` of the sync whose timeline was `limited`): newest
    /// first, at most `limit` events.
    pub async fn messages_back(
        &self,
        room_id: &str,
        from: &str,
        to: &str,
        limit: u32,
    ) -> Result<MessagesPage, CallError> {
        let path = format!("{V3}/rooms/{}/messages", path_segment(room_id));
        let limit = limit.to_string();
        let filter = gap_filter().to_string();
        let query = [
            ("dir", "b"),
            ("from", from),
            ("to", to),
            ("limit", limit.as_str()),
            ("filter", filter.as_str()),
        ];
        self.call("messages", Method::GET, &path, &query, None, CALL_TIMEOUT)
            .await
    }

    /// Joins `room_id` (accepting its invite); the room's id.
    pub async fn join(&self, room_id: &str) -> Result<String, CallError> {
        let path = format!("{V3}/join/{}", path_segment(room_id));
        let answer: RoomIdAnswer = self
            .call(
                "join",
                Method::POST,
                &path,
                &[],
                Some(Value::Object(Default::default())),
                CALL_TIMEOUT,
            )
            .await?;
        Ok(answer.room_id)
    }

    /// Sends `content` as an `m.room.message` to `room_id` in transaction `txn_id`: the
    /// same transaction sent again gives the same event, not a second one. The new
    /// event's id.
    pub async fn send_message(
        &self,
        room_id: &str,
        txn_id: &str,
        content: &MessageContent,
    ) -> Result<String, CallError> {
        let path = format!(
            "{V3}/rooms/{}/send/m.room.message/{}",
            path_segment(room_id),
            path_segment(txn_id)
        );
        let body = serde_json::to_value(content).map_err(|e| CallError::Network {
            call: "send",
            message: e.to_string(),
        })?;
        let answer: EventIdAnswer = self
            .call("send", Method::PUT, &path, &[], Some(body), CALL_TIMEOUT)
            .await?;
        Ok(answer.event_id)
    }

    /// Shows (`typing`) or hides the typing indicator of `user_id` (the bot) in `room_id`,
    /// shown for `timeout` unless renewed.
    pub async fn typing(
        &self,
        room_id: &str,
        user_id: &str,
        typing: bool,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let path = format!(
            "{V3}/rooms/{}/typing/{}",
            path_segment(room_id),
            path_segment(user_id)
        );
        let body = Typing {
            typing,
            timeout: typing.then_some(timeout.as_millis() as u64),
        };
        let body = serde_json::to_value(body).map_err(|e| CallError::Network {
            call: "typing",
            message: e.to_string(),
        })?;
        let _: Value = self
            .call("typing", Method::PUT, &path, &[], Some(body), CALL_TIMEOUT)
            .await?;
        Ok(())
    }

    /// The members who have joined `room_id`.
    pub async fn joined_members(&self, room_id: &str) -> Result<JoinedMembers, CallError> {
        let path = format!("{V3}/rooms/{}/joined_members", path_segment(room_id));
        self.call(
            "joined_members",
            Method::GET,
            &path,
            &[],
            None,
            CALL_TIMEOUT,
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        call: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let network = |message: String| CallError::Network { call, message };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let mut response = request.send().await.map_err(|e| network(failure(e)))?;
        let status = response.status();
        let answer = match read_within(&mut response, MAX_ANSWER).await {
            Ok(answer) => answer,
            Err(Unread::Network(e)) => return Err(network(e)),
            Err(Unread::TooLarge) => {
                return Err(network(format!(
                        "the answer is larger than {MAX_ANSWER} bytes: not a Matrix homeserver? check `homeserver`"
                    )));
            }
        };
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|e| {
                network(format!(
                    "HTTP {status} with an answer that is not the client-server API's ({e}); check `homeserver`"
                ))
            });
        }
        match serde_json::from_slice::<ErrorBody>(&answer) {
            Ok(error) if !error.errcode.is_empty() => Err(CallError::Refused {
                call,
                status: status.as_u16(),
                retry_after: error.retry_after(),
                errcode: error.errcode,
                error: crate::origin::shorten(&error.error, 300),
            }),
            _ if status.is_server_error() || status.as_u16() == 429 => Err(CallError::Refused {
                call,
                status: status.as_u16(),
                errcode: String::new(),
                error: String::from_utf8_lossy(&answer[..answer.len().min(200)]).into_owned(),
                retry_after: None,
            }),
            _ => Err(network(format!(
                "HTTP {status} without a Matrix error body; check `homeserver`"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, errcode: &str, retry_after: Option<Duration>) -> CallError {
        CallError::Refused {
            call: "send",
            status,
            errcode: errcode.into(),
            error: "words".into(),
            retry_after,
        }
    }

    #[test]
    fn refusals_map_to_retries() {
        let wait = Duration::from_millis(1500);
        assert_eq!(
            refused(429, "M_LIMIT_EXCEEDED", Some(wait)).refusal(),
            Refusal::Flood(wait)
        );
        assert_eq!(refused(429, "", None).refusal(), Refusal::Flood(FLOOD_WAIT));
        assert_eq!(refused(502, "", None).refusal(), Refusal::Transient);
        assert_eq!(refused(403, "M_FORBIDDEN", None).refusal(), Refusal::Final);
        assert_eq!(
            refused(401, "M_UNKNOWN_TOKEN", None).refusal(),
            Refusal::Final
        );
        let network = CallError::Network {
            call: "sync",
            message: "connection refused".into(),
        };
        assert_eq!(network.refusal(), Refusal::Transient);
        let text = refused(401, "M_UNKNOWN_TOKEN", None).to_string();
        assert!(
            text.contains("M_UNKNOWN_TOKEN") && text.contains("MATRIX_ACCESS_TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn bad_homeservers_and_tokens_are_refused_by_name() {
        let error = MatrixApi::new("m", "ftp://x", "t").unwrap_err().to_string();
        assert!(
            error.contains("[bridges.m] homeserver `ftp://x` is not an http or https URL"),
            "{error}"
        );
        let error = MatrixApi::new("m", "https://x?y", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("is not a base URL"), "{error}");
        let error = MatrixApi::new("m", "https://x", "a b")
            .unwrap_err()
            .to_string();
        assert!(error.contains("whitespace"), "{error}");
        let api = MatrixApi::new("m", "https://matrix.example.org/", "syt_x").unwrap();
        assert_eq!(api.base, "https://matrix.example.org");
        assert!(!format!("{api:?}").contains("syt_x"));
    }
}
