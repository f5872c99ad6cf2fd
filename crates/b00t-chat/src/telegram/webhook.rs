//! The Telegram webhook: what Telegram calls once `setWebhook` names the bridge's public
//! URL, served on `listen` (loopback by default, published by a reverse proxy or tunnel)
//! with `webhook_server`'s limits.
//!
//! Only `POST` to the path of `webhook_url` (404 elsewhere, 405 for another method).
//! `X-Telegram-Bot-Api-Secret-Token` must equal `TELEGRAM_WEBHOOK_SECRET`, compared in
//! constant time, before anything of the body is read: 401 without it, 403 with another.
//! The body is read within 1 MiB (413) and 10 s (408) and must be an `Update` (400). The
//! update is handed to the [`Accept`] callback, which journals its task; then the answer
//! is 200. When it cannot be taken (the journal fails, or takes longer than 15 s) the
//! answer is 500 and Telegram delivers it again; a redelivery of an update taken in this
//! run is acknowledged without being handed over again ([`SeenUpdates`]), and one after
//! a restart is recognised by the journal (the task id is the update's).

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use b00t_bridges::telegram::types::Update;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Request, StatusCode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::telegram::TelegramError;
use crate::webhook_server::{self, answer_taken, plain, read_body, Answer, NotTaken, Refusals};

/// The header Telegram sends the `secret_token` in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Update ids remembered for redeliveries in one run; the oldest are forgotten past it.
pub const SEEN_UPDATES: usize = 10_000;
/// What the logs call it.
const WHAT: &str = "Telegram webhook";

/// What [`Accept`] returns.
pub type AcceptFuture = Pin<Box<dyn Future<Output = Result<(), NotTaken>> + Send>>;
/// Takes one update: journals its task (or decides it needs none) and returns; the
/// answer is worked out afterwards.
pub type Accept = Arc<dyn Fn(Update) -> AcceptFuture + Send + Sync>;

/// Where the webhook serves and what it checks. The secret is never logged.
pub struct Route {
    /// The path of `webhook_url`.
    pub path: String,
    /// `TELEGRAM_WEBHOOK_SECRET`.
    pub secret: String,
}

/// Binds the webhook's address for bridge `bridge`.
pub async fn bind(addr: SocketAddr, bridge: &str) -> Result<TcpListener, TelegramError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| TelegramError::Listen {
            addr,
            bridge: bridge.to_owned(),
            source,
        })
}

/// Serves `listener` until `shutdown`, handing each update with the right secret to
/// `accept`; returns once the connections have ended.
pub async fn run(listener: TcpListener, route: Route, accept: Accept, shutdown: CancellationToken) {
    let shared = Arc::new(Shared {
        route,
        accept,
        seen: Mutex::new(SeenUpdates::default()),
        refusals: Refusals::new(WHAT),
    });
    let answer = move |request, peer| answer(request, peer, shared.clone());
    webhook_server::run(WHAT, listener, answer, shutdown).await;
}

/// The update ids taken in this run, the most recent [`SEEN_UPDATES`].
#[derive(Default)]
pub struct SeenUpdates {
    ids: HashSet<i64>,
    order: VecDeque<i64>,
}

impl SeenUpdates {
    pub fn contains(&self, id: i64) -> bool {
        self.ids.contains(&id)
    }

