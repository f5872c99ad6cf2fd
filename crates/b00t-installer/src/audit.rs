//! The audit log: every install decision (who asked, what, the plan, the verdict, the
//! outcome, the duration) as one JSON line appended to `<home>/state/audit.jsonl`, and
//! beside them every decision on a container CI agent's action (`"kind": "ci-action"`:
//! who asked, which container, which action, the verdict, the outcome).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::InstallerError;

/// One decision.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When the decision was made (RFC 3339).
    pub ts: String,
    /// The task's id and address.
    pub id: String,
    pub address: String,
    /// Who asked: the task's `from`, or `-`.
    pub from: String,
    /// `operator` for a signed task, `unsigned` otherwise (`bad-signature` when a signature
    /// was given and refused).
    pub trust: String,
    /// The datum asked for, as given.
    pub datum: String,
    pub dry_run: bool,
    /// The plan: ids in order with their state.
    pub plan: Vec<Value>,
    /// `allowed`, `forbidden`, or `-` when no verdict was reached (bad request, unknown datum).
    pub verdict: String,
    /// Why, when refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `planned` (dry run), `installed`, `failed`, `refused`, `invalid`.
    pub outcome: String,
    #[serde(default)]
    pub installed: Vec<String>,
    #[serde(default)]
    pub skipped: Vec<String>,
    #[serde(default)]
    pub failed: Vec<String>,
    /// `mcp` tasks with `wire`: each app's file the server was written into (`cursor:<file>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wired: Vec<String>,
    pub ms: u64,
}

/// One decision on a container CI agent's action (`restart`, `stop`, `start`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// Always `ci-action`: what tells this record from an install's.
    pub kind: ActionKind,
    /// When the decision was made (RFC 3339).
    pub ts: String,
    /// The task's id and address.
    pub id: String,
    pub address: String,
    /// Who asked: the task's verified `from`, or `-`.
    pub from: String,
    /// `operator` for a signed task, `policy` for an unsigned one that policy.toml lets
    /// through, `unsigned` for one it does not, `bad-signature` when a signature was given
    /// and refused.
    pub trust: String,
    /// `restart`, `stop` or `start`.
    pub action: String,
    /// The container's name and id.
    pub container: String,
    pub container_id: String,
    /// `allowed`, `forbidden`, or `-` when no verdict was reached (bad request).
    pub verdict: String,
    /// Why: the rule that let it through or refused it, or what failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `done`, `failed`, `refused`, `invalid`.
    pub outcome: String,
    pub ms: u64,
}

/// The `kind` of an [`ActionRecord`]; one value, so that a line without it is an install's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    #[default]
    #[serde(rename = "ci-action")]
    CiAction,
}

/// One decision of the deployer (`"kind": "deploy"`): who asked for which action on
/// which stack or job, through which orchestrator, the datums judged, the verdict and the
/// outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// Always `deploy`.
    pub kind: DeployKind,
    /// When the decision was made (RFC 3339).
    pub ts: String,
    /// The task's id and address.
    pub id: String,
    pub address: String,
    /// Who asked: the task's verified `from`, or `-`.
    pub from: String,
    /// `operator`, `unsigned` or `bad-signature`.
    pub trust: String,
    /// The datum asked for (its id once found).
    pub datum: String,
    /// `compose`, `kubernetes`, `nomad`, `direct`.
    pub orchestrator: String,
    /// `plan`, `up`, `down`, `status`.
    pub action: String,
    /// The project or namespace, once known.
    pub project: String,
    /// Every datum the deploy runs or installs, each judged for an unsigned task.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// `allowed`, `forbidden`, or `-` (no verdict: a bad body, an unknown datum, a
    /// read-only action).
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `planned`, `deployed`, `removed`, `status`, `failed`, `refused`, `invalid`.
    pub outcome: String,
    /// The endpoints `up` answered with.
    #[serde(default)]
    pub endpoints: Vec<String>,
    pub ms: u64,
}

