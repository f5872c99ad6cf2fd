//! `require` constraints (`NEEDS_ANY_ENV`, `NEEDS_ALL_ENV`, `OS:<name>`, `CMD:<binary>`) and
//! checking them against an `Environment`: the real one (`SystemEnv`) or a fake in tests.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Serialize, Serializer};

use crate::model::Datum;

/// One entry of a datum's `require` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// At least one `[b00t.env]` key is set, non-empty, in the environment.
    NeedsAnyEnv,
    /// Every `[b00t.env]` key is set, non-empty, in the environment.
    NeedsAllEnv,
    /// The machine is this OS (`linux`, `macos`, `windows`) or distribution (`debian`, `ubuntu`).
    Os(String),
    /// This command is on PATH.
    Cmd(String),
    /// Anything else, kept as written; b00t treats it as satisfied.
    Unknown(String),
}

impl Constraint {
    pub fn parse(s: &str) -> Constraint {
        if s == "NEEDS_ANY_ENV" {
            Constraint::NeedsAnyEnv
        } else if s == "NEEDS_ALL_ENV" {
            Constraint::NeedsAllEnv
        } else if let Some(os) = s.strip_prefix("OS:").filter(|os| !os.is_empty()) {
            Constraint::Os(os.to_owned())
        } else if let Some(cmd) = s.strip_prefix("CMD:").filter(|cmd| !cmd.is_empty()) {
            Constraint::Cmd(cmd.to_owned())
        } else {
            Constraint::Unknown(s.to_owned())
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::NeedsAnyEnv => f.write_str("NEEDS_ANY_ENV"),
            Constraint::NeedsAllEnv => f.write_str("NEEDS_ALL_ENV"),
            Constraint::Os(os) => write!(f, "OS:{os}"),
            Constraint::Cmd(cmd) => write!(f, "CMD:{cmd}"),
            Constraint::Unknown(raw) => f.write_str(raw),
        }
    }
}

impl Serialize for Constraint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What the constraints are checked against.
pub trait Environment {
    /// The value of an environment variable, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// Lowercase names this machine answers to: the OS family and the distribution ids.
    fn os_ids(&self) -> Vec<String>;
    /// Whether `cmd` is an executable on PATH.
    fn has_command(&self, cmd: &str) -> bool;
}

/// The process environment, `/etc/os-release` and PATH of this machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemEnv;

impl Environment for SystemEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn os_ids(&self) -> Vec<String> {
        let family = if cfg!(target_os = "linux") {
            "linux"
        } else if cfg!(target_os = "macos") {
            "macos"
        } else if cfg!(target_os = "windows") {
            "windows"
        } else {
            std::env::consts::OS
        };
        let mut ids = vec![family.to_owned()];
        if let Ok(text) = fs_err::read_to_string("/etc/os-release") {
            for id in os_release_ids(&text) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        ids
    }

    fn has_command(&self, cmd: &str) -> bool {
        std::env::var_os("PATH").is_some_and(|path| command_on(&path, cmd))
    }
}

/// Whether `cmd` is an executable file: itself when it holds a `/`, else in one of the
/// folders of `search` (a PATH-style list).
pub fn command_on(search: &std::ffi::OsStr, cmd: &str) -> bool {
    if cmd.is_empty() {
        return false;
    }
    if cmd.contains('/') {
        return is_executable(Path::new(cmd));
    }
    std::env::split_paths(search).any(|dir| {
        let candidate = dir.join(cmd);
        is_executable(&candidate)
            || (cfg!(windows) && is_executable(&candidate.with_extension("exe")))
    })
}

/// A constraint the environment does not meet, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmet {
    pub constraint: Constraint,
    pub reason: String,
}

/// The constraints in `datum.require` that `env` does not meet. `Unknown` constraints are
/// treated as met, as b00t does; list them with [`unknown_constraints`].
pub fn check_constraints(datum: &Datum, env: &dyn Environment) -> Vec<Unmet> {
    let is_set = |key: &String| env.var(key).is_some_and(|value| !value.is_empty());
    let mut unmet = Vec::new();
    for constraint in &datum.require {
        let reason = match constraint {
            Constraint::NeedsAnyEnv if datum.env.is_empty() => Some(format!(
                "`{}` requires NEEDS_ANY_ENV but lists no [b00t.env] keys: add the variables it needs under [b00t.env] in {}",
                datum.id,
                datum.path.display()
            )),
            Constraint::NeedsAnyEnv => {
                if datum.env.keys().any(is_set) {
                    None
                } else {
                    let keys: Vec<&str> = datum.env.keys().map(String::as_str).collect();
                    Some(format!("none of {} is set: export one of them", keys.join(", ")))
                }
            }
            Constraint::NeedsAllEnv => {
                let missing: Vec<&str> = datum.env.keys().filter(|key| !is_set(key)).map(String::as_str).collect();
                match missing.len() {
                    0 => None,
                    1 => Some(format!("{} is not set: export it", missing[0])),
                    _ => Some(format!("{} are not set: export them", missing.join(", "))),
                }
            }
            Constraint::Os(os) => {
                let ids = env.os_ids();
                if ids.iter().any(|id| id.eq_ignore_ascii_case(os)) {
                    None
                } else {
                    Some(format!("OS:{os}: this machine is {}", ids.join(", ")))
                }
            }
            Constraint::Cmd(cmd) => (!env.has_command(cmd)).then(|| format!("`{cmd}` is not on PATH")),
            Constraint::Unknown(_) => None,
        };
        if let Some(reason) = reason {
            unmet.push(Unmet {
                constraint: constraint.clone(),
                reason,
            });
        }
    }
    unmet
}

