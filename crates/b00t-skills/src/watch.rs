//! Watching folders for changes with notify (inotify on Linux), recursively, debounced:
//! a burst of edits causes one call. The watch runs in a tokio task that ends on shutdown.
//!
//! A watched folder that does not exist yet is created. Its parent is watched too
//! (not recursively), so that a folder deleted and made again (`rm -rf skills && git
//! checkout skills`) is watched again and reported.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SkillError;

/// The debounce b00t uses for skills: a burst of edits inside it makes one sync.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(150);

/// Watches `dirs` recursively and calls `on_change` once per burst of changes: after
/// `debounce` without a further change, or at the latest 4 × `debounce` after the first
/// one, so that a steady stream of writes still gets through. Reads (access events) do
/// not count. `on_change` runs on a blocking thread, one call at a time. The task ends
/// when `shutdown` is cancelled. Must be called inside a tokio runtime.
pub fn watch(
    dirs: Vec<PathBuf>,
    debounce: Duration,
    shutdown: CancellationToken,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<JoinHandle<()>, SkillError> {
    watch_filtered(dirs, debounce, shutdown, |_| true, on_change)
}

/// [`watch`], counting only the changes whose path `relevant` accepts (the groups'
/// watch ignores conversation history, for example). A lost event (a queue overflow)
/// always counts.
pub fn watch_filtered(
    dirs: Vec<PathBuf>,
    debounce: Duration,
    shutdown: CancellationToken,
    relevant: impl Fn(&Path) -> bool + Send + 'static,
    on_change: impl Fn() + Send + Sync + 'static,
) -> Result<JoinHandle<()>, SkillError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| SkillError::Watch {
        path: dirs.first().cloned().unwrap_or_default(),
        message: "no tokio runtime is running; call this from async code".to_owned(),
    })?;
    let mut roots = Vec::with_capacity(dirs.len());
    for dir in dirs {
        std::fs::create_dir_all(&dir).map_err(|e| SkillError::io("create the folder", &dir, e))?;
        roots.push(std::path::absolute(&dir).unwrap_or(dir));
    }
    // The sender lives in notify's callback, on notify's own thread, and is dropped with
    // the watcher when the task ends; the receiver is the task's.
    let (sender, receiver) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = sender.send(event);
    })
    .map_err(|e| SkillError::Watch {
        path: roots.first().cloned().unwrap_or_default(),
        message: e.to_string(),
    })?;
    for root in &roots {
        watcher
            .watch(root, RecursiveMode::Recursive)
            .map_err(|e| SkillError::Watch {
                path: root.clone(),
                message: e.to_string(),
            })?;
        if let Some(parent) = root.parent() {
            // Best effort: without it, only a deleted and re-made root goes unseen.
            if let Err(e) = watcher.watch(parent, RecursiveMode::NonRecursive) {
                tracing::debug!(folder = %parent.display(), "cannot watch the parent folder: {e}");
            }
        }
    }
    let state = Loop {
        watcher,
        roots,
        relevant: Box::new(relevant),
        on_change: Arc::new(on_change),
        debounce,
    };
    Ok(runtime.spawn(state.run(receiver, shutdown)))
}

/// The watch task's state.
struct Loop {
    /// Kept alive for the task's lifetime: dropping it stops notify's thread.
    watcher: notify::RecommendedWatcher,
    roots: Vec<PathBuf>,
    relevant: Box<dyn Fn(&Path) -> bool + Send>,
    on_change: Arc<dyn Fn() + Send + Sync>,
    debounce: Duration,
}

/// What one notify event means for the loop.
#[derive(Default)]
struct Seen {
    relevant: bool,
    /// A watched root itself was created, removed or renamed: watch it again.
    root_touched: bool,
}

type Incoming = notify::Result<notify::Event>;

