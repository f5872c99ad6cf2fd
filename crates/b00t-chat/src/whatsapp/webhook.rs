//! The WhatsApp webhook: a hyper HTTP/1.1 server on the configured address (loopback by
//! default, published by a tunnel or reverse proxy) that serves every path the same way,
//! so a proxy may forward `/whatsapp` or `/` alike.
//!
//! - `GET`: Meta's verification. `hub.mode=subscribe` with `hub.verify_token` equal to
//!   `WHATSAPP_VERIFY_TOKEN` is answered 200 with `hub.challenge` as `text/plain`;
//!   anything else 403.
//! - `POST`: a notification. The body is read within [`MAX_BODY`] (413 past it) and
//!   [`BODY_TIMEOUT`] (408); `X-Hub-Signature-256` must be the HMAC-SHA256 of the raw
//!   body with `WHATSAPP_APP_SECRET` (401 without it, 403 with a wrong one; nothing of
//!   the body is read before); the JSON must parse (400). Each message is handed to the
//!   [`Accept`] callback, which journals it; once every one is taken the answer is 200,
//!   and the work is done after. When one cannot be taken (the journal fails, or takes
//!   longer than [`ACCEPT_TIMEOUT`]) the answer is 500 and Meta delivers the
//!   notification again; a redelivery of a message taken in this run is not handed over
//!   again (its id is remembered, [`SeenMessages`]), and one after a restart is
//!   recognised by the journal. Status updates (`statuses`) give no messages and are
//!   acknowledged.
//! - Anything else: 405.
//!
//! The server, its limits against slow or hostile clients (at most [`MAX_CONNECTIONS`]
//! connections, headers within [`HEADER_TIMEOUT`], bodies within [`BODY_TIMEOUT`]) and
//! its shutdown are `webhook_server`'s, shared with Telegram's webhook.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use b00t_bridges::whatsapp::{
    incoming, verify_signature, verify_subscription, Incoming, Notification, SeenMessages,
    SignatureError, SIGNATURE_HEADER,
};
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::webhook_server::{self, answer_taken, plain, read_body, Answer, Refusals};
pub use crate::webhook_server::{
    NotTaken, ACCEPT_TIMEOUT, BODY_TIMEOUT, CONNECTION_LIFETIME, DRAIN, HEADER_TIMEOUT, LOG_EVERY,
    MAX_BODY, MAX_CONNECTIONS, MAX_HEADER_BYTES,
};
use crate::whatsapp::WhatsAppError;

/// What the logs call it.
const WHAT: &str = "WhatsApp webhook";

/// The two secrets requests are checked with. Neither is ever logged.
pub struct Secrets {
    /// `WHATSAPP_APP_SECRET`: the key of `X-Hub-Signature-256`.
    pub app_secret: Vec<u8>,
    /// `WHATSAPP_VERIFY_TOKEN`: what `hub.verify_token` must be.
    pub verify_token: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// What [`Accept`] returns.
pub type AcceptFuture = Pin<Box<dyn Future<Output = Result<(), NotTaken>> + Send>>;
/// Takes one message of a signed notification: journals it (or decides it needs no
/// record) and returns; the answer is worked out afterwards. Called in the order the
/// notification lists its messages.
pub type Accept = Arc<dyn Fn(Incoming) -> AcceptFuture + Send + Sync>;

/// Binds the webhook's address for bridge `bridge`.
pub async fn bind(addr: SocketAddr, bridge: &str) -> Result<TcpListener, WhatsAppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| WhatsAppError::Listen {
            addr,
            bridge: bridge.to_owned(),
            source,
        })
}

/// Serves `listener` until `shutdown`, handing each message of a signed notification to
/// `accept`; returns once the connections have ended (within [`DRAIN`]).
pub async fn run(
    listener: TcpListener,
    secrets: Secrets,
    accept: Accept,
    shutdown: CancellationToken,
) {
    let shared = Arc::new(Shared {
        secrets,
        accept,
        seen: Mutex::new(SeenMessages::default()),
        refusals: Refusals::new(WHAT),
    });
    let answer = move |request, peer| answer(request, peer, shared.clone());
    webhook_server::run(WHAT, listener, answer, shutdown).await;
}

