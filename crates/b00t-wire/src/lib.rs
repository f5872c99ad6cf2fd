//! b00t-wire: MCP servers from the catalog written into the config files of the apps people
//! use (Claude Code, Claude Desktop, VS Code, Cursor, Windsurf, Zed, Codex). The apps are
//! data (`apps.toml`); an entry is rendered from a datum and merged into the file so that
//! everything else in it survives. No async; files are touched only through `io.rs`.
//!
//! # Layout
//! - `apps.toml`, `app.rs`: the table of apps, their files per scope and OS, detection.
//! - `server.rs`: `Server`, what is wired, from a datum or for the bus itself.
//! - `render.rs`: a server as one app's entry, secrets referenced the app's way.
//! - `node.rs`: the entry's values, into JSON CST, `serde_json` and TOML.
//! - `doc.rs`: a file as an editable document (jsonc-parser's CST, toml_edit).
//! - `edit.rs`: wire and unwire as text in, text out; an entry's `State`.
//! - `record.rs`: what b00t wrote where (`state/mcp-wired.json`).
//! - `diff.rs`: the unified diff of a dry run.
//! - `io.rs`: reading, and atomic writes with a backup.
//! - `error.rs`: `WireError`.

mod app;
mod diff;
mod doc;
mod edit;
mod error;
pub mod io;
mod node;
mod record;
mod render;
mod server;

pub use app::{app, app_names, apps, App, Format, Os, PerOs, Places, Scope, SecretStyle};
pub use diff::unified;
pub use doc::Document;
pub use edit::{unwire, wire, Ours, State, Unwired};
pub use error::WireError;
pub use node::Node;
pub use record::{Records, Wired, RECORDS_FILE};
pub use render::{render, Entry, Input, Secrets};
pub use server::{looks_secret, Part, Server, Text, Transport};
