//! An app's config file as an editable document: JSON (comments allowed) through
//! jsonc-parser's concrete syntax tree, TOML through toml_edit, so that everything b00t does
//! not touch (other servers, other keys, comments, order, indentation) is written back as it
//! was.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstObject, CstRootNode};
use jsonc_parser::ParseOptions;

use crate::app::Format;
use crate::error::WireError;
use crate::node::{toml_to_json, Node};
use crate::render::Input;

/// One parsed file.
pub enum Document {
    Json {
        path: PathBuf,
        root: CstRootNode,
    },
    Toml {
        path: PathBuf,
        doc: toml_edit::DocumentMut,
    },
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// What a description of a VS Code input b00t wrote ends with.
const INPUT_MARK: &str = "(b00t)";

impl Document {
    /// Parses `text`, the contents of `path` (empty for a file that does not exist yet).
    pub fn parse(format: Format, path: &Path, text: &str) -> Result<Document, WireError> {
        let parse_error = |message: String| WireError::Parse {
            path: path.to_owned(),
            message,
        };
        match format {
            Format::Json => {
                let text = if text.trim().is_empty() {
                    "{\n}\n"
                } else {
                    text
                };
                let root = CstRootNode::parse(text, &ParseOptions::default())
                    .map_err(|error| parse_error(error.to_string()))?;
                if root.value().is_some() && root.object_value().is_none() {
                    return Err(parse_error(
                        "the file holds a JSON value that is not an object".to_owned(),
                    ));
                }
                Ok(Document::Json {
                    path: path.to_owned(),
                    root,
                })
            }
            Format::Toml => {
                let doc = text
                    .parse::<toml_edit::DocumentMut>()
                    .map_err(|error| parse_error(error.to_string()))?;
                Ok(Document::Toml {
                    path: path.to_owned(),
                    doc,
                })
            }
        }
    }

    /// Every entry under `key`, with its value as JSON (`None` when it cannot be read).
    pub fn entries(&self, key: &str) -> Result<Vec<(String, serde_json::Value)>, WireError> {
        match self {
            Document::Json { path, root } => {
                let Some(servers) = json_servers(path, root, key)? else {
                    return Ok(Vec::new());
                };
                let mut entries = Vec::new();
                for prop in servers.properties() {
                    let Some(name) = prop.name().and_then(|name| name.decoded_value().ok()) else {
                        continue;
                    };
                    let value = prop
                        .value()
                        .and_then(|value| {
                            jsonc_parser::parse_to_serde_value(
                                &value.to_string(),
                                &ParseOptions::default(),
                            )
                            .ok()
                            .flatten()
                        })
                        .unwrap_or(serde_json::Value::Null);
                    entries.push((name, value));
                }
                Ok(entries)
            }
            Document::Toml { path, doc } => {
                let Some(item) = doc.get(key) else {
                    return Ok(Vec::new());
                };
                let Some(table) = item.as_table_like() else {
                    return Err(WireError::Parse {
                        path: path.clone(),
                        message: format!("`{key}` is not a table"),
                    });
                };
                Ok(table
                    .iter()
                    .map(|(name, item)| {
                        (
                            name.to_owned(),
                            toml_to_json(item).unwrap_or(serde_json::Value::Null),
                        )
                    })
                    .collect())
            }
        }
    }

    /// The entry `name` under `key`.
    pub fn entry(&self, key: &str, name: &str) -> Result<Option<serde_json::Value>, WireError> {
        Ok(self
            .entries(key)?
            .into_iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value))
    }

    /// Writes `value` as the entry `name` under `key`, in place when it exists, else last.
    pub fn set(&mut self, key: &str, name: &str, value: &Node) -> Result<(), WireError> {
        match self {
            Document::Json { path, root } => {
                let servers = json_servers_or_set(path, root, key)?;
                match servers.get(name) {
                    Some(prop) => prop.set_value(value.to_cst()),
                    None => {
                        servers.append(name, value.to_cst());
                    }
                }
                Ok(())
            }
            Document::Toml { path, doc } => {
                let servers = toml_servers_or_set(path, doc, key)?;
                servers.insert(name, value.to_toml_table());
                Ok(())
            }
        }
    }

