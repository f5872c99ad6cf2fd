//! The model: Ollama's `/api/chat` through ollama-rs, one call at a time, each bounded
//! by the Ollama timeout. Every way it can fail becomes a [`Failure`] that says what to
//! do: start Ollama, pull the model, or wait less. A URL with credentials
//! (`http://<group>:<password>@…`, what `b00t up` gives a container for its Ollama relay)
//! sends them as `Authorization: Basic` on every request and is never shown with them.
//! Public so that the runtime's container CI agents ask the same Ollama the same way.

use std::time::Duration;

use b00t_agents::Failure;
use b00t_proto::ErrorCode;
use base64::prelude::{Engine as _, BASE64_STANDARD};
use ollama_rs::error::OllamaError;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::tools::ToolInfo;
use ollama_rs::Ollama;

use crate::AssistantError;

/// A client of one Ollama for one model.
pub struct Llm {
    ollama: Ollama,
    /// The URL as configured, for messages.
    url: String,
    model: String,
    timeout: Duration,
}

impl Llm {
    /// A client of the Ollama at `url` (http only), answering with `model`.
    pub fn new(url: &str, model: &str, timeout: Duration) -> Result<Llm, AssistantError> {
        let shown = without_credentials(url.trim());
        let bad = |reason: String| AssistantError::OllamaUrl {
            url: shown.clone(),
            reason,
        };
        let trimmed = url.trim();
        // ollama-rs appends `api/chat` to the URL as written: the base must end with `/`.
        let base = if trimmed.ends_with('/') {
            trimmed.to_owned()
        } else {
            format!("{trimmed}/")
        };
        let parsed = Ollama::try_new(base.as_str()).map_err(|e| bad(e.to_string()))?;
        match parsed.url().scheme() {
            "http" => {}
            "https" => {
                return Err(bad(
                    "https is not supported (b00t talks to a local Ollama over plain http)".into(),
                ))
            }
            other => return Err(bad(format!("the scheme `{other}` is not http"))),
        }
        if parsed.url().host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no host".into()));
        }
        if model.trim().is_empty() {
            return Err(AssistantError::NoModel {
                group: String::new(),
            });
        }
        let mut base = parsed.url().clone();
        let mut headers = reqwest::header::HeaderMap::new();
        if !base.username().is_empty() || base.password().is_some() {
            let user = percent_decoded(base.username());
            let password = percent_decoded(base.password().unwrap_or(""));
            let encoded = BASE64_STANDARD.encode(format!("{user}:{password}"));
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| bad("its credentials cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
            // Only the header carries them: the URL is what messages show.
            let _ = base.set_username("");
            let _ = base.set_password(None);
        }
        let client = reqwest::Client::builder()
            // Ollama is a local service: a proxy from the environment would only get in
            // the way (and a container's proxy cannot reach the host).
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // The relay closes a connection idle for 10 s; one given up sooner is never
            // reused at the moment the relay closes it.
            .pool_idle_timeout(Duration::from_secs(5))
            .default_headers(headers)
            .build()
            .map_err(|e| AssistantError::HttpClient {
                url: shown.clone(),
                message: e.to_string(),
            })?;
        let url = base.as_str().trim_end_matches('/').to_owned();
        let ollama = Ollama::builder().url(base).reqwest_client(client).build();
        Ok(Llm {
            ollama,
            url,
            model: model.trim().to_owned(),
            timeout,
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// One `/api/chat` call (not streamed); the assistant's message.
    pub async fn chat(
        &self,
        messages: Vec<ChatMessage>,
        tools: Vec<ToolInfo>,
    ) -> Result<ChatMessage, Failure> {
        let request = ChatMessageRequest::new(self.model.clone(), messages).tools(tools);
        match tokio::time::timeout(self.timeout, self.ollama.send_chat_messages(request)).await {
            Err(_) => Err(self.timed_out()),
            Ok(Ok(response)) => Ok(response.message),
            Ok(Err(e)) => Err(self.failure(e)),
        }
    }

    fn timed_out(&self) -> Failure {
        Failure::new(
            ErrorCode::Timeout,
            format!(
                "Ollama at {} did not answer within {} s with model `{}`: the model may still be loading or be too large for this machine; try again, pick a smaller OLLAMA_MODEL, or raise `[assistant] ollama_timeout_ms`",
                self.url,
                self.timeout.as_secs_f64(),
                self.model
            ),
        )
    }

    /// What an ollama-rs error means for the user.
    fn failure(&self, error: OllamaError) -> Failure {
        let url = &self.url;
        let model = &self.model;
        match error {
            OllamaError::ReqwestError(e) if e.is_timeout() => self.timed_out(),
            OllamaError::ReqwestError(e) if e.is_connect() => Failure::new(
                ErrorCode::Failed,
                format!("Ollama is not reachable at {url}: start it with `ollama serve`, or set OLLAMA_BASE_URL"),
            )
            .with_detail(serde_json::json!({"cause": chain(&e)})),
            OllamaError::ReqwestError(e) => Failure::new(
                ErrorCode::Failed,
                format!("the request to Ollama at {url} failed: {}; check that OLLAMA_BASE_URL points at Ollama", chain(&e)),
            ),
            OllamaError::Other(body) => {
                // ollama-rs hands over the body of a non-2xx answer: `{"error": "..."}`.
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| body.trim().chars().take(500).collect());
                if message.contains("not found") && message.contains("model") {
                    Failure::new(
                        ErrorCode::Failed,
                        format!("model `{model}` is not available in Ollama at {url}: run `ollama pull {model}`, or set OLLAMA_MODEL"),
                    )
                    .with_detail(serde_json::json!({"ollama": message}))
                } else {
                    Failure::new(
                        ErrorCode::Failed,
                        format!("Ollama at {url} answered an error with model `{model}`: {message}"),
                    )
                }
            }
            OllamaError::JsonError(e) => Failure::new(
                ErrorCode::Failed,
                format!("Ollama at {url} sent an answer that is not a chat reply ({e}): is OLLAMA_BASE_URL really Ollama?"),
            ),
            other => Failure::new(
                ErrorCode::Failed,
                format!("Ollama at {url} failed: {}", chain(&other)),
            ),
        }
    }
}

/// `url` without the `user:password@` of its authority, for messages and logs.
pub(crate) fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `%XX` escapes of a URL's user or password decoded (as the URL parser leaves them).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// An error and its causes, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let ok = Llm::new("http://localhost:11434", "llama3.2", Duration::from_secs(1)).unwrap();
        assert_eq!(ok.ollama.url_str(), "http://localhost:11434/");
        assert_eq!(ok.url, "http://localhost:11434");
        let path = Llm::new("http://h:1/ollama", "m", Duration::from_secs(1)).unwrap();
        assert_eq!(path.ollama.url_str(), "http://h:1/ollama/");
        for (url, needle) in [
            ("localhost:11434", "scheme `localhost`"),
            ("https://ollama.example", "https is not supported"),
            ("not a url", "relative URL without a base"),
        ] {
            let e = Llm::new(url, "m", Duration::from_secs(1))
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(needle), "{url}: {e}");
            assert!(e.contains("OLLAMA_BASE_URL"), "{e}");
        }
        assert!(matches!(
            Llm::new("http://h:1", " ", Duration::from_secs(1)),
            Err(AssistantError::NoModel { .. })
        ));
    }
}

