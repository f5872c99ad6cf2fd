//! The group assistant end to end: an embedded broker, the fake Ollama, real group
//! folders in temp dirs, the agent run by the real host, and small fake agents
//! (installer, scheduler) where a tool needs someone to answer.

mod failures;
mod history;
mod prompt;
mod support;
mod tools;
