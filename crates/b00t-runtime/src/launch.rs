//! How `up` makes a group agent's [`GroupContainer`]: the image, the mounts (the group
//! folder, `global`, the project for `main`), the limits of `[containers]`, and the
//! environment: the broker URL with the group's own credentials (through the host
//! gateway for a container), the Ollama URL (relayed when it is loopback, with the same
//! credentials, which the relay checks), and the launch document (`B00T_AGENT`).
//! Credentials are kept in `state/agents.credentials` (mode 0600), so that a container
//! adopted after a restart still logs in.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use b00t_broker::Credentials;
use b00t_config::{AgentLaunch, Home};
use b00t_container::GroupContainer;

use crate::relay;
use crate::RuntimeError;

/// The host name by which a container reaches this machine (the bridge's gateway).
pub const HOST_GATEWAY_NAME: &str = "host.docker.internal";

/// Where group agents reach the broker and Ollama, decided once at start.
#[derive(Clone, Debug)]
pub struct Reach {
    /// `host:port` of the broker for the agent (the guarded listener through the host
    /// gateway for containers; the loopback listener for local processes).
    pub broker_host: String,
    pub broker_port: u16,
    /// The other brokers of a cluster (an external broker given as a list), in the
    /// list's order, as the agent reaches them; it moves to them when the first is lost.
    pub broker_alternates: Vec<b00t_config::BrokerAddr>,
    /// Whether the agent must log in (the guarded listener).
    pub credentials: bool,
    /// The Ollama URL the agent uses.
    pub ollama_url: String,
    /// Whether that URL is the Ollama relay's, which wants the group's credentials
    /// (given in the URL: `http://<group>:<password>@host:port`).
    pub ollama_credentials: bool,
    /// Whether agents run in containers.
    pub in_container: bool,
}

impl Reach {
    /// Whether a group needs a password: to log in to the broker, or to the relay.
    pub fn needs_password(&self) -> bool {
        self.credentials || self.ollama_credentials
    }
}

/// Per-group broker passwords, on disk and in the broker's guard.
#[derive(Clone, Debug)]
pub struct AgentPasswords {
    file: PathBuf,
    passwords: BTreeMap<String, String>,
    pub guard: Credentials,
}

impl AgentPasswords {
    /// Loads `state/agents.credentials` (a JSON object, group -> password), or starts
    /// empty. A file others can read is refused.
    pub fn load(home: &Home, guard: Credentials) -> Result<AgentPasswords, RuntimeError> {
        let file = home.state_dir()?.join("agents.credentials");
        let passwords: BTreeMap<String, String> = match std::fs::read(&file) {
            Ok(bytes) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file)
                    .map(|m| m.permissions().mode())
                    .unwrap_or(0);
                if mode & 0o077 != 0 {
                    return Err(RuntimeError::Groups(format!(
                        "`{}` can be read by other users (mode {:o}): run `chmod 600 {}`",
                        file.display(),
                        mode & 0o777,
                        file.display()
                    )));
                }
                serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!(file = %file.display(), error = %e, "agent credentials unreadable; making new ones (running containers will be replaced)");
                    BTreeMap::new()
                })
            }
            Err(_) => BTreeMap::new(),
        };
        for (user, password) in &passwords {
            guard.set(user, password);
        }
        Ok(AgentPasswords {
            file,
            passwords,
            guard,
        })
    }

    /// What the Ollama relay asks of every request: whether it carries a group's current
    /// password, the same one the broker's guard checks.
    pub fn relay_verifier(&self) -> relay::Verifier {
        let guard = self.guard.clone();
        Arc::new(move |group: &str, password: &str| guard.verify(group, password))
    }

    /// The password of `group`, made (and saved) on first use.
    pub fn password(&mut self, group: &str) -> Result<String, RuntimeError> {
        if let Some(p) = self.passwords.get(group) {
            return Ok(p.clone());
        }
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)
            .map_err(|e| RuntimeError::Groups(format!("no randomness for a password: {e}")))?;
        let password = hex::encode(bytes);
        self.passwords.insert(group.to_owned(), password.clone());
        self.guard.set(group, &password);
        self.save()?;
        Ok(password)
    }

    /// Forgets `group` (its folder was removed).
    pub fn forget(&mut self, group: &str) -> Result<(), RuntimeError> {
        if self.passwords.remove(group).is_some() {
            self.guard.remove(group);
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<(), RuntimeError> {
        let fail = |e: std::io::Error| {
            RuntimeError::Groups(format!("cannot write `{}`: {e}", self.file.display()))
        };
        let temp = self.file.with_extension("credentials.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(fail)?;
        f.write_all(&serde_json::to_vec_pretty(&self.passwords).expect("a map serializes"))
            .map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&temp, &self.file).map_err(fail)
    }
}

/// What a group needs from the home to be launched.
#[derive(Clone, Debug)]
pub struct GroupPlace {
    pub name: String,
    pub dir: PathBuf,
    pub privileged: bool,
    /// The group's own model (`group.toml`), if any.
    pub model: Option<String>,
}

/// Builds the spec of `group`'s agent.
pub fn group_container(
    home: &Home,
    home_id: &str,
    group: &GroupPlace,
    reach: &Reach,
    password: Option<&str>,
) -> Result<GroupContainer, RuntimeError> {
    let config = home.config();
    let err = |e: b00t_container::ContainerError| RuntimeError::Groups(e.to_string());
    let mut spec = GroupContainer::for_group(home_id, &group.name, &config.containers.image_tag())
        .map_err(err)?;
    let global = home.groups_dir().join("global");
    let project = group.privileged.then(|| home.root());
    spec.mounts = b00t_container::plan_mounts_hiding(
        &group.dir,
        &global,
        project,
        group.privileged,
        &hidden_in_project(home),
    )
    .map_err(err)?;
    spec.limits = b00t_container::Limits::from(&config.containers);
    let broker = broker_url(reach, &group.name, password);
    let ollama_url = match password {
        Some(p) if reach.ollama_credentials => with_credentials(&reach.ollama_url, &group.name, p),
        _ => reach.ollama_url.clone(),
    };
    let a = &config.assistant;
    let launch = AgentLaunch {
        group: group.name.clone(),
        privileged: group.privileged,
        assistant_name: a.name.clone(),
        ollama_url,
        model: group.model.clone().unwrap_or_else(|| a.model()),
        ollama_timeout_ms: a.ollama_timeout_ms,
        history_turns: a.history_turns,
        max_tool_rounds: a.max_tool_rounds,
        tool_timeout_ms: a.tool_timeout_ms,
        task_timeout_ms: config.containers.task_timeout_ms,
        max_output_bytes: config.containers.max_output_bytes,
        heartbeat_ms: config.agents.heartbeat_ms,
        max_payload_bytes: config.broker.max_payload_bytes,
    };
    spec.env = vec![
        (b00t_config::env::B00T_BROKER.to_owned(), broker),
        (b00t_config::launch::B00T_AGENT.to_owned(), launch.to_json()),
    ];
    if let Some(filter) = b00t_config::env::var(b00t_config::env::B00T_LOG) {
        spec.env
            .push((b00t_config::env::B00T_LOG.to_owned(), filter));
    }
    spec.env.extend(b00t_container::workspace_env(
        &spec.mounts,
        reach.in_container,
    ));
    if !reach.in_container {
        // A local process stops when this b00t goes away (its stdin closes).
        spec.env.push((
            b00t_config::env::B00T_STOP_ON_EOF.to_owned(),
            "1".to_owned(),
        ));
    }
    if reach.in_container {
        // The writable folders belong to the unprivileged user the container runs as.
        let (uid, gid) = b00t_container::container_user();
        let mut writable: Vec<&Path> = vec![&group.dir];
        if group.privileged {
            writable.push(&global);
        }
        b00t_container::prepare_ownership(&writable, uid, gid).map_err(err)?;
    }
    Ok(spec)
}

/// The `B00T_BROKER` of a group's agent: the first broker with the group's credentials
/// (when it logs in), then the cluster's other brokers, which the same login reaches.
fn broker_url(reach: &Reach, group: &str, password: Option<&str>) -> String {
    let mut url = match password {
        Some(p) if reach.credentials => format!(
            "mqtt://{group}:{p}@{}:{}",
            reach.broker_host, reach.broker_port
        ),
        _ => format!("mqtt://{}:{}", reach.broker_host, reach.broker_port),
    };
    for other in &reach.broker_alternates {
        url.push_str(&format!(",mqtt://{other}"));
    }
    url
}

/// `url` (`scheme://host:port/path`) with `user:password@` before its host. Group names
/// and the passwords made here (hex) need no percent-encoding.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{user}:{password}@{rest}"),
        None => url.to_owned(),
    }
}

