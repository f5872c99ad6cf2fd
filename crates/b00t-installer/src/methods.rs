//! Install methods: what installing a datum runs, by type. apt runs `apt-get install`,
//! cli its `install` script (or, for `install = { go = "…" }`, the script of the first
//! method whose tool is on PATH), bash its `script` file (inside the catalog), docker pulls
//! `image`, mcp its `install` script when it has one (else nothing: the datums its
//! command needs come first), stack nothing (its members do the work; it must have some).
//! Every command is a program with arguments; only datum files, which the operator
//! placed in the catalog, supply scripts.

use std::path::Path;

use b00t_datums::{Datum, DatumType, Environment};
use serde::Serialize;

use crate::check::State;
use crate::runner::Program;

/// What installing one node does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run(Program),
    /// `apt-get install` of a package, with one `apt-get update` when apt does not know it.
    Apt(String),
    Pull(String),
    /// Nothing to run, and why.
    Nothing(String),
}

/// One node's install step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub action: Action,
    pub needs_root: bool,
    pub touches_docker: bool,
}

/// A step as a plan shows it.
#[derive(Clone, Debug, Serialize)]
pub struct StepView {
    pub run: String,
    pub needs_root: bool,
    pub touches_docker: bool,
}

impl Step {
    pub fn view(&self) -> StepView {
        StepView {
            run: match &self.action {
                Action::Run(p) => p.display(),
                Action::Apt(package) => apt_install(package).display(),
                Action::Pull(image) => format!("docker pull {image}"),
                Action::Nothing(why) => format!("nothing: {why}"),
            },
            needs_root: self.needs_root,
            touches_docker: self.touches_docker,
        }
    }
}

/// The script installing `datum` runs: `update` when outdated and given, else `install`,
/// else the first of `install_methods` (in method-name order) whose tool is on PATH.
/// `Ok(None)`: the datum has no install script at all.
fn install_script<'d>(
    datum: &'d Datum,
    state: State,
    env: &(dyn Environment + Sync),
) -> Result<Option<&'d str>, String> {
    if let (State::Outdated, Some(update)) = (state, datum.update.as_deref()) {
        return Ok(Some(update));
    }
    if let Some(install) = datum.install.as_deref() {
        return Ok(Some(install));
    }
    if datum.install_methods.is_empty() {
        return Ok(None);
    }
    match datum
        .install_methods
        .iter()
        .find(|m| env.has_command(&m.method))
    {
        Some(method) => Ok(Some(&method.script)),
        None => Err(format!(
            "`{}` installs with {}, and none of them is on PATH: install one, or add an `install` script to {}",
            datum.id,
            datum
                .install_methods
                .iter()
                .map(|m| format!("`{}`", m.method))
                .collect::<Vec<_>>()
                .join(", "),
            datum.path.display()
        )),
    }
}

fn script_step(script: &str) -> Step {
    Step {
        needs_root: mentions_root(script),
        touches_docker: runs_docker(script),
        action: Action::Run(Program::new("bash", &["-c", script])),
    }
}

/// The step that brings `datum` from `state` to installed.
pub fn step_for(
    datum: &Datum,
    state: State,
    env: &(dyn Environment + Sync),
) -> Result<Step, String> {
    let id = &datum.id;
    match &datum.kind {
        DatumType::Apt => {
            let package = datum.package();
            if !valid_package(package) {
                return Err(format!(
                    "`{package}` (datum `{id}`) is not a valid Debian package name: fix `package_name` in {}",
                    datum.path.display()
                ));
            }
            Ok(Step {
                action: Action::Apt(package.to_owned()),
                needs_root: true,
                touches_docker: false,
            })
        }
        DatumType::Cli => match install_script(datum, state, env)? {
            Some(script) => Ok(script_step(script)),
            None => Err(format!(
                "cli datum `{id}` has no `install` script: add one to {}",
                datum.path.display()
            )),
        },
        DatumType::Bash => {
            let Some(script) = datum.script.as_deref() else {
                return Err(format!(
                    "bash datum `{id}` names no `script`: add one to {}",
                    datum.path.display()
                ));
            };
            let path = script_path(&datum.root, script).map_err(|why| {
                format!("script `{script}` of datum `{id}` {why}")
            })?;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut program = Program::new("bash", &[&path.to_string_lossy()]);
            program.cwd = path.parent().map(Path::to_owned);
            Ok(Step {
                needs_root: mentions_root(&text),
                touches_docker: runs_docker(&text),
                action: Action::Run(program),
            })
        }
        DatumType::Docker => {
            let Some(image) = datum.image.as_deref() else {
                return Err(format!(
                    "docker datum `{id}` names no `image`: add one to {}",
                    datum.path.display()
                ));
            };
            if !valid_image(image) {
                return Err(format!("`{image}` (datum `{id}`) is not a valid image reference"));
            }
            Ok(Step {
                action: Action::Pull(image.to_owned()),
                needs_root: false,
                touches_docker: true,
            })
        }
        DatumType::Mcp => match install_script(datum, state, env)? {
            Some(script) => Ok(script_step(script)),
            None => Ok(nothing(
                "an MCP server runs from its command; the datums that command needs come first",
            )),
        },
        DatumType::Stack if datum.members.is_empty() => Err(format!(
            "stack `{id}` has no members: list them in `members` (or `[b00t.stack] members`) in {}",
            datum.path.display()
        )),
        DatumType::Stack => Ok(nothing("a stack is its members, installed before it")),
        DatumType::K8s => Err(format!(
            "`{id}` is a Helm chart: deploy it with Helm or your orchestrator; the installer does not install k8s datums"
        )),
        other => Err(format!(
            "the installer has no install method for type `{other}` (datum `{id}`); it installs apt, cli, bash, docker, mcp and stack datums"
        )),
    }
}