    /// Remembers `id`, forgetting the oldest past [`SEEN_UPDATES`].
    pub fn insert(&mut self, id: i64) {
        if !self.ids.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN_UPDATES {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}

/// Whether `given` is `expected`, in a time that depends only on `expected`'s length.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut differ = u8::from(given.len() != expected.len());
    for (i, want) in expected.iter().enumerate() {
        let got = given.get(i).copied().unwrap_or(!*want);
        differ |= got ^ want;
    }
    std::hint::black_box(differ) == 0
}

struct Shared {
    route: Route,
    accept: Accept,
    /// Ids of the updates taken in this run: a redelivery is acknowledged without being
    /// handed over again.
    seen: Mutex<SeenUpdates>,
    refusals: Refusals,
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Answer {
    if request.uri().path() != shared.route.path {
        let why = format!("a call to `{}`", request.uri().path());
        shared.refusals.refused(peer, StatusCode::NOT_FOUND, &why);
        return plain(StatusCode::NOT_FOUND, "not the webhook");
    }
    if request.method() != Method::POST {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only POST");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let refused = match request.headers().get(SECRET_HEADER) {
        None => Some((
            StatusCode::UNAUTHORIZED,
            "no `X-Telegram-Bot-Api-Secret-Token`",
        )),
        Some(given) if !same_secret(given.as_bytes(), shared.route.secret.as_bytes()) => Some((
            StatusCode::FORBIDDEN,
            "a wrong `X-Telegram-Bot-Api-Secret-Token`",
        )),
        Some(_) => None,
    };
    if let Some((status, why)) = refused {
        shared.refusals.refused(peer, status, why);
        return plain(status, "secret token refused");
    }
    let (_, body) = match read_body(request, peer, &shared.refusals).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    // An object only: serde would read a struct from an array too.
    let update = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(object @ serde_json::Value::Object(_)) => serde_json::from_value::<Update>(object),
        Ok(_) => Err(serde::de::Error::custom("not a JSON object")),
        Err(e) => Err(e),
    };
    let update = match update {
        Ok(update) => update,
        Err(e) => {
            // It carried the secret, so it is Telegram's (or whoever holds the secret).
            tracing::warn!(%peer, error = %e, "Telegram webhook: a call with the secret is not an Update; answered 400");
            return plain(StatusCode::BAD_REQUEST, "not an Update");
        }
    };
    let id = update.update_id;
    if shared
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(id)
    {
        tracing::debug!(
            update = id,
            "Telegram webhook: a redelivery of an update already taken"
        );
        return plain(StatusCode::OK, "");
    }
    let taking = async {
        (shared.accept)(update).await?;
        shared
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
        Ok(())
    };
    answer_taken(WHAT, "Telegram", "", taking).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::webhook_server::MAX_BODY;

    const SECRET: &str = "the_webhook-secret";

    struct Served {
        url: String,
        addr: SocketAddr,
        taken: Arc<Mutex<Vec<Update>>>,
        fail: Arc<Mutex<Option<String>>>,
        stop: CancellationToken,
        done: tokio::task::JoinHandle<()>,
    }

    async fn serve() -> Served {
        let listener = bind("127.0.0.1:0".parse().unwrap(), "telegram")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let taken: Arc<Mutex<Vec<Update>>> = Arc::default();
        let fail: Arc<Mutex<Option<String>>> = Arc::default();
        let accept: Accept = {
            let (taken, fail) = (taken.clone(), fail.clone());
            Arc::new(move |update| {
                let (taken, fail) = (taken.clone(), fail.clone());
                Box::pin(async move {
                    if let Some(why) = fail.lock().unwrap().clone() {
                        return Err(NotTaken(why));
                    }
                    taken.lock().unwrap().push(update);
                    Ok(())
                })
            })
        };
        let route = Route {
            path: "/tg/hook".to_owned(),
            secret: SECRET.to_owned(),
        };
        let stop = CancellationToken::new();
        let done = tokio::spawn(run(listener, route, accept, stop.clone()));
        Served {
            url: format!("http://{addr}/tg/hook"),
            addr,
            taken,
            fail,
            stop,
            done,
        }
    }

