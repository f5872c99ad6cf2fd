//! The whitelist that keeps LLM-driven installs safe: `<home>/policy.toml`, deny by
//! default. A task that is not signed by the operator may install a datum only when its
//! id matches an `[allow] datums` pattern and no `[deny] datums` pattern, its install
//! method is one of `[allow] managers`, and (Docker) its image matches `[allow] images`.
//! Every dependency in the plan is held to the same rules. The `[ci]` table does the same
//! for the container CI agents' actions: an unsigned `restart`, `stop` or `start` runs
//! only when the action is in `[ci] actions` and the container's name matches a
//! `[ci] containers` glob.

use std::path::{Path, PathBuf};

use b00t_datums::{Datum, DatumType};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::InstallerError;

/// The policy file a home starts with when `b00t policy allow|deny` first writes one.
pub const TEMPLATE: &str = r#"# policy.toml: what an install task that the operator did not sign may install.
# Tasks from `b00t install` are signed with the key in state/ and are not limited by this
# file; everything else (a plain mosquitto_pub, an LLM agent in a container) is.
# Deny by default: a datum must match an [allow] pattern, no [deny] pattern, use an
# approved manager, and every datum it depends on must pass too.
# Patterns are globs over datum ids (`jq.apt`, `*.mcp`); a pattern without a dot matches
# the datum's name whatever its type (`jq` matches `jq.apt` and `jq.cli`).

[allow]
datums = []
# Install methods an unsigned task may use: apt, cli, bash, docker, mcp, stack (and job,
# which only the deployer runs).
managers = ["apt", "cli", "bash", "docker", "mcp", "stack"]
# Docker images an unsigned task may pull (globs; `postgres:16-alpine` is also matched
# as `docker.io/library/postgres:16-alpine`).
images = []

[deny]
datums = []

# The container CI agents' actions (restart, stop, start) for tasks the operator did not
# sign (`b00t ci restart <container>` signs). Deny by default: the action must be listed
# and the container's name must match a glob (`web*`).
[ci]
actions = []
containers = []
"#;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    allow: AllowRules,
    deny: DenyRules,
    ci: CiRules,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct AllowRules {
    datums: Vec<String>,
    managers: Vec<String>,
    images: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct DenyRules {
    datums: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
struct CiRules {
    actions: Vec<String>,
    containers: Vec<String>,
}

#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    matcher: GlobMatcher,
    by_name: bool,
}

impl Pattern {
    fn new(text: &str) -> Result<Pattern, String> {
        let glob = Glob::new(text).map_err(|e| format!("pattern `{text}`: {e}"))?;
        Ok(Pattern {
            text: text.to_owned(),
            matcher: glob.compile_matcher(),
            by_name: !text.contains('.'),
        })
    }

    fn matches_datum(&self, datum: &Datum) -> bool {
        if self.by_name {
            self.matcher.is_match(&datum.name)
        } else {
            self.matcher.is_match(datum.id.as_str())
        }
    }
}

/// A loaded policy.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    path: PathBuf,
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    managers: Vec<String>,
    images: Vec<Pattern>,
    ci_actions: Vec<String>,
    ci_containers: Vec<Pattern>,
}

/// One datum's verdict, with the reasons that explain it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    /// Why, in order: the first reason is the deciding one when refused.
    pub reasons: Vec<String>,
}

/// The install methods the installer knows, and `job`, which only the deployer runs.
pub const MANAGERS: &[&str] = &["apt", "cli", "bash", "docker", "mcp", "stack", "job"];

/// The container CI agents' actions that `[ci] actions` may name.
pub const CI_ACTIONS: &[&str] = &["restart", "stop", "start"];

