//! Datum types (`cli`, `apt`, `mcp`, …): the closed set b00t knows plus `Other` for the rest,
//! which is kept rather than rejected.

use std::fmt;

use serde::{Serialize, Serializer};

/// The type of a datum, the part of its id after the last dot.
/// The variant order is the order of preference when a bare name fits several datums.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatumType {
    Cli,
    Apt,
    Bash,
    Docker,
    K8s,
    Vscode,
    Mcp,
    Stack,
    /// Something that runs to completion on an orchestrator (`[b00t.container]`).
    Job,
    Ai,
    AiModel,
    /// A type b00t-datums does not know (e.g. `nix`); kept as written.
    Other(String),
}

impl DatumType {
    /// Never fails: an unknown type becomes `Other`.
    pub fn parse(s: &str) -> DatumType {
        match s {
            "cli" => DatumType::Cli,
            "apt" => DatumType::Apt,
            "bash" => DatumType::Bash,
            "docker" => DatumType::Docker,
            "k8s" => DatumType::K8s,
            "vscode" => DatumType::Vscode,
            "mcp" => DatumType::Mcp,
            "stack" => DatumType::Stack,
            "job" => DatumType::Job,
            "ai" => DatumType::Ai,
            "ai_model" => DatumType::AiModel,
            other => DatumType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DatumType::Cli => "cli",
            DatumType::Apt => "apt",
            DatumType::Bash => "bash",
            DatumType::Docker => "docker",
            DatumType::K8s => "k8s",
            DatumType::Vscode => "vscode",
            DatumType::Mcp => "mcp",
            DatumType::Stack => "stack",
            DatumType::Job => "job",
            DatumType::Ai => "ai",
            DatumType::AiModel => "ai_model",
            DatumType::Other(other) => other,
        }
    }

    /// False only for `Other`.
    pub fn is_known(&self) -> bool {
        !matches!(self, DatumType::Other(_))
    }

    /// Whether the type has an install method (`ai`, `ai_model` and unknown types do not:
    /// they describe providers and models and are kept for listing).
    pub fn is_installable(&self) -> bool {
        !matches!(
            self,
            DatumType::Ai | DatumType::AiModel | DatumType::Other(_)
        )
    }
}

impl fmt::Display for DatumType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DatumType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "cli", "apt", "bash", "docker", "k8s", "vscode", "mcp", "stack", "job", "ai",
            "ai_model", "nix",
        ] {
            let kind = DatumType::parse(s);
            assert_eq!(kind.as_str(), s);
            assert_eq!(kind.to_string(), s);
            assert_eq!(kind.is_known(), s != "nix");
        }
        assert_eq!(
            serde_json::to_string(&DatumType::AiModel).unwrap(),
            "\"ai_model\""
        );
    }

    #[test]
    fn cli_is_preferred_over_apt() {
        assert!(DatumType::Cli < DatumType::Apt);
        assert!(DatumType::AiModel < DatumType::Other("a".into()));
    }
}
