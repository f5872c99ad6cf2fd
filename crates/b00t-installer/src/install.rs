//! Carrying out a plan: each node in order, a progress event per step and per line of
//! output, a re-check after each step, and a stop at the first failure. The outcome lists
//! what was installed, skipped and failed, with versions.

use std::time::Duration;

use b00t_agents::Progress;
use b00t_datums::Catalog;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::check::State;
use crate::methods::{self, Action};
use crate::plan::{recheck, Checking, Plan};
use crate::runner;

/// Output lines passed on as progress per step; the rest are counted, not sent.
const MAX_LINES: usize = 400;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub installed: Vec<Value>,
    pub skipped: Vec<Value>,
    pub failed: Vec<Value>,
}

impl Outcome {
    pub fn ids(list: &[Value]) -> Vec<String> {
        list.iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// Installs what `plan` says is missing or outdated.
pub async fn execute(
    plan: &Plan,
    catalog: &Catalog,
    checking: &Checking<'_>,
    step_timeout: Duration,
    progress: &Progress,
) -> Outcome {
    let of = plan.nodes.len() as u64;
    let mut outcome = Outcome::default();
    let mut broken: Option<String> = None;
    for (i, node) in plan.nodes.iter().enumerate() {
        let n = Some(i as u64 + 1);
        let id = node.id.to_string();
        if let Some(first) = &broken {
            outcome.failed.push(json!({
                "id": id,
                "error": format!("not attempted: `{first}` failed before it"),
            }));
            continue;
        }
        if node.state == State::Ok {
            progress
                .step(
                    &format!("skip {id}: ok {}", node.version.as_deref().unwrap_or("")),
                    n,
                    Some(of),
                )
                .await;
            outcome
                .skipped
                .push(json!({"id": id, "version": node.version, "why": "ok"}));
            continue;
        }
        let Some(datum) = catalog.get(&node.id) else {
            continue;
        };
        let Some(step) = &node.action else {
            outcome
                .failed
                .push(json!({"id": id, "error": node.blocked.join("; ")}));
            broken = Some(id);
            continue;
        };
        let verb = if node.state == State::Outdated {
            "update"
        } else {
            "install"
        };
        progress
            .step(&format!("{verb} {id}: {}", step.view().run), n, Some(of))
            .await;
        let ran = run_step(
            &step.action,
            &id,
            checking.stop,
            step_timeout,
            progress,
            n,
            of,
        )
        .await;
        if let Err(error) = ran {
            outcome.failed.push(json!({"id": id, "error": error}));
            broken = Some(id);
            continue;
        }
        let after = recheck(datum, checking).await;
        if after.state == State::Ok {
            progress
                .step(
                    &format!("installed {id} {}", after.version.as_deref().unwrap_or("")),
                    n,
                    Some(of),
                )
                .await;
            outcome
                .installed
                .push(json!({"id": id, "version": after.version}));
        } else {
            let error = format!(
                "the install step ran, but `{id}` is still {}: {}",
                after.state.as_str(),
                after.detail
            );
            outcome.failed.push(json!({"id": id, "error": error}));
            broken = Some(id);
        }
    }
    outcome
}

/// A program that did not succeed: why, and what it printed.
struct Failed {
    message: String,
    output: String,
}

async fn run_program(
    program: &runner::Program,
    timeout: Duration,
    stop: &CancellationToken,
    lines: &mpsc::Sender<String>,
) -> Result<(), Failed> {
    let done = runner::run(program, timeout, stop, Some(lines.clone())).await;
    if done.success() {
        Ok(())
    } else {
        Err(Failed {
            message: done.describe(&program.display(), timeout),
            output: done.output,
        })
    }
}

async fn run_step(
    action: &Action,
    id: &str,
    stop: &CancellationToken,
    timeout: Duration,
    progress: &Progress,
    n: Option<u64>,
    of: u64,
) -> Result<(), String> {
    let (tx, mut rx) = mpsc::channel::<String>(runner::LINES_QUEUE);
    let step = id.to_owned();
    let forward = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut sent = 0usize;
            while let Some(line) = rx.recv().await {
                if sent < MAX_LINES {
                    progress.output(&step, n, Some(of), &line).await;
                }
                sent += 1;
            }
            if sent > MAX_LINES {
                let note = format!("({} more lines not shown)", sent - MAX_LINES);
                progress.output(&step, n, Some(of), &note).await;
            }
        })
    };
    let result = match action {
        Action::Nothing(_) => Ok(()),
        Action::Pull(image) => crate::docker::pull(image, timeout, stop, &tx).await,
        Action::Run(program) => run_program(program, timeout, stop, &tx)
            .await
            .map_err(|f| f.message),
        Action::Apt(package) => {
            let install = methods::apt_install(package);
            match run_program(&install, timeout, stop, &tx).await {
                Err(Failed { output, .. })
                    if output.contains("Unable to locate package")
                        || output.contains("has no installation candidate") =>
                {
                    // The package lists may predate the package: refresh them once.
                    let _ = tx
                        .send("apt-get update (the package lists do not know it yet)".into())
                        .await;
                    match run_program(&methods::apt_update(), timeout, stop, &tx).await {
                        Ok(()) => run_program(&install, timeout, stop, &tx).await,
                        Err(update) => Err(update),
                    }
                    .map_err(|f| f.message)
                }
                other => other.map_err(|f| f.message),
            }
        }
    };
    drop(tx);
    let _ = forward.await;
    result
}
