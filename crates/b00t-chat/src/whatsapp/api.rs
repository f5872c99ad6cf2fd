//! [`GraphApi`]: the two Cloud API calls the bridge makes, both `POST
//! <api>/<version>/<phone-number-id>/messages` with the access token as a bearer: a text
//! message (a reply to the message it answers) and "mark as read" with the typing
//! indicator. Every answer is read within [`MAX_ANSWER`]; Graph's error envelope
//! (`{"error": {message, type, code, error_subcode, fbtrace_id}}`) becomes a
//! [`CallError`] that says whether sending again may work ([`CallError::refusal`]).

use std::time::Duration;

use b00t_bridges::whatsapp::{messages_path, ErrorEnvelope, GraphError, MarkRead, SendAnswer};
use b00t_bridges::whatsapp::{SendText, Success};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::http::{failure, read_within, Unread};
use crate::retry::Refusal;
use crate::whatsapp::WhatsAppError;

/// Meta's own Graph API base.
pub const DEFAULT_API_URL: &str = "https://graph.facebook.com";
/// The largest answer read: Graph's answers to these calls are a few hundred bytes.
pub const MAX_ANSWER: usize = 64 * 1024;
/// The wait after a throttling refusal (`429`, codes 4, 80007, 130429): Graph names no
/// `retry_after`, so the bridge waits this long, up to [`crate::retry::MAX_FLOOD_WAITS`]
/// times.
pub const THROTTLED_WAIT: Duration = Duration::from_secs(2);
/// The wait after code 131056, too many messages to one person: WhatsApp allows about
/// one every 6 s to the same recipient past a short burst.
pub const PAIR_RATE_WAIT: Duration = Duration::from_secs(6);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Graph answered with its error envelope.
    #[error("WhatsApp Cloud API {what}: HTTP {status}, {}{}", error.describe(), hint(error))]
    Refused {
        what: &'static str,
        status: u16,
        error: GraphError,
        /// A `Retry-After` header, when the answer had one (Graph's usually do not).
        retry_after: Option<Duration>,
    },
    /// No answer (refused connection, timeout, a connection cut short).
    #[error("WhatsApp Cloud API {what}: {message}")]
    Network { what: &'static str, message: String },
    /// An answer that is not Graph's.
    #[error("WhatsApp Cloud API {what}: HTTP {status} with an answer that is not the Graph API's ({problem}); check `WHATSAPP_API_URL`")]
    Unreadable {
        what: &'static str,
        status: u16,
        problem: String,
    },
    /// The phone number id to send from is not one (it comes from the webhook's
    /// `metadata.phone_number_id`).
    #[error("WhatsApp Cloud API {what}: the phone number id `{id}` is not a number")]
    BadPhoneNumberId { what: &'static str, id: String },
}

impl CallError {
    /// How [`crate::retry::Retries`] treats it: throttling waits, outages and the network
    /// are tried again with backoff, anything else is final.
    pub fn refusal(&self) -> Refusal {
        match self {
            CallError::Refused {
                status,
                error,
                retry_after,
                ..
            } => {
                if *status == 429 || error.is_rate_limit() {
                    let wait = if error.code == 131056 {
                        PAIR_RATE_WAIT
                    } else {
                        THROTTLED_WAIT
                    };
                    Refusal::Flood(retry_after.unwrap_or(wait))
                } else if *status >= 500
                    || error.is_transient == Some(true)
                    // 2: the service is temporarily down; 131000: something went wrong;
                    // 131016: the service is overloaded.
                    || matches!(error.code, 2 | 131000 | 131016)
                {
                    Refusal::Transient
                } else {
                    Refusal::Final
                }
            }
            CallError::Network { .. } => Refusal::Transient,
            CallError::Unreadable { status, .. } if *status >= 500 => Refusal::Transient,
            CallError::Unreadable { .. } | CallError::BadPhoneNumberId { .. } => Refusal::Final,
        }
    }
}

/// What to do about a refusal, where there is something the operator can do.
fn hint(error: &GraphError) -> &'static str {
    match error.code {
        190 => "; `WHATSAPP_TOKEN` is expired or invalid: generate a system user's token for the app",
        10 | 200..=299 => "; the token lacks `whatsapp_business_messaging` for this number: generate it again with that permission",
        131030 => "; with a test number, add the recipient to the app's allowed numbers (WhatsApp, API Setup)",
        131047 => "; more than 24 hours passed since the person's last message: only a template message may start a conversation",
        _ => "",
    }
}