#[cfg(test)]
mod credential_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// Answers one chat request with "hi" and hands back its line and headers.
    async fn one_request_server() -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before its headers ended");
                seen.extend_from_slice(&buf[..n]);
                if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at;
                }
            };
            let head = String::from_utf8_lossy(&seen[..head_end]).into_owned();
            let body = r#"{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"hi"},"done":true}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            head
        });
        (format!("127.0.0.1:{}", addr.port()), task)
    }

    #[tokio::test]
    async fn credentials_in_the_url_are_sent_as_basic_auth_and_never_shown() {
        let (addr, server) = one_request_server().await;
        let llm = Llm::new(
            &format!("http://family:s3cret@{addr}"),
            "m",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(llm.url, format!("http://{addr}"));
        assert!(!llm.ollama.url_str().contains("s3cret"));
        let reply = llm
            .chat(vec![ChatMessage::user("hello".into())], Vec::new())
            .await;
        assert_eq!(reply.unwrap().content, "hi");
        let head = server.await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /api/chat http/1.1"), "{head}");
        let expected = format!(
            "authorization: basic {}",
            BASE64_STANDARD.encode("family:s3cret").to_ascii_lowercase()
        );
        assert!(head.contains(&expected), "{head}");
    }

    #[tokio::test]
    async fn a_url_without_credentials_sends_none() {
        let (addr, server) = one_request_server().await;
        let llm = Llm::new(&format!("http://{addr}/"), "m", Duration::from_secs(5)).unwrap();
        let reply = llm
            .chat(vec![ChatMessage::user("hello".into())], Vec::new())
            .await;
        assert_eq!(reply.unwrap().content, "hi");
        let head = server.await.unwrap().to_ascii_lowercase();
        assert!(!head.contains("authorization"), "{head}");
    }

    #[test]
    fn messages_never_show_credentials() {
        for (url, shown) in [
            (
                "http://g:pw@host.docker.internal:4000",
                "http://host.docker.internal:4000",
            ),
            ("http://g:pw@h:1/ollama?x=@y", "http://h:1/ollama?x=@y"),
            ("http://h:1/a@b", "http://h:1/a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(without_credentials(url), shown, "{url}");
        }
        let e = Llm::new("ftp://g:pw@h:1", "m", Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
        assert_eq!(percent_decoded("a%40b%3Ac%zz"), "a@b:c%zz");
    }
}
