//! Test helpers for b00t. [`FakeOllama`] is a real HTTP/1.1 server that speaks Ollama's
//! documented JSON (`GET /api/tags`, `POST /api/chat` streamed or not, tool calls
//! included) and answers from a script, so the group assistant can be tested, benchmarked
//! and demonstrated without a model.
//!
//! Layout: `ollama` (the handle: start, script, recorded requests), `shapes` (the JSON
//! Ollama sends), `server` (the HTTP side: routing, status codes). The `fake-ollama`
//! binary runs one by hand.

pub mod nomad;
mod ollama;
mod server;
mod shapes;
pub mod telegram;
pub mod whatsapp;

pub use ollama::{FakeOllama, Reply};
pub use shapes::DEFAULT_MODEL;
