//! Compose alone, the peer of "compose via b00t": the very compose file the deployer
//! wrote, copied and run by `docker-compose` under a project name of its own, with
//! readiness read from the engine by the deployer's own look (`Compose::status`: the
//! project's containers, listed and inspected) at the deployer's poll interval, so that
//! the ratio measures what b00t adds, not a different way of watching.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use b00t_container::Docker;
use b00t_deploy::Intent;
use b00t_deployer::compose::Compose;
use b00t_installer::runner::{self, Program};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::figures::{Phases, Run};

/// How often the deployer looks at the containers while it waits: `POLL` of
/// b00t-deployer's `compose.rs`, which is private there, so the same value is kept here.
pub(super) const POLL: Duration = Duration::from_millis(300);
/// Longest an `up` or a `down` may take: the deployer's default `[deploy]
/// up_timeout_ms`.
pub(super) const LIMIT: Duration = Duration::from_secs(300);

/// The compose project run without b00t.
pub(super) struct Peer {
    /// Used only for its `status`, the deployer's look at a project.
    compose: Compose,
    /// b00t's intent with the peer's project name.
    intent: Intent,
    /// The copy of b00t's compose file.
    file: PathBuf,
    /// Holds `file`; removed when dropped.
    _dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl Peer {
    /// Copies b00t's compose file `b00t_file` and names the peer's project `project`.
    pub(super) fn new(b00t_file: &Path, intent: &Intent, project: &str) -> anyhow::Result<Peer> {
        let dir = tempfile::Builder::new()
            .prefix("b00t-bench-peer-")
            .tempdir()
            .context("cannot make a folder for the peer's compose file")?;
        let file = dir.path().join("compose.yaml");
        std::fs::copy(b00t_file, &file).with_context(|| {
            format!(
                "cannot copy the compose file b00t wrote, `{}`, to `{}`",
                b00t_file.display(),
                file.display()
            )
        })?;
        let stop = CancellationToken::new();
        Ok(Peer {
            compose: Compose::new(dir.path(), stop.clone()),
            intent: Intent {
                project: project.to_owned(),
                ..intent.clone()
            },
            file,
            _dir: dir,
            stop,
        })
    }

    /// `docker-compose up -d`, then the engine every [`POLL`] until every service is
    /// ready and every job has ended: the time, and where it went.
    pub(super) async fn up(&self, docker: &Docker) -> anyhow::Result<Run> {
        let started = Instant::now();
        self.compose_run(&["up", "-d", "--remove-orphans"]).await?;
        let mut first_look = None;
        loop {
            let deployed = self
                .compose
                .status(docker, &self.intent)
                .await
                .with_context(|| {
                    format!("reading project `{}` from the engine", self.intent.project)
                })?;
            first_look.get_or_insert_with(|| started.elapsed());
            if deployed.services.iter().all(|s| s.ready) && deployed.jobs_done() {
                if let Some(job) = deployed.jobs.iter().find(|j| j.state == "failed") {
                    anyhow::bail!(
                        "job `{}` of the peer project `{}` failed (exit {:?})",
                        job.name,
                        self.intent.project,
                        job.exit_code
                    );
                }
                break;
            }
            anyhow::ensure!(
                started.elapsed() < LIMIT,
                "the peer project `{}` was not ready within {} s: {deployed:?}",
                self.intent.project,
                LIMIT.as_secs()
            );
            tokio::time::sleep(POLL).await;
        }
        let total = started.elapsed();
        let compose = first_look.unwrap_or(total);
        Ok(Run {
            total_ms: ms(total),
            phases: Some(Phases {
                prep_ms: 0.0,
                compose_ms: ms(compose),
                after_ms: ms(total - compose),
            }),
            down_ms: 0.0,
        })
    }

    /// `docker-compose down` as the deployer runs it; its time in ms.
    pub(super) async fn down(&self) -> anyhow::Result<f64> {
        let started = Instant::now();
        self.compose_run(&["down", "-v", "--remove-orphans", "-t", "5"])
            .await?;
        Ok(ms(started.elapsed()))
    }

    /// Runs `docker-compose -p <project> -f <file> --project-directory <dir> <args>` as
    /// the deployer does (b00t-installer's runner: its own process group, output read).
    async fn compose_run(&self, args: &[&str]) -> anyhow::Result<()> {
        let program = compose_command(&self.intent.project, &self.file, args);
        let finished = runner::run(&program, LIMIT, &self.stop, None).await;
        anyhow::ensure!(
            finished.success(),
            "{}: {}",
            program.display(),
            finished.describe("docker-compose", LIMIT)
        );
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The command line the deployer's `compose.rs` makes, for `project` and `file`.
pub(super) fn compose_command(project: &str, file: &Path, args: &[&str]) -> Program {
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut all = vec![
        "-p".to_owned(),
        project.to_owned(),
        "-f".to_owned(),
        file.display().to_string(),
        "--project-directory".to_owned(),
        dir.display().to_string(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    Program {
        program: "docker-compose".to_owned(),
        args: all,
        env: Vec::new(),
        cwd: None,
    }
}

/// Removes a compose project, whatever state it is in; for error paths (nothing to
/// report: the bench is failing already, and a project that is not there is fine).
pub(super) async fn remove_project(project: &str, file: &Path) {
    if !file.is_file() {
        return;
    }
    let program = compose_command(
        project,
        file,
        &["down", "-v", "--remove-orphans", "-t", "1"],
    );
    let _ = runner::run(&program, LIMIT, &CancellationToken::new(), None).await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_runs_compose_as_the_deployer_does() {
        let program = compose_command(
            "b00t-bench-1-peer",
            Path::new("/tmp/x/compose.yaml"),
            &["up", "-d", "--remove-orphans"],
        );
        assert_eq!(
            program.display(),
            "docker-compose -p b00t-bench-1-peer -f /tmp/x/compose.yaml --project-directory /tmp/x up -d --remove-orphans"
        );
    }
}
