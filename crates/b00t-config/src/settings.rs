//! The typed `b00t.toml`. Unknown keys are errors naming the file and the key; every
//! key has a default, so an empty or missing file is a valid configuration.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AssistantConfig, BrokerUrl, ConfigError, ContainersConfig};

/// The whole configuration of a home.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub broker: BrokerConfig,
    pub delivery: DeliveryConfig,
    pub agents: AgentsConfig,
    pub datums: DatumsConfig,
    pub installer: InstallerConfig,
    pub containers: ContainersConfig,
    pub assistant: AssistantConfig,
    pub ci: CiConfig,
    pub deploy: DeployConfig,
    pub state: StateConfig,
    /// `[bridges.<name>]`: chat bridges (Telegram), none by default.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub bridges: std::collections::BTreeMap<String, crate::BridgeConfig>,
}

/// `[deploy]`: the deployer agent (`b00t.deployer.<orchestrator>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeployConfig {
    /// Start the deployer agent with `b00t up`.
    pub enabled: bool,
    /// The orchestrator `b00t deploy` uses when `--orchestrator` is not given: `compose`,
    /// `kubernetes`, `nomad` or `direct`; empty: the first one detected.
    pub orchestrator: String,
    /// Longest an `up` waits for its services to be ready and its jobs to finish.
    pub up_timeout_ms: u64,
    /// Nomad's address; empty: `NOMAD_ADDR`.
    pub nomad_addr: String,
    /// The kubectl context; empty: kubectl's current context.
    pub kube_context: String,
}

impl Default for DeployConfig {
    fn default() -> Self {
        DeployConfig {
            enabled: true,
            orchestrator: String::new(),
            up_timeout_ms: 300_000,
            nomad_addr: String::new(),
            kube_context: String::new(),
        }
    }
}

impl DeployConfig {
    pub fn up_timeout(&self) -> Duration {
        Duration::from_millis(self.up_timeout_ms)
    }
}

/// `[ci]`: container CI agents, one per running container of the local Docker engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CiConfig {
    /// Run a CI agent for every container in scope while `b00t up` runs (when an engine
    /// answers).
    pub enabled: bool,
    /// Only containers with this label (`key` or `key=value`); empty: every container.
    pub label: String,
    /// Also b00t's own group containers (their group agent answers for them already).
    pub include_groups: bool,
    /// Where a container's incidents are told as a chat task (`b00t.main.chat`, say),
    /// rate-limited per container; empty: only on `b00t.ci-<name>/event`.
    pub chat: String,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig {
            enabled: true,
            label: String::new(),
            include_groups: false,
            chat: String::new(),
        }
    }
}

/// `[broker]`: the embedded broker, or the external one to use instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    pub listen: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Also accepted as `max_payload` and rumqttd's `max_payload_size`.
    #[serde(alias = "max_payload", alias = "max_payload_size")]
    pub max_payload_bytes: usize,
    pub max_connections: usize,
    /// Distinct subscription filters one client may hold on the embedded broker.
    pub max_subscriptions: usize,
    /// QoS 2 publishes one client may have sent and not yet released.
    pub max_inflight: usize,
    /// Distinct subscription filters the embedded broker holds until it restarts.
    pub max_filters: usize,
    /// Let clients without credentials connect on the loopback listener (local scripts
    /// with `mosquitto_pub`); they may not act as any agent that has an identity.
    pub anonymous: bool,
    /// Hold every connection to the topic rules (docs/PROTOCOL.md). Off only to measure
    /// what they cost (`b00t bench` does): then any client may act as anyone.
    pub acl: bool,
}

/// `[delivery]`: ack timeout, retries and dead letters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    pub ack_timeout_ms: u64,
    pub retry_delay_ms: u64,
    pub max_retries: u32,
}

/// `[agents]`: what every agent shares, and which built-in agents `b00t up` starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentsConfig {
    pub heartbeat_ms: u64,
    pub echo: bool,
}

/// `[datums]`: where the catalog of datums is read from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatumsConfig {
    /// Extra catalog folders, read after the home's `datums/`; relative to the home.
    pub paths: Vec<PathBuf>,
}

/// `[installer]`: the installer agent that `b00t up` runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstallerConfig {
    /// Start the installer agent with `b00t up`.
    pub enabled: bool,
    /// Longest one install step (apt, script, pull) may run before it is killed.
    pub step_timeout_ms: u64,
    /// Longest a `version` check may run.
    pub check_timeout_ms: u64,
    /// How far an operator signature's timestamp may be from the installer's clock.
    pub signature_window_ms: u64,
}

