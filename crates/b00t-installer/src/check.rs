//! Installed detection: run the datum's `version` command, extract the version with
//! `version_regex`, compare it with `desires`. apt datums without a `version` ask dpkg;
//! Docker datums ask the engine; MCP datums look for their commands on PATH.

use std::cmp::Ordering;
use std::time::Duration;

use b00t_datums::{Datum, DatumType, Environment};
use regex::Regex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::runner::{self, Program};

/// A node's state in a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Missing,
    Outdated,
    Ok,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Missing => "missing",
            State::Outdated => "outdated",
            State::Ok => "ok",
        }
    }
}

/// What a check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub state: State,
    /// The installed version, when one was read.
    pub version: Option<String>,
    /// How it was decided, for people: "`jq --version` printed 1.6".
    pub detail: String,
}

/// The regex used when a datum gives a `version` but no `version_regex`.
const DEFAULT_REGEX: &str = r"\d+\.\d+(?:\.\d+)?";

/// Checks whether `datum` is installed.
pub async fn check(
    datum: &Datum,
    env: &(dyn Environment + Sync),
    timeout: Duration,
    stop: &CancellationToken,
) -> Found {
    if let Some(command) = datum.version.as_deref() {
        return by_version_command(datum, command, timeout, stop).await;
    }
    match &datum.kind {
        DatumType::Apt => by_dpkg(datum, timeout, stop).await,
        DatumType::Docker => by_image(datum).await,
        DatumType::Mcp => by_commands(datum, env),
        DatumType::Cli => {
            let names = std::iter::once(datum.name.as_str())
                .chain(datum.aliases.iter().map(String::as_str));
            for name in names {
                if env.has_command(name) {
                    return found(
                        State::Ok,
                        None,
                        format!("`{name}` is on PATH (no `version` command to ask)"),
                    );
                }
            }
            found(
                State::Missing,
                None,
                format!("`{}` is not on PATH", datum.name),
            )
        }
        DatumType::Stack if datum.members.is_empty() => found(
            State::Missing,
            None,
            "a stack without members: list them in `members`".into(),
        ),
        // A stack is as installed as its members: the plan decides.
        DatumType::Stack => found(State::Ok, None, "a stack installs nothing itself".into()),
        _ => found(
            State::Missing,
            None,
            "no `version` command to check it with".into(),
        ),
    }
}

fn found(state: State, version: Option<String>, detail: String) -> Found {
    Found {
        state,
        version,
        detail,
    }
}

async fn by_version_command(
    datum: &Datum,
    command: &str,
    timeout: Duration,
    stop: &CancellationToken,
) -> Found {
    // The command comes from the datum file, which the operator placed in the catalog;
    // nothing from a message reaches it.
    let program = Program::new("bash", &["-c", command]);
    let done = runner::run(&program, timeout, stop, None).await;
    let pattern = datum.version_regex.as_deref().unwrap_or(DEFAULT_REGEX);
    let regex = match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => {
            return found(
                State::Missing,
                None,
                format!(
                    "`version_regex` of `{}` is not a valid regex: {e}",
                    datum.id
                ),
            )
        }
    };
    // A command that fails says the tool is not working, whatever it printed: an error
    // message's timestamp (`E1201 20:18:18.501803`) is not a version.
    if !done.success() {
        let why = match &done.exit {
            runner::Exit::Code(Some(127)) => "found no such command".to_owned(),
            runner::Exit::Code(Some(code)) => {
                let last = done.output.lines().rev().find(|l| !l.trim().is_empty());
                match last {
                    Some(line) => format!(
                        "exited with code {code}: {}",
                        line.trim().chars().take(200).collect::<String>()
                    ),
                    None => format!("exited with code {code}"),
                }
            }
            _ => done.describe(command, timeout),
        };
        return found(State::Missing, None, format!("`{command}` {why}"));
    }
    let version = regex.captures(&done.output).map(|c| {
        c.get(1)
            .or_else(|| c.get(0))
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default()
    });
    match version {
        Some(v) if !v.is_empty() => judge(datum, v, format!("`{command}`")),
        _ => found(
            State::Missing,
            None,
            format!("`{command}` printed no version matching `{pattern}`"),
        ),
    }
}

fn judge(datum: &Datum, version: String, how: String) -> Found {
    match datum.desires.as_deref() {
        Some(desired) if compare(&version, desired) == Some(Ordering::Less) => found(
            State::Outdated,
            Some(version.clone()),
            format!("{how} gives {version}, older than the desired {desired}"),
        ),
        _ => found(
            State::Ok,
            Some(version.clone()),
            format!("{how} gives {version}"),
        ),
    }
}

async fn by_dpkg(datum: &Datum, timeout: Duration, stop: &CancellationToken) -> Found {
    let package = datum.package();
    if !crate::methods::valid_package(package) {
        return found(
            State::Missing,
            None,
            format!("`{package}` is not a valid Debian package name"),
        );
    }
    let program = Program::new(
        "dpkg-query",
        &["-W", "-f=${Status}\t${Version}\n", "--", package],
    );
    let done = runner::run(&program, timeout, stop, None).await;
    let line = done.output.lines().next().unwrap_or("");
    match line.split_once('\t') {
        Some((status, version)) if done.success() && status.ends_with(" installed") => {
            judge(datum, version.to_owned(), format!("dpkg says `{package}`"))
        }
        _ => found(
            State::Missing,
            None,
            format!("package `{package}` is not installed"),
        ),
    }
}

