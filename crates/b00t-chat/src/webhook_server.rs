//! The HTTP server the webhooks (WhatsApp's, Telegram's) serve with: hyper's HTTP/1.1 on
//! a bound listener, every request handed to the webhook's own answer, and the limits
//! that keep a slow or hostile client from holding it, the same for both.
//!
//! At most [`MAX_CONNECTIONS`] connections (one more is closed at once), headers within
//! [`HEADER_TIMEOUT`] and [`MAX_HEADER_BYTES`], a connection at most
//! [`CONNECTION_LIFETIME`]; a body read with [`read_body`] within [`MAX_BODY`] (413; a
//! declared one up to [`MAX_DRAIN`] is read and dropped first, so the client gets the
//! answer rather than a reset) and [`BODY_TIMEOUT`] (408). What a request brings is
//! taken ([`Takers`]) on a task of its own within [`ACCEPT_TIMEOUT`], else 500 so that
//! the platform delivers it again.
//! Refusals are logged at most once per [`LOG_EVERY`] with a count of those not logged.
//! On shutdown it stops accepting, lets requests in progress finish within [`DRAIN`],
//! and ends.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The largest body read (413 past it). Meta's notifications and Telegram's updates are
/// a few KiB.
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
/// How long what one request brings may take to be journaled (500 past it).
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long requests in progress may take to finish at shutdown.
pub const DRAIN: Duration = Duration::from_secs(2);
/// Refusals (bad secrets, junk, too many connections) are logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Messages being taken at once; past it the webhook answers 500 and the platform
/// delivers again later.
pub const MAX_TAKING: usize = 256;

/// An answer to a request.
pub type Answer = Response<Full<Bytes>>;

/// Why a message was not taken: the webhook answers 500 and the platform delivers it
/// again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotTaken(pub String);

/// Serves `listener` until `shutdown`, answering each request with `answer` (given the
/// request and its peer); returns once the connections have ended (within [`DRAIN`]).
/// `what` names the webhook in logs (`WhatsApp webhook`).
pub async fn run<A, F>(
    what: &'static str,
    listener: TcpListener,
    answer: A,
    shutdown: CancellationToken,
) where
    A: Fn(Request<hyper::body::Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let full = Throttle::default();
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
                tracing::warn!(error = %e, "{what}: accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if let Some(more) = full.allow() {
                tracing::warn!(%peer, not_logged = more, "{what}: {MAX_CONNECTIONS} connections are open; a new one is closed");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            what,
            stream,
            peer,
            answer.clone(),
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
        tracing::warn!("{what}: connections still open after the drain are dropped");
    }
}

/// One connection, holding its slot until it ends.
async fn connection<A, F>(
    what: &'static str,
    stream: TcpStream,
    peer: SocketAddr,
    answer: A,
    shutdown: CancellationToken,
    permit: OwnedSemaphorePermit,
) where
    A: Fn(Request<hyper::body::Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    let service = service_fn(move |request| {
        let answered = answer(request, peer);
        async move { Ok::<_, std::convert::Infallible>(answered.await) }
    });
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
        tracing::debug!(%peer, error = %e, "{what}: connection ended");
    }
    drop(permit);
}

/// The largest declared body that is read (and dropped) before its 413; a larger one is
/// answered at once, and its sender may see the connection reset instead.
pub const MAX_DRAIN: usize = 4 * MAX_BODY;

/// Reads `body` to its end and drops it, within [`MAX_DRAIN`] and [`BODY_TIMEOUT`].
async fn drain(body: hyper::body::Incoming) {
    let mut body = Limited::new(body, MAX_DRAIN);
    let _ = tokio::time::timeout(BODY_TIMEOUT, async {
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
    })
    .await;
}

/// Reads `request`'s body within [`MAX_BODY`] (413, declared or not) and
/// [`BODY_TIMEOUT`] (408); a body that cannot be read is 400. The refusal is logged.
pub async fn read_body(
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    refusals: &Refusals,
) -> Result<(hyper::http::request::Parts, Bytes), Answer> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > MAX_BODY as u64) {
        let why = format!("a body of {length} bytes (the limit is {MAX_BODY})");
        refusals.refused(peer, StatusCode::PAYLOAD_TOO_LARGE, &why);
        if length <= MAX_DRAIN as u64 {
            // Read and dropped first: a connection closed with a body still arriving is
            // reset, and the reset can cost the client the answer it was about to read.
            drain(request.into_body()).await;
        }
        return Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
    }
    let (parts, body) = request.into_parts();
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await;
    match collected {
        Ok(Ok(collected)) => Ok((parts, collected.to_bytes())),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            let why = format!("a body over {MAX_BODY} bytes");
            refusals.refused(peer, StatusCode::PAYLOAD_TOO_LARGE, &why);
            Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))
        }
        Ok(Err(e)) => {
            let why = format!("the body could not be read: {e}");
            refusals.refused(peer, StatusCode::BAD_REQUEST, &why);
            Err(plain(StatusCode::BAD_REQUEST, "unreadable body"))
        }
        Err(_) => {
            let why = format!(
                "the body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            );
            refusals.refused(peer, StatusCode::REQUEST_TIMEOUT, &why);
            Err(plain(StatusCode::REQUEST_TIMEOUT, "body too slow"))
        }
    }
}

