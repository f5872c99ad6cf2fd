//! The Ollama relay: Ollama listens on loopback by default, which a container cannot
//! reach. When `OLLAMA_BASE_URL` points at this machine's loopback and group agents run in
//! Docker, `up` listens on the Docker bridge's gateway address (never on an outside
//! network) and relays HTTP/1.1 to Ollama with hyper, on both sides. Containers are given
//! `http://<group>:<password>@host.docker.internal:<relay port>`: their broker
//! credentials, which reqwest sends as `Authorization: Basic` on every request.
//!
//! The relay passes only what an assistant needs: `POST /api/chat`, `GET /api/tags` and
//! `POST /api/show`, from a group whose credentials are valid now (401 otherwise, 403 for
//! any other request, both with Ollama's `{"error": "..."}` body; neither reaches Ollama).
//! A request's headers must arrive within [`HEADER_TIMEOUT`] and fit in
//! [`MAX_HEADER_BYTES`]; its body is streamed to Ollama up to [`MAX_BODY_BYTES`], and
//! Ollama's answer (NDJSON when streamed) is passed on as it comes. Each client connection
//! has one connection to Ollama of its own. A URL that is not loopback needs no relay and
//! is passed through unchanged.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HOST,
    PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
    WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::RuntimeError;

/// An `http://host:port/path` URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, RuntimeError> {
        let bad = |why: &str| RuntimeError::OllamaUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it has no scheme; write it as http://HOST:PORT"))?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("only http:// and https:// are supported")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_owned()),
            None => (rest, String::new()),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad("its port is not a number from 1 to 65535"))?;
                (host, port)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad("it has no host or a zero port"));
        }
        Ok(HttpUrl {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Whether the host is this machine's loopback, which containers cannot reach.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.host)
    }

    /// The same URL on another host and port.
    pub fn with_authority(&self, host: &str, port: u16) -> String {
        format!("{}://{host}:{port}{}", self.scheme, self.path)
    }
}

/// Whether `host` (a name or an address) is this machine's loopback, which containers
/// cannot reach.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Says whether `(group, password)` are a group's valid credentials now; called for
/// every request, so credentials added or removed while the relay runs count at once.
pub type Verifier = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// How long a client has to send a request's line and headers, and how long a kept-alive
/// connection may stay idle between requests: then the relay closes it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a request's line and headers may take (431 past it).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most a request's body may take (the connection is closed past it). A chat with a
/// long history is some hundreds of KiB; images in messages can be more.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// What the relay passes; every other method and path is refused with 403.
const PASSED: [(Method, &str); 3] = [
    (Method::POST, "/api/chat"),
    (Method::GET, "/api/tags"),
    (Method::POST, "/api/show"),
];

/// Listens on `listen` and relays the requests of containers with valid credentials
/// (`verify`) to `target` until `shutdown`. Returns the address it listens on.
pub async fn start(
    listen: SocketAddr,
    target: HttpUrl,
    verify: Verifier,
    shutdown: CancellationToken,
) -> Result<SocketAddr, RuntimeError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| RuntimeError::Relay {
            addr: listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RuntimeError::Relay {
            addr: listen,
            source,
        })?;
    let upstream = Upstream::new(&target)?;
    tracing::info!(%addr, target = %upstream.addr, "Ollama relay for containers listening");
    let shared = Arc::new(Shared { upstream, verify });
    tokio::spawn(serve(listener, shared, shutdown));
    Ok(addr)
}

/// What every connection of the relay uses.
struct Shared {
    upstream: Upstream,
    verify: Verifier,
}

/// Where Ollama is.
struct Upstream {
    /// `host:port`, to connect to.
    addr: String,
    /// The `Host` header Ollama is sent: its own address, which it accepts.
    host: HeaderValue,
    /// The URL's path (`/ollama` in `http://127.0.0.1/ollama`), put before each path.
    prefix: String,
}

impl Upstream {
    fn new(target: &HttpUrl) -> Result<Upstream, RuntimeError> {
        let authority = if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let host = HeaderValue::from_str(&authority).map_err(|_| RuntimeError::OllamaUrl {
            url: format!("{}://{authority}{}", target.scheme, target.path),
            why: "its host is not a valid HTTP host".into(),
        })?;
        Ok(Upstream {
            addr: authority,
            host,
            prefix: target.path.clone(),
        })
    }
}

/// The body sent to Ollama: the client's, streamed, within [`MAX_BODY_BYTES`].
type ForwardBody = Limited<Incoming>;
/// The body sent to a client: Ollama's, streamed, or the relay's own JSON.
type RelayBody = UnsyncBoxBody<Bytes, hyper::Error>;

async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (inbound, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "Ollama relay: accept failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let _ = inbound.set_nodelay(true);
        tokio::spawn(connection(inbound, peer, shared.clone(), shutdown.clone()));
    }
}

/// One client connection: hyper's HTTP/1.1 server (keep-alive, `Content-Length` and
/// chunked bodies, the header limits), each request answered by [`answer`].
async fn connection(
    inbound: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    // Opened at this connection's first passed request, reused by its next ones; dropped
    // (closing it) with the connection.
    let ollama: Arc<Mutex<Option<SendRequest<ForwardBody>>>> = Arc::new(Mutex::new(None));
    let upstream_stop = stop.clone();
    let service = service_fn(move |request| {
        answer(
            request,
            shared.clone(),
            ollama.clone(),
            upstream_stop.clone(),
        )
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(inbound), service);
    tokio::select! {
        _ = stop.cancelled() => {}
        result = served => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "Ollama relay: connection ended");
            }
        }
    }
}