/// `[state]`: where runtime state lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    pub dir: PathBuf,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            url: None,
            max_payload_bytes: 1024 * 1024,
            max_connections: 1024,
            max_subscriptions: 256,
            max_inflight: 1024,
            max_filters: 4096,
            anonymous: true,
            acl: true,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            ack_timeout_ms: 30_000,
            retry_delay_ms: 5_000,
            max_retries: 3,
        }
    }
}

impl DeliveryConfig {
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }

    pub fn retry_delay(&self) -> Duration {
        Duration::from_millis(self.retry_delay_ms)
    }

    /// How long a task may wait, from its first publication, before it is dead-lettered.
    pub fn give_up_after(&self) -> Duration {
        self.ack_timeout() + self.retry_delay() * self.max_retries
    }
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            heartbeat_ms: 10_000,
            echo: true,
        }
    }
}

impl AgentsConfig {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }
}

impl Default for InstallerConfig {
    fn default() -> Self {
        InstallerConfig {
            enabled: true,
            step_timeout_ms: 900_000,
            check_timeout_ms: 10_000,
            signature_window_ms: 300_000,
        }
    }
}

impl InstallerConfig {
    pub fn step_timeout(&self) -> Duration {
        Duration::from_millis(self.step_timeout_ms)
    }

    pub fn check_timeout(&self) -> Duration {
        Duration::from_millis(self.check_timeout_ms)
    }

    pub fn signature_window(&self) -> Duration {
        Duration::from_millis(self.signature_window_ms)
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("state"),
        }
    }
}

impl BrokerConfig {
    /// Largest payload the embedded broker and our clients let through. Larger than
    /// `max_payload_bytes` on purpose: a payload a little over the limit must reach an
    /// agent to be refused with `too_large`, not cut the sender's connection.
    pub fn packet_limit(&self) -> usize {
        self.max_payload_bytes
            .saturating_mul(4)
            .clamp(16 * 1024 * 1024, 256 * 1024 * 1024)
    }

    /// The external broker URL, if `[broker] url` is set.
    pub fn external(&self) -> Result<Option<BrokerUrl>, ConfigError> {
        self.url.as_deref().map(BrokerUrl::parse).transpose()
    }
}

impl Config {
    /// The file name of a home's configuration.
    pub const FILE_NAME: &'static str = "b00t.toml";

    /// Reads `<home>/b00t.toml`; a missing file means all defaults.
    pub fn load(home: &Path) -> Result<Config, ConfigError> {
        let path = home.join(Self::FILE_NAME);
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::parse(&text, &path)
    }