impl Policy {
    /// Reads `path`; a missing file is the empty policy, which refuses everything.
    pub fn load(path: &Path) -> Result<Policy, InstallerError> {
        let text = match fs_err::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Policy {
                    path: path.to_owned(),
                    ..Policy::default()
                })
            }
            Err(e) => {
                return Err(InstallerError::Io {
                    path: path.to_owned(),
                    source: e,
                })
            }
        };
        Policy::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Policy, InstallerError> {
        let fail = |message: String| InstallerError::Policy {
            path: path.to_owned(),
            message,
        };
        let file: File =
            toml::from_str(text).map_err(|e| fail(e.to_string().trim_end().to_owned()))?;
        let compile = |list: &[String]| -> Result<Vec<Pattern>, InstallerError> {
            list.iter()
                .map(|p| Pattern::new(p).map_err(&fail))
                .collect()
        };
        for manager in &file.allow.managers {
            if !MANAGERS.contains(&manager.as_str()) {
                return Err(fail(format!(
                    "unknown manager `{manager}` in [allow] managers: the managers are {}",
                    MANAGERS.join(", ")
                )));
            }
        }
        for action in &file.ci.actions {
            if !CI_ACTIONS.contains(&action.as_str()) {
                return Err(fail(format!(
                    "unknown action `{action}` in [ci] actions: the actions are {}",
                    CI_ACTIONS.join(", ")
                )));
            }
        }
        Ok(Policy {
            path: path.to_owned(),
            allow: compile(&file.allow.datums)?,
            deny: compile(&file.deny.datums)?,
            managers: file.allow.managers,
            images: compile(&file.allow.images)?,
            ci_actions: file.ci.actions,
            ci_containers: compile(&file.ci.containers)?,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The verdict on one datum for a task the operator did not sign.
    pub fn judge(&self, datum: &Datum) -> Verdict {
        let id = datum.id.as_str();
        let mut reasons = Vec::new();
        if let Some(p) = self.deny.iter().find(|p| p.matches_datum(datum)) {
            return refuse(format!(
                "datum `{id}` matches deny pattern `{}` in {}",
                p.text,
                self.path.display()
            ));
        }
        match self.allow.iter().find(|p| p.matches_datum(datum)) {
            Some(p) => reasons.push(format!("datum `{id}` matches allow pattern `{}`", p.text)),
            None => {
                return refuse(format!(
                    "datum `{id}` is not on the whitelist ({}); the operator can approve it with `b00t policy allow {id}`",
                    self.path.display()
                ))
            }
        }
        let manager = manager_of(&datum.kind);
        match manager {
            Some(m) if self.managers.iter().any(|x| x == m) => {
                reasons.push(format!("manager `{m}` is approved"))
            }
            Some(m) => {
                return refuse(format!(
                    "datum `{id}` installs with `{m}`, which is not in [allow] managers of {}",
                    self.path.display()
                ))
            }
            None => {
                return refuse(format!(
                    "datum `{id}` has type `{}`, which the installer cannot install",
                    datum.kind
                ))
            }
        }
        if matches!(datum.kind, DatumType::Docker | DatumType::Job) {
            let Some(image) = image_of(datum) else {
                return refuse(format!("{} datum `{id}` names no `image`", datum.kind));
            };
            let full = normalize_image(image);
            match self
                .images
                .iter()
                .find(|p| p.matcher.is_match(image) || p.matcher.is_match(&full))
            {
                Some(p) => reasons.push(format!("image `{image}` matches `{}`", p.text)),
                None => {
                    return refuse(format!(
                    "image `{image}` of datum `{id}` matches no pattern in [allow] images of {}",
                    self.path.display()
                ))
                }
            }
        }
        Verdict {
            allowed: true,
            reasons,
        }
    }
}

impl Policy {
    /// The verdict on a container CI agent's `action` (`restart`, `stop`, `start`) on the
    /// container named `container`, for a task the operator did not sign: the action must
    /// be in `[ci] actions` and the name must match a `[ci] containers` glob.
    pub fn judge_ci(&self, action: &str, container: &str) -> Verdict {
        let path = self.path.display();
        let approve = format!(
            "the operator can run it signed with `b00t ci {action} {container}`, or allow it in {path}: [ci] actions = [\"{action}\"], containers = [\"{container}\"]"
        );
        if !self.ci_actions.iter().any(|a| a == action) {
            return refuse(format!(
                "action `{action}` is not in [ci] actions of {path}, so an unsigned task may not {action} container `{container}`; {approve}"
            ));
        }
        match self
            .ci_containers
            .iter()
            .find(|p| p.matcher.is_match(container))
        {
            Some(p) => Verdict {
                allowed: true,
                reasons: vec![
                    format!("action `{action}` is in [ci] actions"),
                    format!("container `{container}` matches [ci] containers pattern `{}`", p.text),
                ],
            },
            None => refuse(format!(
                "container `{container}` matches no pattern in [ci] containers of {path}, so an unsigned task may not {action} it; {approve}"
            )),
        }
    }
}

fn refuse(reason: String) -> Verdict {
    Verdict {
        allowed: false,
        reasons: vec![reason],
    }
}

/// The install method of a datum type, if the installer has one.
pub fn manager_of(kind: &DatumType) -> Option<&'static str> {
    match kind {
        DatumType::Apt => Some("apt"),
        DatumType::Cli => Some("cli"),
        DatumType::Bash => Some("bash"),
        DatumType::Docker => Some("docker"),
        DatumType::Mcp => Some("mcp"),
        DatumType::Stack => Some("stack"),
        // Deployed, never installed: the deployer holds unsigned deploys to the same rules.
        DatumType::Job => Some("job"),
        _ => None,
    }
}

/// The image a docker datum (`image`) or a job (`[b00t.container] image`) runs.
pub fn image_of(datum: &Datum) -> Option<&str> {
    match datum.kind {
        DatumType::Docker => datum.image.as_deref(),
        DatumType::Job => datum
            .raw
            .get("b00t")?
            .get("container")?
            .get("image")?
            .as_str(),
        _ => None,
    }
}

/// `postgres:16` → `docker.io/library/postgres:16`; a reference without a tag gets
/// `:latest`. Patterns are matched against both forms.
pub fn normalize_image(image: &str) -> String {
    let (name, rest) = match image.find('@') {
        Some(at) => (&image[..at], &image[at..]),
        None => (image, ""),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let tagged = if rest.is_empty() && !last.contains(':') {
        format!("{name}:latest")
    } else {
        name.to_owned()
    };
    let first = tagged.split('/').next().unwrap_or("");
    let has_registry = tagged.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        tagged
    } else if tagged.contains('/') {
        format!("docker.io/{tagged}")
    } else {
        format!("docker.io/library/{tagged}")
    };
    format!("{full}{rest}")
}

/// Which list `b00t policy` edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    Allow,
    Deny,
}

