//! The b00t home and its configuration: where the home is, what `b00t.toml` says (with
//! every default filled in), which environment variables b00t reads, and where the
//! broker is.
//!
//! Layout: `settings` (the typed `b00t.toml`), `bridges` (`[bridges.<name>]`), `groups` (`[containers]` and `[assistant]`), `launch` (what a started group agent is told), `home` (finding the home and its state
//! folder), `acl_file` (`broker/acl.toml`), `credentials` (one password file per identity under `state/credentials`), `env` (every environment variable, in one place), `broker_url` (parsing
//! `mqtt://HOST:PORT`), `error`.

pub mod acl_file;
pub mod bridges;
pub mod broker_url;
pub mod credentials;
pub mod env;
pub mod error;
pub mod groups;
pub mod home;
pub mod launch;
pub mod settings;

pub use acl_file::AclFile;
pub use bridges::{BridgeConfig, BRIDGE_KINDS};
pub use broker_url::{BrokerAddr, BrokerUrl};
pub use credentials::{CredentialError, CredentialFiles};
pub use error::ConfigError;
pub use groups::{AssistantConfig, ContainersConfig};
pub use home::Home;
pub use launch::AgentLaunch;
pub use settings::{
    AgentsConfig, BrokerConfig, CiConfig, Config, DatumsConfig, DeliveryConfig, DeployConfig,
    InstallerConfig, StateConfig,
};

/// The default configuration, with comments: what `b00t config --default` prints.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");