fn nothing(why: &str) -> Step {
    Step {
        action: Action::Nothing(why.to_owned()),
        needs_root: false,
        touches_docker: false,
    }
}

/// `apt-get install` of one package, through `sudo -n` when not root.
pub fn apt_install(package: &str) -> Program {
    privileged(&[
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "--",
        package,
    ])
}

/// `apt-get update`, when the package lists do not know a package yet.
pub fn apt_update() -> Program {
    privileged(&["apt-get", "update"])
}

fn privileged(args: &[&str]) -> Program {
    let mut p = if is_root() {
        Program::new(args[0], &args[1..])
    } else {
        let mut with_sudo = vec!["-n"];
        with_sudo.extend_from_slice(args);
        Program::new("sudo", &with_sudo)
    };
    p.env
        .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
    p
}

/// Debian policy's package names: lowercase letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit. Nothing that apt could read as an option.
pub fn valid_package(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

fn valid_image(image: &str) -> bool {
    !image.is_empty()
        && image.len() <= 255
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c))
}

/// The words of a shell script that can be commands or their arguments: comments (`#` at
/// the start of a word, to the end of the line) are dropped, and words are split at blanks
/// and the shell's separators. Quoting is not parsed: a quoted `#` or `;` still splits,
/// which can only add words, never hide one.
fn words(script: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for line in script.lines() {
        let mut code = line;
        let mut previous = ' ';
        for (at, c) in line.char_indices() {
            if c == '#' && (previous.is_whitespace() || ";|&(".contains(previous)) {
                code = &line[..at];
                break;
            }
            previous = c;
        }
        words.extend(
            code.split(|c: char| c.is_whitespace() || ";|&()`".contains(c))
                .filter(|w| !w.is_empty()),
        );
    }
    words
}

/// Whether a script runs something that needs root: `sudo`, `su`, `doas`, apt or dpkg, or
/// writes under `/usr/` or `/etc/`. Comments do not count.
fn mentions_root(script: &str) -> bool {
    words(script).iter().any(|w| {
        ["sudo", "su", "doas", "apt-get", "apt", "dpkg"].contains(w)
            || w.starts_with("/usr/")
            || w.starts_with("/etc/")
            || w.contains(">/usr/")
            || w.contains(">/etc/")
    })
}

/// Whether a script runs `docker` (or `docker-compose`). Comments do not count.
fn runs_docker(script: &str) -> bool {
    words(script)
        .iter()
        .any(|w| *w == "docker" || *w == "docker-compose")
}

/// The script at `script`, relative to the catalog folder `root`, refusing anything that
/// leaves it.
fn script_path(root: &Path, script: &str) -> Result<std::path::PathBuf, String> {
    let relative = Path::new(script);
    if relative.is_absolute() {
        return Err("is absolute: give a path relative to the catalog folder".into());
    }
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot be found: the catalog folder is unreadable ({e})"))?;
    let path = root
        .join(relative)
        .canonicalize()
        .map_err(|_| format!("does not exist under `{}`", root.display()))?;
    if !path.starts_with(&root) {
        return Err(format!("leaves the catalog folder `{}`", root.display()));
    }
    if !path.is_file() {
        return Err("is not a file".into());
    }
    Ok(path)
}