/// Adds `pattern` to `[allow] datums` or `[deny] datums` of the policy at `path` (made
/// from [`TEMPLATE`] when missing), and takes it out of the other list. Comments and
/// layout are kept. Returns whether the file changed.
pub fn edit(path: &Path, edit: Edit, pattern: &str) -> Result<bool, InstallerError> {
    let fail = |message: String| InstallerError::Policy {
        path: path.to_owned(),
        message,
    };
    Pattern::new(pattern).map_err(&fail)?;
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => TEMPLATE.to_owned(),
        Err(e) => {
            return Err(InstallerError::Io {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    // Refuse to rewrite a file that does not load: the user must fix it first.
    Policy::parse(path, &text)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| fail(e.to_string()))?;
    let (add_to, remove_from) = match edit {
        Edit::Allow => ("allow", "deny"),
        Edit::Deny => ("deny", "allow"),
    };
    let mut changed = false;
    if let Some(list) = datums_list(&mut doc, remove_from, false) {
        let before = list.len();
        list.retain(|v| v.as_str() != Some(pattern));
        changed |= list.len() != before;
    }
    let list = datums_list(&mut doc, add_to, true).expect("made when missing");
    if !list.iter().any(|v| v.as_str() == Some(pattern)) {
        list.push(pattern);
        changed = true;
    }
    if changed {
        let tmp = path.with_extension("toml.tmp");
        fs_err::write(&tmp, doc.to_string())
            .and_then(|()| fs_err::rename(&tmp, path))
            .map_err(|e| InstallerError::Io {
                path: path.to_owned(),
                source: e,
            })?;
    }
    Ok(changed)
}

fn datums_list<'d>(
    doc: &'d mut toml_edit::DocumentMut,
    table: &str,
    create: bool,
) -> Option<&'d mut toml_edit::Array> {
    if doc.get(table).is_none() {
        if !create {
            return None;
        }
        doc[table] = toml_edit::table();
    }
    let table = doc.get_mut(table)?.as_table_like_mut()?;
    if table.get("datums").is_none() {
        if !create {
            return None;
        }
        table.insert("datums", toml_edit::value(toml_edit::Array::new()));
    }
    table.get_mut("datums")?.as_array_mut()
}

