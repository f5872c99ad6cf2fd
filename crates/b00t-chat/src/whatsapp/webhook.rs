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
//! A slow or hostile client cannot hold it: at most [`MAX_CONNECTIONS`] connections
//! (one more is closed at once), headers within [`HEADER_TIMEOUT`] and
//! [`MAX_HEADER_BYTES`], a connection at most [`CONNECTION_LIFETIME`]; refusals are
//! logged at most once per [`LOG_EVERY`] with a count of those not logged. On shutdown it
//! stops accepting, lets requests in progress finish within [`DRAIN`], and ends.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use b00t_bridges::whatsapp::{
    incoming, verify_signature, verify_subscription, Incoming, Notification, SeenMessages,
    SignatureError, SIGNATURE_HEADER,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::whatsapp::WhatsAppError;

/// The largest notification read (413 past it). Meta's are a few KiB.
pub const MAX_BODY: usize = 1024 * 1024;
/// How long a client has to send a request's line and headers (and how long a
/// kept-alive connection may stay idle): then the connection is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request's line and headers may take (431 past it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long a client has to send a body, once its headers are read (408 past it).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest a connection is kept, however busy: then it is closed after the request
/// in progress.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// How long the messages of one notification may take to be journaled (500 past it).
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long requests in progress may take to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(2);
/// Refusals (bad signatures, junk, too many connections) are logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

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

/// Why a message was not taken: the webhook answers 500 and Meta delivers it again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotTaken(pub String);

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
        refusals: Throttle::default(),
        full: Throttle::default(),
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "WhatsApp webhook: accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Some(more) = shared.full.allow() {
                tracing::warn!(%peer, not_logged = more, "WhatsApp webhook: {MAX_CONNECTIONS} connections are open; a new one is closed");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            peer,
            shared.clone(),
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN + Duration::from_millis(500), connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("WhatsApp webhook: connections still open after the drain are dropped");
    }
}

/// What every connection shares.
struct Shared {
    secrets: Secrets,
    accept: Accept,
    /// Ids of the messages taken in this run: a redelivery is acknowledged without
    /// being handed over again.
    seen: Mutex<SeenMessages>,
    /// Limits the log lines of refused requests.
    refusals: Throttle,
    /// Limits the log lines of connections closed for the connection limit.
    full: Throttle,
}

/// One connection, holding its slot until it ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    let service = service_fn(move |request| answer(request, peer, shared.clone()));
    let mut served = pin!(http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), service));
    let ended = tokio::select! {
        ended = served.as_mut() => Some(ended),
        _ = shutdown.cancelled() => None,
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            served.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN, served).await {
                Ok(ended) => ended,
                Err(_) => Ok(()),
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "WhatsApp webhook: connection ended");
    }
    drop(permit);
}

type Answer = Response<Full<Bytes>>;

