//! The system prompt, built afresh for every task from what is on disk now: who the
//! assistant is, the group's MEMORY.md (and the shared one), the skills with their
//! descriptions, and for a task on a skill's own address that skill's whole SKILL.md.

use std::fmt::Write;
use std::path::Path;

use b00t_proto::Name;
use b00t_skills::Skill;

use crate::memory;
use crate::tools::DATUM_TYPES;

/// What a prompt is made of.
pub(crate) struct PromptParts<'a> {
    pub(crate) assistant_name: &'a str,
    pub(crate) group: &'a Name,
    pub(crate) privileged: bool,
    pub(crate) group_dir: &'a Path,
    pub(crate) global_dir: Option<&'a Path>,
    /// Every skill of the group.
    pub(crate) skills: &'a [Skill],
    /// The skill whose address the task came on, if not `chat`.
    pub(crate) current: Option<&'a Skill>,
}

/// The system prompt.
pub(crate) fn system_prompt(parts: &PromptParts<'_>) -> String {
    let group = parts.group;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "You are {}, the assistant of the group `{group}` on b00t, a message bus where agents send each other tasks. Answer in plain text, briefly and helpfully.",
        parts.assistant_name
    );
    if parts.privileged {
        let _ = writeln!(
            out,
            "This is the main group: its operator administers b00t, and you may schedule tasks for other groups."
        );
    }
    let _ = writeln!(
        out,
        "\n## Tools\n\
         - install: ask the installer for a datum named `<name>.<type>` (type one of {}). The operator's policy decides; if it refuses, say so and do not retry.\n\
         - send_message: send a text to another agent's address `b00t.<agent>.<skill>` and get its answer.\n\
         - schedule: run a task for this group later (`cron`, `every`, `at` or `in`).\n\
         - remember: add a note to this group's memory when the user asks you to remember something or tells you a lasting fact.",
        DATUM_TYPES.join(", ")
    );
    let _ = writeln!(out, "\n## Memory of this group ({})", memory::MEMORY_FILE);
    let _ = writeln!(
        out,
        "{}",
        memory::read(parts.group_dir).unwrap_or_else(|| "(empty)".to_owned())
    );
    if let Some(global) = parts.global_dir {
        let _ = writeln!(
            out,
            "\n## Memory shared by all groups (global/{})",
            memory::MEMORY_FILE
        );
        let _ = writeln!(
            out,
            "{}",
            memory::read(global).unwrap_or_else(|| "(empty)".to_owned())
        );
    }
    let _ = writeln!(out, "\n## Skills");
    if parts.skills.is_empty() {
        let _ = writeln!(out, "(none)");
    } else {
        let _ = writeln!(
            out,
            "Each skill is also an address of yours, `b00t.{group}.<skill>`:"
        );
        for skill in parts.skills {
            let description = skill
                .description
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(out, "- {}: {description}", skill.name);
        }
    }
    if let Some(skill) = parts.current {
        let _ = writeln!(
            out,
            "\n## The skill of this task: {}\nThis task came on `b00t.{group}.{}`; follow this skill:\n\n{}",
            skill.name,
            skill.name,
            skill.text.trim_end()
        );
    }
    out
}