/// The `require` entries b00t-datums does not understand (they count as met).
pub fn unknown_constraints(datum: &Datum) -> Vec<&str> {
    datum
        .require
        .iter()
        .filter_map(|constraint| match constraint {
            Constraint::Unknown(raw) => Some(raw.as_str()),
            _ => None,
        })
        .collect()
}

/// `ID` and each word of `ID_LIKE` from os-release text, lowercased, without duplicates.
fn os_release_ids(text: &str) -> Vec<String> {
    let mut ids = BTreeSet::new();
    let mut ordered = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        if key != "ID" && key != "ID_LIKE" {
            continue;
        }
        let value = value.trim().trim_matches('"').trim_matches('\'');
        for word in value.split_whitespace() {
            let word = word.to_lowercase();
            if ids.insert(word.clone()) {
                ordered.push(word);
            }
        }
    }
    ordered
}

fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if !metadata.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    struct FakeEnv {
        vars: BTreeMap<&'static str, &'static str>,
        os: Vec<&'static str>,
        commands: Vec<&'static str>,
    }

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).map(|value| (*value).to_owned())
        }
        fn os_ids(&self) -> Vec<String> {
            self.os.iter().map(|os| (*os).to_owned()).collect()
        }
        fn has_command(&self, cmd: &str) -> bool {
            self.commands.contains(&cmd)
        }
    }

    fn fake(vars: &[(&'static str, &'static str)]) -> FakeEnv {
        FakeEnv {
            vars: vars.iter().copied().collect(),
            os: vec!["linux", "debian"],
            commands: vec!["git"],
        }
    }

    fn datum(body: &str) -> Datum {
        Datum::from_toml(
            Path::new("d/x.cli.toml"),
            Path::new("d"),
            &format!("[b00t]\nname = \"x\"\nhint = \"h\"\n{body}"),
        )
        .unwrap()
    }

    fn reasons(datum: &Datum, env: &FakeEnv) -> Vec<String> {
        check_constraints(datum, env)
            .into_iter()
            .map(|unmet| unmet.reason)
            .collect()
    }

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "NEEDS_ANY_ENV",
            "NEEDS_ALL_ENV",
            "OS:macos",
            "CMD:docker",
            "internet",
            "OS:",
        ] {
            assert_eq!(Constraint::parse(s).to_string(), s);
        }
        assert_eq!(
            Constraint::parse("CMD:docker"),
            Constraint::Cmd("docker".into())
        );
        assert_eq!(Constraint::parse("OS:"), Constraint::Unknown("OS:".into()));
    }

    #[test]
    fn needs_any_env() {
        let d = datum("require = [\"NEEDS_ANY_ENV\"]\n[b00t.env]\nOPENAI_API_KEY = \"\"\nANTHROPIC_API_KEY = \"\"\n");
        assert_eq!(
            reasons(&d, &fake(&[])),
            ["none of ANTHROPIC_API_KEY, OPENAI_API_KEY is set: export one of them"]
        );
        assert_eq!(
            reasons(&d, &fake(&[("OPENAI_API_KEY", "")])).len(),
            1,
            "empty counts as unset"
        );
        assert!(reasons(&d, &fake(&[("OPENAI_API_KEY", "sk")])).is_empty());
    }

    #[test]
    fn needs_any_env_without_keys_is_unmet() {
        let d = datum("require = [\"NEEDS_ANY_ENV\"]\n");
        let reasons = reasons(&d, &fake(&[("HOME", "/root")]));
        assert_eq!(reasons.len(), 1);
        assert!(
            reasons[0].contains("lists no [b00t.env] keys"),
            "{}",
            reasons[0]
        );
    }

    #[test]
    fn needs_all_env_names_the_missing() {
        let d = datum("require = [\"NEEDS_ALL_ENV\"]\n[b00t.env]\nA = \"\"\nB = \"\"\nC = \"\"\n");
        assert_eq!(
            reasons(&d, &fake(&[("B", "1")])),
            ["A, C are not set: export them"]
        );
        assert_eq!(
            reasons(&d, &fake(&[("B", "1"), ("C", "1")])),
            ["A is not set: export it"]
        );
        assert!(reasons(&d, &fake(&[("A", "1"), ("B", "1"), ("C", "1")])).is_empty());
    }

    #[test]
    fn os_and_cmd() {
        let d = datum(
            "require = [\"OS:macos\", \"OS:Debian\", \"CMD:docker\", \"CMD:git\", \"internet\"]\n",
        );
        assert_eq!(
            reasons(&d, &fake(&[])),
            [
                "OS:macos: this machine is linux, debian",
                "`docker` is not on PATH"
            ]
        );
        assert_eq!(unknown_constraints(&d), ["internet"]);
    }

    #[test]
    fn os_release_parsing() {
        let text = "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=\"Debian Other\"\nVERSION_ID=\"24.04\"\n";
        assert_eq!(os_release_ids(text), ["ubuntu", "debian", "other"]);
    }

    #[test]
    fn system_env_answers() {
        let env = SystemEnv;
        assert!(!env.os_ids().is_empty());
        assert!(!env.has_command(""));
        assert!(!env.has_command("surely-no-such-command-b00t-datums"));
    }
}
