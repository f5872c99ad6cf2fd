//! A `Server` rendered as one app's entry: the shape the table gives (`type`, `url` or
//! `serverUrl`, extra fields), with secrets referenced the app's way, or their values when
//! the user asks for them in clear.

use crate::app::{App, SecretStyle};
use crate::error::WireError;
use crate::node::Node;
use crate::server::{Server, Text, Transport};

/// What wiring one server into one app writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name under the app's key.
    pub name: String,
    pub value: Node,
    /// VS Code's `inputs` prompts the entry refers to.
    pub inputs: Vec<Input>,
    /// Sentences for the user: what was left out and why.
    pub notes: Vec<String>,
}

/// A VS Code `inputs` prompt (`promptString`, `password: true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub id: String,
    pub description: String,
}

impl Input {
    pub fn to_node(&self) -> Node {
        Node::Map(vec![
            ("type".into(), Node::str("promptString")),
            ("id".into(), Node::str(&self.id)),
            ("description".into(), Node::str(&self.description)),
            ("password".into(), Node::Bool(true)),
        ])
    }
}

/// Where secret values come from when they are written in clear.
pub struct Secrets<'a> {
    /// Write values instead of references (`--with-secrets`).
    pub in_clear: bool,
    /// Reads a variable (the process environment, in the binary).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("in_clear", &self.in_clear)
            .finish_non_exhaustive()
    }
}

/// `server` as `app` writes it.
pub fn render(app: &App, server: &Server, secrets: &Secrets<'_>) -> Result<Entry, WireError> {
    let mut out = Renderer {
        app,
        server,
        secrets,
        inputs: Vec::new(),
        notes: Vec::new(),
    };
    let mut fields: Vec<(String, Node)> = Vec::new();
    match &server.transport {
        Transport::Stdio { command, args, env } => {
            if let Some(kind) = &app.stdio_type {
                fields.push(("type".into(), Node::str(kind)));
            }
            fields.push(("command".into(), Node::str(command)));
            let args = args
                .iter()
                .map(|arg| out.arg(arg).map(Node::Str))
                .collect::<Result<Vec<_>, _>>()?;
            fields.push(("args".into(), Node::List(args)));
            let (env, forwarded) = out.env(env)?;
            if !env.is_empty() {
                fields.push(("env".into(), Node::Map(env)));
            }
            if !forwarded.is_empty() {
                fields.push((
                    "env_vars".into(),
                    Node::List(forwarded.into_iter().map(Node::Str).collect()),
                ));
            }
        }
        Transport::Remote { url, headers } => {
            let Some(url_key) = &app.url_key else {
                return Err(WireError::RemoteUnsupported {
                    app: app.title.clone(),
                    server: server.name.clone(),
                    url: url.clone(),
                });
            };
            if let Some(kind) = &app.remote_type {
                fields.push(("type".into(), Node::str(kind)));
            }
            fields.push((url_key.clone(), Node::str(url)));
            out.headers(headers, &mut fields)?;
        }
    }
    for (key, value) in &app.extra {
        let node = match value {
            toml::Value::Boolean(value) => Node::Bool(*value),
            toml::Value::String(text) => Node::str(text),
            other => Node::str(other.to_string()),
        };
        fields.push((key.clone(), node));
    }
    Ok(Entry {
        name: server.name.clone(),
        value: Node::Map(fields),
        inputs: out.inputs,
        notes: out.notes,
    })
}

/// An entry's fields, in order.
type Fields = Vec<(String, Node)>;

struct Renderer<'a> {
    app: &'a App,
    server: &'a Server,
    secrets: &'a Secrets<'a>,
    inputs: Vec<Input>,
    notes: Vec<String>,
}

