//! Wiring and unwiring as text in, text out: the entries merged into (or taken out of) an
//! app's file, b00t's own entries told from the user's, and each entry's state for
//! `status`.

use std::path::Path;

use crate::app::App;
use crate::doc::Document;
use crate::error::WireError;
use crate::render::Entry;

/// Whether an entry already in the file (its name, its value) is one b00t wrote.
pub type Ours<'a> = &'a dyn Fn(&str, &serde_json::Value) -> bool;

/// `text` (the file's contents, empty when absent) with `entries` written under the app's
/// key. An entry of the same name that b00t did not write is refused unless `replace`.
pub fn wire(
    app: &App,
    path: &Path,
    text: &str,
    entries: &[Entry],
    ours: Ours<'_>,
    replace: bool,
) -> Result<String, WireError> {
    let mut doc = Document::parse(app.format, path, text)?;
    for entry in entries {
        let new = entry.value.to_json();
        match doc.entry(&app.key, &entry.name)? {
            Some(current) if current == new => {}
            Some(current) if !replace && !ours(&entry.name, &current) => {
                return Err(WireError::NotOurs {
                    path: path.to_owned(),
                    name: entry.name.clone(),
                });
            }
            _ => doc.set(&app.key, &entry.name, &entry.value)?,
        }
        doc.add_inputs(&entry.inputs);
    }
    if text.trim().is_empty() || doc.render() != text {
        Ok(doc.render())
    } else {
        Ok(text.to_owned())
    }
}

/// What unwiring did to one file.
#[derive(Debug, PartialEq, Eq)]
pub struct Unwired {
    pub text: String,
    /// The entries taken out.
    pub removed: Vec<String>,
    /// The entries asked for that are there but not b00t's, left as they are.
    pub kept: Vec<String>,
}

/// `text` without the entries `names` that b00t wrote (and VS Code prompts b00t added that
/// nothing refers to any more).
pub fn unwire(
    app: &App,
    path: &Path,
    text: &str,
    names: &[String],
    ours: Ours<'_>,
) -> Result<Unwired, WireError> {
    let mut doc = Document::parse(app.format, path, text)?;
    let mut removed = Vec::new();
    let mut kept = Vec::new();
    for name in names {
        match doc.entry(&app.key, name)? {
            None => {}
            Some(current) if ours(name, &current) => {
                doc.remove(&app.key, name)?;
                removed.push(name.clone());
            }
            Some(_) => kept.push(name.clone()),
        }
    }
    if !removed.is_empty() {
        doc.prune_inputs(&app.key)?;
    }
    let text = if removed.is_empty() {
        text.to_owned()
    } else {
        doc.render()
    };
    Ok(Unwired {
        text,
        removed,
        kept,
    })
}

/// An entry's state, as `status` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// b00t's, and what its datum renders now.
    Ok,
    /// b00t's, but edited since or its datum changed: `wire` again to refresh it.
    Differs,
    /// b00t wrote it, and it is gone from the file.
    Missing,
    /// In the file, and not written by b00t.
    NotB00ts,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Differs => "differs",
            State::Missing => "missing",
            State::NotB00ts => "not-b00t's",
        }
    }

    /// From what b00t recorded writing, what the file holds, and what the datum renders
    /// now (`None` when it cannot be rendered, or there is no such datum).
    pub fn of(
        recorded: Option<&serde_json::Value>,
        current: Option<&serde_json::Value>,
        rendered: Option<&serde_json::Value>,
    ) -> Option<State> {
        match (recorded, current) {
            (None, None) => None,
            (Some(_), None) => Some(State::Missing),
            (None, Some(current)) if Some(current) == rendered => Some(State::Ok),
            (None, Some(_)) => Some(State::NotB00ts),
            (Some(_), Some(current)) if Some(current) == rendered => Some(State::Ok),
            (Some(_), Some(_)) => Some(State::Differs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states() {
        let a = json!({"command": "a"});
        let b = json!({"command": "b"});
        assert_eq!(State::of(None, None, Some(&a)), None);
        assert_eq!(State::of(Some(&a), None, Some(&a)), Some(State::Missing));
        assert_eq!(State::of(Some(&a), Some(&a), Some(&a)), Some(State::Ok));
        assert_eq!(
            State::of(Some(&a), Some(&b), Some(&a)),
            Some(State::Differs)
        );
        assert_eq!(
            State::of(Some(&a), Some(&a), Some(&b)),
            Some(State::Differs)
        );
        assert_eq!(State::of(None, Some(&a), Some(&a)), Some(State::Ok));
        assert_eq!(State::of(None, Some(&b), Some(&a)), Some(State::NotB00ts));
        assert_eq!(State::of(None, Some(&b), None), Some(State::NotB00ts));
    }
}
