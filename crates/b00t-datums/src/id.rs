//! Datum ids (`<name>.<type>`, e.g. `jq.cli`) and the rules for valid names and types.
//! An id is the key of the catalog; it splits at its last dot because names may contain dots.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::kind::DatumType;

/// The id of a datum: its name and its type joined by a dot, e.g. `browser-use.mcp`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatumId(String);

impl DatumId {
    /// The id of the datum `name` of type `kind`. The parts are not validated here:
    /// the loader validates names before it builds ids.
    pub fn new(name: &str, kind: &DatumType) -> DatumId {
        DatumId(format!("{name}.{}", kind.as_str()))
    }

    /// Parses `<name>.<type>`, splitting at the last dot; `None` unless both parts are valid.
    pub fn parse(s: &str) -> Option<DatumId> {
        let (name, kind) = s.rsplit_once('.')?;
        if is_valid_name(name) && is_valid_type(kind) {
            Some(DatumId(s.to_owned()))
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the last dot.
    pub fn name(&self) -> &str {
        self.0
            .rsplit_once('.')
            .map_or(self.0.as_str(), |(name, _)| name)
    }

    /// The part after the last dot (the datum type as written).
    pub fn kind(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(_, kind)| kind)
    }
}

impl fmt::Display for DatumId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DatumId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatumId({:?})", self.0)
    }
}

impl Serialize for DatumId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A datum name: `[a-z0-9][a-z0-9._+-]*` (e.g. `claude-3-5-sonnet`, `rust-analyzer`).
pub fn is_valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) if first.is_ascii_lowercase() || first.is_ascii_digit() => {}
        _ => return false,
    }
    chars
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '+' | '-'))
}

/// A datum type: `[a-z0-9][a-z0-9_-]*` (e.g. `cli`, `ai_model`).
pub fn is_valid_type(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) if first.is_ascii_lowercase() || first.is_ascii_digit() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_at_the_last_dot() {
        let id = DatumId::parse("python3.11.cli").unwrap();
        assert_eq!(id.name(), "python3.11");
        assert_eq!(id.kind(), "cli");
        assert_eq!(id.to_string(), "python3.11.cli");
    }

    #[test]
    fn parse_rejects_invalid_parts() {
        for bad in [
            "jq",
            "jq.",
            ".cli",
            "Jq.cli",
            "jq.Cli",
            "jq.c.li!",
            "j q.cli",
            "jq.ai.model",
        ] {
            let parsed = DatumId::parse(bad);
            if bad == "jq.ai.model" {
                // `jq.ai` is a valid name and `model` a valid type.
                assert!(parsed.is_some());
            } else {
                assert!(parsed.is_none(), "{bad} should not parse");
            }
        }
    }

    #[test]
    fn new_joins_name_and_type() {
        let id = DatumId::new("claude-3-5-sonnet", &DatumType::AiModel);
        assert_eq!(id.as_str(), "claude-3-5-sonnet.ai_model");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"claude-3-5-sonnet.ai_model\""
        );
    }

    #[test]
    fn names_and_types() {
        assert!(is_valid_name("rust-analyzer"));
        assert!(is_valid_name("g++"));
        assert!(is_valid_name("0ad"));
        assert!(!is_valid_name("-x"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name("ümlaut"));
        assert!(is_valid_type("ai_model"));
        assert!(!is_valid_type("ai.model"));
        assert!(!is_valid_type("_x"));
    }
}