/// Answers one request: 401 without valid credentials, 403 for what is not passed, else
/// Ollama's answer (502 when Ollama cannot be reached).
async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    ollama: Arc<Mutex<Option<SendRequest<ForwardBody>>>>,
    stop: CancellationToken,
) -> Result<Response<RelayBody>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(group) = valid_group(request.headers(), &shared.verify) else {
        tracing::warn!(%method, %path, "Ollama relay: refused a request without valid credentials");
        let mut response = refusal(
            StatusCode::UNAUTHORIZED,
            "the Ollama relay needs a group's credentials (`http://<group>:<password>@…`, as `b00t up` gives its containers)",
        );
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"b00t Ollama relay\""),
        );
        return Ok(response);
    };
    if !PASSED.iter().any(|(m, p)| *m == method && *p == path) {
        tracing::warn!(%group, %method, %path, "Ollama relay: refused a request it does not pass");
        return Ok(refusal(
            StatusCode::FORBIDDEN,
            &format!("`{method} {}` is not passed: the Ollama relay only passes POST /api/chat, GET /api/tags and POST /api/show", shown(&path)),
        ));
    }
    tracing::debug!(%group, %method, %path, "Ollama relay: passing a request");
    let forwarded = forwarded(request, &shared.upstream);
    let mut ollama = ollama.lock().await;
    match send(&mut ollama, &shared.upstream, forwarded, &stop).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, body.boxed_unsync()))
        }
        Err(e) => {
            tracing::warn!(%group, target = %shared.upstream.addr, error = %e, "Ollama relay: Ollama is not reachable");
            Ok(refusal(
                StatusCode::BAD_GATEWAY,
                &format!(
                    "the Ollama relay cannot reach Ollama at {}: {e}; start it with `ollama serve`",
                    shared.upstream.addr
                ),
            ))
        }
    }
}

/// The group of the request's `Authorization: Basic` credentials, when `verify` accepts
/// them.
fn valid_group(headers: &HeaderMap, verify: &Verifier) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = BASE64_STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (group, password) = decoded.split_once(':')?;
    verify(group, password).then(|| group.to_owned())
}

/// The request as Ollama gets it: origin-form on Ollama's path, Ollama's own `Host`, no
/// credentials and no hop-by-hop headers, the body within [`MAX_BODY_BYTES`].
fn forwarded(request: Request<Incoming>, upstream: &Upstream) -> Request<ForwardBody> {
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    // A passed path is one of three literals, so this always parses.
    parts.uri = format!("{}{path_and_query}", upstream.prefix)
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/"));
    parts.version = hyper::Version::HTTP_11;
    let chunked = parts.headers.contains_key(TRANSFER_ENCODING);
    strip_hop_by_hop(&mut parts.headers);
    if chunked {
        // hyper decoded the chunks; it frames the body for Ollama again by itself.
        parts.headers.remove(CONTENT_LENGTH);
    }
    parts.headers.remove(AUTHORIZATION);
    parts.headers.remove(EXPECT);
    parts.headers.insert(HOST, upstream.host.clone());
    Request::from_parts(parts, Limited::new(body, MAX_BODY_BYTES))
}

/// Sends `request` on this client connection's connection to Ollama, opening one when
/// there is none or Ollama closed it. A request is sent once: its body is not kept.
async fn send(
    ollama: &mut Option<SendRequest<ForwardBody>>,
    upstream: &Upstream,
    request: Request<ForwardBody>,
    stop: &CancellationToken,
) -> Result<Response<Incoming>, String> {
    let reusable = match ollama.as_mut() {
        Some(sender) if !sender.is_closed() => sender.ready().await.is_ok(),
        _ => false,
    };
    if !reusable {
        *ollama = None;
        *ollama = Some(open(upstream, stop).await?);
    }
    let sender = ollama
        .as_mut()
        .ok_or_else(|| "no connection could be opened".to_owned())?;
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

/// A new HTTP/1.1 connection to Ollama, driven by a task that ends with it (or `stop`).
async fn open(
    upstream: &Upstream,
    stop: &CancellationToken,
) -> Result<SendRequest<ForwardBody>, String> {
    let stream = TcpStream::connect(&upstream.addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            result = driver => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "Ollama relay: connection to Ollama ended");
                }
            }
        }
    });
    Ok(sender)
}

/// Removes the headers that belong to one hop (RFC 9110 section 7.6.1), those named in
/// `Connection` included; hyper frames each side's messages itself.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        CONNECTION,
        PROXY_AUTHENTICATE,
        PROXY_AUTHORIZATION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// A short JSON answer of the relay's own, as Ollama words its errors.
fn refusal(status: StatusCode, message: &str) -> Response<RelayBody> {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A path for a message: at most 200 characters, controls escaped.
fn shown(path: &str) -> String {
    let mut shown: String = path
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if path.chars().count() > 200 {
        shown.push('…');
    }
    shown
}

#[cfg(test)]
mod tests;
