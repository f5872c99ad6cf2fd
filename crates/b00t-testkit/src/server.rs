//! The HTTP side of the fake Ollama (served by `http.rs`'s accept loop): the
//! routes `GET /`, `GET /api/version`, `GET /api/tags` and `POST /api/chat` with
//! Ollama's status codes and error bodies.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ollama::{lock, Reply, State};
use crate::shapes;

/// Largest request body read; Ollama itself takes large prompts, tests do not.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Accepts connections until `stop` is cancelled.
pub(crate) async fn serve(listener: TcpListener, state: Arc<State>, stop: CancellationToken) {
    let handler_stop = stop.clone();
    crate::http::serve("fake Ollama", listener, stop, move |request| {
        handle(state.clone(), handler_stop.clone(), request)
    })
    .await;
}

type HttpResponse = Response<Full<Bytes>>;

async fn handle(
    state: Arc<State>,
    stop: CancellationToken,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = match (path.as_str(), &method) {
        ("/", &Method::GET | &Method::HEAD) => text(StatusCode::OK, "Ollama is running"),
        ("/api/version", &Method::GET) => {
            json(StatusCode::OK, &serde_json::json!({"version": "0.12.6"}))
        }
        ("/api/tags", &Method::GET) => json(StatusCode::OK, &shapes::tags(&lock(&state.models))),
        ("/api/chat", &Method::POST) => chat(&state, &stop, request).await,
        ("/" | "/api/version" | "/api/tags" | "/api/chat", _) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    Ok(response)
}

async fn chat(state: &State, stop: &CancellationToken, request: Request<Incoming>) -> HttpResponse {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !body.is_object() {
        return error(
            StatusCode::BAD_REQUEST,
            "json: cannot unmarshal into Go value of type api.ChatRequest",
        );
    }
    lock(&state.requests).push(body.clone());
    let model = match &body["model"] {
        Value::String(m) if !m.is_empty() => m.clone(),
        Value::Null => return error(StatusCode::BAD_REQUEST, "model is required"),
        Value::String(_) => return error(StatusCode::BAD_REQUEST, "model is required"),
        _ => return error(
            StatusCode::BAD_REQUEST,
            "json: cannot unmarshal model into Go struct field ChatRequest.model of type string",
        ),
    };
    if !served(&lock(&state.models), &model) {
        return error(
            StatusCode::NOT_FOUND,
            &format!("model \"{model}\" not found, try pulling it first"),
        );
    }
    let messages = match &body["messages"] {
        Value::Null => Vec::new(),
        Value::Array(messages) => messages.clone(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "json: cannot unmarshal messages into Go struct field ChatRequest.messages of type []api.Message",
            )
        }
    };
    let streaming = body["stream"].as_bool().unwrap_or(true);
    let prompt_chars = messages
        .iter()
        .map(|m| m["content"].as_str().map_or(0, str::len))
        .sum();
    if messages.is_empty() {
        // Ollama loads the model and answers at once.
        let done = shapes::chat_done(&model, shapes::message("", &[]), "load", 0);
        return if streaming {
            ndjson(format!("{done}\n").into_bytes())
        } else {
            json(StatusCode::OK, &done)
        };
    }
    let mut reply = lock(&state.script).pop_front().unwrap_or_else(|| {
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        Reply::Text(format!("echo: {last_user}"))
    });
    loop {
        match reply {
            Reply::Delay(wait, inner) => {
                tokio::select! {
                    _ = stop.cancelled() => return error(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down"),
                    _ = tokio::time::sleep(wait) => reply = *inner,
                }
            }
            Reply::Error(status, message) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return error(status, &message);
            }
            Reply::Text(content) => {
                return answer(&model, &content, &[], streaming, prompt_chars);
            }
            Reply::ToolCalls(calls) => {
                return answer(&model, "", &calls, streaming, prompt_chars);
            }
        }
    }
}

fn answer(
    model: &str,
    content: &str,
    calls: &[(String, Value)],
    streaming: bool,
    prompt_chars: usize,
) -> HttpResponse {
    if streaming {
        ndjson(shapes::chat_stream(model, content, calls, prompt_chars))
    } else {
        let done = shapes::chat_done(model, shapes::message(content, calls), "stop", prompt_chars);
        json(StatusCode::OK, &done)
    }
}

/// Whether `model` is served: exactly, or as `<model>:latest`.
fn served(models: &[String], model: &str) -> bool {
    models
        .iter()
        .any(|m| m == model || m.strip_suffix(":latest") == Some(model))
}

fn json(status: StatusCode, value: &Value) -> HttpResponse {
    respond(
        status,
        "application/json; charset=utf-8",
        value.to_string().into_bytes(),
    )
}

fn ndjson(body: Vec<u8>) -> HttpResponse {
    respond(StatusCode::OK, "application/x-ndjson", body)
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &shapes::error(message))
}

fn text(status: StatusCode, body: &str) -> HttpResponse {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
