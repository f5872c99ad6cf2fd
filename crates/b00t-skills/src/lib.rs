//! b00t skills: folders `skills/<name>/` holding a `SKILL.md` with YAML front matter
//! (`name`, `description`), the format of Claude's and NanoClaw's skills. A group agent
//! puts their descriptions in its prompt and answers on `b00t.<group>.<skill>`.
//!
//! Layout: `skill` (one SKILL.md: front matter, name rules), `load` (a folder of skills;
//! a bad one is a `Problem`, never a failed load), `sync` (mirroring the selected skills
//! into a group's `.skills/`), `target` (the fd-relative, symlink-proof writing side of
//! the sync), `folder` (the [`Folder`] handle that `target`, group.toml, MEMORY.md and
//! the history share: files opened relative to it, never through a symlink), `watch`
//! (notify, debounced), `error`.
//!
//! Files only: no network, no process.

mod error;
mod folder;
mod load;
mod skill;
mod sync;
mod target;
mod watch;

pub use error::{FileError, FolderError, Problem, SkillError};
pub use folder::Folder;
pub use load::{load_dir, SkillSet};
pub use skill::{parse, Skill, MAX_SKILL_BYTES, RESERVED_SKILL, SKILL_FILE};
pub use sync::{sync, Selection, SyncReport};
pub use watch::{watch, watch_filtered, DEFAULT_DEBOUNCE};
