//! Parsing one datum file into a `Datum`: typed reads of the `[b00t]` fields, the id from the
//! fields or the file name, and notes for everything unknown (which is kept, never an error).

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use crate::constraint::Constraint;
use crate::error::{DatumError, FileError};
use crate::id::{is_valid_name, is_valid_type, DatumId};
use crate::kind::DatumType;
use crate::model::{Datum, InstallMethod, Mcp, McpHttp, McpStdio};

/// The keys of `[b00t]` this crate reads.
const B00T_FIELDS: &[&str] = &[
    "name",
    "type",
    "hint",
    "desires",
    "install",
    "update",
    "version",
    "version_regex",
    "depends_on",
    "require",
    "env",
    "package_name",
    "script",
    "image",
    "docker_args",
    "oci_uri",
    "resource_path",
    "chart_path",
    "namespace",
    "values_file",
    "vsix_id",
    "mcp",
    "members",
    "keywords",
    "aliases",
    // Deploy intent (read by b00t-deploy from `raw`).
    "stack",
    "services",
    "container",
    "dependencies",
    "resources",
    "orchestration",
    "build",
    "local",
];
/// `[b00t.mcp]`: the two method lists, or a launcher written in the table itself.
const MCP_FIELDS: &[&str] = &[
    "stdio",
    "httpstream",
    "command",
    "args",
    "env",
    "requires",
    "transport",
    "priority",
];
const STDIO_FIELDS: &[&str] = &[
    "command",
    "args",
    "env",
    "requires",
    "transport",
    "priority",
];
const HTTP_FIELDS: &[&str] = &["url", "headers", "requires", "priority", "transport"];

pub(crate) fn parse_datum(path: &Path, root: &Path, text: &str) -> Result<Datum, DatumError> {
    parse(path, root, text).map_err(|error| DatumError::file(path, error))
}

