//! What b00t wrote where, kept in the home's `state/mcp-wired.json`, so that `status` and
//! `unwire` know b00t's entries without marking them in the apps' files (whose schemas have
//! no room for a mark). The binary reads and writes the file; this is its shape.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::app::Scope;

/// The state file's name in the state folder.
pub const RECORDS_FILE: &str = "mcp-wired.json";

/// One entry b00t wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wired {
    pub app: String,
    pub scope: Scope,
    pub file: PathBuf,
    /// The entry's name in the file.
    pub server: String,
    /// The datum it was rendered from (`github.mcp`, or `b00t`).
    pub datum: String,
    /// The entry as written.
    pub entry: serde_json::Value,
    /// Written with secret values in clear (`--with-secrets`), which `status` renders
    /// the same way to compare.
    #[serde(default)]
    pub in_clear: bool,
}

/// Every entry b00t wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Records {
    pub wired: Vec<Wired>,
}

impl Records {
    /// Reads the state file's text; an unreadable one counts as empty (b00t then treats
    /// its earlier entries as not its own, and says so in `status`).
    pub fn from_json(text: &str) -> Records {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The record of `server` in `file`.
    pub fn get(&self, file: &Path, server: &str) -> Option<&Wired> {
        self.wired
            .iter()
            .find(|wired| wired.file == file && wired.server == server)
    }

    /// Records (or replaces the record of) an entry written.
    pub fn put(&mut self, wired: Wired) {
        self.forget(&wired.file.clone(), &wired.server.clone());
        self.wired.push(wired);
    }

    /// Forgets the entry `server` of `file`.
    pub fn forget(&mut self, file: &Path, server: &str) {
        self.wired
            .retain(|wired| !(wired.file == file && wired.server == server));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_replace() {
        let mut records = Records::default();
        let wired = |entry: &str| Wired {
            app: "cursor".into(),
            scope: Scope::User,
            file: "/h/.cursor/mcp.json".into(),
            server: "github".into(),
            datum: "github.mcp".into(),
            entry: serde_json::json!({ "command": entry }),
            in_clear: false,
        };
        records.put(wired("npx"));
        records.put(wired("bunx"));
        assert_eq!(records.wired.len(), 1);
        let back = Records::from_json(&records.to_json());
        assert_eq!(back, records);
        assert_eq!(
            back.get(Path::new("/h/.cursor/mcp.json"), "github")
                .unwrap()
                .entry["command"],
            "bunx"
        );
        assert_eq!(Records::from_json("not json"), Records::default());
        records.forget(Path::new("/h/.cursor/mcp.json"), "github");
        assert!(records.wired.is_empty());
    }
}