/// The answer once `taking` (journaling what a request brought) ends: `ok` with 200, or
/// 500 when it failed or took longer than [`ACCEPT_TIMEOUT`], so that `platform`
/// delivers it again.
pub async fn answer_taken(
    what: &'static str,
    platform: &'static str,
    ok: &'static str,
    taking: impl Future<Output = Result<(), NotTaken>>,
) -> Answer {
    match tokio::time::timeout(ACCEPT_TIMEOUT, taking).await {
        Ok(Ok(())) => plain(StatusCode::OK, ok),
        Ok(Err(NotTaken(why))) => {
            tracing::error!(error = %why, "{what}: a message could not be journaled; answered 500 so that {platform} delivers it again");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not journaled; deliver again",
            )
        }
        Err(_) => {
            tracing::error!("{what}: journaling took more than {} s; answered 500 so that {platform} delivers it again", ACCEPT_TIMEOUT.as_secs());
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not journaled in time; deliver again",
            )
        }
    }
}

/// Takes messages each on a task of its own, at most [`MAX_TAKING`] at once: a request
/// that ends early (the client gone, the time limit) does not cut a message between its
/// journal row and its conversation.
#[derive(Clone)]
pub struct Takers {
    slots: Arc<Semaphore>,
}

impl Default for Takers {
    fn default() -> Self {
        Takers {
            slots: Arc::new(Semaphore::new(MAX_TAKING)),
        }
    }
}

impl Takers {
    /// Runs `taking` on its own task and waits for it; `Err` at once when
    /// [`MAX_TAKING`] are being taken.
    pub async fn take(
        &self,
        taking: impl Future<Output = Result<(), NotTaken>> + Send + 'static,
    ) -> Result<(), NotTaken> {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return Err(NotTaken(format!(
                "{MAX_TAKING} messages are being taken at once"
            )));
        };
        let task = tokio::spawn(async move {
            let taken = taking.await;
            drop(permit);
            taken
        });
        match task.await {
            Ok(taken) => taken,
            Err(e) => Err(NotTaken(format!("taking the message failed: {e}"))),
        }
    }
}

/// Logs refused requests of one webhook, at most once per [`LOG_EVERY`].
pub struct Refusals {
    what: &'static str,
    throttle: Throttle,
}

impl Refusals {
    pub fn new(what: &'static str) -> Refusals {
        Refusals {
            what,
            throttle: Throttle::default(),
        }
    }

    /// Logs a refused request (unless one was logged within [`LOG_EVERY`]).
    pub fn refused(&self, peer: SocketAddr, status: StatusCode, why: &str) {
        if let Some(more) = self.throttle.allow() {
            // `why` may quote the client: its control characters are escaped.
            tracing::warn!(%peer, status = status.as_u16(), not_logged = more, "{} refused a request: {}", self.what, why.escape_debug());
        }
    }
}

/// A short `text/plain` answer; never sniffed as anything else (WhatsApp's challenge is
/// echoed).
pub fn plain(status: StatusCode, text: &str) -> Answer {
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
    use hyper::Method;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server on an ephemeral port whose POSTs read their body and answer its length,
    /// and whose GETs answer `ok`.
    struct Served {
        addr: SocketAddr,
        stop: CancellationToken,
        done: tokio::task::JoinHandle<()>,
    }

    async fn serve() -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refusals = Arc::new(Refusals::new("test webhook"));
        let answer = move |request: Request<hyper::body::Incoming>, peer| {
            let refusals = refusals.clone();
            async move {
                if request.method() == Method::GET {
                    return plain(StatusCode::OK, "ok");
                }
                match read_body(request, peer, &refusals).await {
                    Ok((_, body)) => plain(StatusCode::OK, &format!("read {}", body.len())),
                    Err(refused) => refused,
                }
            }
        };
        let stop = CancellationToken::new();
        let done = tokio::spawn(run("test webhook", listener, answer, stop.clone()));
        Served { addr, stop, done }
    }

    /// Reads what the server sends until it closes the connection.
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn bodies_are_read_within_the_limit_declared_or_chunked() {
        let served = serve().await;
        let http = reqwest::Client::new();
        let url = format!("http://{}/", served.addr);
        let response = http.post(&url).body("12345").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "read 5");
        let huge = vec![b' '; MAX_BODY + 1];
        let response = http.post(&url).body(huge).send().await.unwrap();
        assert_eq!(response.status(), 413);
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        let head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
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
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn slow_headers_and_slow_bodies_do_not_hold_a_connection() {
        let served = serve().await;
        let started = tokio::time::Instant::now();
        let mut slow = TcpStream::connect(served.addr).await.unwrap();
        slow.write_all(b"POST /hook HTTP/1.1\r\nHost: x\r\n")
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
        slow.write_all(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
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
        // The slots come back: the next request is answered.
        let url = format!("http://{}/", served.addr);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match reqwest::get(&url).await {
                Ok(answer) if answer.status() == 200 => break,
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
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
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

    #[tokio::test]
    async fn a_failed_or_slow_taking_is_500() {
        let ok = answer_taken("test", "the platform", "done", async { Ok(()) }).await;
        assert_eq!(ok.status(), 200);
        let failed = answer_taken("test", "the platform", "done", async {
            Err(NotTaken("full".into()))
        })
        .await;
        assert_eq!(failed.status(), 500);
        let takers = Takers::default();
        let taken = takers.take(async { Ok(()) }).await;
        assert_eq!(taken, Ok(()));
        let panicked = takers
            .take(async {
                let parts: Vec<u8> = Vec::new();
                if parts.is_empty() {
                    panic!("a bug in taking");
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(
            panicked.0.contains("taking the message failed"),
            "{panicked}"
        );
    }
}