async fn answer(
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Result<Answer, Infallible> {
    let response = match *request.method() {
        Method::GET => verification(&request, peer, &shared),
        Method::POST => notification(request, peer, &shared).await,
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and POST");
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    };
    Ok(response)
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
            shared.refused(peer, StatusCode::FORBIDDEN, &refused.to_string());
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
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        let why = format!(
            "a body of {} bytes (the limit is {MAX_BODY})",
            declared.unwrap_or(0)
        );
        shared.refused(peer, StatusCode::PAYLOAD_TOO_LARGE, &why);
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let (parts, body) = request.into_parts();
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await;
    let body = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let why = format!("a body over {MAX_BODY} bytes");
            shared.refused(peer, StatusCode::PAYLOAD_TOO_LARGE, &why);
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Ok(Err(e)) => {
            shared.refused(
                peer,
                StatusCode::BAD_REQUEST,
                &format!("the body could not be read: {e}"),
            );
            return plain(StatusCode::BAD_REQUEST, "unreadable body");
        }
        Err(_) => {
            let why = format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            );
            shared.refused(peer, StatusCode::REQUEST_TIMEOUT, &why);
            return plain(StatusCode::REQUEST_TIMEOUT, "body too slow");
        }
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
        shared.refused(peer, status, &refused.to_string());
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
    match tokio::time::timeout(ACCEPT_TIMEOUT, taking).await {
        Ok(Ok(())) => plain(StatusCode::OK, "EVENT_RECEIVED"),
        Ok(Err(NotTaken(why))) => {
            tracing::error!(error = %why, "WhatsApp webhook: a message could not be journaled; answered 500 so that Meta delivers it again");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not journaled; deliver again",
            )
        }
        Err(_) => {
            tracing::error!("WhatsApp webhook: journaling a notification took more than {} s; answered 500 so that Meta delivers it again", ACCEPT_TIMEOUT.as_secs());
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not journaled in time; deliver again",
            )
        }
    }
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

    /// Logs a refused request, at most once per [`LOG_EVERY`].
    fn refused(&self, peer: SocketAddr, status: StatusCode, why: &str) {
        if let Some(more) = self.refusals.allow() {
            // `why` may quote the client: its control characters are escaped.
            tracing::warn!(%peer, status = status.as_u16(), not_logged = more, "WhatsApp webhook refused a request: {}", why.escape_debug());
        }
    }
}

/// A short `text/plain` answer; never sniffed as anything else (the challenge is
/// echoed).
fn plain(status: StatusCode, text: &str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Lets a log line through at most once per [`LOG_EVERY`], counting those held back.
#[derive(Default)]
struct Throttle {
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl Throttle {
    /// `Some(n)`: log now, `n` lines were held back since the last one.
    fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.held_back.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use b00t_testkit::whatsapp::{
        encode_like_meta, status_notification, text_notification, IncomingText, WebhookSender,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        // Too large, declared: 413 before anything is read.
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

    #[tokio::test(start_paused = true)]
    async fn slow_headers_and_slow_bodies_do_not_hold_a_connection() {
        let served = serve().await;
        let started = tokio::time::Instant::now();
        let mut slow = TcpStream::connect(served.addr).await.unwrap();
        slow.write_all(b"POST /whatsapp HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut slow).await;
        assert!(
            started.elapsed() >= HEADER_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
        assert!(!answer.contains("200"), "{answer}");

        let started = tokio::time::Instant::now();
        let mut slow = TcpStream::connect(served.addr).await.unwrap();
        slow.write_all(b"POST /whatsapp HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
            .await
            .unwrap();
        let answer = until_closed(&mut slow).await;
        assert!(started.elapsed() >= BODY_TIMEOUT, "{:?}", started.elapsed());
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn past_the_connection_limit_a_new_connection_is_closed_at_once() {
        let served = serve().await;
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut stream = TcpStream::connect(served.addr).await.unwrap();
            // A request line started: each connection is being served.
            stream.write_all(b"GET /").await.unwrap();
            held.push(stream);
        }
        let mut extra = TcpStream::connect(served.addr).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut extra)).await;
        assert_eq!(
            closed.as_deref(),
            Ok(""),
            "the extra connection was not closed"
        );
        drop(held);
        // The slots come back: the next verification is answered.
        let meta = WebhookSender::new(SECRET);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match meta.verify_subscription(&served.url, VERIFY, "ok").await {
                Ok(answer) if answer.status == 200 => break,
                other => assert!(Instant::now() < deadline, "{other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_ends_the_server_and_its_idle_connections() {
        let served = serve().await;
        let mut idle = TcpStream::connect(served.addr).await.unwrap();
        idle.write_all(b"GET /?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=c HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        served.stop.cancel();
        tokio::time::timeout(DRAIN + Duration::from_secs(1), served.done)
            .await
            .expect("the server ends within the drain")
            .unwrap();
        let rest = tokio::time::timeout(Duration::from_secs(1), until_closed(&mut idle)).await;
        assert!(rest.is_ok(), "the kept-alive connection is closed");
        assert!(TcpStream::connect(served.addr).await.is_err());
    }
}
