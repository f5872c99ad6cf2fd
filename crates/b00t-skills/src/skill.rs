//! One skill: `skills/<name>/SKILL.md`, YAML front matter between `---` lines (`name`,
//! `description`, and any other keys, kept) followed by a markdown body. The format of
//! Claude's and NanoClaw's skills.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use b00t_proto::Name;
use serde_json::Value;

use crate::error::{FileError, SkillError};

/// The file every skill folder holds.
pub const SKILL_FILE: &str = "SKILL.md";

/// The skill name a group agent keeps for itself (`b00t.<group>.chat`).
pub const RESERVED_SKILL: &str = "chat";

/// Largest SKILL.md read; a group agent puts the whole file in its prompt.
pub const MAX_SKILL_BYTES: u64 = 256 * 1024;

/// A loaded, valid skill.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    /// From the front matter; equal to the folder's name, and never `chat`.
    pub name: Name,
    /// From the front matter: when the skill applies (one paragraph, often long).
    pub description: String,
    /// The skill folder, `…/skills/<name>`.
    pub dir: PathBuf,
    /// `…/skills/<name>/SKILL.md`.
    pub file: PathBuf,
    /// The whole SKILL.md.
    pub text: String,
    /// What follows the front matter's closing `---` line.
    pub body: String,
    /// The other front-matter keys (`allowed-tools`, `license`, …), as JSON.
    pub extra: BTreeMap<String, Value>,
}

/// Parses the SKILL.md at `file` (already read as `text`). The skill folder is the file's
/// parent, and the front matter's `name` must equal that folder's name.
pub fn parse(file: &Path, text: &str) -> Result<Skill, SkillError> {
    let fail = |error| SkillError::file(file, error);
    let (yaml, body) = split_front_matter(text).map_err(fail)?;
    let front: Value = serde_saphyr::from_str(yaml).map_err(|e| {
        // The YAML starts on the file's line 2: report lines of the file.
        // The messages for people, not the ones for developers (which name serde options).
        let options = serde_saphyr::render_options! {
            formatter: &serde_saphyr::UserMessageFormatter,
            snippets: serde_saphyr::SnippetMode::Off,
            line_offset: 1,
        };
        fail(FileError::Yaml {
            message: e.render_with_options(options),
        })
    })?;
    let mut map = match front {
        Value::Object(map) => map,
        other => {
            return Err(fail(FileError::NotAMapping {
                found: kind(&other),
            }))
        }
    };
    let name = take_string(&mut map, "name").map_err(fail)?;
    let description = take_string(&mut map, "description").map_err(fail)?;
    let name = Name::parse(&name).map_err(|e| {
        fail(FileError::InvalidName {
            name: name.clone(),
            reason: e.to_string(),
        })
    })?;
    let dir = file.parent().unwrap_or(Path::new("")).to_owned();
    let folder = dir
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if folder != name.as_str() {
        return Err(fail(FileError::NameMismatch {
            name: name.to_string(),
            folder,
        }));
    }
    if name.as_str() == RESERVED_SKILL {
        return Err(fail(FileError::Reserved));
    }
    Ok(Skill {
        name,
        description,
        dir,
        file: file.to_owned(),
        text: text.to_owned(),
        body: body.to_owned(),
        extra: map.into_iter().collect(),
    })
}

/// Splits `text` into the YAML between the opening and closing `---` lines and the body
/// after them. A leading byte order mark and `\r\n` line ends are accepted.
fn split_front_matter(text: &str) -> Result<(&str, &str), FileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(FileError::NoFrontMatter);
    }
    let start = first.len();
    let mut offset = start;
    for line in lines {
        let end = offset + line.len();
        if line.trim_end() == "---" {
            return Ok((&text[start..offset], &text[end..]));
        }
        offset = end;
    }
    Err(FileError::UnclosedFrontMatter)
}

