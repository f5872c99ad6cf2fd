//! [`Acl`]: the rules the front door holds every connection to. Deny when nothing
//! matches, as in EMQX; the runtime and the operator pass everything.
//!
//! What an agent identity (a group) may do, by default:
//! - connect with exactly `b00t-agent-<name>` or `b00t-tools-<name>` as client id;
//! - subscribe to its own addresses (`b00t.<name>.+/#`), its agent topics and reply
//!   namespace (`b00t.<name>/#`), and the presence cards (`+/status`);
//! - publish its own card and heartbeat, replies on its own addresses, and replies on a
//!   `reply_to` that a task addressed to it named;
//! - send tasks to its own addresses, the installer and the scheduler, and to the
//!   addresses its `[acl] sends` entry lists; each with `"from": "<name>"` and a
//!   `reply_to` in its own namespace (`b00t.<name>/reply…`) or none.
//!
//! An anonymous local script may read everything, send tasks anywhere and act as any
//! agent nobody claims (a script agent), but not as a claimed one: it cannot publish a
//! claimed agent's card, heartbeat or replies, name a claimed identity as `from`, or
//! point a `reply_to` into a claimed identity's namespace.
//!
//! A card that another wrote for an agent (one with `marked_by`: the offline card the
//! runtime publishes when an agent's heartbeats stop) comes only from the runtime: every
//! other identity, the operator included, is refused it, so nobody can pass off a
//! card as the runtime's judgement.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use b00t_proto::{Address, AgentChannel, Channel, PREFIX};
use serde::Deserialize;
use serde_json::Value;

use crate::filter::covers;
use crate::routes::Routes;
use crate::who::{agent_of_client_id, Who, ANONYMOUS, OPERATOR, RUNTIME, RUNTIME_ID};

/// Senders no task may name in `from` unless it is them: the identities' own names.
pub const RESERVED_SENDERS: [&str; 3] = [RUNTIME, OPERATOR, ANONYMOUS];

/// Agents every agent identity may send tasks to (the scheduler checks `from` itself,
/// and the installer holds unsigned tasks to the whitelist).
const SHARED_AGENTS: [&str; 2] = ["installer", "scheduler"];

/// Why a message or a subscription was refused, and where the sender hears of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied {
    pub why: String,
    /// For a refused task the sender may read answers on: the reply base to publish a
    /// `forbidden` error on, and the task's id.
    pub answer: Option<(String, String)>,
}

impl Denied {
    fn new(why: impl Into<String>) -> Denied {
        Denied {
            why: why.into(),
            answer: None,
        }
    }
}

/// The rules, and what they depend on while the bus runs: who claims which agent name,
/// and which agents may answer on which `reply_to`.
pub struct Acl {
    anonymous: bool,
    /// Owners not claimed one by one: every group folder is its group's.
    lookup: Option<Lookup>,
    /// Agent name -> the identity it belongs to.
    owners: RwLock<HashMap<String, Who>>,
    /// Agent identity -> the extra address filters it may send tasks to.
    sends: RwLock<HashMap<String, Vec<String>>>,
    routes: Mutex<Routes>,
    /// What `lookup` said lately: it may touch the disk, and the rules ask on every
    /// message an anonymous client sends.
    looked_up: Mutex<HashMap<String, (Instant, Option<Who>)>>,
}

/// How long a lookup's answer is used again (a group added or removed is seen this late).
const LOOKUP_TTL: Duration = Duration::from_secs(1);
/// Answers kept, at most; past it the cache starts again.
const LOOKUP_CACHE: usize = 4096;

/// Finds the owner of an agent name that was not claimed (a group folder).
type Lookup = Box<dyn Fn(&str) -> Option<Who> + Send + Sync>;

impl std::fmt::Debug for Acl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acl")
            .field("anonymous", &self.anonymous)
            .field("owners", &self.owners)
            .finish_non_exhaustive()
    }
}

