//! The group assistant: the agent `<group>` on the bus (`b00t.<group>.chat` and one
//! address per skill synced into the group's `.skills/`), NanoClaw's and BabyBot's
//! assistant backed by a local Ollama model. It runs the same in a container or as a local
//! process and knows only the folders and URLs in its [`AssistantOptions`].
//!
//! Layout: `options` (what it is given), `agent` (the [`spec`] and the chat loop),
//! `prompt` (the system prompt: name, memories, skills), `memory` (MEMORY.md),
//! `history` (the persisted conversation), `llm` (Ollama through ollama-rs, errors that
//! say how to fix them; public: the container CI agents' `ask` uses it), `tools`
//! (install, send_message, schedule, remember), `requester` (the tools' own bus
//! connection: request and wait for the reply), `skills` (the skill list, watched),
//! `error`; `testing` (helpers of the unit tests).

mod agent;
mod error;
mod history;
mod llm;
mod memory;
mod options;
mod prompt;
mod requester;
mod skills;
#[cfg(test)]
mod testing;
mod tools;

pub use agent::{spec, KIND};
pub use error::AssistantError;
pub use history::{Turn, HISTORY_FILE};
pub use llm::Llm;
pub use memory::MEMORY_FILE;
pub use options::AssistantOptions;
pub use skills::SKILLS_DIR;