/// What every connection shares.
struct Shared {
    secrets: Secrets,
    accept: Accept,
    /// Ids of the messages taken in this run: a redelivery is acknowledged without
    /// being handed over again.
    seen: Mutex<SeenMessages>,
    /// Logs refused requests.
    refusals: Refusals,
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Answer {
    match *request.method() {
        Method::GET => verification(&request, peer, &shared),
        Method::POST => notification(request, peer, &shared).await,
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and POST");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

/// `GET`: the challenge to Meta's verification, or 403.
fn verification(
    request: &Request<hyper::body::Incoming>,
    peer: SocketAddr,
    shared: &Shared,
) -> Answer {
    let query = request.uri().query().unwrap_or("");
    match verify_subscription(query, &shared.secrets.verify_token) {
        Ok(challenge) => {
            tracing::info!(%peer, "WhatsApp webhook: verified by Meta (hub.challenge answered)");
            plain(StatusCode::OK, &challenge)
        }
        Err(refused) => {
            shared
                .refusals
                .refused(peer, StatusCode::FORBIDDEN, &refused.to_string());
            plain(StatusCode::FORBIDDEN, "verification refused")
        }
    }
}

/// `POST`: a notification, checked, its messages taken.
async fn notification(
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    shared: &Shared,
) -> Answer {
    let (parts, body) = match read_body(request, peer, &shared.refusals).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    let signature = parts
        .headers
        .get(SIGNATURE_HEADER)
        .map(HeaderValue::as_bytes);
    if let Err(refused) = verify_signature(&shared.secrets.app_secret, signature, &body) {
        let status = match refused {
            SignatureError::Missing => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        shared.refusals.refused(peer, status, &refused.to_string());
        return plain(status, "signature refused");
    }
    let notification: Notification = match serde_json::from_slice(&body) {
        Ok(notification) => notification,
        Err(e) => {
            // Signed by the app secret, so from Meta (or whoever holds the secret).
            tracing::warn!(%peer, error = %e, "WhatsApp webhook: a signed notification is not JSON Meta writes; answered 400");
            return plain(StatusCode::BAD_REQUEST, "not a notification");
        }
    };
    let messages = incoming(&notification);
    let taking = async {
        for message in messages {
            if shared.seen_before(&message.message_id) {
                tracing::debug!(id = %message.message_id, "WhatsApp webhook: a redelivery of a message already taken");
                continue;
            }
            let id = message.message_id.clone();
            (shared.accept)(message).await?;
            shared.taken(&id);
        }
        Ok::<(), NotTaken>(())
    };
    answer_taken(WHAT, "Meta", "EVENT_RECEIVED", taking).await
}

impl Shared {
    fn seen_before(&self, id: &str) -> bool {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    fn taken(&self, id: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first_time(id);
    }
}

#[cfg(test)]
mod tests {
    use b00t_testkit::whatsapp::{
        encode_like_meta, status_notification, text_notification, IncomingText, WebhookSender,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const SECRET: &str = "app-secret";
    const VERIFY: &str = "verify-me";

    /// A webhook on an ephemeral port whose callback records what it takes, failing
    /// while `fail` holds a reason.
    struct Served {
        url: String,
        addr: SocketAddr,
        taken: Arc<Mutex<Vec<Incoming>>>,
        fail: Arc<Mutex<Option<String>>>,
        stop: CancellationToken,
        done: tokio::task::JoinHandle<()>,
    }

    async fn serve() -> Served {
        let listener = bind("127.0.0.1:0".parse().unwrap(), "whatsapp")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let taken: Arc<Mutex<Vec<Incoming>>> = Arc::default();
        let fail: Arc<Mutex<Option<String>>> = Arc::default();
        let accept: Accept = {
            let (taken, fail) = (taken.clone(), fail.clone());
            Arc::new(move |message| {
                let (taken, fail) = (taken.clone(), fail.clone());
                Box::pin(async move {
                    if let Some(why) = fail.lock().unwrap().clone() {
                        return Err(NotTaken(why));
                    }
                    taken.lock().unwrap().push(message);
                    Ok(())
                })
            })
        };
        let secrets = Secrets {
            app_secret: SECRET.as_bytes().to_vec(),
            verify_token: VERIFY.to_owned(),
        };
        let stop = CancellationToken::new();
        let done = tokio::spawn(run(listener, secrets, accept, stop.clone()));
        Served {
            url: format!("http://{addr}/whatsapp"),
            addr,
            taken,
            fail,
            stop,
            done,
        }
    }

    impl Served {
        fn taken(&self) -> Vec<Incoming> {
            self.taken.lock().unwrap().clone()
        }
    }

    #[tokio::test]
    async fn the_verification_answers_the_challenge_only_to_the_token() {
        let served = serve().await;
        let meta = WebhookSender::new(SECRET);
        let good = meta
            .verify_subscription(&served.url, VERIFY, "1158201444")
            .await
            .unwrap();
        assert_eq!((good.status, good.body.as_str()), (200, "1158201444"));
        let bad = meta
            .verify_subscription(&served.url, "guess", "1158201444")
            .await
            .unwrap();
        assert_eq!(bad.status, 403);
        assert!(!bad.body.contains("1158201444"), "{}", bad.body);
        // Any path: a proxy may forward `/` as well.
        let root = format!("http://{}/", served.addr);
        let good = meta.verify_subscription(&root, VERIFY, "7").await.unwrap();
        assert_eq!((good.status, good.body.as_str()), (200, "7"));
        let http = reqwest::Client::new();
        let response = http
            .get(format!("{root}?hub.mode=subscribe&hub.challenge=x"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let response = http.put(&served.url).send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET, POST");
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn a_signed_notification_is_taken_and_a_forged_one_is_not() {
        let served = serve().await;
        let meta = WebhookSender::new(SECRET);
        let message = IncomingText::new("16505551234", "crème brûlée / 🍮");
        let answer = meta.deliver(&served.url, &message).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let taken = served.taken();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].message_id, message.id);
        assert_eq!(taken[0].from, "16505551234");
        assert_eq!(taken[0].phone_number_id, message.phone_number_id);
        assert_eq!(
            taken[0].content,
            b00t_bridges::whatsapp::Content::Text {
                body: "crème brûlée / 🍮".to_owned()
            }
        );

        // Redelivered: acknowledged, not handed over again.
        let again = meta.deliver(&served.url, &message).await.unwrap();
        assert_eq!(again.status, 200);
        assert_eq!(served.taken().len(), 1);

        // Forged, unsigned, or signed over other bytes: refused, nothing taken.
        // Non-ASCII: Meta's escapes make its bytes differ from serde_json's.
        let other = IncomingText::new("16505551234", "let me in, café");
        let forged = meta.deliver_forged(&served.url, &other).await.unwrap();
        assert_eq!(forged.status, 403);
        let body = encode_like_meta(&text_notification(&other));
        let unsigned = meta
            .deliver_with_signature(&served.url, &body, None)
            .await
            .unwrap();
        assert_eq!(unsigned.status, 401);
        let garbage = meta
            .deliver_with_signature(&served.url, &body, Some("sha256=zz"))
            .await
            .unwrap();
        assert_eq!(garbage.status, 403);
        let reencoded = serde_json::to_vec(&text_notification(&other)).unwrap();
        let signature = b00t_testkit::whatsapp::sign(SECRET, &body);
        let moved = meta
            .deliver_with_signature(&served.url, &reencoded, Some(&signature))
            .await
            .unwrap();
        assert_eq!(moved.status, 403);
        assert_eq!(served.taken().len(), 1);

        // A status update: acknowledged, no message.
        let status = encode_like_meta(&status_notification("wamid.out", "delivered", "1"));
        let answer = meta.deliver_body(&served.url, &status).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(served.taken().len(), 1);
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn junk_and_oversized_bodies_are_refused() {
        let served = serve().await;
        let meta = WebhookSender::new(SECRET);
        // Signed junk: 400.
        for junk in [&b"not json"[..], b"[1, 2]", b"{\"entry\": 5}"] {
            let answer = meta.deliver_body(&served.url, junk).await.unwrap();
            assert_eq!(answer.status, 400, "{}", String::from_utf8_lossy(junk));
        }
        // Too large, declared: 413, once the body is read and dropped.
        let huge = vec![b' '; MAX_BODY + 1];
        let answer = meta.deliver_body(&served.url, &huge).await.unwrap();
        assert_eq!(answer.status, 413);
        // Too large, chunked without a length: 413 once the limit is passed.
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        let head = "POST /whatsapp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Hub-Signature-256: sha256=00\r\n\r\n";
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("10000\r\n{}\r\n", " ".repeat(0x10000));
        for _ in 0..(MAX_BODY / 0x10000 + 2) {
            // The server may stop reading, and close, once the limit is passed.
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let answer = until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(served.taken().is_empty());
        // The webhook still serves.
        let message = IncomingText::new("1", "still here");
        assert_eq!(
            meta.deliver(&served.url, &message).await.unwrap().status,
            200
        );
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn a_message_not_journaled_is_500_and_taken_when_delivered_again() {
        let served = serve().await;
        let meta = WebhookSender::new(SECRET);
        let message = IncomingText::new("16505551234", "hello");
        *served.fail.lock().unwrap() = Some("the journal is full".to_owned());
        let answer = meta.deliver(&served.url, &message).await.unwrap();
        assert_eq!(answer.status, 500);
        assert!(served.taken().is_empty());
        *served.fail.lock().unwrap() = None;
        let answer = meta.deliver(&served.url, &message).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(served.taken().len(), 1);
        served.stop.cancel();
        served.done.await.unwrap();
    }

    /// Reads what the server sends until it closes the connection.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }
}
