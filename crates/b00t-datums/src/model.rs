//! The datum as data: `Datum` with every field b00t defines, its MCP launch methods, and the
//! raw TOML it came from. Parsing lives in `load.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::constraint::Constraint;
use crate::error::DatumError;
use crate::id::DatumId;
use crate::kind::DatumType;

/// One way to start an MCP server as a child process: an entry of `[[b00t.mcp.stdio]]`, or
/// the launcher written directly in the `[b00t.mcp]` table (`command`, `args`, `env`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct McpStdio {
    /// The program the app starts (`npx`, `uvx`, `docker`, a binary).
    pub command: String,
    pub args: Vec<String>,
    /// Environment for the server, values as written (defaults; an entry written as a table
    /// gives its `default`).
    pub env: BTreeMap<String, String>,
    /// Lowercase entries name tools (`node`, `python`, `docker`, `internet`); uppercase ones
    /// are environment variables the server needs.
    pub requires: Vec<String>,
    pub transport: Option<String>,
    /// Lower runs first.
    pub priority: i64,
}

/// One endpoint of an MCP server reached over HTTP (streamable HTTP): the table
/// `[b00t.mcp.httpstream]`, or one entry of the array `[[b00t.mcp.httpstream]]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct McpHttp {
    pub url: String,
    /// HTTP headers to send, values as written (they may name environment variables, e.g.
    /// `"Bearer ${API_KEY}"`; nothing here expands them).
    pub headers: BTreeMap<String, String>,
    /// As in [`McpStdio::requires`].
    pub requires: Vec<String>,
    /// Lower is preferred.
    pub priority: i64,
}

/// The `[b00t.mcp]` table: how to start the server locally, and where to reach it remotely.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mcp {
    /// Local launchers in file order: a launcher written in `[b00t.mcp]` itself comes first,
    /// then each `[[b00t.mcp.stdio]]`. Use [`Datum::mcp_stdio`] for priority order.
    pub stdio: Vec<McpStdio>,
    /// Every remote endpoint, in file order.
    pub remote: Vec<McpHttp>,
    /// The preferred remote endpoint: the first of `remote` with the lowest priority.
    pub httpstream: Option<McpHttp>,
}

impl Mcp {
    /// Whether the server can be started or reached at all.
    pub fn is_empty(&self) -> bool {
        self.stdio.is_empty() && self.remote.is_empty()
    }
}

/// One install script of a datum whose `install` is a table (`install = { go = "go install …" }`):
/// `method` names the tool it uses (`go`, `cargo`, `npm`, `uv`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstallMethod {
    pub method: String,
    pub script: String,
}

/// One datum file, parsed. Unknown fields stay in `raw` and are listed in `notes`.
#[derive(Clone, Debug, Serialize)]
pub struct Datum {
    pub id: DatumId,
    pub name: String,
    pub kind: DatumType,
    pub hint: String,
    /// The desired version: `desires = "1.2"`, or the `version` entry of a table.
    pub desires: Option<String>,
    /// `desires` written as a table, per install method (`{ cargo = "0.5" }`); empty otherwise.
    pub desires_by_method: BTreeMap<String, String>,
    /// `install = "<script>"`; `None` when absent or written as a table (see `install_methods`).
    pub install: Option<String>,
    /// `install = { <method> = "<script>", … }`, in method-name order; empty otherwise.
    pub install_methods: Vec<InstallMethod>,
    pub update: Option<String>,
    pub version: Option<String>,
    pub version_regex: Option<String>,
    /// Ids (`python.cli`) or bare names (`python`), as written.
    pub depends_on: Vec<String>,
    #[serde(serialize_with = "constraints_as_strings")]
    pub require: Vec<Constraint>,
    /// Default environment, values as written; `[b00t.env] X = { default = "…" }` gives its
    /// `default`, and an entry with no default is left out (noted).
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
    /// Stack datums: the ids (or bare names) of the members, from `members`, `[b00t.stack]
    /// members` and `[stack] members`, each once.
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

    /// The stdio launchers by priority (lower first), then file order.
    pub fn mcp_stdio(&self) -> Vec<&McpStdio> {
        let Some(mcp) = &self.mcp else {
            return Vec::new();
        };
        let mut methods: Vec<&McpStdio> = mcp.stdio.iter().collect();
        methods.sort_by_key(|method| method.priority);
        methods
    }

    /// The remote endpoints by priority (lower first), then file order.
    pub fn mcp_remote(&self) -> Vec<&McpHttp> {
        let Some(mcp) = &self.mcp else {
            return Vec::new();
        };
        let mut endpoints: Vec<&McpHttp> = mcp.remote.iter().collect();
        endpoints.sort_by_key(|endpoint| endpoint.priority);
        endpoints
    }

    /// The stdio commands, by priority then file order, each once.
    pub fn mcp_commands(&self) -> Vec<&str> {
        let mut commands: Vec<&str> = Vec::new();
        for method in self.mcp_stdio() {
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