/// The folders of the home that `main`'s read-only project mount must not show: the
/// state folder (wherever `[state] dir` puts it) and the groups.
fn hidden_in_project(home: &Home) -> Vec<&Path> {
    let state = home.config().state.dir.as_path();
    let mut hidden = vec![Path::new("groups")];
    if !state.is_absolute() || state.starts_with(home.root()) {
        hidden.push(state);
    }
    hidden
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_relay_checks_the_groups_current_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::open(dir.path().to_owned()).unwrap();
        let mut passwords = AgentPasswords::load(&home, Credentials::default()).unwrap();
        let verify = passwords.relay_verifier();
        let family = passwords.password("family").unwrap();
        assert!(verify("family", &family));
        assert!(!verify("family", "wrong") && !verify("main", &family));
        let state = home.state_dir().unwrap();
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("agents.credentials")), 0o600);
        passwords.forget("family").unwrap();
        assert!(
            !verify("family", &family),
            "a removed group is refused at once"
        );
    }

    #[test]
    fn a_cluster_reaches_the_group_as_a_list() {
        let reach = Reach {
            broker_host: "host.docker.internal".into(),
            broker_port: 11883,
            broker_alternates: vec![b00t_config::BrokerAddr {
                host: "10.0.0.2".into(),
                port: 12883,
            }],
            credentials: true,
            ollama_url: "http://h:2".into(),
            ollama_credentials: false,
            in_container: true,
        };
        let url = broker_url(&reach, "family", Some("pw"));
        assert_eq!(
            url,
            "mqtt://family:pw@host.docker.internal:11883,mqtt://10.0.0.2:12883"
        );
        let parsed = b00t_config::BrokerUrl::parse(&url).unwrap();
        assert_eq!(parsed.username.as_deref(), Some("family"));
        assert_eq!(parsed.alternates.len(), 1);
    }

    #[test]
    fn a_relayed_ollama_url_carries_the_credentials() {
        assert_eq!(
            with_credentials("http://host.docker.internal:4000", "family", "ab12"),
            "http://family:ab12@host.docker.internal:4000"
        );
        assert_eq!(
            with_credentials("http://host.docker.internal:4000/ollama", "main", "cd"),
            "http://main:cd@host.docker.internal:4000/ollama"
        );
        let reach = |credentials, ollama_credentials| Reach {
            broker_host: "h".into(),
            broker_port: 1,
            broker_alternates: Vec::new(),
            credentials,
            ollama_url: "http://h:2".into(),
            ollama_credentials,
            in_container: true,
        };
        assert!(!reach(false, false).needs_password());
        assert!(reach(true, false).needs_password());
        assert!(
            reach(false, true).needs_password(),
            "an external broker, a relayed Ollama"
        );
    }
}
