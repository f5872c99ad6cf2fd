//! b00t groups: `<home>/groups/<name>/`, one folder per group agent (`b00t.<name>.*`)
//! with its `MEMORY.md`, conversation history, synced `.skills/` and optional
//! `group.toml`; `groups/global/` is shared, and `main` is the privileged group.
//!
//! Layout: `name` (the name rules: the agent grammar, reserved names, nothing path-like),
//! `config` (group.toml), `groups` (list, get, add, remove), `sync` (skills into every
//! group, once and live), `error`.
//!
//! Files only: this crate never reads or writes a group's history (the assistant owns it)
//! and never follows a symlink where a group folder or its `group.toml` should be.

mod config;
mod error;
mod groups;
mod name;
mod sync;

pub use b00t_skills::{Problem, Selection, SyncReport};
pub use config::{GroupConfig, CONFIG_FILE};
pub use error::GroupError;
pub use groups::{Group, GroupList, Groups, MEMORY_FILE, SKILLS_DIR};
pub use name::{validate_name, GLOBAL, MAIN};
pub use sync::{spawn_skill_sync, sync_group, sync_skills, LIVE_DEBOUNCE};
