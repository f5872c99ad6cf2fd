//! The skills a group agent answers: `chat`, plus every valid skill synced into the
//! group's `.skills/`. The folder is read afresh for each prompt, and watched so that the
//! host re-subscribes and republishes the agent's card when a skill comes or goes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use b00t_proto::Name;
use b00t_skills::{Skill, SkillSet};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::AssistantError;

/// The folder in a group where skills are synced.
pub const SKILLS_DIR: &str = ".skills";

/// The skill every group agent has.
pub(crate) const CHAT: &str = "chat";

/// How long a burst of changes in `.skills/` settles before the list is read again.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// The valid skills in `dir`; problems are logged, never fatal.
pub(crate) fn load(dir: &Path) -> Vec<Skill> {
    let SkillSet { skills, problems } = b00t_skills::load_dir(dir);
    for problem in problems {
        tracing::warn!("skipping a skill: {problem}");
    }
    skills
        .into_iter()
        .filter(|s| s.name.as_str() != CHAT)
        .collect()
}

/// `chat` and the names of `skills`, in order.
pub(crate) fn names(skills: &[Skill]) -> Vec<Name> {
    let mut names = vec![chat()];
    names.extend(skills.iter().map(|s| s.name.clone()));
    names
}

pub(crate) fn chat() -> Name {
    Name::parse(CHAT).expect("`chat` is a valid name")
}

/// Watches `dir` and sends each new skill list; ends with `shutdown`.
pub(crate) fn watch_names(
    group: &Name,
    dir: PathBuf,
    shutdown: CancellationToken,
) -> Result<watch::Receiver<Vec<Name>>, AssistantError> {
    let (sender, receiver) = watch::channel(names(&load(&dir)));
    let watched = dir.clone();
    let agent = group.clone();
    b00t_skills::watch(vec![dir], DEBOUNCE, shutdown, move || {
        let now = names(&load(&watched));
        let changed = sender.send_if_modified(|current| {
            if *current == now {
                false
            } else {
                *current = now.clone();
                true
            }
        });
        if changed {
            let list: Vec<&str> = now.iter().map(Name::as_str).collect();
            tracing::info!(agent = %agent, skills = ?list, "the group's skills changed");
        }
    })
    .map_err(|source| AssistantError::Watch {
        group: group.to_string(),
        source,
    })?;
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_skill(dir: &Path, name: &str, description: &str) {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(
            folder.join("SKILL.md"),
            format!("---\nname: {name}\ndescription: {description}\n---\nbody of {name}\n"),
        )
        .unwrap();
    }

    fn strings(names: &[Name]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[tokio::test]
    async fn the_list_follows_the_folder() {
        let group = tempfile::tempdir().unwrap();
        let dir = group.path().join(SKILLS_DIR);
        write_skill(&dir, "weather", "Forecasts");
        let stop = CancellationToken::new();
        let mut names =
            watch_names(&Name::parse("family").unwrap(), dir.clone(), stop.clone()).unwrap();
        assert_eq!(strings(&names.borrow_and_update()), ["chat", "weather"]);

        write_skill(&dir, "agent-browser", "Browses");
        tokio::time::timeout(Duration::from_secs(10), names.changed())
            .await
            .expect("a new list within 10 s")
            .unwrap();
        assert_eq!(
            strings(&names.borrow_and_update()),
            ["chat", "agent-browser", "weather"]
        );

        std::fs::remove_dir_all(dir.join("weather")).unwrap();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                names.changed().await.unwrap();
                if strings(&names.borrow_and_update()) == ["chat", "agent-browser"] {
                    return;
                }
            }
        })
        .await
        .expect("the deletion is seen within 10 s");
        stop.cancel();
    }
}
