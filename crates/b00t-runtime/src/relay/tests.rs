//! The relay against a fake Ollama (`b00t-testkit`) and against a recording upstream that
//! says what reached it: what is passed, what is refused before Ollama, credentials,
//! keep-alive, chunked bodies, streamed answers, and slow clients.

use std::collections::VecDeque;
use std::sync::Mutex as StdMutex;

use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use super::*;

const GROUP: &str = "family";
const PASSWORD: &str = "0123abcd";

/// `Authorization: Basic` for `user:password`.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A verifier that accepts [`GROUP`] with [`PASSWORD`] while `valid` holds.
fn verifier(valid: Arc<StdMutex<bool>>) -> Verifier {
    Arc::new(move |group: &str, password: &str| {
        *valid.lock().unwrap() && group == GROUP && password == PASSWORD
    })
}

/// A relay to `target` that accepts [`GROUP`] while the returned flag holds.
async fn relay_to(target: &str, stop: &CancellationToken) -> (SocketAddr, Arc<StdMutex<bool>>) {
    let valid = Arc::new(StdMutex::new(true));
    let addr = start(
        "127.0.0.1:0".parse().unwrap(),
        HttpUrl::parse(target).unwrap(),
        verifier(valid.clone()),
        stop.clone(),
    )
    .await
    .unwrap();
    (addr, valid)
}

/// One HTTP/1.1 connection to `addr`; every request sent on it uses that connection.
async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(driver);
    sender
}

/// A request with `authorization` (if any) and `body`.
fn request(
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: &str,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, "host.docker.internal");
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

/// Sends `request` and reads the whole answer.
async fn call(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, String) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// What reached the recording upstream.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// An upstream that records every request and connection. `/api/chat` is answered with
/// two NDJSON lines, the second only once `release` is notified; everything else with
/// `{"ok": true}`.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<StdMutex<Vec<Seen>>>,
    connections: Arc<StdMutex<usize>>,
    release: Arc<Notify>,
}

impl Recorder {
    async fn start(stop: &CancellationToken) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let recorder = Recorder {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            connections: Arc::default(),
            release: Arc::new(Notify::new()),
        };
        let (seen, connections, release) = (
            recorder.seen.clone(),
            recorder.connections.clone(),
            recorder.release.clone(),
        );
        let stop = stop.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => accepted.unwrap(),
                };
                *connections.lock().unwrap() += 1;
                let (seen, release) = (seen.clone(), release.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (seen, release) = (seen.clone(), release.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await?.to_bytes().to_vec();
                        let chat = parts.uri.path().ends_with("/api/chat");
                        seen.lock().unwrap().push(Seen {
                            method: parts.method,
                            path: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        });
                        let body: UnsyncBoxBody<Bytes, hyper::Error> = if chat {
                            streamed(release).boxed_unsync()
                        } else {
                            Full::new(Bytes::from_static(b"{\"ok\":true}"))
                                .map_err(|never| match never {})
                                .boxed_unsync()
                        };
                        Ok::<_, hyper::Error>(Response::new(body))
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        recorder
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }
}

/// Two NDJSON lines, the second sent once `release` is notified.
fn streamed(
    release: Arc<Notify>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, hyper::Error>>> {
    let lines: VecDeque<&'static str> = VecDeque::from([
        "{\"message\":{\"content\":\"one\"},\"done\":false}\n",
        "{\"message\":{\"content\":\"two\"},\"done\":true}\n",
    ]);
    StreamBody::new(futures_util::stream::unfold(
        (lines, release, true),
        |(mut lines, release, first)| async move {
            let line = lines.pop_front()?;
            if !first {
                release.notified().await;
            }
            Some((
                Ok(Frame::data(Bytes::from_static(line.as_bytes()))),
                (lines, release, false),
            ))
        },
    ))
}