/// The policy's lists as written, for `b00t policy list`.
#[derive(Clone, Debug, Serialize)]
pub struct Listing {
    pub path: PathBuf,
    pub exists: bool,
    pub allow_datums: Vec<String>,
    pub deny_datums: Vec<String>,
    pub managers: Vec<String>,
    pub images: Vec<String>,
    pub ci_actions: Vec<String>,
    pub ci_containers: Vec<String>,
}

impl Policy {
    pub fn listing(&self) -> Listing {
        let texts = |list: &[Pattern]| list.iter().map(|p| p.text.clone()).collect();
        Listing {
            path: self.path.clone(),
            exists: self.path.exists(),
            allow_datums: texts(&self.allow),
            deny_datums: texts(&self.deny),
            managers: self.managers.clone(),
            images: texts(&self.images),
            ci_actions: self.ci_actions.clone(),
            ci_containers: texts(&self.ci_containers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn datum(file: &str, text: &str) -> Datum {
        Datum::from_toml(Path::new(file), Path::new("/c"), text).expect("a datum")
    }

    fn policy(text: &str) -> Policy {
        Policy::parse(Path::new("/h/policy.toml"), text).expect("a policy")
    }

    #[test]
    fn deny_by_default_and_deny_wins() {
        let jq = datum("/c/jq.apt.toml", "[b00t]\nname = \"jq\"\n");
        assert!(!Policy::default().judge(&jq).allowed);
        let p = policy("[allow]\ndatums = [\"*.apt\"]\nmanagers = [\"apt\"]\n");
        assert!(p.judge(&jq).allowed);
        let p = policy(
            "[allow]\ndatums = [\"*.apt\"]\nmanagers = [\"apt\"]\n[deny]\ndatums = [\"jq\"]\n",
        );
        let v = p.judge(&jq);
        assert!(!v.allowed);
        assert!(v.reasons[0].contains("deny pattern `jq`"), "{v:?}");
    }

    #[test]
    fn a_pattern_without_a_dot_matches_names() {
        let p = policy("[allow]\ndatums = [\"jq\"]\nmanagers = [\"apt\", \"cli\"]\n");
        assert!(
            p.judge(&datum("/c/jq.apt.toml", "[b00t]\nname = \"jq\"\n"))
                .allowed
        );
        assert!(
            p.judge(&datum("/c/jq.cli.toml", "[b00t]\nname = \"jq\"\n"))
                .allowed
        );
        assert!(
            !p.judge(&datum("/c/jqx.cli.toml", "[b00t]\nname = \"jqx\"\n"))
                .allowed
        );
    }

    #[test]
    fn managers_and_images_are_checked() {
        let p = policy("[allow]\ndatums = [\"*\"]\nmanagers = [\"apt\", \"docker\"]\nimages = [\"docker.io/library/postgres:*\"]\n");
        let v = p.judge(&datum(
            "/c/x.cli.toml",
            "[b00t]\nname = \"x\"\ninstall = \"true\"\n",
        ));
        assert!(
            !v.allowed && v.reasons[0].contains("installs with `cli`"),
            "{v:?}"
        );
        let pg = datum(
            "/c/pg.docker.toml",
            "[b00t]\nname = \"pg\"\nimage = \"postgres:16-alpine\"\n",
        );
        assert!(p.judge(&pg).allowed);
        let evil = datum(
            "/c/ev.docker.toml",
            "[b00t]\nname = \"ev\"\nimage = \"evil/miner\"\n",
        );
        let v = p.judge(&evil);
        assert!(
            !v.allowed && v.reasons[0].contains("matches no pattern"),
            "{v:?}"
        );
        let k8s = datum("/c/v.k8s.toml", "[b00t]\nname = \"v\"\n");
        assert!(!p.judge(&k8s).allowed);
    }

    #[test]
    fn images_normalize_like_docker() {
        assert_eq!(
            normalize_image("postgres"),
            "docker.io/library/postgres:latest"
        );
        assert_eq!(
            normalize_image("postgres:16"),
            "docker.io/library/postgres:16"
        );
        assert_eq!(
            normalize_image("jonrad/lsp-mcp:0.3.1"),
            "docker.io/jonrad/lsp-mcp:0.3.1"
        );
        assert_eq!(normalize_image("ghcr.io/a/b:1"), "ghcr.io/a/b:1");
        assert_eq!(
            normalize_image("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
    }

    #[test]
    fn bad_policies_name_the_problem() {
        let err = Policy::parse(Path::new("/h/policy.toml"), "[allow]\nmanager = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/h/policy.toml") && err.contains("manager"),
            "{err}"
        );
        let err = Policy::parse(
            Path::new("/h/policy.toml"),
            "[allow]\nmanagers = [\"brew\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown manager `brew`"), "{err}");
        let err = Policy::parse(Path::new("/h/policy.toml"), "[allow]\ndatums = [\"a[\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pattern `a[`"), "{err}");
    }

    #[test]
    fn ci_actions_are_denied_by_default() {
        let empty = Policy::default();
        let v = empty.judge_ci("restart", "web");
        assert!(!v.allowed);
        assert!(v.reasons[0].contains("not in [ci] actions"), "{v:?}");
        assert!(v.reasons[0].contains("`b00t ci restart web`"), "{v:?}");
        let template = policy(TEMPLATE);
        assert!(!template.judge_ci("stop", "web").allowed);
    }

    #[test]
    fn ci_actions_need_the_action_and_a_matching_container() {
        let p = policy("[ci]\nactions = [\"restart\"]\ncontainers = [\"web*\", \"db\"]\n");
        for (action, container, allowed, needle) in [
            ("restart", "web", true, "pattern `web*`"),
            ("restart", "web-2", true, "pattern `web*`"),
            ("restart", "db", true, "pattern `db`"),
            (
                "restart",
                "db-2",
                false,
                "matches no pattern in [ci] containers",
            ),
            ("restart", "myweb", false, "matches no pattern"),
            ("stop", "web", false, "action `stop` is not in [ci] actions"),
            (
                "start",
                "web",
                false,
                "action `start` is not in [ci] actions",
            ),
        ] {
            let v = p.judge_ci(action, container);
            assert_eq!(v.allowed, allowed, "{action} {container}: {v:?}");
            assert!(
                v.reasons.iter().any(|r| r.contains(needle)),
                "{action} {container}: {v:?}"
            );
            if !allowed {
                assert!(v.reasons[0].contains("/h/policy.toml"), "{v:?}");
                assert!(
                    v.reasons[0].contains(&format!("containers = [\"{container}\"]")),
                    "{v:?}"
                );
            }
        }
        let listing = p.listing();
        assert_eq!(listing.ci_actions, ["restart"]);
        assert_eq!(listing.ci_containers, ["web*", "db"]);
    }

    #[test]
    fn bad_ci_tables_name_the_problem() {
        let err = Policy::parse(Path::new("/h/policy.toml"), "[ci]\nactions = [\"rm\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown action `rm` in [ci] actions"), "{err}");
        let err = Policy::parse(Path::new("/h/policy.toml"), "[ci]\naction = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("action"), "{err}");
        let err = Policy::parse(Path::new("/h/policy.toml"), "[ci]\ncontainers = [\"w[\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pattern `w[`"), "{err}");
    }

    #[test]
    fn edits_keep_comments_and_move_patterns_between_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        assert!(edit(&path, Edit::Allow, "jq.apt").unwrap());
        assert!(!edit(&path, Edit::Allow, "jq.apt").unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# policy.toml"), "{text}");
        assert!(text.contains("datums = [\"jq.apt\"]"), "{text}");
        assert!(edit(&path, Edit::Deny, "jq.apt").unwrap());
        let listing = Policy::load(&path).unwrap().listing();
        assert!(listing.allow_datums.is_empty());
        assert_eq!(listing.deny_datums, ["jq.apt"]);
        assert!(edit(&path, Edit::Allow, "[").is_err());
    }
}
