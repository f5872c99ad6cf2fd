//! A stand-in for Meta's side of the WhatsApp Cloud API: [`FakeWhatsApp`] serves the Graph
//! API's `POST /<version>/<phone-number-id>/messages` (bearer token, Meta's validation and
//! error envelope, scriptable rate limits and outages, every send recorded; a body with
//! `status: read` marks a message read, with the typing indicator when it asks), and
//! [`WebhookSender`] delivers webhook notifications the way Meta does (the JSON of
//! `entry[].changes[].value.messages[]`, escaped like Meta's, signed into
//! `X-Hub-Signature-256`), plus the `GET` subscription handshake. The JSON is written
//! here by hand from Meta's documentation, never from the bridge's types, so that the
//! two are checked against each other.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ollama::lock;

/// The business phone number's id the fake serves by default (Meta's documentation uses
/// this one in its examples).
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// The business number as WhatsApp users see it, in `metadata.display_phone_number`.
pub const DISPLAY_PHONE_NUMBER: &str = "15550783881";
/// The WhatsApp Business Account id, a notification's `entry[].id`.
pub const BUSINESS_ACCOUNT_ID: &str = "102290129340398";
/// The most characters a text message's `text.body` may hold.
pub const MAX_TEXT_CHARS: usize = 4096;

/// Largest request body the fake reads (Meta's own limit for a text message is far lower).
const MAX_BODY: usize = 1024 * 1024;
/// Largest answer body [`WebhookSender`] reads back from the receiver.
const MAX_ANSWER: usize = 64 * 1024;

/// A failure the fake answers the next send with, set with [`FakeWhatsApp::fail_next`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `429`, code `130429`: Cloud API's message throughput reached.
    Throughput,
    /// `429`, code `80007`: the WhatsApp Business Account's rate limit reached.
    AccountRateLimit,
    /// `500`, code `2`, `is_transient`: Meta's service temporarily unavailable.
    Unavailable,
    /// Any status with the Graph error envelope of `code` and `message`.
    Custom {
        status: u16,
        code: i64,
        message: String,
    },
}

/// One message the fake accepted and answered with a `wamid`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// The Graph API version of the path (`v21.0`).
    pub version: String,
    pub phone_number_id: String,
    pub to: String,
    /// `text.body`.
    pub text: String,
    /// `text.preview_url`, when given.
    pub preview_url: Option<bool>,
    /// `context.message_id`: the message this one replies to.
    pub reply_to: Option<String>,
    /// The id the fake answered with, `wamid.…`.
    pub wamid: String,
    /// The whole request body as sent.
    pub request: Value,
}

/// One "mark as read" the fake accepted (`status: read`, answered `{"success": true}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadMark {
    pub phone_number_id: String,
    /// The incoming message marked read.
    pub message_id: String,
    /// Whether it asked for the typing indicator (`typing_indicator: {"type": "text"}`).
    pub typing: bool,
}

/// One request the fake received, whatever it answered.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphRequest {
    pub method: String,
    pub path: String,
    /// The `Authorization` header as sent.
    pub authorization: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The status the fake answered.
    pub status: u16,
}

/// A running stand-in of the Graph API. Stops when dropped or when its shutdown token is
/// cancelled.
pub struct FakeWhatsApp {
    addr: SocketAddr,
    state: Arc<Shared>,
    /// Stops the accept loop and every connection; cancelled by `Drop` and `stop`.
    stop: CancellationToken,
}

