//! The `scheduler` agent: skills `add`, `list` and `remove` over the schedules in the
//! journal. A group exists when `<groups_root>/<group>` is a folder (`global` is shared
//! files, not a group); each group holds at most [`MAX_PER_GROUP`] schedules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, TaskContext};
use b00t_proto::{ErrorCode, Name};
use chrono::Local;
use serde_json::{json, Value};

use crate::schedule::{new_id, Schedule};
use crate::store::{Added, Store};
use crate::when::{rfc3339, When};
use crate::{request, SchedulerError};

/// The agent's name: its skills are `b00t.scheduler.<skill>`.
pub const AGENT: &str = "scheduler";
/// Its skills.
pub const SKILLS: &[&str] = &["add", "list", "remove"];
/// The most schedules one group may have.
pub const MAX_PER_GROUP: usize = 100;
/// The shared folder under the groups root, which is not a group.
pub const GLOBAL: &str = "global";

/// Builds the scheduler agent over `store`, with groups under `groups_root`.
pub fn spec(store: Store, groups_root: PathBuf) -> AgentSpec {
    AgentSpec::new(
        Name::parse(AGENT).expect("a valid name"),
        "scheduler",
        SKILLS
            .iter()
            .map(|s| Name::parse(s).expect("a valid skill name"))
            .collect(),
        Arc::new(Scheduler(Arc::new(Inner { store, groups_root }))),
    )
}

struct Inner {
    store: Store,
    groups_root: PathBuf,
}

struct Scheduler(Arc<Inner>);

impl Handler for Scheduler {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let inner = self.0.clone();
        Box::pin(async move {
            let asker = inner.asker(&ctx.task).await;
            match ctx.skill.as_str() {
                "add" => inner.add(&ctx.task.body, asker.as_ref()).await,
                "list" => inner.list(&ctx.task.body, asker.as_ref()).await,
                "remove" => inner.remove(&ctx.task.body, asker.as_ref()).await,
                other => Err(Failure::new(
                    ErrorCode::NotFound,
                    format!("the scheduler has no skill `{other}`; its skills: add, list, remove"),
                )),
            }
        })
    }
}

fn failed(e: SchedulerError) -> Failure {
    e.failure()
}

/// The only group whose schedules `asker` may touch, or `None` when it may touch every
/// group's (the operator, a local script, `main`).
fn confined(asker: Option<&Name>) -> Option<&Name> {
    asker.filter(|group| group.as_str() != MAIN)
}

/// The privileged group, which may schedule for others.
const MAIN: &str = "main";

fn forbidden(group: &Name, what: &str) -> Failure {
    Failure::new(
        ErrorCode::Forbidden,
        format!("group `{group}` may {what} only its own schedules; only `main` and the operator act for other groups"),
    )
}

impl Inner {
    /// The group a task comes from, on the broker's verified `from`: `None` when it is
    /// not a group. `main` asking on behalf of another group (a message from `family`
    /// made it ask) asks with that group's rights, never more than its own.
    async fn asker(&self, task: &b00t_proto::Task) -> Option<Name> {
        let group = |name: &Option<String>| name.as_deref().and_then(|n| Name::parse(n).ok());
        let from = group(&task.from);
        let asker = match (&from, group(&task.on_behalf_of)) {
            (Some(main), Some(other)) if main.as_str() == MAIN => Some(other),
            (Some(_), _) => from,
            (None, other) => other,
        }?;
        let root = self.groups_root.clone();
        let is_group = {
            let asker = asker.clone();
            tokio::task::spawn_blocking(move || check_group(&root, &asker).is_ok())
                .await
                .unwrap_or(true)
        };
        is_group.then_some(asker)
    }

    async fn add(&self, body: &Value, asker: Option<&Name>) -> Result<Value, Failure> {
        let request = request::add(body).map_err(failed)?;
        if let Some(own) = confined(asker) {
            if *own != request.group {
                return Err(forbidden(own, "add"));
            }
        }
        self.check_group(&request.group).await?;
        let now = b00t_journal::now_ms();
        let when = When::from_fields(request.when, now).map_err(failed)?;
        let next = when.first_fire(now, &Local).map_err(failed)?;
        let mut schedule = Schedule {
            id: new_id(),
            group: request.group,
            text: request.text,
            when,
            next_ms: Some(next),
            created_ms: now,
            last_fired_ms: None,
            fired: 0,
        };
        // Ids are 32 random bits: a collision is rare, two in a row rarer still.
        for _ in 0..4 {
            match self.store.add(&schedule, MAX_PER_GROUP).await.map_err(failed)? {
                Added::Added => {
                    tracing::info!(id = %schedule.id, group = %schedule.group, when = %schedule.when.describe(&Local), "schedule added");
                    return Ok(json!({
                        "id": schedule.id,
                        "group": schedule.group.as_str(),
                        "when": schedule.when.describe(&Local),
                        "next": rfc3339(next, &Local),
                    }));
                }
                Added::GroupFull(count) => {
                    return Err(Failure::new(
                        ErrorCode::Forbidden,
                        format!(
                            "group `{}` already has {count} schedules, the most a group may have: remove some first (`b00t schedule list --group {}`)",
                            schedule.group, schedule.group
                        ),
                    ))
                }
                Added::IdTaken => schedule.id = new_id(),
            }
        }
        Err(Failure::new(
            ErrorCode::Failed,
            "could not find a free schedule id; send the task again",
        ))
    }

