//! What is wired: a `Server` (a name and how to reach it), made from an MCP datum or for the
//! bus itself; values that name environment variables (`${VAR}`) are kept as `Text` parts so
//! each app gets its own way of referring to them.

use std::path::Path;

use b00t_datums::Datum;

use crate::error::WireError;

/// One MCP server to wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    /// The entry's name in the app's file: the datum's name.
    pub name: String,
    /// The datum it came from (`github.mcp`), or `b00t` for the bus.
    pub datum: String,
    pub transport: Transport,
}

/// How the app reaches the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The app starts it as a child process.
    Stdio {
        command: String,
        /// Each argument; `${VAR}` in one is a variable, which the app expands (or, for
        /// an app that cannot, a value written only with `--with-secrets`).
        args: Vec<Text>,
        env: Vec<(String, Text)>,
    },
    /// Streamable HTTP at `url`.
    Remote {
        url: String,
        headers: Vec<(String, Text)>,
    },
}

/// A value that may name environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(pub Vec<Part>);

/// A piece of a `Text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// A secret (or any value) taken from the environment variable of this name.
    Var(String),
}

impl Text {
    pub fn literal(text: &str) -> Text {
        Text(vec![Part::Literal(text.to_owned())])
    }

    pub fn var(name: &str) -> Text {
        Text(vec![Part::Var(name.to_owned())])
    }

    /// `${VAR}` and `$VAR` (and `${env:VAR}`) read as variables, the rest literal.
    pub fn parse(text: &str) -> Text {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            literal.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => {
                        let name = inner[..end].trim_start_matches("env:");
                        (name, end + 2)
                    }
                    None => ("", 0),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            };
            if is_var_name(name) {
                if !literal.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(name.to_owned()));
                rest = &after[consumed..];
            } else {
                literal.push('$');
                rest = after;
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() || parts.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Text(parts)
    }

    /// The variables it names.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|part| match part {
            Part::Var(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The single variable the whole value is, if it is one.
    pub fn as_single_var(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Part::Var(name)] => Some(name),
            _ => None,
        }
    }

    /// Each variable written as `reference` makes it.
    pub fn render(&self, reference: impl Fn(&str) -> String) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.clone(),
                Part::Var(name) => reference(name),
            })
            .collect()
    }
}

/// A datum's argument: only the braced `${VAR}` (or `${env:VAR}`) names a variable in
/// one, since a bare `$NAME` there is usually a shell's own (`sh -c 'echo $HOME'`).
fn arg_value(arg: &str) -> Text {
    match arg.contains("${") {
        true => Text::parse(arg),
        false => Text::literal(arg),
    }
}

impl From<&str> for Text {
    /// A literal: nothing in it is a variable.
    fn from(text: &str) -> Text {
        Text::literal(text)
    }
}

fn is_var_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether an environment variable's name says it holds a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "APIKEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|word| upper.contains(word))
        || ["_KEY", "_PAT", "_AUTH"]
            .iter()
            .any(|end| upper.ends_with(end))
        || upper == "PAT"
}

impl Server {
    /// The server an MCP datum describes: its first stdio method by priority, else its
    /// first remote endpoint by priority (`[[b00t.mcp.httpstream]]`, headers included). The datum's `env` and the stdio method's `env` are the server's
    /// environment; a variable whose name looks secret, or whose value names a variable,
    /// comes from the environment; upper-case `requires` entries are variables it needs.
    pub fn from_datum(datum: &Datum) -> Result<Server, WireError> {
        let no_method = || WireError::NotAnMcpServer {
            datum: datum.id.to_string(),
            path: datum.path.clone(),
        };
        let methods = datum.mcp_stdio();
        let transport = if let Some(method) = methods.first() {
            let mut env: Vec<(String, Text)> = Vec::new();
            let mut add = |name: &str, text: Text| {
                if let Some(slot) = env.iter_mut().find(|(known, _)| known == name) {
                    slot.1 = text;
                } else {
                    env.push((name.to_owned(), text));
                }
            };
            for (name, value) in datum.env.iter().chain(method.env.iter()) {
                add(name, env_value(name, value));
            }
            for required in &method.requires {
                if is_var_name(required)
                    && required.to_ascii_uppercase() == *required
                    && !datum.env.contains_key(required)
                    && !method.env.contains_key(required)
                {
                    add(required, Text::var(required));
                }
            }
            Transport::Stdio {
                command: method.command.clone(),
                args: method.args.iter().map(|arg| arg_value(arg)).collect(),
                env,
            }
        } else if let Some(http) = datum.mcp_remote().first() {
            Transport::Remote {
                url: http.url.clone(),
                headers: http
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), Text::parse(value)))
                    .collect(),
            }
        } else {
            return Err(no_method());
        };
        Ok(Server {
            name: datum.name.clone(),
            datum: datum.id.to_string(),
            transport,
        })
    }

    /// The bus itself: `b00t mcp serve --home <home>`, started by the app over stdio.
    pub fn bus(b00t: &Path, home: &Path) -> Server {
        Server {
            name: "b00t".to_owned(),
            datum: "b00t".to_owned(),
            transport: Transport::Stdio {
                command: b00t.display().to_string(),
                args: vec![
                    Text::literal("mcp"),
                    Text::literal("serve"),
                    Text::literal("--home"),
                    Text::literal(&home.display().to_string()),
                ],
                env: Vec::new(),
            },
        }
    }

    /// Every variable the server takes from the environment.
    pub fn vars(&self) -> Vec<&str> {
        let texts: Vec<&Text> = match &self.transport {
            Transport::Stdio { args, env, .. } => args
                .iter()
                .chain(env.iter().map(|(_, text)| text))
                .collect(),
            Transport::Remote { headers, .. } => headers.iter().map(|(_, text)| text).collect(),
        };
        let mut vars: Vec<&str> = Vec::new();
        for var in texts.into_iter().flat_map(Text::vars) {
            if !vars.contains(&var) {
                vars.push(var);
            }
        }
        vars
    }
}

