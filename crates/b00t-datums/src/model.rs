//! The datum as data: `Datum` with every field b00t defines, its MCP launch methods, and the
//! raw TOML it came from. Parsing lives in `load.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::constraint::Constraint;
use crate::error::DatumError;
use crate::id::DatumId;
use crate::kind::DatumType;

/// One way to start an MCP server as a child process (`[[b00t.mcp.stdio]]`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct McpStdio {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Lowercase entries name tools (`node`, `python`, `docker`, `internet`); uppercase ones
    /// are environment variables the server needs.
    pub requires: Vec<String>,
    pub transport: Option<String>,
    /// Lower runs first.
    pub priority: i64,
}

/// An MCP server reached over HTTP (`[b00t.mcp.httpstream]`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct McpHttp {
    pub url: String,
    pub requires: Vec<String>,
    pub priority: i64,
}

/// The `[b00t.mcp]` table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mcp {
    pub stdio: Vec<McpStdio>,
    pub httpstream: Option<McpHttp>,
}

/// One datum file, parsed. Unknown fields stay in `raw` and are listed in `notes`.
#[derive(Clone, Debug, Serialize)]
pub struct Datum {
    pub id: DatumId,
    pub name: String,
    pub kind: DatumType,
    pub hint: String,
    pub desires: Option<String>,
    pub install: Option<String>,
    pub update: Option<String>,
    pub version: Option<String>,
    pub version_regex: Option<String>,
    /// Ids (`python.cli`) or bare names (`python`), as written.
    pub depends_on: Vec<String>,
    #[serde(serialize_with = "constraints_as_strings")]
    pub require: Vec<Constraint>,
    pub env: BTreeMap<String, String>,
    pub package_name: Option<String>,
    /// Bash datums: a script path relative to `root`.
    pub script: Option<String>,
    pub image: Option<String>,
    pub docker_args: Vec<String>,
    pub oci_uri: Option<String>,
    pub chart_path: Option<String>,
    pub namespace: Option<String>,
    pub values_file: Option<String>,
    pub vsix_id: Option<String>,
    pub mcp: Option<Mcp>,
    /// Stack datums: the ids (or bare names) of the members.
    pub members: Vec<String>,
    pub keywords: Vec<String>,
    /// Other command names the tool provides (node provides `npx`).
    pub aliases: Vec<String>,
    /// The file.
    pub path: PathBuf,
    /// The catalog folder the file was found under; scripts are relative to it.
    pub root: PathBuf,
    /// Human sentences: unknown fields and types, assumed names and types.
    pub notes: Vec<String>,
    /// The whole file as parsed, unknown tables included.
    #[serde(skip)]
    pub raw: toml::Table,
}

impl Datum {
    /// Parses the text of the datum file `path`, found under the catalog folder `root`.
    pub fn from_toml(path: &Path, root: &Path, text: &str) -> Result<Datum, DatumError> {
        crate::load::parse_datum(path, root, text)
    }

    /// The package to install: `package_name`, else the name.
    pub fn package(&self) -> &str {
        self.package_name.as_deref().unwrap_or(&self.name)
    }

    /// The stdio commands, by priority then file order, each once.
    pub fn mcp_commands(&self) -> Vec<&str> {
        let Some(mcp) = &self.mcp else {
            return Vec::new();
        };
        let mut methods: Vec<&McpStdio> = mcp.stdio.iter().collect();
        methods.sort_by_key(|method| method.priority);
        let mut commands: Vec<&str> = Vec::new();
        for method in methods {
            if !commands.contains(&method.command.as_str()) {
                commands.push(&method.command);
            }
        }
        commands
    }

    /// Docker datums: `resource_path` (a compose folder relative to `root`), kept in `raw`.
    pub fn resource_path(&self) -> Option<&str> {
        self.raw_b00t_str("resource_path")
    }

    /// A string field of the `[b00t]` table as written, for fields this crate does not model.
    pub fn raw_b00t_str(&self, field: &str) -> Option<&str> {
        self.raw.get("b00t")?.as_table()?.get(field)?.as_str()
    }
}

fn constraints_as_strings<S: Serializer>(
    constraints: &[Constraint],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(constraints.iter().map(ToString::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(text: &str) -> Datum {
        Datum::from_toml(Path::new("d/x.mcp.toml"), Path::new("d"), text).unwrap()
    }

    #[test]
    fn mcp_commands_by_priority_then_file_order() {
        let d = datum(
            "[b00t]\nname = \"x\"\ntype = \"mcp\"\nhint = \"h\"\n\
             [[b00t.mcp.stdio]]\ncommand = \"docker\"\npriority = 3\n\
             [[b00t.mcp.stdio]]\ncommand = \"uvx\"\npriority = 1\n\
             [[b00t.mcp.stdio]]\ncommand = \"npx\"\npriority = 1\n\
             [[b00t.mcp.stdio]]\ncommand = \"uvx\"\npriority = 2\n",
        );
        assert_eq!(d.mcp_commands(), ["uvx", "npx", "docker"]);
    }

    #[test]
    fn package_falls_back_to_the_name() {
        let d = datum("[b00t]\nname = \"x\"\ntype = \"apt\"\nhint = \"h\"\n");
        assert_eq!(d.package(), "x");
        let d = datum(
            "[b00t]\nname = \"x\"\ntype = \"apt\"\nhint = \"h\"\npackage_name = \"x-tools\"\n",
        );
        assert_eq!(d.package(), "x-tools");
    }

    #[test]
    fn serializes_require_as_strings_and_skips_raw() {
        let d =
            datum("[b00t]\nname = \"x\"\nhint = \"h\"\nrequire = [\"CMD:git\", \"OS:linux\"]\n");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["require"], serde_json::json!(["CMD:git", "OS:linux"]));
        assert_eq!(json["id"], "x.mcp");
        assert!(json.get("raw").is_none());
    }
}
