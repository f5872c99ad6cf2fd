//! The chat bridges' IO side: each bridge is a bus client with its own presence card
//! (`bridge-<name>`, kind `bridge`) that turns a bound chat's messages into tasks on
//! `b00t.<group>.chat` and sends the answers back to the chat. The pure pieces (splitting,
//! formatting, mentions, the platform's JSON) are `b00t-bridges`'; this crate does the
//! HTTP, the bus and the journal.
//!
//! Layout: `run` (start one bridge, or every enabled one, with its card, on the platform
//! its kind names), `engine/` (what every platform shares: bindings and senders checked,
//! commands answered, the task journaled with the platform's cursor, the conversation
//! that asks the group with typing shown and sends the answer back in parts with
//! retries), `bindings` (which chat reaches which group, read from and edited in
//! b00t.toml), `commands` (`/help`, `/agents`, `/ask`, `/status`), `origin` (the task body
//! a chat message becomes, and where its answer goes), `retry` (when a failed reply is
//! sent again), `http` (what the platform clients share: an answer read within a limit,
//! a failure said without its URL), `webhook_server` (the HTTP server both webhooks serve
//! with, and its limits), `telegram/` (`api.rs`, the Bot API client; `bridge.rs`, the platform:
//! polling or the webhook, sending, typing; `webhook.rs`, the server Telegram calls in
//! webhook mode; `settings.rs`, its URL and secret), `whatsapp/` (`api.rs`, the Graph API client; `webhook.rs`,
//! the server Meta calls; `settings.rs`, its secrets), `matrix/` (`api.rs`, the
//! client-server API client), `error`. Only a platform's module
//! knows its platform.

pub mod bindings;
pub mod commands;
pub mod engine;
mod error;
mod http;
pub mod matrix;
pub mod origin;
pub mod retry;
mod run;
pub mod telegram;
pub mod webhook_server;
pub mod whatsapp;

pub use error::ChatError;
pub use run::{agent_name, enabled, run_bridge, start_enabled, BridgeRun};