    /// Removes the entry `name` under `key`; whether there was one.
    pub fn remove(&mut self, key: &str, name: &str) -> Result<bool, WireError> {
        match self {
            Document::Json { path, root } => {
                let Some(servers) = json_servers(path, root, key)? else {
                    return Ok(false);
                };
                match servers.get(name) {
                    Some(prop) => {
                        prop.remove();
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Document::Toml { doc, .. } => Ok(doc
                .get_mut(key)
                .and_then(|item| item.as_table_like_mut())
                .and_then(|table| table.remove(name))
                .is_some()),
        }
    }

    /// VS Code: adds each prompt to the top-level `inputs` that is not there yet.
    pub fn add_inputs(&mut self, inputs: &[Input]) {
        let Document::Json { root, .. } = self else {
            return;
        };
        if inputs.is_empty() {
            return;
        }
        let Some(object) = root.object_value() else {
            return;
        };
        let known = input_ids(&object);
        let array = object.array_value_or_set("inputs");
        for input in inputs {
            if !known.contains(&input.id) {
                array.append(input.to_node().to_cst());
            }
        }
    }

    /// VS Code: removes the prompts b00t added (their description ends with `(b00t)`) that
    /// no entry under `key` refers to any more.
    pub fn prune_inputs(&mut self, key: &str) -> Result<(), WireError> {
        let referenced = {
            let entries = self.entries(key)?;
            serde_json::to_string(&entries).unwrap_or_default()
        };
        let Document::Json { root, .. } = self else {
            return Ok(());
        };
        let Some(array) = root.object_value().and_then(|o| o.array_value("inputs")) else {
            return Ok(());
        };
        for element in array.elements() {
            let Some(object) = element.as_object() else {
                continue;
            };
            let text = |field: &str| {
                object
                    .get(field)
                    .and_then(|prop| prop.value())
                    .and_then(|value| value.as_string_lit())
                    .and_then(|lit| lit.decoded_value().ok())
            };
            let (Some(id), Some(description)) = (text("id"), text("description")) else {
                continue;
            };
            if description.ends_with(INPUT_MARK)
                && !referenced.contains(&format!("${{input:{id}}}"))
            {
                element.remove();
            }
        }
        Ok(())
    }

    /// The file's new text.
    pub fn render(&self) -> String {
        match self {
            Document::Json { root, .. } => root.to_string(),
            Document::Toml { doc, .. } => doc.to_string(),
        }
    }
}

fn input_ids(object: &CstObject) -> Vec<String> {
    let Some(array) = object.array_value("inputs") else {
        return Vec::new();
    };
    array
        .elements()
        .into_iter()
        .filter_map(|element| {
            let id = element
                .as_object()?
                .get("id")?
                .value()?
                .as_string_lit()?
                .decoded_value()
                .ok()?;
            Some(id)
        })
        .collect()
}

fn json_servers(
    path: &Path,
    root: &CstRootNode,
    key: &str,
) -> Result<Option<CstObject>, WireError> {
    let Some(object) = root.object_value() else {
        return Ok(None);
    };
    let Some(prop) = object.get(key) else {
        return Ok(None);
    };
    match prop.object_value() {
        Some(servers) => Ok(Some(servers)),
        None => Err(WireError::Parse {
            path: path.to_owned(),
            message: format!("`{key}` is not an object"),
        }),
    }
}

fn json_servers_or_set(path: &Path, root: &CstRootNode, key: &str) -> Result<CstObject, WireError> {
    if let Some(servers) = json_servers(path, root, key)? {
        return Ok(servers);
    }
    Ok(root.object_value_or_set().object_value_or_set(key))
}

fn toml_servers_or_set<'a>(
    path: &Path,
    doc: &'a mut toml_edit::DocumentMut,
    key: &str,
) -> Result<&'a mut toml_edit::Table, WireError> {
    let item = doc.entry(key).or_insert_with(|| {
        let mut table = toml_edit::Table::new();
        table.set_implicit(true);
        toml_edit::Item::Table(table)
    });
    item.as_table_mut().ok_or_else(|| WireError::Parse {
        path: path.to_owned(),
        message: format!("`{key}` is not a table: write it as `[{key}.<name>]` tables"),
    })
}
