//! `Node`: an entry as the apps' files hold it (strings, lists and maps in the order they
//! are written), turned into a JSON CST value, a `serde_json::Value` or a TOML item.

use jsonc_parser::cst::CstInputValue;

/// A value of an entry, ordered as it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Str(String),
    Bool(bool),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn str(text: impl Into<String>) -> Node {
        Node::Str(text.into())
    }

    /// For the JSON files' concrete syntax tree.
    pub fn to_cst(&self) -> CstInputValue {
        match self {
            Node::Str(text) => CstInputValue::String(text.clone()),
            Node::Bool(value) => CstInputValue::Bool(*value),
            Node::List(items) => CstInputValue::Array(items.iter().map(Node::to_cst).collect()),
            Node::Map(fields) => CstInputValue::Object(
                fields
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_cst()))
                    .collect(),
            ),
        }
    }

    /// For comparing with what a file holds (key order does not matter there).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Node::Str(text) => serde_json::Value::String(text.clone()),
            Node::Bool(value) => serde_json::Value::Bool(*value),
            Node::List(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Node::Map(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(key, value)| (key.clone(), value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A TOML value; maps inline (`env = { A = "1" }`).
    pub fn to_toml_value(&self) -> toml_edit::Value {
        match self {
            Node::Str(text) => toml_edit::Value::from(text.as_str()),
            Node::Bool(value) => toml_edit::Value::from(*value),
            Node::List(items) => {
                toml_edit::Value::Array(items.iter().map(Node::to_toml_value).collect())
            }
            Node::Map(fields) => {
                let mut table = toml_edit::InlineTable::new();
                for (key, value) in fields {
                    table.insert(key, value.to_toml_value());
                }
                toml_edit::Value::InlineTable(table)
            }
        }
    }

    /// A TOML table of its own (`[mcp_servers.name]`) for a map, else a value.
    pub fn to_toml_table(&self) -> toml_edit::Item {
        match self {
            Node::Map(fields) => {
                let mut table = toml_edit::Table::new();
                for (key, value) in fields {
                    table.insert(key, toml_edit::Item::Value(value.to_toml_value()));
                }
                toml_edit::Item::Table(table)
            }
            other => toml_edit::Item::Value(other.to_toml_value()),
        }
    }
}

/// A TOML item read back as JSON, for comparing (`None` for dates, which no entry has).
pub(crate) fn toml_to_json(item: &toml_edit::Item) -> Option<serde_json::Value> {
    match item {
        toml_edit::Item::None => None,
        toml_edit::Item::Value(value) => toml_value_to_json(value),
        toml_edit::Item::Table(table) => Some(serde_json::Value::Object(
            table
                .iter()
                .filter_map(|(key, item)| Some((key.to_owned(), toml_to_json(item)?)))
                .collect(),
        )),
        toml_edit::Item::ArrayOfTables(tables) => Some(serde_json::Value::Array(
            tables
                .iter()
                .map(|table| toml_to_json(&toml_edit::Item::Table(table.clone())))
                .collect::<Option<Vec<_>>>()?,
        )),
    }
}

fn toml_value_to_json(value: &toml_edit::Value) -> Option<serde_json::Value> {
    Some(match value {
        toml_edit::Value::String(text) => serde_json::Value::String(text.value().clone()),
        toml_edit::Value::Integer(number) => serde_json::Value::from(*number.value()),
        toml_edit::Value::Float(number) => serde_json::Value::from(*number.value()),
        toml_edit::Value::Boolean(value) => serde_json::Value::Bool(*value.value()),
        toml_edit::Value::Datetime(_) => return None,
        toml_edit::Value::Array(items) => serde_json::Value::Array(
            items
                .iter()
                .map(toml_value_to_json)
                .collect::<Option<Vec<_>>>()?,
        ),
        toml_edit::Value::InlineTable(table) => serde_json::Value::Object(
            table
                .iter()
                .filter_map(|(key, value)| Some((key.to_owned(), toml_value_to_json(value)?)))
                .collect(),
        ),
    })
}
