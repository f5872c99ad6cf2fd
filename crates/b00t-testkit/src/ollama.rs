//! [`FakeOllama`]: a scripted Ollama on an ephemeral port. Tests push the replies the
//! "model" gives ([`Reply`]), read back every `/api/chat` body it received, and drop it
//! (or cancel its token) to stop it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the fake model answers to the next `/api/chat` request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// An assistant message with this content.
    Text(String),
    /// An assistant message asking for these tools: `(name, arguments)`.
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error with status `u16` and Ollama's body `{"error": message}`.
    Error(u16, String),
    /// Waits this long, then answers with the inner reply: a slow model, or one that
    /// hangs when the wait is longer than the client's timeout.
    Delay(Duration, Box<Reply>),
}

/// A running fake Ollama. Stops when dropped or when its shutdown token is cancelled.
pub struct FakeOllama {
    addr: SocketAddr,
    state: Arc<State>,
    /// Stops the accept loop and every connection; cancelled by `Drop` and `stop`.
    stop: CancellationToken,
}

/// What the server and the handle share.
pub(crate) struct State {
    /// Names listed by `/api/tags` and accepted by `/api/chat`.
    pub(crate) models: Mutex<Vec<String>>,
    /// Replies still to give, first first; empty means "echo".
    pub(crate) script: Mutex<VecDeque<Reply>>,
    /// Every parsed `/api/chat` body, in arrival order.
    pub(crate) requests: Mutex<Vec<Value>>,
}

impl std::fmt::Debug for FakeOllama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOllama")
            .field("addr", &self.addr)
            .finish()
    }
}

impl FakeOllama {
    /// Starts a fake on `127.0.0.1:<ephemeral>` serving `models` (names such as
    /// `llama3.2:latest`; a request for `llama3.2` matches `llama3.2:latest`).
    ///
    /// # Panics
    /// When no loopback port can be bound: a test environment without networking.
    pub async fn start<I, S>(models: I) -> FakeOllama
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let models = models.into_iter().map(Into::into).collect();
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        match FakeOllama::bind(addr, models, &CancellationToken::new()).await {
            Ok(fake) => fake,
            Err(e) => panic!("cannot bind a fake Ollama on `127.0.0.1:0`: {e}"),
        }
    }

    /// Starts a fake on `addr` that also stops when `shutdown` is cancelled.
    pub async fn bind(
        addr: SocketAddr,
        models: Vec<String>,
        shutdown: &CancellationToken,
    ) -> std::io::Result<FakeOllama> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            models: Mutex::new(models),
            script: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        });
        let stop = shutdown.child_token();
        tokio::spawn(crate::server::serve(listener, state.clone(), stop.clone()));
        Ok(FakeOllama { addr, state, stop })
    }

    /// `http://127.0.0.1:<port>`, what `OLLAMA_BASE_URL` would hold.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues the reply to a coming `/api/chat` request.
    pub fn push(&self, reply: Reply) {
        lock(&self.state.script).push_back(reply);
    }

    /// How many scripted replies are still queued.
    pub fn pending(&self) -> usize {
        lock(&self.state.script).len()
    }

    /// Every `/api/chat` body received so far (valid JSON only), in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state.requests).clone()
    }

    /// Replaces the served models (a model "pulled" or "removed" while running).
    pub fn set_models(&self, models: Vec<String>) {
        *lock(&self.state.models) = models;
    }

    /// Stops the server now; open connections are closed.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for FakeOllama {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Locks, ignoring poisoning: the data stays usable after a panicking test thread.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