#[tokio::test]
async fn a_chat_streams_through_from_the_fake_ollama() {
    let stop = CancellationToken::new();
    let fake = b00t_testkit::FakeOllama::start([b00t_testkit::DEFAULT_MODEL]).await;
    let (addr, _) = relay_to(&fake.url(), &stop).await;
    let auth = basic(GROUP, PASSWORD);
    let mut client = connect(addr).await;

    let chat = r#"{"model":"llama3.2","messages":[{"role":"user","content":"hi there"}]}"#;
    let (status, headers, body) = call(
        &mut client,
        request(Method::POST, "/api/chat", Some(&auth), chat),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 1, "a stream of several lines: {body}");
    assert_eq!(lines.last().unwrap()["done"], true);
    let text: String = lines
        .iter()
        .filter_map(|l| l["message"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hi there");
    assert_eq!(fake.requests().len(), 1);

    let (status, _, body) = call(
        &mut client,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(b00t_testkit::DEFAULT_MODEL), "{body}");
    // The fake has no /api/show: its own 404 shows that the request reached it.
    let (status, _, body) = call(
        &mut client,
        request(
            Method::POST,
            "/api/show",
            Some(&auth),
            r#"{"model":"llama3.2"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the relay stops listening when stopped");
}

#[tokio::test]
async fn what_an_agent_does_not_need_is_refused_before_ollama() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&format!("{}/ollama", upstream.url()), &stop).await;
    let auth = basic(GROUP, PASSWORD);
    // All on one connection: a refusal keeps it open.
    let mut client = connect(addr).await;
    for (method, path) in [
        (Method::DELETE, "/api/delete"),
        (Method::POST, "/api/delete"),
        (Method::POST, "/api/pull"),
        (Method::POST, "/api/push"),
        (Method::POST, "/api/create"),
        (Method::POST, "/api/copy"),
        (Method::POST, "/api/generate"),
        (Method::POST, "/api/embed"),
        (Method::GET, "/api/ps"),
        (Method::GET, "/api/version"),
        (Method::GET, "/"),
        (Method::GET, "/api/chat"),
        (Method::POST, "/api/tags"),
        (Method::DELETE, "/api/show"),
        (Method::POST, "/api/chat/"),
        (Method::POST, "//api/chat"),
        (Method::POST, "/api/%63hat"),
        (Method::POST, "/api/chat/../delete"),
        (Method::POST, "/API/CHAT"),
    ] {
        let (status, headers, body) = call(
            &mut client,
            request(method.clone(), path, Some(&auth), "{}"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(headers[CONTENT_TYPE], "application/json; charset=utf-8");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(&format!("`{method} {path}`")), "{error}");
        assert!(
            error.contains("only passes POST /api/chat, GET /api/tags and POST /api/show"),
            "{error}"
        );
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    assert_eq!(*upstream.connections.lock().unwrap(), 0);

    // What is passed arrives under the URL's path, with Ollama's own Host and no
    // credentials.
    let (status, _, body) = call(
        &mut client,
        request(Method::GET, "/api/tags?x=1", Some(&auth), ""),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"ok\":true}"));
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (&seen[0].method, seen[0].path.as_str()),
        (&Method::GET, "/ollama/api/tags?x=1")
    );
    assert_eq!(
        seen[0].headers[HOST],
        format!("127.0.0.1:{}", upstream.addr.port())
    );
    assert!(!seen[0].headers.contains_key(AUTHORIZATION));
    stop.cancel();
}

#[tokio::test]
async fn requests_without_valid_credentials_get_401() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, valid) = relay_to(&upstream.url(), &stop).await;
    let mut client = connect(addr).await;
    let no_colon = format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{GROUP}{PASSWORD}"))
    );
    for authorization in [
        None,
        Some(basic(GROUP, "wrong")),
        Some(basic("main", PASSWORD)),
        Some(basic("", "")),
        Some(format!("Bearer {PASSWORD}")),
        Some("Basic !!!not base64".to_owned()),
        Some(no_colon),
    ] {
        for path in ["/api/chat", "/api/delete"] {
            let (status, headers, body) = call(
                &mut client,
                request(Method::POST, path, authorization.as_deref(), "{}"),
            )
            .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{authorization:?} {path}: {body}"
            );
            assert_eq!(
                headers[WWW_AUTHENTICATE],
                "Basic realm=\"b00t Ollama relay\""
            );
            let error: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(
                error["error"].as_str().unwrap().contains("credentials"),
                "{body}"
            );
        }
    }
    let auth = basic(GROUP, PASSWORD);
    let (status, _, _) = call(
        &mut client,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The group is removed while the relay runs: its next request is refused.
    *valid.lock().unwrap() = false;
    let (status, _, _) = call(
        &mut client,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        upstream.seen().len(),
        1,
        "only the valid request reached Ollama"
    );
    stop.cancel();
}