    fn update(id: i64, text: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "update_id": id,
            "message": {
                "message_id": 7, "date": 1_700_000_000,
                "from": {"id": 5001, "is_bot": false, "first_name": "Ann"},
                "chat": {"id": 5001, "type": "private", "first_name": "Ann"},
                "text": text
            }
        }))
        .unwrap()
    }

    async fn post(url: &str, secret: Option<&str>, body: Vec<u8>) -> u16 {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send().await.unwrap().status().as_u16()
    }

    impl Served {
        fn taken_ids(&self) -> Vec<i64> {
            self.taken
                .lock()
                .unwrap()
                .iter()
                .map(|u| u.update_id)
                .collect()
        }
    }

    #[tokio::test]
    async fn an_update_with_the_secret_is_taken_once() {
        let served = serve().await;
        assert_eq!(post(&served.url, Some(SECRET), update(10, "hi")).await, 200);
        assert_eq!(served.taken_ids(), [10]);
        let taken = served.taken.lock().unwrap()[0].clone();
        assert_eq!(taken.message.unwrap().text.as_deref(), Some("hi"));
        // Redelivered: acknowledged, not handed over again.
        assert_eq!(post(&served.url, Some(SECRET), update(10, "hi")).await, 200);
        assert_eq!(served.taken_ids(), [10]);
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_or_wrong_secret_is_refused_and_nothing_taken() {
        let served = serve().await;
        assert_eq!(post(&served.url, None, update(1, "x")).await, 401);
        for wrong in [
            "the_webhook-secreT",
            "the_webhook-secret2",
            "the_webhook",
            "",
            "x",
        ] {
            assert_eq!(
                post(&served.url, Some(wrong), update(1, "x")).await,
                403,
                "{wrong}"
            );
        }
        // Another path, another method.
        let root = format!("http://{}/", served.addr);
        assert_eq!(post(&root, Some(SECRET), update(1, "x")).await, 404);
        let response = reqwest::get(&served.url).await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        assert!(served.taken_ids().is_empty());
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn the_secret_is_checked_before_the_body_is_read() {
        let served = serve().await;
        // Headers without the secret, a body never sent: refused at once.
        let mut stream = TcpStream::connect(served.addr).await.unwrap();
        stream
            .write_all(b"POST /tg/hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 12];
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_exact(&mut answer),
        )
        .await
        .expect("answered before the body")
        .unwrap();
        assert_eq!(&answer, b"HTTP/1.1 401");
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn junk_and_oversized_bodies_are_refused() {
        let served = serve().await;
        for junk in [&b"not json"[..], b"[1]", b"{\"message\": {}}"] {
            assert_eq!(post(&served.url, Some(SECRET), junk.to_vec()).await, 400);
        }
        let huge = vec![b' '; MAX_BODY + 1];
        assert_eq!(post(&served.url, Some(SECRET), huge).await, 413);
        assert!(served.taken_ids().is_empty());
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[tokio::test]
    async fn an_update_not_journaled_is_500_and_taken_when_delivered_again() {
        let served = serve().await;
        *served.fail.lock().unwrap() = Some("the journal is full".to_owned());
        assert_eq!(post(&served.url, Some(SECRET), update(3, "x")).await, 500);
        assert!(served.taken_ids().is_empty());
        *served.fail.lock().unwrap() = None;
        assert_eq!(post(&served.url, Some(SECRET), update(3, "x")).await, 200);
        assert_eq!(served.taken_ids(), [3]);
        served.stop.cancel();
        served.done.await.unwrap();
    }

    #[test]
    fn secrets_compare_whole_and_seen_updates_are_bounded() {
        assert!(same_secret(b"abc", b"abc"));
        for other in [&b"abd"[..], b"ab", b"abcd", b""] {
            assert!(!same_secret(other, b"abc"), "{other:?}");
        }
        let mut seen = SeenUpdates::default();
        for id in 0..(SEEN_UPDATES as i64 + 5) {
            seen.insert(id);
        }
        seen.insert(7);
        assert!(!seen.contains(0) && !seen.contains(4));
        assert!(seen.contains(5) && seen.contains(SEEN_UPDATES as i64 + 4));
        assert_eq!(seen.order.len(), SEEN_UPDATES);
    }
}
