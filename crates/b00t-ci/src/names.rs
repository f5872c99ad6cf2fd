//! Container names turned into agent names (`web` → `ci-web`), always inside b00t's name
//! grammar, and the [`Registry`] that hands them out stably: a collision gets a short-id
//! suffix, and a removed container frees its name.

use std::collections::BTreeMap;

use b00t_container::Listed;
use b00t_proto::Name;
use serde::Serialize;

/// What every container CI agent's name starts with.
pub const AGENT_PREFIX: &str = "ci-";

/// How many hex digits of the id name a container whose name gives nothing.
pub const FALLBACK_ID_DIGITS: usize = 12;

/// How many hex digits of the id tell two colliding containers apart.
pub const SUFFIX_ID_DIGITS: usize = 6;

/// The agent name of the container `name` with the id `id`: [`AGENT_PREFIX`] and the name
/// lowercased, every character outside `[a-z0-9-]` turned into `-`, runs of `-`
/// collapsed, `-` trimmed from both ends, the whole cut to [`Name::MAX_LEN`] bytes. A name
/// that leaves nothing becomes `ci-` and the first [`FALLBACK_ID_DIGITS`] of the id (and
/// `ci-container` if the id has no usable character either).
pub fn agent_name(name: &str, id: &str) -> String {
    let body = slug(name);
    let body = if body.is_empty() {
        id_digits(id, FALLBACK_ID_DIGITS)
    } else {
        body
    };
    let body = if body.is_empty() {
        "container".to_owned()
    } else {
        body
    };
    cut(&format!("{AGENT_PREFIX}{body}"), Name::MAX_LEN)
}

/// One container the registry knows, as [`Registry::all`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub agent: String,
    pub id: String,
    pub name: String,
    pub image: String,
}

/// Which agent is which container, both ways. An id keeps its agent name for as long as
/// it is registered (re-assigning it returns the same name); the first container to claim
/// a name keeps it, a later one that maps to the same name gets `-` and the first
/// [`SUFFIX_ID_DIGITS`] of its id appended.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// Container id → its entry.
    by_id: BTreeMap<String, Entry>,
    /// Agent name → container id; always the inverse of `by_id`.
    by_agent: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
struct Entry {
    agent: String,
    name: String,
    image: String,
}