/// The fields of a task the rules look at.
#[derive(Debug, Default, Deserialize)]
struct TaskHead {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    from: Option<Value>,
    #[serde(default)]
    reply_to: Option<Value>,
}

/// The field of a reply the rules look at.
#[derive(Debug, Default, Deserialize)]
struct ReplyAgent {
    #[serde(default)]
    agent: Option<Value>,
}

impl Acl {
    /// Rules with anonymous local access on or off.
    pub fn new(anonymous: bool) -> Acl {
        Acl {
            anonymous,
            lookup: None,
            owners: RwLock::default(),
            sends: RwLock::default(),
            routes: Mutex::default(),
            looked_up: Mutex::default(),
        }
    }

    /// Owners of names nobody claimed are looked up with `lookup` (a group's folder
    /// makes the name the group's, before its agent ever connects).
    pub fn with_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<Who> + Send + Sync + 'static,
    ) -> Acl {
        self.lookup = Some(Box::new(lookup));
        self
    }

    /// Whether anonymous local access is on.
    pub fn anonymous(&self) -> bool {
        self.anonymous
    }

    /// `agent` belongs to `owner` from now on: nobody else may act as it.
    pub fn claim(&self, agent: &str, owner: Who) {
        write(&self.owners).insert(agent.to_owned(), owner);
    }

    /// `agent` belongs to nobody any more (a removed group).
    pub fn release(&self, agent: &str) {
        write(&self.owners).remove(agent);
        write(&self.sends).remove(agent);
    }

    /// The agents and their owners, sorted by agent name.
    pub fn claims(&self) -> Vec<(String, Who)> {
        let mut all: Vec<_> = read(&self.owners)
            .iter()
            .map(|(a, w)| (a.clone(), w.clone()))
            .collect();
        all.sort();
        all
    }

    /// Agent identity `agent` may also send tasks to the addresses matching `filters`.
    pub fn allow_sends(&self, agent: &str, filters: Vec<String>) {
        write(&self.sends).insert(agent.to_owned(), filters);
    }

    /// The extra address filters `agent` may send to.
    pub fn sends_of(&self, agent: &str) -> Vec<String> {
        read(&self.sends).get(agent).cloned().unwrap_or_default()
    }

    /// Who owns agent name `agent`, if anyone does.
    pub fn owner(&self, agent: &str) -> Option<Who> {
        if let Some(owner) = read(&self.owners).get(agent) {
            return Some(owner.clone());
        }
        let lookup = self.lookup.as_ref()?;
        let now = Instant::now();
        let mut cache = self
            .looked_up
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((at, owner)) = cache.get(agent) {
            if now.duration_since(*at) < LOOKUP_TTL {
                return owner.clone();
            }
        }
        let owner = lookup(agent);
        if cache.len() >= LOOKUP_CACHE {
            cache.clear();
        }
        cache.insert(agent.to_owned(), (now, owner.clone()));
        owner
    }

    fn claimed(&self, name: &str) -> bool {
        RESERVED_SENDERS.contains(&name) || self.owner(name).is_some()
    }

    /// Whether `who` may act as agent `agent` (publish its card, heartbeat, replies).
    pub fn may_act_as(&self, who: &Who, agent: &str) -> bool {
        match who {
            Who::Runtime | Who::Operator => true,
            Who::Agent(name) => name == agent,
            Who::Anonymous => !self.claimed(agent),
        }
    }

    /// Checks a connection: may `who` connect with `client_id`, on a listener that
    /// requires credentials (`guarded`) or the loopback one?
    pub fn admit(&self, who: &Who, client_id: &str, guarded: bool) -> Result<(), String> {
        let agent = agent_of_client_id(client_id);
        match who {
            Who::Runtime => Ok(()),
            Who::Anonymous if guarded => {
                Err("this listener needs a username and password".to_owned())
            }
            Who::Anonymous if !self.anonymous => Err(
                "anonymous access is off ([broker] anonymous = false): connect with a username and password from the home's state/credentials".to_owned(),
            ),
            Who::Anonymous | Who::Operator => {
                let owned = client_id.starts_with(RUNTIME_ID)
                    || agent.is_some_and(|(name, _)| {
                        matches!(self.owner(name), Some(Who::Agent(_) | Who::Runtime))
                    });
                if owned {
                    Err(format!(
                        "client id `{client_id}` belongs to another identity; pick another one"
                    ))
                } else {
                    Ok(())
                }
            }
            Who::Agent(name) => match agent {
                Some((id_agent, _)) if id_agent == name => Ok(()),
                _ => Err(format!(
                    "identity `{name}` connects only as `b00t-agent-{name}` or `b00t-tools-{name}`, not `{client_id}`"
                )),
            },
        }
    }

    /// Checks a SUBSCRIBE filter.
    pub fn may_subscribe(&self, who: &Who, filter: &str) -> Result<(), String> {
        let Who::Agent(name) = who else {
            return Ok(());
        };
        // Its own addresses (`b00t.<name>.<skill>/…`, one level each: MQTT wildcards are
        // whole levels) and topics (`b00t.<name>/…`), and the presence cards.
        let first = filter.split('/').next().unwrap_or_default();
        let own_level = first == format!("{PREFIX}.{name}")
            || first
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|rest| rest.strip_prefix(name.as_str()))
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|skill| !skill.is_empty() && !skill.contains(['+', '#', '.']));
        if (own_level && filter.contains('/')) || covers("+/status", filter) {
            Ok(())
        } else {
            Err(format!(
                "`{name}` may subscribe only to its own addresses (`b00t.{name}.<skill>/…`), its own topics (`b00t.{name}/…`) and presence cards (`+/status`), not `{filter}`"
            ))
        }
    }

    /// Checks one PUBLISH (a will too). A task that passes records its `reply_to`, so
    /// that the agent it is for may answer there.
    pub fn check_publish(&self, who: &Who, topic: &str, payload: &[u8]) -> Result<(), Denied> {
        if let Some((agent, channel)) = AgentChannel::split(topic) {
            if channel == AgentChannel::Status && *who != Who::Runtime && is_marked(payload) {
                return Err(Denied::new(format!(
                    "`{who}` may not publish a card with `marked_by` on `{topic}`: only the runtime marks another agent offline"
                )));
            }
            return self.own_topic(who, agent, topic);
        }
        if let Some((base, channel)) = Channel::split(topic) {
            return match channel {
                Channel::Task => self.task(who, base, payload),
                Channel::Dead => match Address::parse(base) {
                    Ok(address) => self.own_topic(who, address.agent().as_str(), topic),
                    Err(_) => self.free_topic(who, topic),
                },
                _ => self.reply(who, base, topic, payload),
            };
        }
        self.free_topic(who, topic)
    }

    fn own_topic(&self, who: &Who, agent: &str, topic: &str) -> Result<(), Denied> {
        if self.may_act_as(who, agent) {
            Ok(())
        } else {
            Err(Denied::new(format!(
                "`{who}` may not publish on `{topic}`: only agent `{agent}` does"
            )))
        }
    }

    /// A topic that is neither a task, a reply nor an agent topic.
    fn free_topic(&self, who: &Who, topic: &str) -> Result<(), Denied> {
        match who {
            Who::Runtime | Who::Operator => Ok(()),
            Who::Agent(name) => {
                let own = [format!("{PREFIX}.{name}/"), format!("{PREFIX}.{name}.")];
                if own.iter().any(|p| topic.starts_with(p.as_str())) {
                    Ok(())
                } else {
                    Err(Denied::new(format!(
                        "`{name}` may publish only on its own topics, not `{topic}`"
                    )))
                }
            }
            Who::Anonymous => match namespace_agent(topic) {
                Some(agent) if self.claimed(agent) => Err(Denied::new(format!(
                    "`{topic}` belongs to `{agent}`: an anonymous client may not publish there"
                ))),
                _ => Ok(()),
            },
        }
    }

    fn task(&self, who: &Who, base: &str, payload: &[u8]) -> Result<(), Denied> {
        let address = Address::parse(base).ok();
        let head = task_head(payload);
        if who.is_trusted() {
            if let (Some(address), Some(reply_to)) = (&address, &head.reply_to) {
                self.route(reply_to, address.agent().as_str());
            }
            return Ok(());
        }
        let Some(address) = address else {
            // Not an address: the runtime answers it `bad_request`; an agent identity
            // has no business there.
            return match who {
                Who::Anonymous => Ok(()),
                _ => Err(Denied::new(format!(
                    "`{who}` may not publish on `{base}/task`: it is not a b00t address"
                ))),
            };
        };
        let agent = address.agent().as_str();
        let answer = |head: &Head| {
            let id = head.id.as_ref()?.as_str()?;
            let base = head.reply_to.as_deref().unwrap_or(base);
            self.may_read_replies(who, base)
                .then(|| (base.to_owned(), id.to_owned()))
        };
        let deny = |why: String| Denied {
            answer: answer(&head),
            why,
        };
        if let Who::Agent(name) = who {
            let allowed = agent == name
                || SHARED_AGENTS.contains(&agent)
                || read(&self.sends)
                    .get(name)
                    .is_some_and(|f| f.iter().any(|f| send_matches(f, base)));
            if !allowed {
                return Err(deny(format!(
                    "`{name}` may not send tasks to `{base}`: an agent sends to its own addresses, the installer and the scheduler, and to what `[acl] sends` in b00t.toml lists for it"
                )));
            }
        }
        match (who, head.from.as_deref()) {
            (Who::Agent(name), Some(from)) if from == name => {}
            (Who::Agent(name), from) => {
                return Err(deny(format!(
                    "a task from `{name}` must carry \"from\": \"{name}\", not {}",
                    from.map_or("none".to_owned(), |f| format!("`{f}`"))
                )))
            }
            (_, Some(from)) if self.claimed(from) => {
                return Err(deny(format!(
                    "`{who}` may not send a task \"from\": \"{from}\": that name belongs to another identity"
                )))
            }
            _ => {}
        }
        if let Some(reply_to) = &head.reply_to {
            let fine = match who {
                Who::Agent(name) => in_namespace(reply_to, name),
                _ => namespace_agent(reply_to).is_none_or(|owner| !self.claimed(owner)),
            };
            if !fine {
                let why = match who {
                    Who::Agent(name) => format!(
                        "a task from `{name}` must name a reply_to under `b00t.{name}/reply`, not `{reply_to}`"
                    ),
                    _ => format!(
                        "reply_to `{reply_to}` belongs to another identity: name a topic of your own"
                    ),
                };
                return Err(Denied::new(why));
            }
            self.route(reply_to, agent);
        }
        Ok(())
    }

    fn route(&self, reply_to: &str, agent: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(reply_to, agent);
    }

    /// Whether `who` could read what is published under `base`.
    fn may_read_replies(&self, who: &Who, base: &str) -> bool {
        self.may_subscribe(who, &format!("{base}/+")).is_ok()
    }

    fn reply(&self, who: &Who, base: &str, topic: &str, payload: &[u8]) -> Result<(), Denied> {
        if who.is_trusted() {
            return Ok(());
        }
        let routed = {
            let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            routes
                .agents(base)
                .map(|agents| agents.iter().any(|a| self.may_act_as(who, a)))
        };
        // A reply on an agent's own address.
        let own_address =
            Address::parse(base).is_ok_and(|a| self.may_act_as(who, a.agent().as_str()));
        let allowed = match routed {
            Some(true) => true,
            // Tasks named this reply_to for agents it is not: only an agent identity's
            // own address stays its own (an address-shaped base such as the CLI's is
            // nobody's address).
            Some(false) => matches!(who, Who::Agent(_)) && own_address,
            None => {
                own_address
                    || (*who == Who::Anonymous
                        && namespace_agent(base).is_none_or(|owner| !self.claimed(owner)))
            }
        };
        if !allowed {
            return Err(Denied::new(format!(
                "`{who}` may not publish on `{topic}`: only the agent a task there was addressed to answers on it"
            )));
        }
        let agent = serde_json::from_slice::<ReplyAgent>(payload)
            .ok()
            .and_then(|r| r.agent)
            .and_then(|a| a.as_str().map(str::to_owned));
        match agent {
            Some(agent) if !self.may_act_as(who, &agent) => Err(Denied::new(format!(
                "`{who}` may not publish a reply from agent `{agent}`"
            ))),
            _ => Ok(()),
        }
    }
}