/// Removes `field` from the front matter; it must be a non-empty string.
fn take_string(
    map: &mut serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<String, FileError> {
    match map.remove(field) {
        None | Some(Value::Null) => Err(FileError::MissingField { field }),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(other) => Err(FileError::WrongType {
            field,
            found: kind(&other),
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(s) if s.trim().is_empty() => "an empty string",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(folder: &str) -> PathBuf {
        Path::new("/home/skills").join(folder).join(SKILL_FILE)
    }

    /// Parses `text` as the SKILL.md of folder `folder` and renders the outcome.
    fn check(folder: &str, text: &str, expected: &str) {
        let got = match parse(&at(folder), text) {
            Ok(skill) => format!(
                "ok {} | {} | {:?} | {}",
                skill.name,
                skill.description,
                skill.body,
                serde_json::to_string(&skill.extra).unwrap()
            ),
            Err(SkillError::File { error, .. }) => format!("err {error}"),
            Err(other) => format!("other {other}"),
        };
        assert_eq!(got, expected, "for:\n{text}");
    }

    #[test]
    fn parses_front_matter_and_keeps_other_keys() {
        check(
            "agent-browser",
            "---\nname: agent-browser\ndescription: Browse the web — research, read docs:latest, click.\nallowed-tools: Bash(agent-browser:*)\n---\n\n# Body\n",
            "ok agent-browser | Browse the web — research, read docs:latest, click. | \"\\n# Body\\n\" | {\"allowed-tools\":\"Bash(agent-browser:*)\"}",
        );
        check(
            "x",
            "\u{feff}---\r\nname: x\r\ndescription: >\r\n  folded\r\n  text\r\nversion: 2\r\n---\r\nbody",
            "ok x | folded text | \"body\" | {\"version\":2}",
        );
        check(
            "x",
            "---\nname: x\ndescription: d\n---",
            "ok x | d | \"\" | {}",
        );
    }

    #[test]
    fn reports_what_is_wrong_and_where() {
        check("x", "# just markdown\n", "err no YAML front matter: start the file with a `---` line, then `name:` and `description:`, then a `---` line");
        check("x", "", "err no YAML front matter: start the file with a `---` line, then `name:` and `description:`, then a `---` line");
        check(
            "x",
            "---\nname: x\n",
            "err the front matter opened on line 1 is never closed: add a `---` line after it",
        );
        check("x", "---\nname: x\ndescription: one: two\n---\n", "err the front matter is not valid YAML: mapping values are not allowed in this context at line 3, column 17: fix the syntax (quote a value that holds `: `)");
        check("x", "---\nname: x\nname: y\n---\n", "err the front matter is not valid YAML: duplicate mapping key: name not allowed here at line 3, column 1: fix the syntax (quote a value that holds `: `)");
        check("x", "---\n- a\n---\n", "err the front matter is a list, expected a mapping of keys such as `name:` and `description:`");
        check("x", "---\n---\n", "err the front matter is empty, expected a mapping of keys such as `name:` and `description:`");
        check(
            "x",
            "---\ndescription: d\n---\n",
            "err field `name` is missing from the front matter: add it",
        );
        check(
            "x",
            "---\nname: x\n---\n",
            "err field `description` is missing from the front matter: add it",
        );
        check(
            "x",
            "---\nname: x\ndescription: ''\n---\n",
            "err field `description` is an empty string, expected a non-empty string",
        );
        check(
            "x",
            "---\nname: x\ndescription: [a]\n---\n",
            "err field `description` is a list, expected a non-empty string",
        );
        check("Bad_Name", "---\nname: Bad_Name\ndescription: d\n---\n", "err skill name `Bad_Name` is not valid (name `Bad_Name` must start with a lowercase letter or a digit): a skill's name becomes the address `b00t.<group>.<skill>`");
        check("y", "---\nname: x\ndescription: d\n---\n", "err the front matter says `name: x` but the folder is `y`: rename one so that they match");
        check("chat", "---\nname: chat\ndescription: d\n---\n", "err the skill name `chat` is reserved for the group agent's own chat skill: rename the skill and its folder");
    }

    #[test]
    fn the_error_names_the_file() {
        let error = parse(&at("x"), "nope").unwrap_err().to_string();
        assert!(error.starts_with("/home/skills/x/SKILL.md: "), "{error}");
    }
}
