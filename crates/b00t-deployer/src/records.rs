//! What is deployed: one JSON file per deployment under `<state>/deploy/records/`
//! (`<orchestrator>--<project>.json`), written whole to a temporary file and renamed, so
//! that a crash leaves the old record or the new one, never half of one. The deployer
//! owns them; `b00t deployments` reads them.

use std::path::{Path, PathBuf};

use b00t_deploy::Orchestrator;
use serde::{Deserialize, Serialize};

use crate::error::DeployerError;
use crate::status::Endpoint;

/// One deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The stack or job's id.
    pub datum: String,
    pub orchestrator: Orchestrator,
    /// The compose project, namespace or Nomad job id.
    pub project: String,
    /// When `up` finished (RFC 3339).
    pub deployed_at: String,
    /// The task that deployed it, and who sent it.
    pub task: String,
    pub from: String,
    /// `ready`, or `not-ready` when `up` ended before everything was ready.
    pub state: String,
    pub services: Vec<String>,
    pub jobs: Vec<String>,
    pub endpoints: Vec<Endpoint>,
    /// Where the manifests it applied were written.
    pub manifests: Vec<PathBuf>,
}

/// The records folder.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records under `deploy_dir` (`<home>/state/deploy`).
    pub fn new(deploy_dir: &Path) -> Records {
        Records {
            dir: deploy_dir.join("records"),
        }
    }

    fn file(&self, orchestrator: Orchestrator, project: &str) -> PathBuf {
        self.dir.join(format!("{orchestrator}--{project}.json"))
    }

    /// Writes `record`, replacing the one of the same orchestrator and project.
    pub fn put(&self, record: &Record) -> Result<(), DeployerError> {
        b00t_config::home::private_dir(&self.dir)
            .map_err(|e| DeployerError::io("create", &self.dir, e))?;
        let path = self.file(record.orchestrator, &record.project);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(record).expect("a record serializes");
        b00t_config::home::write_private_file(&tmp, &text)
            .map_err(|e| DeployerError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| DeployerError::io("rename", &path, e))
    }

    /// The record of `project` on `orchestrator`, if there is one.
    pub fn get(
        &self,
        orchestrator: Orchestrator,
        project: &str,
    ) -> Result<Option<Record>, DeployerError> {
        let path = self.file(orchestrator, project);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                DeployerError::io("read", &path, std::io::Error::other(e.to_string()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(DeployerError::io("read", &path, e)),
        }
    }

    /// Forgets `project` on `orchestrator` (nothing when there is no record).
    pub fn remove(&self, orchestrator: Orchestrator, project: &str) -> Result<(), DeployerError> {
        let path = self.file(orchestrator, project);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeployerError::io("remove", &path, e)),
        }
    }

    /// Every record, by orchestrator then project, and a sentence for each file that is
    /// not one (a hand edit, another program's file).
    pub fn list(&self) -> (Vec<Record>, Vec<String>) {
        let mut records = Vec::new();
        let mut problems = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (records, problems),
            Err(e) => {
                problems.push(format!("{}: {e}", self.dir.display()));
                return (records, problems);
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string())
                }) {
                Ok(record) => records.push(record),
                Err(e) => {
                    problems.push(format!("{}: not a deployment record: {e}", path.display()))
                }
            }
        }
        records.sort_by(|a, b| {
            (a.orchestrator, a.project.as_str()).cmp(&(b.orchestrator, b.project.as_str()))
        });
        (records, problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(project: &str) -> Record {
        Record {
            datum: "starter.stack".into(),
            orchestrator: Orchestrator::Compose,
            project: project.into(),
            deployed_at: "2026-12-02T10:00:00Z".into(),
            task: "t-1".into(),
            from: "operator".into(),
            state: "ready".into(),
            services: vec!["web".into()],
            jobs: vec!["check".into()],
            endpoints: vec![Endpoint::new("web", "127.0.0.1", 18080, Some("http"))],
            manifests: vec![],
        }
    }

    #[test]
    fn put_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::new(dir.path());
        assert_eq!(records.list().0, vec![]);
        records.put(&record("b")).unwrap();
        records.put(&record("a")).unwrap();
        std::fs::write(dir.path().join("records/junk.json"), "{").unwrap();
        let (list, problems) = records.list();
        assert_eq!(
            list.iter().map(|r| r.project.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("junk.json"), "{problems:?}");
        assert_eq!(
            records
                .get(Orchestrator::Compose, "a")
                .unwrap()
                .unwrap()
                .endpoints[0]
                .url,
            "http://127.0.0.1:18080/"
        );
        assert_eq!(records.get(Orchestrator::Direct, "a").unwrap(), None);
        records.remove(Orchestrator::Compose, "a").unwrap();
        records.remove(Orchestrator::Compose, "a").unwrap();
        assert_eq!(records.get(Orchestrator::Compose, "a").unwrap(), None);
    }
}