/// What [`Registry::rename`] changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Renamed {
    pub id: String,
    pub old_agent: String,
    pub new_agent: String,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The agent name of `container`, assigning one if its id is new. A known id keeps
    /// the name it has, even when `container.name` changed (use [`Registry::rename`]);
    /// its recorded image is updated.
    pub fn assign(&mut self, container: &Listed) -> String {
        if let Some(entry) = self.by_id.get_mut(&container.id) {
            entry.image.clone_from(&container.image);
            return entry.agent.clone();
        }
        let agent = self.free_name(&container.name, &container.id);
        self.by_agent.insert(agent.clone(), container.id.clone());
        self.by_id.insert(
            container.id.clone(),
            Entry {
                agent: agent.clone(),
                name: container.name.clone(),
                image: container.image.clone(),
            },
        );
        agent
    }

    /// Forgets the container `id`, freeing its agent name; the name it had, if known.
    pub fn remove(&mut self, id: &str) -> Option<String> {
        let entry = self.by_id.remove(id)?;
        self.by_agent.remove(&entry.agent);
        Some(entry.agent)
    }

    /// Follows a rename of a registered container: a new agent name when the new
    /// container name maps to a different one, `None` when the id is unknown or the agent
    /// name stays the same.
    pub fn rename(&mut self, container: &Listed) -> Option<Renamed> {
        let entry = self.by_id.get(&container.id)?;
        if agent_name(&container.name, &container.id) == agent_name(&entry.name, &container.id) {
            let entry = self.by_id.get_mut(&container.id)?;
            entry.name.clone_from(&container.name);
            return None;
        }
        let old_agent = self.remove(&container.id)?;
        let new_agent = self.assign(container);
        Some(Renamed {
            id: container.id.clone(),
            old_agent,
            new_agent,
        })
    }

    /// The agent name of the container `id`.
    pub fn agent_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|entry| entry.agent.as_str())
    }

    /// The container id behind the agent `agent`.
    pub fn container_of(&self, agent: &str) -> Option<&str> {
        self.by_agent.get(agent).map(String::as_str)
    }

    /// Every registered container, sorted by agent name.
    pub fn all(&self) -> Vec<Assignment> {
        self.by_agent
            .iter()
            .map(|(agent, id)| {
                let entry = &self.by_id[id];
                Assignment {
                    agent: agent.clone(),
                    id: id.clone(),
                    name: entry.name.clone(),
                    image: entry.image.clone(),
                }
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Makes the registry hold exactly the containers `listed` (after the engine
    /// restarted, or the watcher reconnected): the agent names added (in the order of
    /// `listed`) and removed (sorted). Containers already registered keep their names; one
    /// whose container name changed is removed and added again under its new name; an id
    /// listed twice counts once.
    pub fn reconcile(&mut self, listed: &[Listed]) -> (Vec<String>, Vec<String>) {
        let current: BTreeMap<&str, &Listed> = listed.iter().map(|c| (c.id.as_str(), c)).collect();
        let stale: Vec<String> = self
            .by_id
            .iter()
            .filter(|(id, entry)| match current.get(id.as_str()) {
                None => true,
                Some(container) => agent_name(&container.name, id) != agent_name(&entry.name, id),
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut removed: Vec<String> = stale.iter().filter_map(|id| self.remove(id)).collect();
        removed.sort();
        let mut added = Vec::new();
        for container in listed {
            if !self.by_id.contains_key(&container.id) {
                added.push(self.assign(container));
            } else {
                self.assign(container);
            }
        }
        (added, removed)
    }

    /// A name for a new container that no registered one holds.
    fn free_name(&self, name: &str, id: &str) -> String {
        let base = agent_name(name, id);
        if !self.by_agent.contains_key(&base) {
            return base;
        }
        let digits = id_digits(id, id.len());
        let mut candidates: Vec<String> = Vec::new();
        for width in [SUFFIX_ID_DIGITS, FALLBACK_ID_DIGITS] {
            let suffix: String = digits.chars().take(width).collect();
            if !suffix.is_empty() {
                candidates.push(with_suffix(&base, &suffix));
            }
        }
        if let Some(free) = candidates
            .iter()
            .find(|candidate| !self.by_agent.contains_key(*candidate))
        {
            return free.clone();
        }
        let stem = candidates.first().cloned().unwrap_or(base);
        (2..)
            .map(|n| with_suffix(&stem, &n.to_string()))
            .find(|candidate| !self.by_agent.contains_key(candidate))
            .expect("some number is free")
    }
}

/// `base` cut so that `base-suffix` fits in [`Name::MAX_LEN`], then `-suffix`.
fn with_suffix(base: &str, suffix: &str) -> String {
    let room = Name::MAX_LEN.saturating_sub(suffix.len() + 1);
    format!("{}-{suffix}", cut(base, room))
}

/// `text` lowercased, outside `[a-z0-9-]` turned into `-`, runs of `-` collapsed, `-`
/// trimmed from both ends.
fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.trim_end_matches('-').to_owned()
}

/// At most `max` bytes of `text` (which is ASCII), without a trailing `-`.
fn cut(text: &str, max: usize) -> String {
    let end = text.len().min(max);
    text[..end].trim_end_matches('-').to_owned()
}

/// The first `count` characters of `id` that are lowercase hex digits or letters, so
/// that they fit the name grammar whatever the engine sent.
fn id_digits(id: &str, count: usize) -> String {
    id.chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const ID_A: &str = "aaaaaa1111112222223333334444445555556666667777778888889999990000";
    const ID_B: &str = "bbbbbb1111112222223333334444445555556666667777778888889999990000";
    const ID_C: &str = "cccccc1111112222223333334444445555556666667777778888889999990000";

    fn listed(id: &str, name: &str) -> Listed {
        Listed {
            id: id.to_owned(),
            name: name.to_owned(),
            image: "busybox:latest".to_owned(),
            state: "running".to_owned(),
            labels: BTreeMap::new(),
        }
    }

    fn check(name: &str, expected: &str) {
        assert_eq!(agent_name(name, ID_A), expected, "name {name:?}");
    }

    #[test]
    fn names_follow_the_grammar() {
        check("web", "ci-web");
        check("Web_Server.1", "ci-web-server-1");
        check("/web", "ci-web");
        check("--a__b--", "ci-a-b");
        check("my-app_db_1", "ci-my-app-db-1");
        check("CAFÉ", "ci-caf");
        check("ci-web", "ci-ci-web");
        check("", "ci-aaaaaa111111");
        check("___", "ci-aaaaaa111111");
        check("日本", "ci-aaaaaa111111");
        check(&"x".repeat(100), &format!("ci-{}", "x".repeat(60)));
        // A cut that lands on a `-` leaves no trailing `-`.
        check(
            &format!("{}_y", "x".repeat(59)),
            &format!("ci-{}", "x".repeat(59)),
        );
    }

    #[test]
    fn a_name_and_an_id_with_nothing_usable_still_give_a_name() {
        assert_eq!(agent_name("", ""), "ci-container");
        assert_eq!(agent_name("!!", "--"), "ci-container");
        assert_eq!(agent_name("", "ABCDEF0123456789"), "ci-abcdef012345");
    }

    /// Every name made of a spread of awkward pieces is a valid `Name`, at most 63 bytes.
    #[test]
    fn any_input_gives_a_valid_name() {
        let pieces = [
            "",
            "a",
            "Z",
            "0",
            "-",
            "_",
            ".",
            "/",
            " ",
            "é",
            "日本",
            "\u{0}",
            "+#$",
            "ci-",
            "--",
            "x".repeat(70).leak(),
        ];
        let ids = ["", ID_A, "XYZ", "-", "日本"];
        let mut registry = Registry::new();
        let mut count = 0;
        for first in pieces {
            for second in pieces {
                for third in pieces {
                    let name = format!("{first}{second}{third}");
                    for id in ids {
                        let agent = agent_name(&name, id);
                        assert!(Name::parse(&agent).is_ok(), "{name:?} {id:?} → {agent:?}");
                        assert!(agent.starts_with(AGENT_PREFIX));
                    }
                    count += 1;
                    let id = format!("{count:064x}");
                    let agent = registry.assign(&listed(&id, &name));
                    assert!(Name::parse(&agent).is_ok(), "{name:?} → {agent:?}");
                }
            }
        }
        // Every container got its own name.
        assert_eq!(registry.all().len(), count);
    }

    #[test]
    fn collisions_get_a_short_id_suffix_and_the_first_keeps_its_name() {
        let mut registry = Registry::new();
        assert_eq!(registry.assign(&listed(ID_A, "web")), "ci-web");
        assert_eq!(registry.assign(&listed(ID_B, "Web")), "ci-web-bbbbbb");
        assert_eq!(registry.assign(&listed(ID_C, "WEB")), "ci-web-cccccc");
        // Stable: the same id gets the same name again.
        assert_eq!(registry.assign(&listed(ID_B, "Web")), "ci-web-bbbbbb");
        assert_eq!(registry.agent_of(ID_A), Some("ci-web"));
        assert_eq!(registry.container_of("ci-web-bbbbbb"), Some(ID_B));
        assert_eq!(registry.len(), 3);
    }

    #[test]
    fn a_suffix_still_fits_in_63_bytes() {
        let mut registry = Registry::new();
        let long = "x".repeat(80);
        let first = registry.assign(&listed(ID_A, &long));
        let second = registry.assign(&listed(ID_B, &long));
        assert_eq!(first.len(), 63);
        assert_eq!(second.len(), 63);
        assert!(second.ends_with("-bbbbbb"), "{second}");
        assert!(Name::parse(&second).is_ok());
    }

    #[test]
    fn ids_sharing_their_first_digits_are_still_told_apart() {
        let mut registry = Registry::new();
        let same_prefix = |tail: &str| format!("abcdef123456{tail}");
        let names: Vec<String> = ["1", "2", "3", "4"]
            .iter()
            .map(|tail| registry.assign(&listed(&same_prefix(tail), "db")))
            .collect();
        assert_eq!(
            names,
            [
                "ci-db",
                "ci-db-abcdef",
                "ci-db-abcdef123456",
                "ci-db-abcdef-2"
            ]
        );
    }

    #[test]
    fn removing_frees_the_name() {
        let mut registry = Registry::new();
        registry.assign(&listed(ID_A, "web"));
        assert_eq!(registry.remove(ID_A), Some("ci-web".to_owned()));
        assert_eq!(registry.remove(ID_A), None);
        assert_eq!(registry.container_of("ci-web"), None);
        assert_eq!(registry.assign(&listed(ID_B, "web")), "ci-web");
        assert!(!registry.is_empty());
    }

    #[test]
    fn all_is_sorted_by_agent() {
        let mut registry = Registry::new();
        registry.assign(&listed(ID_A, "zeta"));
        registry.assign(&listed(ID_B, "alpha"));
        let all = registry.all();
        let agents: Vec<&str> = all.iter().map(|a| a.agent.as_str()).collect();
        assert_eq!(agents, ["ci-alpha", "ci-zeta"]);
        assert_eq!(all[0].id, ID_B);
        assert_eq!(all[0].name, "alpha");
        assert_eq!(all[0].image, "busybox:latest");
    }

    #[test]
    fn rename_moves_the_agent_when_the_name_changes() {
        let mut registry = Registry::new();
        registry.assign(&listed(ID_A, "web"));
        assert_eq!(registry.rename(&listed(ID_A, "WEB")), None);
        assert_eq!(
            registry.rename(&listed(ID_A, "api")),
            Some(Renamed {
                id: ID_A.to_owned(),
                old_agent: "ci-web".to_owned(),
                new_agent: "ci-api".to_owned(),
            })
        );
        assert_eq!(registry.container_of("ci-web"), None);
        assert_eq!(registry.rename(&listed(ID_B, "x")), None);
    }

    #[test]
    fn reconcile_leaves_no_duplicate_and_no_stale_agent() {
        let mut registry = Registry::new();
        registry.assign(&listed(ID_A, "web"));
        registry.assign(&listed(ID_B, "db"));
        // After the engine restarted: `db` is gone, `web` is still there, `cache` is new,
        // and the engine listed `cache` twice.
        let now = [
            listed(ID_C, "cache"),
            listed(ID_A, "web"),
            listed(ID_C, "cache"),
        ];
        let (added, removed) = registry.reconcile(&now);
        assert_eq!(added, ["ci-cache"]);
        assert_eq!(removed, ["ci-db"]);
        let agents: Vec<String> = registry.all().into_iter().map(|a| a.agent).collect();
        assert_eq!(agents, ["ci-cache", "ci-web"]);
        // Reconciling again changes nothing.
        assert_eq!(registry.reconcile(&now), (vec![], vec![]));
    }

    #[test]
    fn reconcile_follows_renames_and_frees_names_first() {
        let mut registry = Registry::new();
        registry.assign(&listed(ID_A, "web"));
        // `web` was renamed `old-web`, and a new container took the name `web`.
        let (added, removed) = registry.reconcile(&[listed(ID_A, "old-web"), listed(ID_B, "web")]);
        assert_eq!(added, ["ci-old-web", "ci-web"]);
        assert_eq!(removed, ["ci-web"]);
        assert_eq!(registry.container_of("ci-web"), Some(ID_B));
        assert_eq!(
            registry.reconcile(&[]),
            (vec![], vec!["ci-old-web".to_owned(), "ci-web".to_owned()])
        );
        assert!(registry.is_empty());
    }
}