/// The `kind` of a [`DeployRecord`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeployKind {
    #[default]
    #[serde(rename = "deploy")]
    Deploy,
}

/// One line of the log, whichever decision it records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Entry {
    /// A container CI agent's action (tried first: only it has `"kind": "ci-action"`).
    Action(ActionRecord),
    /// A deployer's decision (`"kind": "deploy"`).
    Deploy(DeployRecord),
    Install(Record),
}

/// The log file, appended to by one writer at a time.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AuditLog {
    pub fn new(path: PathBuf) -> AuditLog {
        AuditLog {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line, synced to disk.
    pub fn append(&self, record: &Record) -> Result<(), InstallerError> {
        self.append_line(record)
    }

    /// Appends a container CI agent's decision as one line, synced to disk.
    pub fn append_action(&self, record: &ActionRecord) -> Result<(), InstallerError> {
        self.append_line(record)
    }

    /// Appends a deployer's decision as one line, synced to disk.
    pub fn append_deploy(&self, record: &DeployRecord) -> Result<(), InstallerError> {
        self.append_line(record)
    }

    fn append_line(&self, record: &impl Serialize) -> Result<(), InstallerError> {
        let io = |source| InstallerError::Io {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_string(record).expect("a record serializes");
        line.push('\n');
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent() {
            b00t_config::home::private_dir(dir).map_err(io)?;
        }
        let mut file = b00t_config::home::open_private_file(
            &self.path,
            std::fs::OpenOptions::new().create(true).append(true),
        )
        .map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// A line of the log: a record, or the line number and text of one that is not.
pub type Line = Result<Entry, (usize, String)>;

/// Reads the log: each line parsed (an install's record or an action's), or the line
/// number and text of one that is not a record (a hand edit, a torn write) so a reader can
/// say so instead of failing.
pub fn read(path: &Path) -> Result<Vec<Line>, InstallerError> {
    let text = match fs_err::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(InstallerError::Io {
                path: path.to_owned(),
                source: e,
            })
        }
    };
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|_| (i + 1, l.to_owned())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_that_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("state/audit.jsonl"));
        let mut r = Record {
            id: "t-1".into(),
            datum: "jq".into(),
            verdict: "allowed".into(),
            ..Record::default()
        };
        log.append(&r).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(log.path()), 0o600);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        // A log an earlier version left readable is made private at the next append.
        std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        r.id = "t-2".into();
        log.append(&r).unwrap();
        assert_eq!(mode(log.path()), 0o600);
        std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let lines = read(log.path()).unwrap();
        assert_eq!(lines.len(), 3);
        assert!(matches!(&lines[1], Ok(Entry::Install(r)) if r.id == "t-2"));
        assert_eq!(lines[2].as_ref().unwrap_err().0, 3);
    }

    #[test]
    fn actions_and_installs_read_back_apart() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("state/audit.jsonl"));
        let action = ActionRecord {
            ts: "2026-12-01T09:00:00Z".into(),
            id: "a-1".into(),
            address: "b00t.ci-web.restart".into(),
            from: "-".into(),
            trust: "unsigned".into(),
            action: "restart".into(),
            container: "web".into(),
            container_id: "abc".into(),
            verdict: "forbidden".into(),
            reason: Some("not in [ci] actions".into()),
            outcome: "refused".into(),
            ..ActionRecord::default()
        };
        log.append_action(&action).unwrap();
        log.append(&Record {
            id: "t-1".into(),
            datum: "jq".into(),
            ..Record::default()
        })
        .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert!(text.starts_with(r#"{"kind":"ci-action","#), "{text}");
        let lines = read(log.path()).unwrap();
        assert_eq!(lines[0], Ok(Entry::Action(action)));
        assert!(matches!(&lines[1], Ok(Entry::Install(r)) if r.datum == "jq"));
        // A record of another kind is not taken for an install.
        std::fs::write(log.path(), "{\"kind\":\"other\",\"id\":\"x\"}\n").unwrap();
        assert!(read(log.path()).unwrap()[0].is_err());
    }
}