/// The parts of a task the rules read; plain text and bad JSON have none.
#[derive(Debug)]
struct Head {
    id: Option<Value>,
    from: Option<String>,
    reply_to: Option<String>,
}

impl Head {
    fn from_raw(raw: TaskHead) -> Head {
        let text = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_owned));
        Head {
            id: raw.id,
            from: text(raw.from),
            reply_to: text(raw.reply_to),
        }
    }
}

fn task_head(payload: &[u8]) -> Head {
    let json = payload
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let raw = if json {
        serde_json::from_slice::<TaskHead>(payload).unwrap_or_default()
    } else {
        TaskHead::default()
    };
    Head::from_raw(raw)
}

/// Whether a `[acl] sends` entry (an address, or `b00t.<agent>.*` for all its skills)
/// takes in `address`.
fn send_matches(entry: &str, address: &str) -> bool {
    match entry.strip_suffix('*') {
        Some(prefix) => prefix.ends_with('.') && address.starts_with(prefix),
        None => entry == address,
    }
}

/// Whether `topic` is in agent `name`'s reply namespace: `b00t.<name>/reply` and below.
fn in_namespace(topic: &str, name: &str) -> bool {
    topic
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_prefix(name))
        .and_then(|rest| rest.strip_prefix("/reply"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The agent whose namespace `topic` is in: `b00t.<agent>/…` or `b00t.<agent>.…`.
fn namespace_agent(topic: &str) -> Option<&str> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix('.')?;
    let end = rest.find(['.', '/']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Whether a status card says someone else wrote it (`marked_by`); a card that does not
/// parse is left to the readers, which ignore it.
fn is_marked(payload: &[u8]) -> bool {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .is_some_and(|card| card.get("marked_by").is_some_and(|by| !by.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> Acl {
        let acl = Acl::new(true);
        for own in ["runtime", "echo", "installer", "scheduler"] {
            acl.claim(own, Who::Runtime);
        }
        for group in ["main", "family", "fam", "fam-ily"] {
            acl.claim(group, Who::Agent(group.into()));
        }
        acl
    }

    fn family() -> Who {
        Who::Agent("family".into())
    }

    #[test]
    fn a_lookup_claims_names_nobody_claimed() {
        let acl =
            Acl::new(true).with_lookup(|name| (name == "kids").then(|| Who::Agent("kids".into())));
        assert!(acl
            .admit(&Who::Anonymous, "b00t-agent-kids", false)
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.kids/status", b"{}")
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.other/status", b"{}")
            .is_ok());
    }

    #[test]
    fn client_ids_belong_to_exactly_one_identity() {
        let acl = acl();
        let fam = Who::Agent("fam".into());
        assert!(acl.admit(&fam, "b00t-agent-fam", true).is_ok());
        assert!(acl.admit(&fam, "b00t-tools-fam", true).is_ok());
        // The old prefix rule let `fam` take over `fam-ily`'s session.
        assert!(acl.admit(&fam, "b00t-agent-fam-ily", true).is_err());
        assert!(acl.admit(&fam, "b00t-agent-main", false).is_err());
        assert!(acl
            .admit(&Who::Anonymous, "b00t-agent-family", false)
            .is_err());
        assert!(acl
            .admit(&Who::Anonymous, "b00t-agent-echo", false)
            .is_err());
        assert!(acl.admit(&Who::Anonymous, "b00t-runtime-1", false).is_err());
        assert!(acl.admit(&Who::Anonymous, "b00t-agent-mine", false).is_ok());
        assert!(acl.admit(&Who::Anonymous, "anything", true).is_err());
        assert!(Acl::new(false).admit(&Who::Anonymous, "x", false).is_err());
        assert!(acl.admit(&Who::Operator, "b00t-send-1f", false).is_ok());
        assert!(acl
            .admit(&Who::Operator, "b00t-agent-family", false)
            .is_err());
    }

    #[test]
    fn an_agent_subscribes_only_to_its_own() {
        let acl = acl();
        for ok in [
            "b00t.family.chat/task",
            "b00t.family.chat/#",
            "b00t.family/reply/+",
            "b00t.family/status",
            "+/status",
            "b00t.main/status",
        ] {
            assert!(acl.may_subscribe(&family(), ok).is_ok(), "{ok}");
        }
        for bad in [
            "#",
            "+/+",
            "b00t.main.chat/task",
            "b00t.main.chat/#",
            "b00t.family.+/task",
            "+/task",
            "b00t.operator/reply/#",
            "b00t.fam/#",
        ] {
            assert!(acl.may_subscribe(&family(), bad).is_err(), "{bad}");
        }
        assert!(acl.may_subscribe(&Who::Anonymous, "#").is_ok());
        assert!(acl.may_subscribe(&Who::Operator, "#").is_ok());
    }

    #[test]
    fn only_the_runtime_marks_another_agent_offline() {
        let acl = acl();
        let marked = br#"{"state":"offline","agent":"family","reason":"heartbeats stopped","marked_by":"runtime"}"#;
        assert!(acl
            .check_publish(&Who::Runtime, "b00t.family/status", marked)
            .is_ok());
        assert!(acl
            .check_publish(&Who::Runtime, "b00t.pybot/status", marked)
            .is_ok());
        // Nobody else, not even the agent itself, the operator, or a script for an
        // agent nobody claims.
        for who in [family(), Who::Operator, Who::Anonymous] {
            for topic in [
                "b00t.family/status",
                "b00t.pybot/status",
                "b00t.installer/status",
            ] {
                let denied = acl.check_publish(&who, topic, marked).unwrap_err();
                assert!(
                    denied.why.contains("only the runtime"),
                    "{who} {topic}: {}",
                    denied.why
                );
            }
        }
        // Their own cards, without the mark, as before.
        let own = br#"{"state":"offline","agent":"family","marked_by":null}"#;
        assert!(acl
            .check_publish(&family(), "b00t.family/status", own)
            .is_ok());
        assert!(acl
            .check_publish(
                &Who::Operator,
                "b00t.family/status",
                b"{\"state\":\"online\"}"
            )
            .is_ok());
    }

    #[test]
    fn cards_heartbeats_and_wills_only_for_oneself() {
        let acl = acl();
        let card = br#"{"state":"offline","agent":"installer"}"#;
        assert!(acl
            .check_publish(&family(), "b00t.family/status", b"{}")
            .is_ok());
        assert!(acl
            .check_publish(&family(), "b00t.installer/status", card)
            .is_err());
        assert!(acl
            .check_publish(&family(), "b00t.main/heartbeat", b"{}")
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.installer/status", card)
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.family/status", card)
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.pybot/status", b"{}")
            .is_ok());
        assert!(acl
            .check_publish(&Who::Runtime, "b00t.family/status", b"{}")
            .is_ok());
    }

    #[test]
    fn tasks_go_where_an_agent_may_send_them() {
        let acl = acl();
        let task = |from: &str| format!(r#"{{"id":"t-1","from":"{from}","body":{{}}}}"#);
        let f = task("family");
        for ok in [
            "b00t.family.chat/task",
            "b00t.installer.apt/task",
            "b00t.scheduler.add/task",
        ] {
            assert!(
                acl.check_publish(&family(), ok, f.as_bytes()).is_ok(),
                "{ok}"
            );
        }
        let denied = acl
            .check_publish(&family(), "b00t.main.chat/task", f.as_bytes())
            .unwrap_err();
        assert!(denied
            .why
            .contains("may not send tasks to `b00t.main.chat`"));
        // The sender may read its default reply base? No: the address is main's.
        assert_eq!(denied.answer, None);
        acl.allow_sends("family", vec!["b00t.main.chat".into()]);
        assert!(acl
            .check_publish(&family(), "b00t.main.chat/task", f.as_bytes())
            .is_ok());
        assert!(acl
            .check_publish(&family(), "b00t.main.other/task", f.as_bytes())
            .is_err());
        acl.allow_sends("family", vec!["b00t.main.*".into()]);
        assert!(acl
            .check_publish(&family(), "b00t.main.other/task", f.as_bytes())
            .is_ok());
        assert!(acl
            .check_publish(&family(), "b00t.mainx.other/task", f.as_bytes())
            .is_err());
    }

    #[test]
    fn from_is_the_verified_identity() {
        let acl = acl();
        let at = "b00t.family.chat/task";
        for lie in [
            r#"{"id":"t","from":"main"}"#,
            r#"{"id":"t"}"#,
            "plain text",
            r#"{"id":"t","from":7}"#,
        ] {
            assert!(
                acl.check_publish(&family(), at, lie.as_bytes()).is_err(),
                "{lie}"
            );
        }
        let scheduler_lie = br#"{"id":"sched-s-1-5","from":"scheduler"}"#;
        assert!(acl
            .check_publish(&Who::Anonymous, at, scheduler_lie)
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, at, br#"{"from":"main"}"#)
            .is_err());
        for fine in [r#"{"id":"t","from":"me"}"#, r#"{"id":"t"}"#, "hello"] {
            assert!(acl
                .check_publish(&Who::Anonymous, at, fine.as_bytes())
                .is_ok());
        }
        assert!(acl.check_publish(&Who::Runtime, at, scheduler_lie).is_ok());
    }

    #[test]
    fn a_refused_task_is_answered_where_the_sender_reads() {
        let acl = acl();
        let own = br#"{"id":"t-9","from":"family","reply_to":"b00t.family/reply/x"}"#;
        acl.allow_sends("family", vec![]);
        let mut payload = own.to_vec();
        payload.extend_from_slice(b"");
        // An own-address task with a reply_to outside its namespace is refused, and the
        // answer would go to someone else's topic: none.
        let outside = br#"{"id":"t-9","from":"family","reply_to":"b00t.operator/reply/1"}"#;
        let denied = acl
            .check_publish(&family(), "b00t.family.chat/task", outside)
            .unwrap_err();
        assert!(denied.why.contains("reply_to"));
        assert!(acl
            .check_publish(&family(), "b00t.family.chat/task", own)
            .is_ok());
        let to_main = acl
            .check_publish(&family(), "b00t.main.chat/task", own)
            .unwrap_err();
        assert_eq!(
            to_main.answer,
            Some(("b00t.family/reply/x".to_owned(), "t-9".to_owned()))
        );
    }

    #[test]
    fn replies_come_only_from_the_addressed_agent() {
        let acl = acl();
        let reply = |agent: &str| {
            format!(r#"{{"type":"result","id":"t-1","agent":"{agent}","skill":"chat"}}"#)
        };
        // The operator asks family, then main, on its reply base.
        let ask = br#"{"id":"t-1","reply_to":"b00t.operator/reply/7f"}"#;
        acl.check_publish(&Who::Operator, "b00t.family.chat/task", ask)
            .unwrap();
        let topic = "b00t.operator/reply/7f/result";
        assert!(acl
            .check_publish(&family(), topic, reply("family").as_bytes())
            .is_ok());
        let main = Who::Agent("main".into());
        assert!(acl
            .check_publish(&main, topic, reply("main").as_bytes())
            .is_err());
        // family may answer there, but not in another agent's name.
        assert!(acl
            .check_publish(&family(), topic, reply("installer").as_bytes())
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, topic, reply("family").as_bytes())
            .is_err());
        // On a base nobody asked on, and on other agents' addresses.
        assert!(acl
            .check_publish(&family(), "b00t.operator/reply/00/result", b"{}")
            .is_err());
        assert!(acl
            .check_publish(&family(), "b00t.main.chat/result", reply("main").as_bytes())
            .is_err());
        assert!(acl
            .check_publish(
                &family(),
                "b00t.family.chat/result",
                reply("family").as_bytes()
            )
            .is_ok());
        // An address-shaped base (the anonymous CLI's) asked of family is family's.
        acl.check_publish(
            &Who::Anonymous,
            "b00t.family.chat/task",
            br#"{"id":"t-2","reply_to":"b00t.cli-7f.reply"}"#,
        )
        .unwrap();
        assert!(acl
            .check_publish(
                &Who::Anonymous,
                "b00t.cli-7f.reply/result",
                reply("echo").as_bytes()
            )
            .is_err());
        assert!(acl
            .check_publish(
                &family(),
                "b00t.cli-7f.reply/result",
                reply("family").as_bytes()
            )
            .is_ok());
        // A script's own replies on its own base, for an unclaimed agent.
        assert!(acl
            .check_publish(
                &Who::Anonymous,
                "app/replies/result",
                reply("pybot").as_bytes()
            )
            .is_ok());
        assert!(acl
            .check_publish(
                &Who::Anonymous,
                "app/replies/result",
                reply("installer").as_bytes()
            )
            .is_err());
    }

    #[test]
    fn reply_to_may_not_point_into_anothers_namespace() {
        let acl = acl();
        let at = "b00t.echo.echo/task";
        for bad in [
            r#"{"id":"t","reply_to":"b00t.operator/reply/1"}"#,
            r#"{"id":"t","reply_to":"b00t.main.chat"}"#,
            r#"{"id":"t","reply_to":"b00t.installer/x"}"#,
        ] {
            assert!(
                acl.check_publish(&Who::Anonymous, at, bad.as_bytes())
                    .is_err(),
                "{bad}"
            );
        }
        for fine in [
            r#"{"id":"t","reply_to":"b00t.cli-7f.reply"}"#,
            r#"{"id":"t","reply_to":"app/replies/7"}"#,
        ] {
            assert!(
                acl.check_publish(&Who::Anonymous, at, fine.as_bytes())
                    .is_ok(),
                "{fine}"
            );
        }
    }

    #[test]
    fn agents_publish_nothing_else() {
        let acl = acl();
        assert!(acl.check_publish(&family(), "other/topic", b"x").is_err());
        assert!(acl
            .check_publish(&family(), "b00t.main/reply/x", b"x")
            .is_err());
        assert!(acl
            .check_publish(&family(), "b00t.family/notes", b"x")
            .is_ok());
        assert!(acl
            .check_publish(&family(), "b00t.echo.echo/dead", b"x")
            .is_err());
        assert!(acl
            .check_publish(&Who::Anonymous, "other/topic", b"x")
            .is_ok());
        assert!(acl
            .check_publish(&Who::Anonymous, "b00t.main/x", b"x")
            .is_err());
    }
}