    async fn list(&self, body: &Value, asker: Option<&Name>) -> Result<Value, Failure> {
        let mut group = request::list(body).map_err(failed)?;
        if let Some(own) = confined(asker) {
            match &group {
                Some(asked) if asked != own => return Err(forbidden(own, "list")),
                _ => group = Some(own.clone()),
            }
        }
        let schedules = self
            .store
            .list(group.as_ref().map(Name::as_str))
            .await
            .map_err(failed)?;
        let shown: Vec<Value> = schedules.iter().map(|s| s.to_json(&Local)).collect();
        Ok(json!({ "schedules": shown }))
    }

    async fn remove(&self, body: &Value, asker: Option<&Name>) -> Result<Value, Failure> {
        let id = request::remove(body).map_err(failed)?;
        if let Some(own) = confined(asker) {
            let theirs = self.store.list(Some(own.as_str())).await.map_err(failed)?;
            if !theirs.iter().any(|s| s.id == id) {
                return Err(forbidden(own, "remove"));
            }
        }
        if self.store.remove(&id).await.map_err(failed)? {
            tracing::info!(%id, "schedule removed");
            Ok(json!({ "removed": id }))
        } else {
            Err(Failure::new(
                ErrorCode::NotFound,
                format!("no schedule `{id}`: `b00t schedule list` shows the schedules"),
            ))
        }
    }

    /// `not_found`, listing the groups, unless `group` is a group.
    async fn check_group(&self, group: &Name) -> Result<(), Failure> {
        let root = self.groups_root.clone();
        let group = group.clone();
        tokio::task::spawn_blocking(move || check_group(&root, &group))
            .await
            .map_err(|e| {
                Failure::new(ErrorCode::Failed, format!("checking the group failed: {e}"))
            })?
    }
}

fn check_group(root: &Path, group: &Name) -> Result<(), Failure> {
    if group.as_str() != GLOBAL && root.join(group.as_str()).is_dir() {
        return Ok(());
    }
    let groups = groups(root);
    let known = if groups.is_empty() {
        "there are no groups yet; add one with `b00t group add <name>`".to_owned()
    } else {
        format!(
            "the groups are {}",
            groups
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let why = if group.as_str() == GLOBAL {
        "`global` holds files shared by the groups and is not a group itself".to_owned()
    } else {
        format!("no group `{group}` in `{}`", root.display())
    };
    Err(Failure::new(ErrorCode::NotFound, format!("{why}: {known}"))
        .with_detail(json!({ "groups": groups })))
}

/// The groups under `root`, sorted: folders with a valid name, `global` left out.
pub fn groups(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut groups: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name != GLOBAL && Name::parse(name).is_ok())
        .collect();
    groups.sort();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_a_folder_that_is_not_global() {
        let dir = tempfile::tempdir().unwrap();
        for g in ["family", "main", "global", "Not-A-Name"] {
            std::fs::create_dir(dir.path().join(g)).unwrap();
        }
        std::fs::write(dir.path().join("notes"), "a file, not a group").unwrap();
        assert_eq!(groups(dir.path()), ["family", "main"]);
        let name = |n: &str| Name::parse(n).unwrap();
        assert!(check_group(dir.path(), &name("family")).is_ok());
        let err = check_group(dir.path(), &name("work")).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(
            err.message.contains("no group `work` in")
                && err.message.ends_with("the groups are `family`, `main`"),
            "{}",
            err.message
        );
        let err = check_group(dir.path(), &name("global")).unwrap_err();
        assert!(
            err.message.starts_with("`global` holds files shared"),
            "{}",
            err.message
        );
        let err = check_group(&dir.path().join("missing"), &name("family")).unwrap_err();
        assert!(
            err.message.contains("there are no groups yet"),
            "{}",
            err.message
        );
    }
}