/// The Cloud API of one app, with its access token.
#[derive(Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    /// `<api>` without a trailing `/`.
    base: String,
    /// `v21.0`.
    version: String,
    /// `Bearer <token>`, marked sensitive: secret, never logged.
    authorization: HeaderValue,
}

impl std::fmt::Debug for GraphApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphApi")
            .field("base", &self.base)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl GraphApi {
    /// The Graph API at `api_url`, version `version`, calling with `token`.
    pub fn new(api_url: &str, version: &str, token: &str) -> Result<GraphApi, WhatsAppError> {
        let url = api_url.trim();
        let bad = |problem: &str| WhatsAppError::ApiUrl {
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
        let base = format!("{scheme}{rest}");
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(bad("is not a base URL (a scheme, a host, at most a path)"));
        }
        let token = token.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(WhatsAppError::BadToken);
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| WhatsAppError::BadToken)?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| WhatsAppError::Http(e.without_url().to_string()))?;
        Ok(GraphApi {
            http,
            base,
            version: version.to_owned(),
            authorization,
        })
    }

    /// Sends `message` from the business number `phone_number_id`.
    pub async fn send_text(
        &self,
        phone_number_id: &str,
        message: &SendText,
    ) -> Result<SendAnswer, CallError> {
        self.post("send", phone_number_id, message).await
    }

    /// Marks a message `phone_number_id` received read (showing typing when `read`
    /// asks for it).
    pub async fn mark_read(&self, phone_number_id: &str, read: &MarkRead) -> Result<(), CallError> {
        let _: Success = self.post("mark as read", phone_number_id, read).await?;
        Ok(())
    }

    async fn post<T: DeserializeOwned>(
        &self,
        what: &'static str,
        phone_number_id: &str,
        body: &impl Serialize,
    ) -> Result<T, CallError> {
        if phone_number_id.is_empty()
            || phone_number_id.len() > 32
            || !phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CallError::BadPhoneNumberId {
                what,
                id: crate::origin::shorten(phone_number_id, 32),
            });
        }
        let network = |message: String| CallError::Network { what, message };
        let body = serde_json::to_vec(body).map_err(|e| network(e.to_string()))?;
        let url = format!(
            "{}{}",
            self.base,
            messages_path(&self.version, phone_number_id)
        );
        let mut response = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| network(failure(e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer = match read_within(&mut response, MAX_ANSWER).await {
            Ok(answer) => answer,
            Err(Unread::Network(e)) => return Err(network(e)),
            Err(Unread::TooLarge) => {
                return Err(CallError::Unreadable {
                    what,
                    status: status.as_u16(),
                    problem: format!("larger than {MAX_ANSWER} bytes"),
                });
            }
        };
        if status.is_success() {
            return serde_json::from_slice(&answer).map_err(|e| CallError::Unreadable {
                what,
                status: status.as_u16(),
                problem: e.to_string(),
            });
        }
        match serde_json::from_slice::<ErrorEnvelope>(&answer) {
            Ok(envelope) => Err(CallError::Refused {
                what,
                status: status.as_u16(),
                error: envelope.error,
                retry_after,
            }),
            Err(e) => Err(CallError::Unreadable {
                what,
                status: status.as_u16(),
                problem: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use b00t_testkit::whatsapp::{Failure, FakeWhatsApp, ReadMark, PHONE_NUMBER_ID};

    use super::*;

    const TOKEN: &str = "EAAJB-test-token";

    fn api(fake: &FakeWhatsApp) -> GraphApi {
        GraphApi::new(&fake.url(), "v21.0", TOKEN).unwrap()
    }

    #[tokio::test]
    async fn a_reply_and_a_read_mark_reach_the_cloud_api_as_documented() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        let api = api(&fake);
        let message = SendText::new("16505551234", "*hello*").replying_to("wamid.in");
        let answer = api.send_text(PHONE_NUMBER_ID, &message).await.unwrap();
        let sent = fake.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(answer.message_id(), Some(sent[0].wamid.as_str()));
        assert_eq!(sent[0].to, "16505551234");
        assert_eq!(sent[0].text, "*hello*");
        assert_eq!(sent[0].reply_to.as_deref(), Some("wamid.in"));
        assert_eq!(sent[0].request["recipient_type"], "individual");
        let requests = fake.requests();
        assert_eq!(
            requests[0].authorization.as_deref(),
            Some("Bearer EAAJB-test-token")
        );
        assert_eq!(requests[0].path, "/v21.0/106540352242922/messages");

        api.mark_read(PHONE_NUMBER_ID, &MarkRead::new("wamid.in").typing())
            .await
            .unwrap();
        assert_eq!(
            fake.reads(),
            [ReadMark {
                phone_number_id: PHONE_NUMBER_ID.to_owned(),
                message_id: "wamid.in".to_owned(),
                typing: true,
            }]
        );
    }

    #[tokio::test]
    async fn refusals_are_classified_for_retries() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        let api = api(&fake);
        let message = SendText::new("1", "hi");
        let custom = |status, code: i64| Failure::Custom {
            status,
            code,
            message: format!("(#{code}) refused"),
        };
        for (failure, expected) in [
            (Failure::Throughput, Refusal::Flood(THROTTLED_WAIT)),
            (Failure::AccountRateLimit, Refusal::Flood(THROTTLED_WAIT)),
            (custom(400, 131056), Refusal::Flood(PAIR_RATE_WAIT)),
            (custom(400, 4), Refusal::Flood(THROTTLED_WAIT)),
            (Failure::Unavailable, Refusal::Transient),
            (custom(503, 131016), Refusal::Transient),
            (custom(502, 1), Refusal::Transient),
            (custom(400, 131026), Refusal::Final),
            (custom(400, 131047), Refusal::Final),
        ] {
            fake.fail_next(failure.clone());
            let error = api.send_text(PHONE_NUMBER_ID, &message).await.unwrap_err();
            assert_eq!(error.refusal(), expected, "{failure:?}: {error}");
        }
        let error = api.send_text(PHONE_NUMBER_ID, &message).await;
        assert!(error.is_ok(), "{error:?}");

        let wrong = GraphApi::new(&fake.url(), "v21.0", "not-the-token").unwrap();
        let error = wrong
            .send_text(PHONE_NUMBER_ID, &message)
            .await
            .unwrap_err();
        assert_eq!(error.refusal(), Refusal::Final);
        let text = error.to_string();
        assert!(
            text.contains("HTTP 401") && text.contains("(code 190)"),
            "{text}"
        );
        assert!(
            text.contains("`WHATSAPP_TOKEN` is expired or invalid"),
            "{text}"
        );
        assert!(!text.contains("not-the-token"), "{text}");

        // An unknown number: Graph's 400 code 100, final.
        let error = api.send_text("999", &message).await.unwrap_err();
        assert_eq!(error.refusal(), Refusal::Final, "{error}");
        // A number that is not one never reaches the network.
        let before = fake.requests().len();
        let error = api.send_text("../me", &message).await.unwrap_err();
        assert!(
            matches!(error, CallError::BadPhoneNumberId { .. }),
            "{error}"
        );
        assert_eq!(fake.requests().len(), before);
    }

    #[tokio::test]
    async fn no_server_is_transient_and_another_server_is_named() {
        let closed = {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let api = GraphApi::new(&format!("http://{closed}"), "v21.0", TOKEN).unwrap();
        let error = api
            .send_text(PHONE_NUMBER_ID, &SendText::new("1", "hi"))
            .await
            .unwrap_err();
        assert_eq!(error.refusal(), Refusal::Transient, "{error}");
        assert!(error.to_string().contains("Connect"), "{error}");

        // The fake Ollama is an HTTP server that is not Graph: its 404 is unreadable.
        let ollama = b00t_testkit::FakeOllama::start([b00t_testkit::DEFAULT_MODEL]).await;
        let api = GraphApi::new(&ollama.url(), "v21.0", TOKEN).unwrap();
        let error = api
            .send_text(PHONE_NUMBER_ID, &SendText::new("1", "hi"))
            .await
            .unwrap_err();
        assert_eq!(error.refusal(), Refusal::Final, "{error}");
        assert!(
            error.to_string().contains("check `WHATSAPP_API_URL`"),
            "{error}"
        );
    }

    #[test]
    fn bad_urls_and_tokens_are_refused_by_name() {
        for (url, needle) in [
            ("ftp://x", "`ftp://x` is not an http or https URL"),
            ("https://", "is not a base URL"),
            ("https://graph.facebook.com/?a=1", "is not a base URL"),
        ] {
            let error = GraphApi::new(url, "v21.0", TOKEN).unwrap_err().to_string();
            assert!(error.contains(needle), "{url}: {error}");
        }
        for token in ["", "  ", "two words", "a\u{7}b"] {
            let error = GraphApi::new(DEFAULT_API_URL, "v21.0", token).unwrap_err();
            assert!(matches!(error, WhatsAppError::BadToken), "{token:?}");
        }
        let api = GraphApi::new("https://graph.facebook.com/", "v21.0", TOKEN).unwrap();
        let shown = format!("{api:?}");
        assert!(shown.contains("https://graph.facebook.com\""), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}