/// Whether this process runs as root (read from /proc, no unsafe call).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_follow_debian_policy() {
        for ok in ["jq", "mosquitto-clients", "libc6", "g++", "python3.11"] {
            assert!(valid_package(ok), "{ok}");
        }
        for bad in ["", "j", "-o", "--reinstall", "Jq", "jq;rm", "a b", "../x"] {
            assert!(!valid_package(bad), "{bad}");
        }
    }

    #[test]
    fn scripts_stay_inside_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("datums");
        std::fs::create_dir_all(root.join("scripts")).unwrap();
        std::fs::write(root.join("scripts/a.sh"), "echo hi").unwrap();
        std::fs::write(dir.path().join("outside.sh"), "echo no").unwrap();
        assert!(script_path(&root, "scripts/a.sh").is_ok());
        assert!(script_path(&root, "../outside.sh")
            .unwrap_err()
            .contains("leaves the catalog"));
        assert!(script_path(&root, "/etc/passwd")
            .unwrap_err()
            .contains("absolute"));
        assert!(script_path(&root, "nope.sh")
            .unwrap_err()
            .contains("does not exist"));
    }

    use crate::testutil::{datum, OnPath};

    #[test]
    fn an_mcp_datum_with_an_install_script_runs_it() {
        let d = datum(
            "gh-mcp.mcp.toml",
            "[b00t]\nname = \"gh-mcp\"\nhint = \"h\"\ninstall = \"go install example.com/gh-mcp@latest\"\n\
             [b00t.mcp]\ncommand = \"gh-mcp\"\n",
        );
        let step = step_for(&d, State::Missing, &OnPath(&[])).unwrap();
        assert_eq!(
            step.view().run,
            Program::new("bash", &["-c", "go install example.com/gh-mcp@latest"]).display()
        );
        let plain = datum(
            "m.mcp.toml",
            "[b00t]\nname = \"m\"\nhint = \"h\"\n[b00t.mcp]\ncommand = \"npx\"\n",
        );
        assert!(step_for(&plain, State::Missing, &OnPath(&[]))
            .unwrap()
            .view()
            .run
            .starts_with("nothing: "));
    }

    #[test]
    fn install_per_method_takes_the_first_tool_on_path() {
        let d = datum(
            "gopls.cli.toml",
            "[b00t]\nname = \"gopls\"\nhint = \"h\"\n\
             install = { go = \"go install golang.org/x/tools/gopls@latest\", brew = \"brew install gopls\" }\n",
        );
        let run = |path: &'static [&'static str]| {
            step_for(&d, State::Missing, &OnPath(path)).map(|s| s.view().run)
        };
        assert_eq!(
            run(&["go"]).unwrap(),
            Program::new(
                "bash",
                &["-c", "go install golang.org/x/tools/gopls@latest"]
            )
            .display()
        );
        assert_eq!(
            run(&["go", "brew"]).unwrap(),
            Program::new("bash", &["-c", "brew install gopls"]).display()
        );
        assert_eq!(
            run(&[]).unwrap_err(),
            "`gopls.cli` installs with `brew`, `go`, and none of them is on PATH: install one, or add an `install` script to datums/gopls.cli.toml"
        );
    }

    #[test]
    fn a_stack_without_members_cannot_be_installed() {
        let empty = datum("e.stack.toml", "[b00t]\nname = \"e\"\nhint = \"h\"\n");
        assert_eq!(
            step_for(&empty, State::Missing, &OnPath(&[])).unwrap_err(),
            "stack `e.stack` has no members: list them in `members` (or `[b00t.stack] members`) in datums/e.stack.toml"
        );
        let full = datum(
            "s.stack.toml",
            "[b00t]\nname = \"s\"\nhint = \"h\"\n[b00t.stack]\nmembers = [\"jq.cli\"]\n",
        );
        assert!(step_for(&full, State::Missing, &OnPath(&[])).is_ok());
    }

    #[test]
    fn a_comment_saying_sudo_does_not_need_root() {
        let d = datum(
            "x.cli.toml",
            "[b00t]\nname = \"x\"\nhint = \"h\"\ninstall = \"\"\"\n# sudo is not needed: installs into ~/.cargo\ncargo install x\n\"\"\"\n",
        );
        assert!(
            !step_for(&d, State::Missing, &OnPath(&[]))
                .unwrap()
                .needs_root
        );
    }

    #[test]
    fn root_is_read_from_commands_not_comments() {
        assert!(!mentions_root(
            "# no sudo needed here\ncurl -fsSL https://x | bash # not sudo either"
        ));
        assert!(!mentions_root("echo pseudosudo; cargo install x"));
        assert!(mentions_root("curl x && sudo make install"));
        assert!(mentions_root("apt-get install -y jq"));
        assert!(mentions_root("cp x /usr/local/bin/"));
        assert!(mentions_root("echo a >/etc/x.conf"));
        assert!(mentions_root("(sudo dpkg -i x.deb)"));
        assert!(!runs_docker("# docker is not used\nnpm i -g x"));
        assert!(runs_docker("docker pull x"));
        // A `#` inside a word is not a comment.
        assert!(mentions_root("echo a#b; sudo x"));
    }

    #[test]
    fn apt_runs_without_a_shell() {
        let p = apt_install("jq");
        assert!(p.args.ends_with(&["--".to_owned(), "jq".to_owned()]));
        assert!(p.program == "apt-get" || p.program == "sudo");
    }
}
