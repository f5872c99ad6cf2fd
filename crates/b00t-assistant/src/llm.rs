//! The model: Ollama's `/api/chat` through ollama-rs, one call at a time, each bounded
//! by the Ollama timeout. Every way it can fail becomes a [`Failure`] that says what to
//! do: start Ollama, pull the model, or wait less.

use std::time::Duration;

use b00t_agents::Failure;
use b00t_proto::ErrorCode;
use ollama_rs::error::OllamaError;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::tools::ToolInfo;
use ollama_rs::Ollama;

use crate::AssistantError;

/// A client of one Ollama for one model.
pub(crate) struct Llm {
    ollama: Ollama,
    /// The URL as configured, for messages.
    url: String,
    model: String,
    timeout: Duration,
}

impl Llm {
    /// A client of the Ollama at `url` (http only), answering with `model`.
    pub(crate) fn new(url: &str, model: &str, timeout: Duration) -> Result<Llm, AssistantError> {
        let bad = |reason: String| AssistantError::OllamaUrl {
            url: url.to_owned(),
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
        let client = reqwest::Client::builder()
            // Ollama is a local service: a proxy from the environment would only get in
            // the way (and a container's proxy cannot reach the host).
            .no_proxy()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| AssistantError::HttpClient {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        let ollama = Ollama::builder()
            .url(parsed.url().clone())
            .reqwest_client(client)
            .build();
        Ok(Llm {
            ollama,
            url: trimmed.trim_end_matches('/').to_owned(),
            model: model.trim().to_owned(),
            timeout,
        })
    }

    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    /// One `/api/chat` call (not streamed); the assistant's message.
    pub(crate) async fn chat(
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