impl std::fmt::Debug for FakeWhatsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeWhatsApp")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeWhatsApp {
    /// Starts a fake on `127.0.0.1:<ephemeral>` that takes `access_token` and serves
    /// [`PHONE_NUMBER_ID`].
    ///
    /// # Panics
    /// When no loopback port can be bound: a test environment without networking.
    pub async fn start(access_token: &str) -> FakeWhatsApp {
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        let phone_numbers = vec![PHONE_NUMBER_ID.to_owned()];
        match FakeWhatsApp::bind(addr, access_token, phone_numbers, &CancellationToken::new()).await
        {
            Ok(fake) => fake,
            Err(e) => panic!("cannot bind a fake WhatsApp Cloud API on `127.0.0.1:0`: {e}"),
        }
    }

    /// Starts a fake on `addr` serving `phone_number_ids`, that also stops when `shutdown`
    /// is cancelled.
    pub async fn bind(
        addr: SocketAddr,
        access_token: &str,
        phone_number_ids: Vec<String>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<FakeWhatsApp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            access_token: access_token.to_owned(),
            phone_number_ids,
            next_id: AtomicU64::new(1),
            failures: Mutex::new(VecDeque::new()),
            sent: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
        });
        let stop = shutdown.child_token();
        tokio::spawn(serve(listener, state.clone(), stop.clone()));
        Ok(FakeWhatsApp { addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`, what `WHATSAPP_API_URL` would hold.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the next text send that passes authentication and validation with
    /// `failure` (a "mark as read" never takes one); queued failures are used first
    /// first, then sends succeed again.
    pub fn fail_next(&self, failure: Failure) {
        lock(&self.state.failures).push_back(failure);
    }

    /// Every message accepted so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.state.sent).clone()
    }

    /// Every "mark as read" accepted so far, in order.
    pub fn reads(&self) -> Vec<ReadMark> {
        lock(&self.state.reads).clone()
    }

    /// Every request received so far, accepted or not, in order.
    pub fn requests(&self) -> Vec<GraphRequest> {
        lock(&self.state.requests).clone()
    }

    /// Stops the server now; open connections are closed.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for FakeWhatsApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One text message a WhatsApp user sends to the business number, as
/// [`WebhookSender::deliver`] wraps it into a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingText {
    /// `entry[].id`.
    pub business_account_id: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
    /// The sender's WhatsApp id (`from`, and the contact's `wa_id`).
    pub from: String,
    /// The sender's profile name.
    pub name: String,
    /// The message's `wamid`.
    pub id: String,
    pub body: String,
    /// Unix seconds; sent as a string, as Meta does.
    pub timestamp: u64,
    /// `context.id`: the business's message this one replies to.
    pub reply_to: Option<String>,
}

impl IncomingText {
    /// A message from `from` saying `body`, to [`PHONE_NUMBER_ID`], with a fresh `wamid`
    /// and the current time.
    pub fn new(from: &str, body: &str) -> IncomingText {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        IncomingText {
            business_account_id: BUSINESS_ACCOUNT_ID.to_owned(),
            display_phone_number: DISPLAY_PHONE_NUMBER.to_owned(),
            phone_number_id: PHONE_NUMBER_ID.to_owned(),
            from: from.to_owned(),
            name: "Test User".to_owned(),
            id: format!("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQz{n:012}"),
            body: body.to_owned(),
            timestamp: unix_now(),
            reply_to: None,
        }
    }

    /// The same message, as a reply to the business's message `wamid`.
    pub fn replying_to(mut self, wamid: &str) -> IncomingText {
        self.reply_to = Some(wamid.to_owned());
        self
    }
}

/// The webhook notification Meta sends for `message`: `object`, `entry[].changes[]` with
/// `field: "messages"` and the `value` holding `metadata`, `contacts` and `messages`.
pub fn text_notification(message: &IncomingText) -> Value {
    let mut incoming = json!({
        "from": message.from,
        "id": message.id,
        "timestamp": message.timestamp.to_string(),
        "type": "text",
        "text": {"body": message.body},
    });
    if let Some(reply_to) = &message.reply_to {
        incoming["context"] = json!({"from": message.display_phone_number, "id": reply_to});
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": message.business_account_id,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": message.display_phone_number,
                        "phone_number_id": message.phone_number_id,
                    },
                    "contacts": [{"profile": {"name": message.name}, "wa_id": message.from}],
                    "messages": [incoming],
                },
                "field": "messages",
            }],
        }],
    })
}

/// The notification Meta sends when a message the business sent changes `status`
/// (`sent`, `delivered`, `read`, `failed`): no `messages`, a `statuses` array.
pub fn status_notification(wamid: &str, status: &str, recipient: &str) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": BUSINESS_ACCOUNT_ID,
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": DISPLAY_PHONE_NUMBER,
                        "phone_number_id": PHONE_NUMBER_ID,
                    },
                    "statuses": [{
                        "id": wamid,
                        "status": status,
                        "timestamp": unix_now().to_string(),
                        "recipient_id": recipient,
                        "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"},
                    }],
                },
                "field": "messages",
            }],
        }],
    })
}

/// `value` as the bytes Meta sends: compact JSON with every non-ASCII character written
/// `\uXXXX` and `/` written `\/`. A receiver that checks the signature against its own
/// re-serialization instead of the raw body fails on these.
pub fn encode_like_meta(value: &Value) -> Vec<u8> {
    let compact = value.to_string();
    let mut out = String::with_capacity(compact.len());
    for c in compact.chars() {
        match c {
            // Outside strings serde_json writes no `/` and nothing above ASCII, so every
            // one met here is inside a string, where the escape means the same.
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

/// `sha256=<hex>` of HMAC-SHA256 over `body` keyed with `app_secret`: the
/// `X-Hub-Signature-256` header Meta sends.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a webhook receiver answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The body as text (at most 64 KiB read).
    pub body: String,
}

/// Meta's webhook side: delivers notifications signed with the app secret.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    app_secret: String,
    http: reqwest::Client,
}

impl WebhookSender {
    /// A sender signing with `app_secret`.
    pub fn new(app_secret: &str) -> WebhookSender {
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent("facebookexternalua")
            .build()
            .unwrap_or_default();
        WebhookSender {
            app_secret: app_secret.to_owned(),
            http,
        }
    }

    /// POSTs the notification for `message` to `url`, signed, as Meta delivers it.
    pub async fn deliver(&self, url: &str, message: &IncomingText) -> reqwest::Result<Answer> {
        self.deliver_body(url, &encode_like_meta(&text_notification(message)))
            .await
    }

    /// POSTs `body` as it is, signed: a redelivery, a status notification, any payload.
    pub async fn deliver_body(&self, url: &str, body: &[u8]) -> reqwest::Result<Answer> {
        let signature = sign(&self.app_secret, body);
        self.post(url, body, Some(&signature)).await
    }

    /// POSTs the notification for `message` with a signature made with another secret.
    pub async fn deliver_forged(
        &self,
        url: &str,
        message: &IncomingText,
    ) -> reqwest::Result<Answer> {
        let body = encode_like_meta(&text_notification(message));
        let signature = sign(&format!("not {}", self.app_secret), &body);
        self.post(url, &body, Some(&signature)).await
    }

    /// POSTs `body` with the `X-Hub-Signature-256` header `signature`, or none.
    pub async fn deliver_with_signature(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Result<Answer> {
        self.post(url, body, signature).await
    }

    /// The verification request Meta makes when the webhook is configured:
    /// `GET url?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`. The receiver
    /// passes when it answers 200 with `challenge` as the body.
    pub async fn verify_subscription(
        &self,
        url: &str,
        verify_token: &str,
        challenge: &str,
    ) -> reqwest::Result<Answer> {
        let response = self
            .http
            .get(url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.challenge", challenge),
                ("hub.verify_token", verify_token),
            ])
            .send()
            .await?;
        answer(response).await
    }

    async fn post(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Result<Answer> {
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        answer(request.send().await?).await
    }
}

/// Reads at most [`MAX_ANSWER`] bytes of the answer.
async fn answer(mut response: reqwest::Response) -> reqwest::Result<Answer> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ANSWER {
            break;
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// What the server and the handle share.
struct Shared {
    access_token: String,
    phone_number_ids: Vec<String>,
    /// Numbers the next `wamid` and `fbtrace_id`.
    next_id: AtomicU64,
    failures: Mutex<VecDeque<Failure>>,
    sent: Mutex<Vec<SentMessage>>,
    reads: Mutex<Vec<ReadMark>>,
    requests: Mutex<Vec<GraphRequest>>,
}

type HttpResponse = Response<Full<Bytes>>;

/// Accepts connections until `stop` is cancelled.
async fn serve(listener: TcpListener, state: Arc<Shared>, stop: CancellationToken) {
    crate::http::serve("fake WhatsApp", listener, stop, move |request| {
        handle(state.clone(), request)
    })
    .await;
}

async fn handle(
    state: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let raw = Limited::new(request.into_body(), MAX_BODY).collect().await;
    let (status, answer, body) = match raw {
        Err(e) => {
            let envelope = state.error(100, "(#100) Invalid parameter", Some(&e.to_string()));
            (StatusCode::BAD_REQUEST, envelope, None)
        }
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let body = serde_json::from_slice::<Value>(&bytes).ok();
            let token = bearer(authorization.as_deref()).or_else(|| query_token(&query));
            let (status, answer) = route(&state, &method, &path, token.as_deref(), &bytes);
            (status, answer, body)
        }
    };
    lock(&state.requests).push(GraphRequest {
        method: method.to_string(),
        path,
        authorization,
        body,
        status: status.as_u16(),
    });
    Ok(json_response(status, &answer))
}

/// Answers one request: authentication, the path's object, then the body, in Graph's
/// order.
fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [version, phone_number_id, edge] = segments.as_slice() else {
        let message = format!("Unknown path components: {path}");
        return (StatusCode::BAD_REQUEST, state.error(2500, &message, None));
    };
    if !is_version(version) || *edge != "messages" {
        let message = format!("Unknown path components: {path}");
        return (StatusCode::BAD_REQUEST, state.error(2500, &message, None));
    }
    if token != Some(state.access_token.as_str()) {
        let message = match token {
            None => {
                "An active access token must be used to query information about the current user."
            }
            Some(_) => "Invalid OAuth access token - Cannot parse access token",
        };
        return (StatusCode::UNAUTHORIZED, state.error(190, message, None));
    }
    if !state
        .phone_number_ids
        .iter()
        .any(|id| id == phone_number_id)
    {
        let message = format!(
            "Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        );
        let mut envelope = state.error(100, &message, None);
        envelope["error"]["error_subcode"] = json!(33);
        return (StatusCode::BAD_REQUEST, envelope);
    }
    if method != Method::POST {
        let message = format!("Unsupported {method} request.");
        return (StatusCode::BAD_REQUEST, state.error(100, &message, None));
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) | Err(_) => return state.invalid("The request body must be a JSON object."),
    };
    if request.get("status").is_some() {
        return match validate_read(&request) {
            Ok((message_id, typing)) => {
                lock(&state.reads).push(ReadMark {
                    phone_number_id: (*phone_number_id).to_owned(),
                    message_id,
                    typing,
                });
                (StatusCode::OK, json!({"success": true}))
            }
            Err(details) => state.invalid(&details),
        };
    }
    let text = match validate(&request) {
        Ok(text) => text,
        Err(details) => return state.invalid(&details),
    };
    if let Some(failure) = lock(&state.failures).pop_front() {
        return state.failure(failure);
    }
    let wamid = format!(
        "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI{:016X}",
        state.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let to = text.to.clone();
    lock(&state.sent).push(SentMessage {
        version: (*version).to_owned(),
        phone_number_id: (*phone_number_id).to_owned(),
        to: text.to,
        text: text.body,
        preview_url: text.preview_url,
        reply_to: text.reply_to,
        wamid: wamid.clone(),
        request,
    });
    let wa_id: String = to.chars().filter(char::is_ascii_digit).collect();
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [{"id": wamid}],
    });
    (StatusCode::OK, answer)
}

/// The fields of a valid text message.
struct TextRequest {
    to: String,
    body: String,
    preview_url: Option<bool>,
    reply_to: Option<String>,
}

/// Checks a send request as the Cloud API does; the `Err` is the error's `details`.
fn validate(request: &Value) -> Result<TextRequest, String> {
    match &request["messaging_product"] {
        Value::Null => return Err("The parameter messaging_product is required.".to_owned()),
        Value::String(product) if product == "whatsapp" => {}
        other => {
            return Err(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            ))
        }
    }
    match &request["recipient_type"] {
        Value::Null => {}
        Value::String(kind) if kind == "individual" || kind == "group" => {}
        other => {
            return Err(format!(
                "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got {other}."
            ))
        }
    }
    let to = match &request["to"] {
        Value::String(to) if !to.is_empty() => to.clone(),
        _ => return Err("The parameter to is required.".to_owned()),
    };
    match &request["type"] {
        Value::Null => {}
        Value::String(kind) if kind == "text" => {}
        other => {
            return Err(format!(
                "this stand-in takes only text messages, got type {other}"
            ))
        }
    }
    let body = match &request["text"]["body"] {
        Value::String(body) if !body.is_empty() => body.clone(),
        _ => return Err("The parameter text['body'] is required.".to_owned()),
    };
    if body.chars().count() > MAX_TEXT_CHARS {
        return Err(format!(
            "Param text['body'] must be at most {MAX_TEXT_CHARS} characters long."
        ));
    }
    let preview_url = match &request["text"]["preview_url"] {
        Value::Null => None,
        Value::Bool(preview) => Some(*preview),
        _ => return Err("Param text['preview_url'] must be a boolean.".to_owned()),
    };
    let reply_to = match &request["context"] {
        Value::Null => None,
        context => match &context["message_id"] {
            Value::String(id) if !id.is_empty() => Some(id.clone()),
            _ => return Err("The parameter context['message_id'] is required.".to_owned()),
        },
    };
    Ok(TextRequest {
        to,
        body,
        preview_url,
        reply_to,
    })
}

/// Checks a "mark as read" as the Cloud API's typing-indicator guide gives it; the `Ok` is
/// the message id and whether typing is shown, the `Err` the error's `details`.
fn validate_read(request: &Value) -> Result<(String, bool), String> {
    if request["messaging_product"] != "whatsapp" {
        return Err("The parameter messaging_product is required.".to_owned());
    }
    if request["status"] != "read" {
        return Err(format!(
            "Param status must be one of {{READ}} - got {}.",
            request["status"]
        ));
    }
    let message_id = match &request["message_id"] {
        Value::String(id) if !id.is_empty() => id.clone(),
        _ => return Err("The parameter message_id is required.".to_owned()),
    };
    let typing = match &request["typing_indicator"] {
        Value::Null => false,
        indicator if indicator["type"] == "text" => true,
        other => {
            return Err(format!(
                "Param typing_indicator['type'] must be one of {{TEXT}} - got {}.",
                other["type"]
            ))
        }
    };
    Ok((message_id, typing))
}

impl Shared {
    /// Graph's error envelope.
    fn error(&self, code: i64, message: &str, details: Option<&str>) -> Value {
        let trace = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut envelope = json!({"error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": format!("AbCdEfGh{trace:08}"),
        }});
        if let Some(details) = details {
            envelope["error"]["error_data"] =
                json!({"messaging_product": "whatsapp", "details": details});
        }
        envelope
    }

    /// `400`, code `100`, the v16+ title with `details` saying which parameter.
    fn invalid(&self, details: &str) -> (StatusCode, Value) {
        (
            StatusCode::BAD_REQUEST,
            self.error(100, "(#100) Invalid parameter", Some(details)),
        )
    }

    fn failure(&self, failure: Failure) -> (StatusCode, Value) {
        match failure {
            Failure::Throughput => (
                StatusCode::TOO_MANY_REQUESTS,
                self.error(
                    130429,
                    "(#130429) Rate limit hit",
                    Some("Cloud API message throughput has been reached."),
                ),
            ),
            Failure::AccountRateLimit => (
                StatusCode::TOO_MANY_REQUESTS,
                self.error(
                    80007,
                    "(#80007) Rate limit issues",
                    Some("The WhatsApp Business Account has reached its rate limit."),
                ),
            ),
            Failure::Unavailable => {
                let mut envelope = self.error(
                    2,
                    "An unexpected error has occurred. Please retry your request later.",
                    None,
                );
                envelope["error"]["is_transient"] = json!(true);
                (StatusCode::INTERNAL_SERVER_ERROR, envelope)
            }
            Failure::Custom {
                status,
                code,
                message,
            } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                self.error(code, &message, None),
            ),
        }
    }
}

/// `v<major>.<minor>`, as Graph API versions are spelled.
fn is_version(segment: &str) -> bool {
    let Some(number) = segment.strip_prefix('v') else {
        return false;
    };
    let mut parts = number.split('.');
    let (Some(major), Some(minor), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [major, minor]
        .iter()
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

fn bearer(authorization: Option<&str>) -> Option<String> {
    authorization?
        .strip_prefix("Bearer ")
        .map(|token| token.trim().to_owned())
}

/// Graph also takes the token as `?access_token=`.
fn query_token(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("access_token="))
        .map(str::to_owned)
}

fn json_response(status: StatusCode, value: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "EAAJB-test-token";
    const SECRET: &str = "app-secret";

    async fn send(
        fake: &FakeWhatsApp,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client
            .post(format!("{}{path}", fake.url()))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    fn messages_path() -> String {
        format!("/v21.0/{PHONE_NUMBER_ID}/messages")
    }

    fn text_request(to: &str, body: &str) -> Value {
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": false, "body": body},
        })
    }

    #[tokio::test]
    async fn a_valid_send_is_answered_with_a_wamid_and_recorded() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        let mut request = text_request("+16505551234", "hello");
        request["context"] = json!({"message_id": "wamid.incoming"});
        let (status, answer) = send(&fake, &messages_path(), Some(TOKEN), &request).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["messaging_product"], "whatsapp");
        assert_eq!(answer["contacts"][0]["input"], "+16505551234");
        assert_eq!(answer["contacts"][0]["wa_id"], "16505551234");
        let wamid = answer["messages"][0]["id"].as_str().unwrap();
        assert!(wamid.starts_with("wamid."), "{wamid}");
        let sent = fake.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].version, "v21.0");
        assert_eq!(sent[0].phone_number_id, PHONE_NUMBER_ID);
        assert_eq!(sent[0].to, "+16505551234");
        assert_eq!(sent[0].text, "hello");
        assert_eq!(sent[0].preview_url, Some(false));
        assert_eq!(sent[0].reply_to.as_deref(), Some("wamid.incoming"));
        assert_eq!(sent[0].wamid, wamid);
    }

    #[tokio::test]
    async fn a_missing_or_wrong_token_is_401_with_code_190() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        for token in [None, Some("wrong")] {
            let (status, answer) =
                send(&fake, &messages_path(), token, &text_request("1", "hi")).await;
            assert_eq!(status, 401, "{answer}");
            assert_eq!(answer["error"]["code"], 190);
            assert_eq!(answer["error"]["type"], "OAuthException");
            assert!(answer["error"]["fbtrace_id"].is_string());
        }
        assert!(fake.sent().is_empty());
        let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [401, 401]);
    }

    #[tokio::test]
    async fn invalid_bodies_are_400_with_code_100_naming_the_parameter() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        let mut no_to = text_request("1", "hi");
        no_to.as_object_mut().unwrap().remove("to");
        let mut no_body = text_request("1", "hi");
        no_body["text"].as_object_mut().unwrap().remove("body");
        let mut no_product = text_request("1", "hi");
        no_product
            .as_object_mut()
            .unwrap()
            .remove("messaging_product");
        let mut image = text_request("1", "hi");
        image["type"] = json!("image");
        let too_long = text_request("1", &"é".repeat(MAX_TEXT_CHARS + 1));
        let cases = [
            (no_to, "The parameter to is required."),
            (no_body, "The parameter text['body'] is required."),
            (no_product, "The parameter messaging_product is required."),
            (
                image,
                "this stand-in takes only text messages, got type \"image\"",
            ),
            (
                too_long,
                "Param text['body'] must be at most 4096 characters long.",
            ),
            (json!([1]), "The request body must be a JSON object."),
        ];
        for (request, details) in cases {
            let (status, answer) = send(&fake, &messages_path(), Some(TOKEN), &request).await;
            assert_eq!(status, 400, "{answer}");
            assert_eq!(answer["error"]["code"], 100);
            assert_eq!(answer["error"]["message"], "(#100) Invalid parameter");
            assert_eq!(answer["error"]["error_data"]["details"], details);
        }
        assert!(fake.sent().is_empty());
        // 4096 characters of two bytes each are still one message.
        let longest = text_request("1", &"é".repeat(MAX_TEXT_CHARS));
        let (status, _) = send(&fake, &messages_path(), Some(TOKEN), &longest).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn unknown_phone_numbers_and_paths_are_refused() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        let request = text_request("1", "hi");
        let (status, answer) = send(&fake, "/v21.0/999/messages", Some(TOKEN), &request).await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["code"], 100);
        assert_eq!(answer["error"]["error_subcode"], 33);
        for path in [
            "/messages",
            "/latest/1/messages",
            &format!("/v21.0/{PHONE_NUMBER_ID}/media"),
        ] {
            let (status, answer) = send(&fake, path, Some(TOKEN), &request).await;
            assert_eq!(status, 400, "{path}");
            assert_eq!(answer["error"]["code"], 2500, "{path}");
        }
    }

    #[tokio::test]
    async fn scripted_failures_come_first_then_sends_succeed() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        fake.fail_next(Failure::Throughput);
        fake.fail_next(Failure::AccountRateLimit);
        fake.fail_next(Failure::Unavailable);
        let request = text_request("1", "hi");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (status, answer) = send(&fake, &messages_path(), Some(TOKEN), &request).await;
            seen.push((status, answer["error"]["code"].as_i64()));
        }
        assert_eq!(
            seen,
            [
                (429, Some(130429)),
                (429, Some(80007)),
                (500, Some(2)),
                (200, None)
            ]
        );
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(fake.requests().len(), 4);
    }

    #[tokio::test]
    async fn a_read_mark_with_typing_is_success_true_and_never_takes_a_failure() {
        let fake = FakeWhatsApp::start(TOKEN).await;
        fake.fail_next(Failure::Throughput);
        let read = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.in",
            "typing_indicator": {"type": "text"},
        });
        let (status, answer) = send(&fake, &messages_path(), Some(TOKEN), &read).await;
        assert_eq!((status, answer), (200, json!({"success": true})));
        let mut plain = read.clone();
        plain.as_object_mut().unwrap().remove("typing_indicator");
        let (status, _) = send(&fake, &messages_path(), Some(TOKEN), &plain).await;
        assert_eq!(status, 200);
        let mut wrong = read.clone();
        wrong["typing_indicator"]["type"] = json!("audio");
        let (status, answer) = send(&fake, &messages_path(), Some(TOKEN), &wrong).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], 100);
        let mut no_id = read.clone();
        no_id.as_object_mut().unwrap().remove("message_id");
        let (status, _) = send(&fake, &messages_path(), Some(TOKEN), &no_id).await;
        assert_eq!(status, 400);
        assert_eq!(
            fake.reads(),
            [
                ReadMark {
                    phone_number_id: PHONE_NUMBER_ID.to_owned(),
                    message_id: "wamid.in".to_owned(),
                    typing: true
                },
                ReadMark {
                    phone_number_id: PHONE_NUMBER_ID.to_owned(),
                    message_id: "wamid.in".to_owned(),
                    typing: false
                },
            ]
        );
        // The scripted failure is still there for the next text.
        let (status, answer) = send(
            &fake,
            &messages_path(),
            Some(TOKEN),
            &text_request("1", "hi"),
        )
        .await;
        assert_eq!(status, 429, "{answer}");
        assert!(fake.sent().is_empty());
    }

    #[test]
    fn meta_escapes_non_ascii_and_slashes_and_the_json_means_the_same() {
        let value = json!({"body": "café / 😀", "n": 1});
        let bytes = encode_like_meta(&value);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text, r#"{"body":"caf\u00e9 \/ \ud83d\ude00","n":1}"#);
        assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), value);
    }

    #[test]
    fn signatures_match_known_vectors() {
        // python3 -c "import hmac,hashlib; print(hmac.new(b'app-secret',
        //   b'{\"object\":\"whatsapp_business_account\"}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sign(SECRET, br#"{"object":"whatsapp_business_account"}"#),
            "sha256=0bf7374433906636bed1653bc7c64affb42fa5da9a39e251ab95c2e3a9c06923"
        );
        // RFC 4231-style well-known vector (Wikipedia's HMAC_SHA256 example).
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn the_text_notification_has_the_documented_shape() {
        let message = IncomingText::new("16505551234", "hi").replying_to("wamid.ours");
        let notification = text_notification(&message);
        assert_eq!(notification["object"], "whatsapp_business_account");
        let change = &notification["entry"][0]["changes"][0];
        assert_eq!(change["field"], "messages");
        let value = &change["value"];
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(value["metadata"]["phone_number_id"], PHONE_NUMBER_ID);
        assert_eq!(value["contacts"][0]["wa_id"], "16505551234");
        assert_eq!(value["contacts"][0]["profile"]["name"], "Test User");
        let incoming = &value["messages"][0];
        assert_eq!(incoming["from"], "16505551234");
        assert_eq!(incoming["id"], message.id.as_str());
        assert!(incoming["timestamp"].is_string());
        assert_eq!(incoming["type"], "text");
        assert_eq!(incoming["text"]["body"], "hi");
        assert_eq!(incoming["context"]["id"], "wamid.ours");
        assert_ne!(
            IncomingText::new("1", "a").id,
            IncomingText::new("1", "a").id
        );
    }

    /// What the tiny receiver saw: the raw body of each POST it accepted.
    type Received = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A receiver that checks signatures with its own HMAC and answers the handshake.
    async fn receiver(verify_token: &'static str) -> (String, Received, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        let received: Received = Arc::default();
        let stop = CancellationToken::new();
        let (seen, token) = (received.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => accepted.unwrap().0,
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let seen = seen.clone();
                        async move { Ok::<_, Infallible>(receive(request, verify_token, &seen).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (url, received, stop)
    }

    async fn receive(
        request: Request<Incoming>,
        verify_token: &str,
        seen: &Received,
    ) -> HttpResponse {
        let plain = |status: StatusCode, body: String| {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response
        };
        if request.method() == Method::GET {
            let query = request.uri().query().unwrap_or("").to_owned();
            let pairs: Vec<(String, String)> = query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            return if get("hub.mode").as_deref() == Some("subscribe")
                && get("hub.verify_token").as_deref() == Some(verify_token)
            {
                plain(StatusCode::OK, get("hub.challenge").unwrap_or_default())
            } else {
                plain(StatusCode::FORBIDDEN, String::new())
            };
        }
        let signature = request
            .headers()
            .get("x-hub-signature-256")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let agent = request.headers().get("user-agent").cloned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(&body);
        let valid = signature
            .as_deref()
            .and_then(|s| s.strip_prefix("sha256="))
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .is_some_and(|digest| mac.verify_slice(&digest).is_ok());
        if !valid {
            return plain(StatusCode::FORBIDDEN, "bad signature".to_owned());
        }
        assert_eq!(agent.unwrap(), "facebookexternalua");
        lock(seen).push(body.to_vec());
        plain(StatusCode::OK, "EVENT_RECEIVED".to_owned())
    }

    #[tokio::test]
    async fn deliveries_are_signed_over_the_raw_body_and_forgeries_are_not() {
        let (url, received, stop) = receiver("verify-me").await;
        let sender = WebhookSender::new(SECRET);
        let message = IncomingText::new("16505551234", "crème brûlée / 🍮");
        let answer = sender.deliver(&url, &message).await.unwrap();
        assert_eq!(
            answer,
            Answer {
                status: 200,
                body: "EVENT_RECEIVED".to_owned()
            }
        );
        let forged = sender.deliver_forged(&url, &message).await.unwrap();
        assert_eq!(forged.status, 403);
        let unsigned = sender
            .deliver_with_signature(&url, b"{}", None)
            .await
            .unwrap();
        assert_eq!(unsigned.status, 403);
        let status = encode_like_meta(&status_notification("wamid.x", "delivered", "1"));
        assert_eq!(
            sender.deliver_body(&url, &status).await.unwrap().status,
            200
        );

        let received = lock(&received).clone();
        assert_eq!(received.len(), 2);
        let raw = String::from_utf8(received[0].clone()).unwrap();
        assert!(raw.contains(r"cr\u00e8me"), "{raw}");
        let parsed: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(parsed, text_notification(&message));
        stop.cancel();
    }

    #[tokio::test]
    async fn the_subscription_handshake_echoes_the_challenge_only_for_the_token() {
        let (url, _received, stop) = receiver("verify-me").await;
        let sender = WebhookSender::new(SECRET);
        let good = sender
            .verify_subscription(&url, "verify-me", "1158201444")
            .await
            .unwrap();
        assert_eq!(
            good,
            Answer {
                status: 200,
                body: "1158201444".to_owned()
            }
        );
        let bad = sender
            .verify_subscription(&url, "guess", "1158201444")
            .await
            .unwrap();
        assert_eq!(bad.status, 403);
        stop.cancel();
    }
}