impl Loop {
    async fn run(
        mut self,
        mut receiver: mpsc::UnboundedReceiver<Incoming>,
        shutdown: CancellationToken,
    ) {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                event = receiver.recv() => event,
            };
            let Some(first) = first else { return };
            let seen = self.classify(first);
            if !seen.relevant {
                if seen.root_touched {
                    self.rewatch_roots();
                }
                continue;
            }
            let mut root_touched = seen.root_touched;
            let latest = Instant::now() + self.debounce * 4;
            let mut quiet_until = Instant::now() + self.debounce;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(quiet_until.min(latest)) => break,
                    event = receiver.recv() => {
                        let Some(event) = event else { break };
                        let seen = self.classify(event);
                        root_touched |= seen.root_touched;
                        if seen.relevant {
                            quiet_until = Instant::now() + self.debounce;
                        }
                    }
                }
            }
            if root_touched {
                self.rewatch_roots();
            }
            let on_change = Arc::clone(&self.on_change);
            if let Err(e) = tokio::task::spawn_blocking(move || on_change()).await {
                tracing::error!("the change handler of a folder watch failed: {e}");
            }
        }
    }

    fn classify(&self, event: Incoming) -> Seen {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!("watching {}: {e}", self.describe_roots());
                return Seen {
                    relevant: true,
                    root_touched: false,
                };
            }
        };
        if event.need_rescan() {
            return Seen {
                relevant: true,
                root_touched: true,
            };
        }
        if matches!(event.kind, EventKind::Access(_)) {
            return Seen::default();
        }
        let mut seen = Seen::default();
        for path in &event.paths {
            if self.roots.iter().any(|root| root == path) {
                seen.root_touched = true;
                seen.relevant = true;
            } else if self.roots.iter().any(|root| path.starts_with(root)) && (self.relevant)(path)
            {
                seen.relevant = true;
            }
        }
        seen
    }

    /// Watches each root again (after it was removed and made again, or events were lost).
    fn rewatch_roots(&mut self) {
        for root in &self.roots {
            let _ = self.watcher.unwatch(root);
            if root.is_dir() {
                if let Err(e) = self.watcher.watch(root, RecursiveMode::Recursive) {
                    tracing::warn!(folder = %root.display(), "cannot watch the folder again: {e}");
                }
            }
        }
    }

    fn describe_roots(&self) -> String {
        self.roots
            .iter()
            .map(|r| format!("`{}`", r.display()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Polls `condition` every 20 ms for up to 10 s.
    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn counter() -> (Arc<AtomicUsize>, impl Fn() + Send + Sync + 'static) {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        (calls, move || {
            seen.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_edits_makes_one_call_and_reads_make_none() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("skills");
        std::fs::create_dir(&dir).unwrap();
        let shutdown = CancellationToken::new();
        let debounce = Duration::from_millis(200);
        let (calls, on_change) = counter();
        let task = watch(vec![dir.clone()], debounce, shutdown.clone(), on_change).unwrap();

        for i in 0..20 {
            let folder = dir.join(format!("s{i}"));
            std::fs::create_dir(&folder).unwrap();
            std::fs::write(folder.join("SKILL.md"), "x").unwrap();
        }
        eventually("the first call", || calls.load(Ordering::SeqCst) >= 1).await;
        // Nothing more happens: the burst was one change.
        tokio::time::sleep(debounce * 5).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        for i in 0..20 {
            std::fs::read(dir.join(format!("s{i}/SKILL.md"))).unwrap();
        }
        tokio::time::sleep(debounce * 5).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "reading is not a change");

        std::fs::remove_dir_all(dir.join("s3")).unwrap();
        eventually("a call for a deletion", || {
            calls.load(Ordering::SeqCst) == 2
        })
        .await;

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the watch ends on shutdown")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_folder_is_created_and_a_remade_one_is_watched_again() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("not/yet/skills");
        let shutdown = CancellationToken::new();
        let (calls, on_change) = counter();
        let _task = watch(
            vec![dir.clone()],
            Duration::from_millis(50),
            shutdown.clone(),
            on_change,
        )
        .unwrap();
        assert!(dir.is_dir(), "the watched folder is created");

        std::fs::write(dir.join("a"), "1").unwrap();
        eventually("a call for a new file", || {
            calls.load(Ordering::SeqCst) >= 1
        })
        .await;

        std::fs::remove_dir_all(&dir).unwrap();
        eventually("a call for the removed folder", || {
            calls.load(Ordering::SeqCst) >= 2
        })
        .await;
        std::fs::create_dir(&dir).unwrap();
        eventually("a call for the remade folder", || {
            calls.load(Ordering::SeqCst) >= 3
        })
        .await;
        let before = calls.load(Ordering::SeqCst);
        std::fs::write(dir.join("b"), "2").unwrap();
        eventually("a call for a file in the remade folder", || {
            calls.load(Ordering::SeqCst) > before
        })
        .await;
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_filter_decides_what_counts() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("groups");
        let shutdown = CancellationToken::new();
        let (calls, on_change) = counter();
        let relevant = |path: &Path| !path.ends_with("history.jsonl");
        let _task = watch_filtered(
            vec![dir.clone()],
            Duration::from_millis(50),
            shutdown.clone(),
            relevant,
            on_change,
        )
        .unwrap();
        std::fs::write(dir.join("history.jsonl"), "turn").unwrap();
        std::fs::write(dir.join("group.toml"), "").unwrap();
        eventually("a call for group.toml", || {
            calls.load(Ordering::SeqCst) >= 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(dir.join("history.jsonl"), "another turn").unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "history writes are filtered out"
        );
        shutdown.cancel();
    }

    #[test]
    fn outside_a_runtime_it_is_an_error_not_a_panic() {
        let error = watch(
            vec![PathBuf::from("/tmp")],
            DEFAULT_DEBOUNCE,
            CancellationToken::new(),
            || {},
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("no tokio runtime"), "{error}");
    }
}