async fn by_image(datum: &Datum) -> Found {
    let Some(image) = datum.image.as_deref() else {
        return found(State::Missing, None, "no `image` to look for".into());
    };
    match crate::docker::image_present(image).await {
        Ok(Some(id)) => found(
            State::Ok,
            image.rsplit_once(':').map(|(_, tag)| tag.to_owned()),
            format!("image `{image}` is present ({})", short(&id)),
        ),
        Ok(None) => found(
            State::Missing,
            None,
            format!("image `{image}` is not present"),
        ),
        Err(e) => found(State::Missing, None, e),
    }
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn by_commands(datum: &Datum, env: &(dyn Environment + Sync)) -> Found {
    let commands = datum.mcp_commands();
    if commands.is_empty() {
        if datum.mcp_remote().is_empty() {
            return found(
                State::Missing,
                None,
                "no `[[b00t.mcp.stdio]]`, `[b00t.mcp] command` or `[b00t.mcp.httpstream]`: nothing to start or reach".into(),
            );
        }
        return found(
            State::Ok,
            None,
            "a remote MCP server: nothing to install".into(),
        );
    }
    let missing: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|c| !env.has_command(c))
        .collect();
    if missing.is_empty() {
        found(
            State::Ok,
            None,
            format!("`{}` is on PATH", commands.join("`, `")),
        )
    } else {
        found(
            State::Missing,
            None,
            format!("`{}` is not on PATH", missing.join("`, `")),
        )
    }
}

/// Compares two versions by their numeric parts (`1.7.1` > `1.6`, `v20.1` = `20.1.0`).
/// `None` when either has no number to compare.
pub fn compare(installed: &str, desired: &str) -> Option<Ordering> {
    let numbers = |s: &str| -> Vec<u64> {
        // A Debian epoch (`1:7.88.1`) is not part of the version people compare.
        let s = match s.split_once(':') {
            Some((epoch, rest))
                if !epoch.is_empty() && epoch.chars().all(|c| c.is_ascii_digit()) =>
            {
                rest
            }
            _ => s,
        };
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(4)
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    let (a, b) = (numbers(installed), numbers(desired));
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let len = a.len().max(b.len());
    let pad = |v: &[u64]| {
        (0..len)
            .map(|i| v.get(i).copied().unwrap_or(0))
            .collect::<Vec<_>>()
    };
    Some(pad(&a).cmp(&pad(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::{datum, OnPath};

    async fn check_text(file: &str, text: &str, path: &'static [&'static str]) -> Found {
        let d = datum(file, text);
        check(
            &d,
            &OnPath(path),
            Duration::from_secs(10),
            &CancellationToken::new(),
        )
        .await
    }

    #[tokio::test]
    async fn a_failing_version_command_is_missing_whatever_it_prints() {
        let found = check_text(
            "kubectl.cli.toml",
            "[b00t]\nname = \"kubectl\"\nhint = \"h\"\n\
             version = \"echo 'E1201 20:18:18.501803 memcache.go:265] couldn''t get current server API group list' >&2; exit 1\"\n",
            &[],
        )
        .await;
        assert_eq!(found.state, State::Missing);
        assert_eq!(found.version, None);
        assert!(
            found.detail.contains("exited with code 1: E1201"),
            "{}",
            found.detail
        );
        let ok = check_text(
            "x.cli.toml",
            "[b00t]\nname = \"x\"\nhint = \"h\"\nversion = \"echo x 1.2.3\"\n",
            &[],
        )
        .await;
        assert_eq!(
            (ok.state, ok.version.as_deref()),
            (State::Ok, Some("1.2.3"))
        );
    }

    #[tokio::test]
    async fn an_mcp_launcher_in_the_mcp_table_is_looked_for_on_path() {
        let text = "[b00t]\nname = \"lsp\"\nhint = \"h\"\n[b00t.mcp]\ncommand = \"lsp-mcp\"\n";
        let missing = check_text("lsp.mcp.toml", text, &[]).await;
        assert_eq!(missing.state, State::Missing);
        assert_eq!(missing.detail, "`lsp-mcp` is not on PATH");
        let ok = check_text("lsp.mcp.toml", text, &["lsp-mcp"]).await;
        assert_eq!(ok.state, State::Ok);
        let remote = check_text(
            "r.mcp.toml",
            "[b00t]\nname = \"r\"\nhint = \"h\"\n[[b00t.mcp.httpstream]]\nurl = \"https://x/mcp\"\n",
            &[],
        )
        .await;
        assert_eq!(remote.detail, "a remote MCP server: nothing to install");
    }

    #[tokio::test]
    async fn a_stack_without_members_is_not_ok() {
        let found = check_text("e.stack.toml", "[b00t]\nname = \"e\"\nhint = \"h\"\n", &[]).await;
        assert_eq!(found.state, State::Missing);
    }

    #[test]
    fn versions_compare_by_their_numbers() {
        assert_eq!(compare("1.7.1", "1.6"), Some(Ordering::Greater));
        assert_eq!(compare("jq-1.6", "1.6.0"), Some(Ordering::Equal));
        assert_eq!(compare("2.9.0", "2.10.0"), Some(Ordering::Less));
        assert_eq!(compare("v20.1", "20.1.0"), Some(Ordering::Equal));
        assert_eq!(
            compare("1:7.88.1-10+deb12u5", "7.88"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare("latest", "1.0"), None);
    }
}