#[tokio::test]
async fn two_requests_on_one_kept_alive_connection_both_pass() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&upstream.url(), &stop).await;
    let auth = basic(GROUP, PASSWORD);
    let mut client = connect(addr).await;
    let (status, _, _) = call(
        &mut client,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let show = r#"{"model":"llama3.2"}"#;
    let (status, _, _) = call(
        &mut client,
        request(Method::POST, "/api/show", Some(&auth), show),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].body, show.as_bytes());
    assert_eq!(
        *upstream.connections.lock().unwrap(),
        1,
        "the relay kept one connection to Ollama for the client's one"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_chunked_body_is_passed_whole() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&upstream.url(), &stop).await;
    upstream.release.notify_one();
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/chat HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        basic(GROUP, PASSWORD)
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(b"9\r\n{\"model\":\r\na\r\n\"llama3.2\"\r\n1\r\n}\r\n0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("\"two\""), "{answer}");
    let seen = upstream.seen();
    assert_eq!(seen[0].body, br#"{"model":"llama3.2"}"#);
    stop.cancel();
}

#[tokio::test]
async fn a_streamed_answer_is_passed_on_as_it_comes() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&upstream.url(), &stop).await;
    let mut client = connect(addr).await;
    let auth = basic(GROUP, PASSWORD);
    client.ready().await.unwrap();
    let response = client
        .send_request(request(Method::POST, "/api/chat", Some(&auth), "{}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    // Ollama has not sent its second line yet, and the first is here.
    assert!(
        first.starts_with(b"{\"message\":{\"content\":\"one\"}"),
        "{first:?}"
    );
    upstream.release.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&rest).contains("\"two\""),
        "{rest:?}"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_slow_client_is_closed_after_the_header_timeout_and_wedges_nobody() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&upstream.url(), &stop).await;
    let auth = basic(GROUP, PASSWORD);
    let began = tokio::time::Instant::now();
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST /api/chat HTTP/1.1\r\nHost: h\r\nX-Never: ends")
        .await
        .unwrap();

    // Another client is served while the slow one holds its connection open.
    let mut client = connect(addr).await;
    let (status, _, _) = call(
        &mut client,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(HEADER_TIMEOUT * 2, async {
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the slow client was not closed");
    assert!(
        began.elapsed() >= HEADER_TIMEOUT,
        "closed after {:?}",
        began.elapsed()
    );

    let mut late = connect(addr).await;
    let (status, _, _) = call(
        &mut late,
        request(Method::GET, "/api/tags", Some(&auth), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(upstream.seen().iter().all(|s| s.path == "/api/tags"));
    stop.cancel();
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let stop = CancellationToken::new();
    let upstream = Recorder::start(&stop).await;
    let (addr, _) = relay_to(&upstream.url(), &stop).await;
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /api/tags HTTP/1.1\r\nHost: h\r\nAuthorization: {}\r\nX-Big: {}\r\n\r\n",
        basic(GROUP, PASSWORD),
        "a".repeat(MAX_HEADER_BYTES)
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(upstream.seen().is_empty());
    stop.cancel();
}

#[test]
fn urls() {
    let u = HttpUrl::parse("http://localhost:11434").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.path.as_str()),
        ("localhost", 11434, "")
    );
    assert!(u.is_loopback());
    assert_eq!(
        u.with_authority("host.docker.internal", 4000),
        "http://host.docker.internal:4000"
    );
    let u = HttpUrl::parse("http://10.0.0.5/ollama/").unwrap();
    assert_eq!((u.port, u.path.as_str()), (80, "/ollama"));
    assert!(!u.is_loopback());
    assert!(HttpUrl::parse("http://127.0.0.1:1").unwrap().is_loopback());
    assert!(HttpUrl::parse("http://[::1]:11434").unwrap().is_loopback());
    for bad in [
        "localhost:11434",
        "ftp://x",
        "http://:80",
        "http://h:0",
        "http://h:x",
        "http://u:p@h:1",
    ] {
        assert!(HttpUrl::parse(bad).is_err(), "{bad}");
    }
}
