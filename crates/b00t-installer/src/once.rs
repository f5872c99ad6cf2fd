//! Runs of the same thing at once run once: the first task does the work, a second one
//! with the same key waits for it and gets its outcome with `"shared_with": "<first id>"`.
//! The installer keys by datum, the deployer by orchestrator and project.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use b00t_agents::{Failure, TaskContext};
use b00t_proto::ErrorCode;
use serde_json::{json, Value};
use tokio::sync::watch;

type Shared = Option<Result<Value, Failure>>;

/// Runs under way: key → (the first task's id, its outcome when done).
#[derive(Debug, Default)]
pub struct Once {
    inflight: Mutex<HashMap<String, (String, watch::Receiver<Shared>)>>,
}

impl Once {
    pub fn new() -> Once {
        Once::default()
    }

    /// Runs `work` unless a run for the same `key` is under way, in which case it says
    /// so (task `<first>` is `<doing>`: waiting for it) and returns that run's outcome.
    pub async fn run(
        &self,
        ctx: &TaskContext,
        key: &str,
        doing: &str,
        work: impl Future<Output = Result<Value, Failure>>,
    ) -> Result<Value, Failure> {
        let joined = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match inflight.get(key) {
                Some((first, rx)) if rx.has_changed().is_ok() => Err((first.clone(), rx.clone())),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key.to_owned(), (ctx.task.id.to_string(), rx));
                    Ok(tx)
                }
            }
        };
        match joined {
            Ok(tx) => {
                let _guard = Forget { once: self, key };
                let result = work.await;
                let _ = tx.send(Some(result.clone()));
                result
            }
            Err((first, mut rx)) => {
                ctx.progress
                    .step(
                        &format!("task `{first}` is {doing}: waiting for it"),
                        None,
                        None,
                    )
                    .await;
                let shared = rx.wait_for(Option::is_some).await.map(|r| r.clone());
                match shared {
                    Ok(Some(result)) => mark_shared(result, &first),
                    _ => Err(Failure::new(
                        ErrorCode::Failed,
                        format!("task `{first}`, which was {doing}, ended without an outcome; send this task again"),
                    )),
                }
            }
        }
    }
}

/// Takes a finished run out of the table, even if its future was dropped.
struct Forget<'a> {
    once: &'a Once,
    key: &'a str,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.once
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(self.key);
    }
}

fn mark_shared(result: Result<Value, Failure>, first: &str) -> Result<Value, Failure> {
    match result {
        Ok(mut body) => {
            body["shared_with"] = json!(first);
            Ok(body)
        }
        Err(mut failure) => {
            if let Some(detail) = failure.detail.as_mut() {
                detail["shared_with"] = json!(first);
            }
            Err(failure)
        }
    }
}