/// A datum's env value: a variable reference as written, a secret-looking name's value from
/// the environment (the datum's value is a placeholder or a default nobody should ship),
/// anything else literal.
fn env_value(name: &str, value: &str) -> Text {
    let text = Text::parse(value);
    if text.vars().next().is_some() {
        text
    } else if looks_secret(name) {
        Text::var(name)
    } else {
        Text::literal(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datum(text: &str) -> Datum {
        Datum::from_toml(Path::new("d/x.mcp.toml"), Path::new("d"), text).unwrap()
    }

    #[test]
    fn only_braced_variables_count_in_arguments() {
        assert_eq!(arg_value("echo $HOME"), Text::literal("echo $HOME"));
        assert_eq!(
            arg_value("--token=${GH_TOKEN}"),
            Text(vec![
                Part::Literal("--token=".into()),
                Part::Var("GH_TOKEN".into())
            ])
        );
        assert_eq!(arg_value("${env:DIR}"), Text::var("DIR"));
    }

    #[test]
    fn text_reads_variables_in_every_spelling() {
        assert_eq!(Text::parse("plain"), Text::literal("plain"));
        assert_eq!(Text::parse("${A}"), Text::var("A"));
        assert_eq!(Text::parse("${env:A}"), Text::var("A"));
        assert_eq!(
            Text::parse("Bearer $TOKEN!"),
            Text(vec![
                Part::Literal("Bearer ".into()),
                Part::Var("TOKEN".into()),
                Part::Literal("!".into())
            ])
        );
        assert_eq!(Text::parse("costs $5"), Text::literal("costs $5"));
        assert_eq!(Text::parse("${unclosed"), Text::literal("${unclosed"));
        assert_eq!(Text::parse(""), Text::literal(""));
    }

    #[test]
    fn a_stdio_datum_with_secrets_from_env_and_requires() {
        let d = datum(
            "[b00t]\nname = \"gh\"\ntype = \"mcp\"\nhint = \"h\"\n\
             [b00t.env]\nGITHUB_TOKEN = \"your-token-here\"\nLOG = \"info\"\n\
             [[b00t.mcp.stdio]]\ncommand = \"docker\"\npriority = 2\n\
             [[b00t.mcp.stdio]]\ncommand = \"npx\"\nargs = [\"-y\", \"gh\"]\npriority = 1\n\
             requires = [\"node\", \"BRAVE_API_KEY\"]\nenv = { URL = \"${BASE}/x\" }\n",
        );
        let server = Server::from_datum(&d).unwrap();
        assert_eq!(server.name, "gh");
        assert_eq!(server.datum, "gh.mcp");
        let Transport::Stdio { command, args, env } = &server.transport else {
            panic!("stdio expected");
        };
        assert_eq!(command, "npx");
        assert_eq!(args, &[Text::from("-y"), Text::from("gh")]);
        assert_eq!(
            env,
            &[
                ("GITHUB_TOKEN".to_owned(), Text::var("GITHUB_TOKEN")),
                ("LOG".to_owned(), Text::literal("info")),
                (
                    "URL".to_owned(),
                    Text(vec![Part::Var("BASE".into()), Part::Literal("/x".into())])
                ),
                ("BRAVE_API_KEY".to_owned(), Text::var("BRAVE_API_KEY")),
            ]
        );
        assert_eq!(server.vars(), ["GITHUB_TOKEN", "BASE", "BRAVE_API_KEY"]);
    }

    #[test]
    fn a_remote_datum_and_the_bus() {
        let d = datum(
            "[b00t]\nname = \"web\"\ntype = \"mcp\"\nhint = \"h\"\n\
             [[b00t.mcp.httpstream]]\nurl = \"https://backup.example.com/mcp\"\npriority = 2\n\
             [[b00t.mcp.httpstream]]\nurl = \"https://example.com/mcp\"\npriority = 1\n\
             headers = { Authorization = \"Bearer ${API_KEY}\" }\n",
        );
        assert_eq!(
            Server::from_datum(&d).unwrap().transport,
            Transport::Remote {
                url: "https://example.com/mcp".into(),
                headers: vec![(
                    "Authorization".into(),
                    Text(vec![
                        Part::Literal("Bearer ".into()),
                        Part::Var("API_KEY".into())
                    ])
                )]
            }
        );
        let bus = Server::bus(Path::new("/bin/b00t"), Path::new("/home/me/b00t"));
        assert_eq!(
            bus.transport,
            Transport::Stdio {
                command: "/bin/b00t".into(),
                args: vec![
                    "mcp".into(),
                    "serve".into(),
                    "--home".into(),
                    "/home/me/b00t".into()
                ],
                env: Vec::new()
            }
        );
        let cli = datum("[b00t]\nname = \"jq\"\ntype = \"cli\"\nhint = \"h\"\n");
        let error = Server::from_datum(&cli).unwrap_err().to_string();
        assert!(
            error.contains("`jq.cli`") && error.contains("not an MCP server"),
            "{error}"
        );
    }
}