    /// Parses and checks the text of a `b00t.toml` read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let fail = |key, problem: &str| ConfigError::Value {
            path: path.to_owned(),
            key,
            problem: problem.to_owned(),
        };
        let d = &self.delivery;
        if d.ack_timeout_ms == 0 || d.ack_timeout_ms > 86_400_000 {
            return Err(fail(
                "delivery.ack_timeout_ms",
                "must be from 1 to 86400000 (one day)",
            ));
        }
        if d.retry_delay_ms == 0 || d.retry_delay_ms > 86_400_000 {
            return Err(fail(
                "delivery.retry_delay_ms",
                "must be from 1 to 86400000 (one day)",
            ));
        }
        if d.max_retries > 1000 {
            return Err(fail("delivery.max_retries", "must be at most 1000"));
        }
        let b = &self.broker;
        if !(16..=64 * 1024 * 1024).contains(&b.max_payload_bytes) {
            return Err(fail(
                "broker.max_payload_bytes",
                "must be from 16 to 67108864 (64 MiB)",
            ));
        }
        if b.max_connections == 0 {
            return Err(fail("broker.max_connections", "must be at least 1"));
        }
        if !(1..=100_000).contains(&b.max_subscriptions) {
            return Err(fail("broker.max_subscriptions", "must be from 1 to 100000"));
        }
        if !(1..=65_535).contains(&b.max_inflight) {
            return Err(fail("broker.max_inflight", "must be from 1 to 65535"));
        }
        if !(16..=1_000_000).contains(&b.max_filters) {
            return Err(fail("broker.max_filters", "must be from 16 to 1000000"));
        }
        if let Err(e) = b.external() {
            return Err(fail("broker.url", &e.to_string()));
        }
        if !(100..=3_600_000).contains(&self.agents.heartbeat_ms) {
            return Err(fail(
                "agents.heartbeat_ms",
                "must be from 100 to 3600000 (one hour)",
            ));
        }
        let i = &self.installer;
        if !(1_000..=86_400_000).contains(&i.step_timeout_ms) {
            return Err(fail(
                "installer.step_timeout_ms",
                "must be from 1000 to 86400000 (one day)",
            ));
        }
        if !(100..=600_000).contains(&i.check_timeout_ms) {
            return Err(fail(
                "installer.check_timeout_ms",
                "must be from 100 to 600000 (ten minutes)",
            ));
        }
        if !(1_000..=3_600_000).contains(&i.signature_window_ms) {
            return Err(fail(
                "installer.signature_window_ms",
                "must be from 1000 to 3600000 (one hour)",
            ));
        }
        if !["", "compose", "kubernetes", "nomad", "direct"]
            .contains(&self.deploy.orchestrator.as_str())
        {
            return Err(fail(
                "deploy.orchestrator",
                "must be compose, kubernetes, nomad or direct, or empty to detect one",
            ));
        }
        if !(1_000..=86_400_000).contains(&self.deploy.up_timeout_ms) {
            return Err(fail(
                "deploy.up_timeout_ms",
                "must be from 1000 to 86400000 (a day)",
            ));
        }
        if !self.ci.chat.is_empty() {
            if let Err(e) = b00t_proto::Address::parse(&self.ci.chat) {
                return Err(fail(
                    "ci.chat",
                    &format!("must be empty or an address such as `b00t.main.chat`: {e}"),
                ));
            }
        }
        if let Some(problem) = self
            .bridges
            .iter()
            .find_map(|(name, bridge)| bridge.problem(name))
        {
            return Err(fail("bridges", &problem));
        }
        if let Some((key, problem)) = self.containers.problem().or(self.assistant.problem()) {
            return Err(fail(key, problem));
        }
        Ok(())
    }

    /// The configuration as TOML, defaults included: what `b00t config` prints.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/h/b00t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_is_default() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn the_shipped_default_is_the_default() {
        assert_eq!(parse(crate::DEFAULT_CONFIG).unwrap(), Config::default());
    }

    #[test]
    fn overrides() {
        let c = parse("[delivery]\nack_timeout_ms = 500\nmax_retries = 1\n").unwrap();
        assert_eq!(c.delivery.ack_timeout_ms, 500);
        assert_eq!(c.delivery.max_retries, 1);
        assert_eq!(c.delivery.retry_delay_ms, 5000);
    }

    #[test]
    fn payload_limit_aliases() {
        for key in ["max_payload_bytes", "max_payload", "max_payload_size"] {
            let c = parse(&format!("[broker]\n{key} = 2048\n")).unwrap();
            assert_eq!(c.broker.max_payload_bytes, 2048, "{key}");
        }
    }

    #[test]
    fn unknown_keys_name_file_and_key() {
        let err = parse("[delivery]\nack_timeout = 5\n").unwrap_err();
        assert!(err.contains("/h/b00t.toml"), "{err}");
        assert!(err.contains("ack_timeout"), "{err}");
        let err = parse("[brokr]\n").unwrap_err();
        assert!(err.contains("brokr"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let err = parse("[delivery]\nack_timeout_ms = 0\n").unwrap_err();
        assert!(err.contains("delivery.ack_timeout_ms"), "{err}");
        let err = parse("[broker]\nurl = \"http://x\"\n").unwrap_err();
        assert!(err.contains("broker.url"), "{err}");
        let err = parse("[broker]\nlisten = \"nope\"\n").unwrap_err();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn the_ci_chat_address_is_checked() {
        let c = parse("[ci]\nchat = \"b00t.main.chat\"\n").unwrap();
        assert_eq!(c.ci.chat, "b00t.main.chat");
        for bad in ["main", "b00t.main", "b00t.Main.chat", "b00t.main.chat/task"] {
            let err = parse(&format!("[ci]\nchat = \"{bad}\"\n")).unwrap_err();
            assert!(
                err.contains("ci.chat") && err.contains("b00t.main.chat"),
                "{err}"
            );
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let c = Config::default();
        assert_eq!(parse(&c.to_toml()).unwrap(), c);
    }
}