fn parse(path: &Path, root: &Path, text: &str) -> Result<Datum, FileError> {
    let raw: Table = text
        .parse()
        .map_err(|error: toml::de::Error| toml_error(text, &error))?;
    let b00t_table = match raw.get("b00t") {
        Some(Value::Table(table)) => table,
        Some(other) => return Err(wrong_type("b00t", "a table", other)),
        None => return Err(FileError::NoB00tTable),
    };
    let mut notes = Vec::new();
    for (key, value) in &raw {
        // A top-level `[stack]` table is read for its `members`.
        if key != "b00t" && !(key == "stack" && value.is_table()) {
            let what = if value.is_table() { "table" } else { "field" };
            notes.push(format!("unknown {what} `{key}` kept unread"));
        }
    }
    let b00t = Fields::new(b00t_table, "b00t".to_owned());
    b00t.note_unknown(B00T_FIELDS, &mut notes);

    let (file_name, file_type) = split_file_name(path);
    let kind = match (b00t.string("type")?, file_type) {
        (Some(kind), file_type) => {
            if !is_valid_type(&kind) {
                return Err(FileError::InvalidType { kind });
            }
            if let Some(file_type) = file_type.filter(|file_type| *file_type != kind) {
                notes.push(format!("`type = \"{kind}\"` differs from `{file_type}` in the file name: using `{kind}`"));
            }
            DatumType::parse(&kind)
        }
        (None, Some(file_type)) => DatumType::parse(file_type),
        (None, None) => {
            notes.push("no `type` field and no type in the file name: assumed `cli`".to_owned());
            DatumType::Cli
        }
    };
    let name = match b00t.string("name")? {
        Some(name) => {
            if name != file_name && is_valid_name(file_name) {
                notes.push(format!("`name = \"{name}\"` differs from `{file_name}` in the file name: using `{name}`"));
            }
            name
        }
        None => {
            notes.push(format!(
                "no `name` field: using `{file_name}` from the file name"
            ));
            file_name.to_owned()
        }
    };
    if !is_valid_name(&name) {
        return Err(FileError::InvalidName { name });
    }
    match &kind {
        DatumType::Other(other) => notes.push(format!(
            "unknown type `{other}`: kept, but b00t-datums does not know how to install it"
        )),
        DatumType::Ai | DatumType::AiModel => notes.push(format!(
            "type `{kind}` has no install method: kept for listing"
        )),
        _ => {}
    }

    let hint = b00t.string("hint")?.unwrap_or_else(|| {
        notes.push("no `hint` field: add one line saying what the tool is for".to_owned());
        String::new()
    });
    let require: Vec<Constraint> = b00t
        .strings("require")?
        .iter()
        .map(|raw| Constraint::parse(raw))
        .collect();
    for constraint in &require {
        if let Constraint::Unknown(raw) = constraint {
            notes.push(format!("constraint `{raw}` in `b00t.require` is not understood: treated as met, as b00t does"));
        }
    }
    let mcp = match b00t.table("mcp")? {
        Some(table) => Some(parse_mcp(table, &mut notes)?),
        None => None,
    };
    if kind == DatumType::Mcp && mcp.as_ref().is_none_or(Mcp::is_empty) {
        notes.push(
            "mcp datum without `[[b00t.mcp.stdio]]`, `[b00t.mcp] command` or `[b00t.mcp.httpstream]`: nothing to start"
                .to_owned(),
        );
    }
    let (install, install_methods) = match b00t.string_or_map("install")? {
        Some(Either::One(script)) => (Some(script), Vec::new()),
        Some(Either::Map(methods)) => (
            None,
            methods
                .into_iter()
                .map(|(method, script)| InstallMethod { method, script })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    let (desires, desires_by_method) = match b00t.string_or_map("desires")? {
        Some(Either::One(version)) => (Some(version), BTreeMap::new()),
        Some(Either::Map(by_method)) => (by_method.get("version").cloned(), by_method),
        None => (None, BTreeMap::new()),
    };
    let members = stack_members(&raw, &b00t)?;
    if kind == DatumType::Stack && members.is_empty() {
        notes.push(
            "stack without members: list them in `members` (or `[b00t.stack] members`)".to_owned(),
        );
    }
    let env = b00t.env_map("env", &mut notes)?;

    // Docker compose folder: validated here, kept in `raw` (see `Datum::resource_path`).
    b00t.string("resource_path")?;

    Ok(Datum {
        id: DatumId::new(&name, &kind),
        hint,
        desires,
        desires_by_method,
        install,
        install_methods,
        update: b00t.string("update")?,
        version: b00t.string("version")?,
        version_regex: b00t.string("version_regex")?,
        depends_on: b00t.strings("depends_on")?,
        require,
        env,
        package_name: b00t.string("package_name")?,
        script: b00t.string("script")?,
        image: b00t.string("image")?,
        docker_args: b00t.strings("docker_args")?,
        oci_uri: b00t.string("oci_uri")?,
        chart_path: b00t.string("chart_path")?,
        namespace: b00t.string("namespace")?,
        values_file: b00t.string("values_file")?,
        vsix_id: b00t.string("vsix_id")?,
        mcp,
        members,
        keywords: b00t.strings("keywords")?,
        aliases: b00t.strings("aliases")?,
        path: path.to_owned(),
        root: root.to_owned(),
        notes,
        name,
        kind,
        raw,
    })
}

fn parse_mcp(table: &Table, notes: &mut Vec<String>) -> Result<Mcp, FileError> {
    let mcp = Fields::new(table, "b00t.mcp".to_owned());
    mcp.note_unknown(MCP_FIELDS, notes);
    let mut stdio = Vec::new();
    // A launcher written in `[b00t.mcp]` itself: `command = "npx"`, `args = [...]`.
    if table.contains_key("command") {
        stdio.push(stdio_method(&mcp, notes)?);
    }
    if let Some(value) = table.get("stdio") {
        let Value::Array(entries) = value else {
            return Err(wrong_type(
                "b00t.mcp.stdio",
                "an array of tables (`[[b00t.mcp.stdio]]`)",
                value,
            ));
        };
        for (index, entry) in entries.iter().enumerate() {
            let prefix = format!("b00t.mcp.stdio[{index}]");
            let Value::Table(entry) = entry else {
                return Err(wrong_type(&prefix, "a table", entry));
            };
            let fields = Fields::new(entry, prefix);
            fields.note_unknown(STDIO_FIELDS, notes);
            stdio.push(stdio_method(&fields, notes)?);
        }
    }
    // One endpoint as a table, or several as an array of tables.
    let mut remote = Vec::new();
    match table.get("httpstream") {
        None => {}
        Some(Value::Table(entry)) => {
            remote.push(http_endpoint(
                entry,
                "b00t.mcp.httpstream".to_owned(),
                notes,
            )?);
        }
        Some(Value::Array(entries)) => {
            for (index, entry) in entries.iter().enumerate() {
                let prefix = format!("b00t.mcp.httpstream[{index}]");
                let Value::Table(entry) = entry else {
                    return Err(wrong_type(&prefix, "a table", entry));
                };
                remote.push(http_endpoint(entry, prefix, notes)?);
            }
        }
        Some(other) => return Err(wrong_type(
            "b00t.mcp.httpstream",
            "a table (`[b00t.mcp.httpstream]`) or an array of tables (`[[b00t.mcp.httpstream]]`)",
            other,
        )),
    }
    let httpstream = remote
        .iter()
        .min_by_key(|endpoint| endpoint.priority)
        .cloned();
    Ok(Mcp {
        stdio,
        remote,
        httpstream,
    })
}

fn stdio_method(fields: &Fields<'_>, notes: &mut Vec<String>) -> Result<McpStdio, FileError> {
    Ok(McpStdio {
        command: fields.required_string("command")?,
        args: fields.strings("args")?,
        env: fields.env_map("env", notes)?,
        requires: fields.strings("requires")?,
        transport: fields.string("transport")?,
        priority: fields.integer("priority")?.unwrap_or(0),
    })
}

fn http_endpoint(
    table: &Table,
    prefix: String,
    notes: &mut Vec<String>,
) -> Result<McpHttp, FileError> {
    let fields = Fields::new(table, prefix);
    fields.note_unknown(HTTP_FIELDS, notes);
    if let Some(transport) = fields
        .string("transport")?
        .filter(|transport| transport != "httpstream")
    {
        notes.push(format!(
            "`{}` is `{transport}`, expected `httpstream`: ignored",
            fields.field("transport")
        ));
    }
    Ok(McpHttp {
        url: fields.required_string("url")?,
        headers: fields.string_map("headers")?,
        requires: fields.strings("requires")?,
        priority: fields.integer("priority")?.unwrap_or(0),
    })
}

/// A stack's members: `[b00t] members`, then `[b00t.stack] members`, then `[stack] members`,
/// each entry once.
fn stack_members(raw: &Table, b00t: &Fields<'_>) -> Result<Vec<String>, FileError> {
    let mut members = b00t.strings("members")?;
    let mut more = Vec::new();
    if let Some(stack) = b00t.table("stack")? {
        more.extend(Fields::new(stack, "b00t.stack".to_owned()).strings("members")?);
    }
    if let Some(Value::Table(stack)) = raw.get("stack") {
        more.extend(Fields::new(stack, "stack".to_owned()).strings("members")?);
    }
    for member in more {
        if !members.contains(&member) {
            members.push(member);
        }
    }
    Ok(members)
}

/// A field that is a string or a table of strings.
enum Either {
    One(String),
    Map(BTreeMap<String, String>),
}

/// The id a file that could not be loaded would have had: its `[b00t]` `name` and `type`
/// when the TOML reads and they are valid, else its file name (`cli` when it names no type).
pub(crate) fn intended_id(path: &Path, text: Option<&str>) -> Option<DatumId> {
    let (file_name, file_type) = split_file_name(path);
    let b00t = text
        .and_then(|text| text.parse::<Table>().ok())
        .and_then(|raw| raw.get("b00t").and_then(Value::as_table).cloned());
    let field = |key: &str| {
        b00t.as_ref()
            .and_then(|b00t| b00t.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = field("name")
        .filter(|name| is_valid_name(name))
        .unwrap_or_else(|| file_name.to_owned());
    let kind = field("type")
        .filter(|kind| is_valid_type(kind))
        .or_else(|| file_type.map(str::to_owned))
        .unwrap_or_else(|| "cli".to_owned());
    is_valid_name(&name).then(|| DatumId::new(&name, &DatumType::parse(&kind)))
}

/// `gh.cli.toml` → (`gh`, Some(`cli`)); `git-cliff.toml` → (`git-cliff`, None).
fn split_file_name(path: &Path) -> (&str, Option<&str>) {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("");
    let stem = file_name.strip_suffix(".toml").unwrap_or(file_name);
    match stem.rsplit_once('.') {
        Some((name, kind)) if !name.is_empty() && is_valid_type(kind) => (name, Some(kind)),
        _ => (stem, None),
    }
}

fn toml_error(text: &str, error: &toml::de::Error) -> FileError {
    let start = error.span().map_or(0, |span| span.start);
    let before = text.get(..start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    FileError::Toml {
        line,
        column,
        message: error.message().trim().to_owned(),
    }
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> FileError {
    FileError::WrongType {
        field: field.to_owned(),
        expected,
        found: describe(found).to_owned(),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Typed reads from one TOML table; `prefix` is its dotted path, used to name fields in errors.
struct Fields<'t> {
    table: &'t Table,
    prefix: String,
}

impl<'t> Fields<'t> {
    fn new(table: &'t Table, prefix: String) -> Fields<'t> {
        Fields { table, prefix }
    }

    fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.prefix)
    }

    fn note_unknown(&self, known: &[&str], notes: &mut Vec<String>) {
        for key in self.table.keys() {
            if !known.contains(&key.as_str()) {
                notes.push(format!("unknown field `{}` kept unread", self.field(key)));
            }
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, FileError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(other) => Err(wrong_type(&self.field(key), "a string", other)),
        }
    }

    fn required_string(&self, key: &str) -> Result<String, FileError> {
        self.string(key)?.ok_or_else(|| FileError::MissingField {
            field: self.field(key),
        })
    }

    fn integer(&self, key: &str) -> Result<Option<i64>, FileError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Integer(value)) => Ok(Some(*value)),
            Some(other) => Err(wrong_type(&self.field(key), "an integer", other)),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, FileError> {
        match self.table.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(item) => Ok(item.clone()),
                    other => Err(wrong_type(
                        &format!("{}[{index}]", self.field(key)),
                        "a string",
                        other,
                    )),
                })
                .collect(),
            Some(other) => Err(wrong_type(
                &self.field(key),
                "an array of strings, e.g. `[\"python.cli\"]`",
                other,
            )),
        }
    }

    fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, FileError> {
        match self.table.get(key) {
            None => Ok(BTreeMap::new()),
            Some(Value::Table(table)) => table
                .iter()
                .map(|(name, value)| match value {
                    Value::String(value) => Ok((name.clone(), value.clone())),
                    other => Err(wrong_type(
                        &format!("{}.{name}", self.field(key)),
                        "a string",
                        other,
                    )),
                })
                .collect(),
            Some(other) => Err(wrong_type(&self.field(key), "a table of strings", other)),
        }
    }

    /// A string, or a table of strings (`install = { go = "go install …" }`).
    fn string_or_map(&self, key: &str) -> Result<Option<Either>, FileError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(Either::One(value.clone()))),
            Some(Value::Table(_)) => Ok(Some(Either::Map(self.string_map(key)?))),
            Some(other) => Err(wrong_type(
                &self.field(key),
                "a string or a table of strings",
                other,
            )),
        }
    }

    /// Environment defaults: `NAME = "value"`, or `NAME = { default = "value", … }` (an
    /// entry without `default` is left out and noted; its other keys are kept in `raw`).
    fn env_map(
        &self,
        key: &str,
        notes: &mut Vec<String>,
    ) -> Result<BTreeMap<String, String>, FileError> {
        let Some(value) = self.table.get(key) else {
            return Ok(BTreeMap::new());
        };
        let Value::Table(table) = value else {
            return Err(wrong_type(&self.field(key), "a table of strings", value));
        };
        let mut env = BTreeMap::new();
        for (name, value) in table {
            let field = format!("{}.{name}", self.field(key));
            match value {
                Value::String(value) => {
                    env.insert(name.clone(), value.clone());
                }
                Value::Table(entry) => match entry.get("default") {
                    Some(Value::String(default)) => {
                        env.insert(name.clone(), default.clone());
                    }
                    Some(other) => {
                        return Err(wrong_type(&format!("{field}.default"), "a string", other))
                    }
                    None => notes.push(format!(
                        "`{field}` has no `default`: the environment must provide `{name}`"
                    )),
                },
                other => {
                    return Err(wrong_type(
                        &field,
                        "a string or a table with a `default` string",
                        other,
                    ))
                }
            }
        }
        Ok(env)
    }

    fn table(&self, key: &str) -> Result<Option<&'t Table>, FileError> {
        match self.table.get(key) {
            None => Ok(None),
            Some(Value::Table(table)) => Ok(Some(table)),
            Some(other) => Err(wrong_type(&self.field(key), "a table", other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, text: &str) -> Result<Datum, String> {
        Datum::from_toml(&Path::new("datums").join(file), Path::new("datums"), text)
            .map_err(|error| error.to_string())
    }

    #[track_caller]
    fn check_error(file: &str, text: &str, expected: &str) {
        assert_eq!(load(file, text).unwrap_err(), expected);
    }

    #[test]
    fn id_from_fields() {
        let d = load(
            "x.cli.toml",
            "[b00t]\nname = \"jq\"\ntype = \"apt\"\nhint = \"h\"\n",
        )
        .unwrap();
        assert_eq!(d.id.as_str(), "jq.apt");
        assert!(
            d.notes
                .iter()
                .any(|note| note.contains("differs from `cli`")),
            "{:?}",
            d.notes
        );
        assert!(
            d.notes.iter().any(|note| note.contains("differs from `x`")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn id_from_file_name() {
        let d = load("gh.cli.toml", "[b00t]\nhint = \"h\"\n").unwrap();
        assert_eq!(d.id.as_str(), "gh.cli");
        assert_eq!(d.notes, ["no `name` field: using `gh` from the file name"]);
        let d = load(
            "git-cliff.toml",
            "[b00t]\nname = \"git-cliff\"\nhint = \"h\"\n",
        )
        .unwrap();
        assert_eq!(d.id.as_str(), "git-cliff.cli");
        assert_eq!(
            d.notes,
            ["no `type` field and no type in the file name: assumed `cli`"]
        );
    }

    #[test]
    fn unknown_things_are_kept_and_noted() {
        let d = load(
            "x.nix.toml",
            "[b00t]\nname = \"x\"\nhint = \"h\"\nflavour = \"mint\"\nrequire = [\"internet\"]\n\
             [b00t.mcp.httpstream]\nurl = \"http://x\"\nrequires_internet = true\n[extra]\na = 1\n",
        )
        .unwrap();
        assert_eq!(d.kind, DatumType::Other("nix".into()));
        assert_eq!(
            d.notes,
            [
                "unknown table `extra` kept unread",
                "unknown field `b00t.flavour` kept unread",
                "unknown type `nix`: kept, but b00t-datums does not know how to install it",
                "constraint `internet` in `b00t.require` is not understood: treated as met, as b00t does",
                "unknown field `b00t.mcp.httpstream.requires_internet` kept unread",
            ]
        );
        assert!(d.raw.contains_key("extra"));
        assert_eq!(d.raw_b00t_str("flavour"), Some("mint"));
    }

    #[test]
    fn wrong_types_name_the_field() {
        check_error(
            "x.cli.toml",
            "[b00t]\nname = \"x\"\ndepends_on = \"y\"\n",
            "datums/x.cli.toml: field `b00t.depends_on` is a string, expected an array of strings, e.g. `[\"python.cli\"]`",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\nname = 3\n",
            "datums/x.cli.toml: field `b00t.name` is an integer, expected a string",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\naliases = [\"a\", 1]\n",
            "datums/x.cli.toml: field `b00t.aliases[1]` is an integer, expected a string",
        );
        check_error(
            "x.mcp.toml",
            "[b00t]\n[[b00t.mcp.stdio]]\ncommand = \"npx\"\npriority = \"high\"\n",
            "datums/x.mcp.toml: field `b00t.mcp.stdio[0].priority` is a string, expected an integer",
        );
        check_error(
            "x.mcp.toml",
            "[b00t]\n[[b00t.mcp.stdio]]\nargs = []\n",
            "datums/x.mcp.toml: field `b00t.mcp.stdio[0].command` is missing: add it",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\n[b00t.env]\nA = 1\n",
            "datums/x.cli.toml: field `b00t.env.A` is an integer, expected a string or a table with a `default` string",
        );
        check_error(
            "x.cli.toml",
            "b00t = 1\n",
            "datums/x.cli.toml: field `b00t` is an integer, expected a table",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\nresource_path = 1\n",
            "datums/x.cli.toml: field `b00t.resource_path` is an integer, expected a string",
        );
    }

    #[test]
    fn remote_endpoints_as_an_array_of_tables_with_headers() {
        let d = load(
            "deepwiki.mcp.toml",
            "[b00t]\nname = \"deepwiki\"\ntype = \"mcp\"\nhint = \"h\"\n\
             [[b00t.mcp.httpstream]]\nurl = \"https://a.example/mcp\"\npriority = 2\n\
             headers = { Authorization = \"Bearer ${DEEPWIKI_TOKEN}\" }\n\
             [[b00t.mcp.httpstream]]\nurl = \"https://b.example/sse\"\npriority = 1\n",
        )
        .unwrap();
        let mcp = d.mcp.as_ref().unwrap();
        let urls: Vec<&str> = mcp.remote.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(urls, ["https://a.example/mcp", "https://b.example/sse"]);
        assert_eq!(
            mcp.remote[0]
                .headers
                .get("Authorization")
                .map(String::as_str),
            Some("Bearer ${DEEPWIKI_TOKEN}")
        );
        assert_eq!(
            mcp.httpstream.as_ref().unwrap().url,
            "https://b.example/sse"
        );
        assert_eq!(d.mcp_remote()[0].url, "https://b.example/sse");
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        // The single-table form still reads, as one endpoint.
        let d = load(
            "x.mcp.toml",
            "[b00t]\nhint = \"h\"\n[b00t.mcp.httpstream]\nurl = \"http://x\"\n",
        )
        .unwrap();
        assert_eq!(d.mcp.unwrap().remote.len(), 1);
        check_error(
            "x.mcp.toml",
            "[b00t]\n[b00t.mcp]\nhttpstream = \"http://x\"\n",
            "datums/x.mcp.toml: field `b00t.mcp.httpstream` is a string, expected a table (`[b00t.mcp.httpstream]`) or an array of tables (`[[b00t.mcp.httpstream]]`)",
        );
        check_error(
            "x.mcp.toml",
            "[b00t]\n[[b00t.mcp.httpstream]]\nheaders = {}\n",
            "datums/x.mcp.toml: field `b00t.mcp.httpstream[0].url` is missing: add it",
        );
    }

    #[test]
    fn a_launcher_in_the_mcp_table_is_a_stdio_method() {
        let d = load(
            "lsp.mcp.toml",
            "[b00t]\nname = \"lsp\"\nhint = \"h\"\n[b00t.mcp]\ncommand = \"npx\"\nargs = [\"-y\", \"lsp-mcp\"]\n\
             env = { LOG = \"1\" }\n[[b00t.mcp.stdio]]\ncommand = \"docker\"\npriority = 5\n",
        )
        .unwrap();
        let mcp = d.mcp.as_ref().unwrap();
        assert_eq!(mcp.stdio[0].command, "npx");
        assert_eq!(mcp.stdio[0].args, ["-y", "lsp-mcp"]);
        assert_eq!(mcp.stdio[0].env.get("LOG").map(String::as_str), Some("1"));
        assert_eq!(d.mcp_commands(), ["npx", "docker"]);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
    }

    #[test]
    fn install_desires_and_env_as_tables() {
        let d = load(
            "gopls.cli.toml",
            "[b00t]\nname = \"gopls\"\nhint = \"h\"\ninstall = { go = \"go install golang.org/x/tools/gopls@latest\", brew = \"brew install gopls\" }\n\
             desires = { version = \"0.16\", go = \"1.22\" }\n\
             [b00t.env]\nPLAIN = \"p\"\nWITH = { default = \"d\", description = \"x\" }\nSECRET = { required = true }\n",
        )
        .unwrap();
        assert_eq!(d.install, None);
        assert_eq!(
            d.install_methods,
            [
                InstallMethod {
                    method: "brew".into(),
                    script: "brew install gopls".into()
                },
                InstallMethod {
                    method: "go".into(),
                    script: "go install golang.org/x/tools/gopls@latest".into()
                },
            ]
        );
        assert_eq!(d.desires.as_deref(), Some("0.16"));
        assert_eq!(
            d.desires_by_method.get("go").map(String::as_str),
            Some("1.22")
        );
        assert_eq!(
            d.env.iter().collect::<Vec<_>>(),
            [
                (&"PLAIN".to_owned(), &"p".to_owned()),
                (&"WITH".to_owned(), &"d".to_owned())
            ]
        );
        assert_eq!(
            d.notes,
            ["`b00t.env.SECRET` has no `default`: the environment must provide `SECRET`"]
        );
        check_error(
            "x.cli.toml",
            "[b00t]\ninstall = { go = 1 }\n",
            "datums/x.cli.toml: field `b00t.install.go` is an integer, expected a string",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\ninstall = [\"a\"]\n",
            "datums/x.cli.toml: field `b00t.install` is an array, expected a string or a table of strings",
        );
    }

    #[test]
    fn stack_members_from_every_table() {
        let d = load(
            "s.stack.toml",
            "[b00t]\nname = \"s\"\nhint = \"h\"\nmembers = [\"a\"]\n[b00t.stack]\nmembers = [\"b\", \"a\"]\n[stack]\nmembers = [\"c\"]\n",
        )
        .unwrap();
        assert_eq!(d.members, ["a", "b", "c"]);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let d = load("e.stack.toml", "[b00t]\nname = \"e\"\nhint = \"h\"\n").unwrap();
        assert_eq!(
            d.notes,
            ["stack without members: list them in `members` (or `[b00t.stack] members`)"]
        );
    }

    #[test]
    fn malformed_toml_gives_line_and_column() {
        let error = load("x.cli.toml", "[b00t]\nname = \"x\"\nhint = \n").unwrap_err();
        assert!(
            error.starts_with("datums/x.cli.toml: not valid TOML at line 3, column "),
            "{error}"
        );
        assert!(error.ends_with(": fix the syntax"), "{error}");
    }

    #[test]
    fn invalid_names_and_types() {
        check_error(
            "x.cli.toml",
            "[b00t]\nname = \"Bad Name\"\n",
            "datums/x.cli.toml: datum name `Bad Name` is not valid: use lowercase letters, digits and `._+-`, starting with a letter or digit",
        );
        check_error(
            "x.cli.toml",
            "[b00t]\nname = \"x\"\ntype = \"C.L.I\"\n",
            "datums/x.cli.toml: datum type `C.L.I` is not valid: use lowercase letters, digits, `_` and `-`, e.g. `cli`",
        );
        check_error(
            "x.cli.toml",
            "[tool]\nname = \"x\"\n",
            "datums/x.cli.toml: no [b00t] table: a datum file needs a `[b00t]` table; move other TOML files out of the datums folder",
        );
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for text in [
            "",
            "\u{0}",
            "[b00t",
            "[[b00t]]",
            "[b00t]\nmcp = []\n",
            "[b00t]\n[b00t.mcp]\nstdio = [1]\n",
            "a = [[[[[[[[[[[[[[[[",
        ] {
            let _ = load("x.cli.toml", text);
            let _ = load("", text);
            let _ = load(".toml", text);
        }
        let deep = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
        let _ = load("x.cli.toml", &deep);
    }
}