impl Renderer<'_> {
    /// The `env` map, and (Codex) the variables forwarded with `env_vars`.
    fn env(&mut self, env: &[(String, Text)]) -> Result<(Fields, Vec<String>), WireError> {
        let mut written = Vec::new();
        let mut forwarded = Vec::new();
        for (name, text) in env {
            if text.vars().next().is_none() {
                written.push((name.clone(), Node::str(text.render(|_| String::new()))));
                continue;
            }
            if self.secrets.in_clear {
                written.push((name.clone(), Node::Str(self.clear(text)?)));
                continue;
            }
            match self.app.secrets {
                SecretStyle::EnvVars | SecretStyle::Inherit => {
                    if text.as_single_var() != Some(name.as_str()) {
                        self.notes.push(format!(
                            "`{name}` of `{}` is `{}` in its datum, which {} cannot compute: set `{name}` in {}'s environment, or pass --with-secrets to write the value",
                            self.server.name,
                            text.render(|var| format!("${{{var}}}")),
                            self.app.title,
                            self.app.title,
                        ));
                    }
                    if self.app.secrets == SecretStyle::EnvVars {
                        forwarded.push(name.clone());
                    } else {
                        self.notes.push(format!(
                            "`{name}` of `{}` is left out of {}'s file: the server inherits it from {}'s environment (or pass --with-secrets to write the value)",
                            self.server.name, self.app.title, self.app.title,
                        ));
                    }
                }
                _ => written.push((name.clone(), Node::Str(self.reference(text)))),
            }
        }
        Ok((written, forwarded))
    }

    /// One argument: a variable in it referred to the app's way, or its value with
    /// `--with-secrets`; an app that expands nothing in arguments cannot take one.
    fn arg(&mut self, text: &Text) -> Result<String, WireError> {
        if text.vars().next().is_none() {
            return Ok(text.render(|_| String::new()));
        }
        if self.secrets.in_clear {
            return self.clear(text);
        }
        match self.app.secrets {
            SecretStyle::EnvVars | SecretStyle::Inherit => Err(WireError::ArgNeedsExpansion {
                app: self.app.title.clone(),
                server: self.server.name.clone(),
                arg: text.render(|var| format!("${{{var}}}")),
            }),
            _ => Ok(self.reference(text)),
        }
    }

    /// The headers of a remote entry, into `fields`.
    fn headers(
        &mut self,
        headers: &[(String, Text)],
        fields: &mut Vec<(String, Node)>,
    ) -> Result<(), WireError> {
        let Some(key) = &self.app.headers_key else {
            return Ok(());
        };
        let mut literal = Vec::new();
        let mut from_env = Vec::new();
        let mut bearer = None;
        for (name, text) in headers {
            if text.vars().next().is_none() {
                literal.push((name.clone(), Node::str(text.render(|_| String::new()))));
            } else if self.secrets.in_clear {
                literal.push((name.clone(), Node::Str(self.clear(text)?)));
            } else {
                match self.app.secrets {
                    SecretStyle::EnvVars => {
                        let parts = &text.0;
                        if let Some(var) = text.as_single_var() {
                            from_env.push((name.clone(), Node::str(var)));
                        } else if name.eq_ignore_ascii_case("authorization")
                            && matches!(parts.as_slice(), [crate::server::Part::Literal(l), crate::server::Part::Var(_)] if l.trim().eq_ignore_ascii_case("bearer"))
                        {
                            bearer = text.vars().next().map(str::to_owned);
                        } else {
                            self.notes.push(format!(
                                "header `{name}` of `{}` mixes text and variables, which {} cannot compute: left out (pass --with-secrets to write the value)",
                                self.server.name, self.app.title
                            ));
                        }
                    }
                    SecretStyle::Inherit => self.notes.push(format!(
                        "header `{name}` of `{}` needs a secret, and {} has no way to refer to one: left out (pass --with-secrets to write the value)",
                        self.server.name, self.app.title
                    )),
                    _ => literal.push((name.clone(), Node::Str(self.reference(text)))),
                }
            }
        }
        if !literal.is_empty() {
            fields.push((key.clone(), Node::Map(literal)));
        }
        if !from_env.is_empty() {
            fields.push(("env_http_headers".into(), Node::Map(from_env)));
        }
        if let Some(var) = bearer {
            fields.push(("bearer_token_env_var".into(), Node::Str(var)));
        }
        Ok(())
    }

    /// The value with each variable written as the app refers to one.
    fn reference(&mut self, text: &Text) -> String {
        let style = self.app.secrets;
        for var in text.vars() {
            if style == SecretStyle::Input && !self.inputs.iter().any(|input| input.id == var) {
                self.inputs.push(Input {
                    id: var.to_owned(),
                    description: format!("{var} for the {} MCP server (b00t)", self.server.name),
                });
            }
        }
        text.render(|var| match style {
            SecretStyle::Env => format!("${{env:{var}}}"),
            SecretStyle::Input => format!("${{input:{var}}}"),
            _ => format!("${{{var}}}"),
        })
    }

    /// The value with each variable's value from the environment.
    fn clear(&self, text: &Text) -> Result<String, WireError> {
        for var in text.vars() {
            if (self.secrets.lookup)(var).is_none() {
                return Err(WireError::SecretUnset {
                    var: var.to_owned(),
                    server: self.server.name.clone(),
                });
            }
        }
        Ok(text.render(|var| (self.secrets.lookup)(var).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::app;

    fn server() -> Server {
        Server {
            name: "gh".into(),
            datum: "gh.mcp".into(),
            transport: Transport::Stdio {
                command: "npx".into(),
                args: vec![],
                env: vec![("GH_TOKEN".into(), Text::var("GH_TOKEN"))],
            },
        }
    }

    fn env_of(entry: &Entry) -> serde_json::Value {
        entry.value.to_json()["env"].clone()
    }

    #[test]
    fn secrets_are_referenced_each_apps_way() {
        let none = Secrets {
            in_clear: false,
            lookup: &|_| Some("ghp_secret".into()),
        };
        let env = |name: &str| env_of(&render(app(name).unwrap(), &server(), &none).unwrap());
        assert_eq!(env("claude-code")["GH_TOKEN"], "${GH_TOKEN}");
        assert_eq!(env("cursor")["GH_TOKEN"], "${env:GH_TOKEN}");
        assert_eq!(env("windsurf")["GH_TOKEN"], "${env:GH_TOKEN}");
        assert_eq!(env("vscode")["GH_TOKEN"], "${input:GH_TOKEN}");
        assert!(env("zed").is_null() && env("claude-desktop").is_null());
        let codex = render(app("codex").unwrap(), &server(), &none).unwrap();
        assert_eq!(
            codex.value.to_json()["env_vars"],
            serde_json::json!(["GH_TOKEN"])
        );
        let text = format!("{:?}", [env("zed"), codex.value.to_json()]);
        assert!(!text.contains("ghp_secret"), "{text}");
    }

    #[test]
    fn with_secrets_writes_values_or_names_the_missing_one() {
        let clear = Secrets {
            in_clear: true,
            lookup: &|name| (name == "GH_TOKEN").then(|| "ghp_secret".to_owned()),
        };
        let entry = render(app("zed").unwrap(), &server(), &clear).unwrap();
        assert_eq!(env_of(&entry)["GH_TOKEN"], "ghp_secret");
        let unset = Secrets {
            in_clear: true,
            lookup: &|_| None,
        };
        let error = render(app("cursor").unwrap(), &server(), &unset)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`GH_TOKEN` (needed by `gh`) is not set"),
            "{error}"
        );
    }

    #[test]
    fn variables_in_arguments_are_expanded_by_the_apps_that_can() {
        let server = Server {
            transport: Transport::Stdio {
                command: "gh-mcp".into(),
                args: vec![
                    Text::from("--read-only"),
                    Text::parse("--token=${GH_TOKEN}"),
                ],
                env: vec![],
            },
            ..server()
        };
        let none = Secrets {
            in_clear: false,
            lookup: &|_| Some("ghp_secret".into()),
        };
        let args = |name: &str| {
            render(app(name).unwrap(), &server, &none)
                .map(|entry| entry.value.to_json()["args"].clone())
                .map_err(|e| e.to_string())
        };
        let expected = |token: &str| Ok(serde_json::json!(["--read-only", token]));
        assert_eq!(args("claude-code"), expected("--token=${GH_TOKEN}"));
        assert_eq!(args("cursor"), expected("--token=${env:GH_TOKEN}"));
        assert_eq!(args("windsurf"), expected("--token=${env:GH_TOKEN}"));
        assert_eq!(args("vscode"), expected("--token=${input:GH_TOKEN}"));
        let vscode = render(app("vscode").unwrap(), &server, &none).unwrap();
        assert_eq!(vscode.inputs.len(), 1, "a prompt for the variable");
        for name in ["codex", "zed", "claude-desktop"] {
            let error = args(name).unwrap_err();
            assert!(
                error.contains("the argument `--token=${GH_TOKEN}` of `gh` names a variable")
                    && error.contains("--with-secrets"),
                "{name}: {error}"
            );
        }
        let clear = Secrets {
            in_clear: true,
            lookup: &|_| Some("ghp_secret".into()),
        };
        let codex = render(app("codex").unwrap(), &server, &clear).unwrap();
        assert_eq!(
            codex.value.to_json()["args"],
            serde_json::json!(["--read-only", "--token=ghp_secret"])
        );
    }
}
