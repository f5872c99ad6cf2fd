//! `[bridges.<name>]`: the chat bridges `b00t up` runs (or `b00t bridge run <name>`), each
//! with its kind (`telegram`, `whatsapp`, `matrix`), trigger word, reply timeout, the
//! platform's settings (a webhook's listen address, the Graph API version, the Matrix
//! homeserver) and the chats bound to groups (`[bridges.<name>.chats]`,
//! `"<chat id>" = "<group>"`). Secrets never live here: they come from the environment
//! (`TELEGRAM_BOT_TOKEN`, `WHATSAPP_TOKEN`, `MATRIX_ACCESS_TOKEN`…, see `env.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bridge kinds this build runs.
pub const BRIDGE_KINDS: &[&str] = &["telegram", "whatsapp", "matrix"];

/// Where a webhook listens when the table names no `listen`: loopback only, for a
/// reverse proxy or a tunnel to publish.
pub const DEFAULT_WEBHOOK_LISTEN: &str = "127.0.0.1:8790";
/// The Graph API version a WhatsApp bridge calls when the table names none.
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// One `[bridges.<name>]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BridgeConfig {
    /// `telegram`, `whatsapp` or `matrix`; empty: the bridge's name (`[bridges.telegram]`
    /// is a Telegram bridge).
    pub kind: String,
    /// Run it with `b00t up`.
    pub enabled: bool,
    /// A word that addresses the bot in group chats when a message starts with it
    /// (`@Andy`), besides a mention or a reply to the bot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// How long a chat waits for its group's answer.
    pub reply_timeout_ms: u64,
    /// The chats allowed in, by the platform's chat id, and the group each reaches.
    pub chats: BTreeMap<String, String>,
    /// Per chat id, the only senders (the platform's user ids) whose messages reach its
    /// group; a chat without a list lets everyone in it through.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub senders: BTreeMap<String, Vec<String>>,
    /// The webhook's listen address (WhatsApp; Telegram in webhook mode), default
    /// [`DEFAULT_WEBHOOK_LISTEN`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Telegram: the public HTTPS URL of the webhook (the reverse proxy's); set, the
    /// bridge takes updates by webhook (`setWebhook` with `TELEGRAM_WEBHOOK_SECRET` as
    /// its `secret_token`) instead of long polling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// WhatsApp: the Graph API version, default [`DEFAULT_GRAPH_VERSION`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Matrix: the homeserver's client-server API base (`https://matrix.example.org`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub homeserver: Option<String>,
    /// Matrix: join every room the bot is invited to (an unbound one then hears how the
    /// operator binds it); off, only rooms bound in `chats` are joined.
    pub join_invites: bool,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        BridgeConfig {
            kind: String::new(),
            enabled: true,
            trigger: None,
            reply_timeout_ms: 300_000,
            chats: BTreeMap::new(),
            senders: BTreeMap::new(),
            listen: None,
            webhook_url: None,
            api_version: None,
            homeserver: None,
            join_invites: false,
        }
    }
}

impl BridgeConfig {
    /// The kind, `name` when none is given.
    pub fn kind_or<'a>(&'a self, name: &'a str) -> &'a str {
        if self.kind.is_empty() {
            name
        } else {
            &self.kind
        }
    }

    pub fn reply_timeout(&self) -> Duration {
        Duration::from_millis(self.reply_timeout_ms)
    }

    /// The trigger word, when one is set and not blank.
    pub fn trigger(&self) -> Option<&str> {
        self.trigger
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The webhook's listen address.
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.listen
            .as_deref()
            .unwrap_or(DEFAULT_WEBHOOK_LISTEN)
            .parse()
            .unwrap_or_else(|_| DEFAULT_WEBHOOK_LISTEN.parse().expect("a socket address"))
    }

    /// The Graph API version.
    pub fn graph_version(&self) -> &str {
        self.api_version.as_deref().unwrap_or(DEFAULT_GRAPH_VERSION)
    }

    /// What is wrong with bridge `name`'s table, if anything: the key and the problem.
    pub(crate) fn problem(&self, name: &str) -> Option<String> {
        // The bridge's agent is `bridge-<name>`: the name must make a valid agent name.
        if b00t_proto::Name::parse(&format!("bridge-{name}")).is_err() {
            return Some(format!(
                "[bridges.{name}]: the name must be 1 to 55 of a-z, 0-9 and `-`, starting with a letter or digit (its agent is `bridge-{name}`)"
            ));
        }
        let kind = self.kind_or(name);
        if !BRIDGE_KINDS.contains(&kind) {
            return Some(format!(
                "[bridges.{name}] kind `{kind}` is not a bridge this build runs: use {}",
                BRIDGE_KINDS.join(", ")
            ));
        }
        if !(1_000..=86_400_000).contains(&self.reply_timeout_ms) {
            return Some(format!(
                "[bridges.{name}] reply_timeout_ms must be from 1000 to 86400000 (a day)"
            ));
        }
        for (chat, group) in &self.chats {
            if chat.trim().is_empty() {
                return Some(format!("[bridges.{name}.chats]: a chat id is empty"));
            }
            if b00t_proto::Name::parse(group).is_err() {
                return Some(format!(
                    "[bridges.{name}.chats] `{chat}` names `{group}`, which is not a group name"
                ));
            }
        }
        if let Some(listen) = &self.listen {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                return Some(format!(
                    "[bridges.{name}] listen `{listen}` is not an address and port: write it as `127.0.0.1:8790`"
                ));
            }
        }
        if let Some(version) = &self.api_version {
            let digits = version.strip_prefix('v').unwrap_or("");
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
                return Some(format!(
                    "[bridges.{name}] api_version `{version}` is not a Graph API version: write it as `{DEFAULT_GRAPH_VERSION}`"
                ));
            }
        }
        if let Some(url) = &self.webhook_url {
            if !url.starts_with("https://") {
                return Some(format!(
                    "[bridges.{name}] webhook_url `{url}` must be an https:// URL (Telegram calls only HTTPS webhooks)"
                ));
            }
        }
        if kind == "matrix" {
            match self.homeserver.as_deref() {
                None => {
                    return Some(format!(
                        "[bridges.{name}] is a Matrix bridge without `homeserver`: add `homeserver = \"https://matrix.example.org\"`"
                    ))
                }
                Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    return Some(format!(
                        "[bridges.{name}] homeserver `{url}` must be an http:// or https:// URL"
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(chat) = self.senders.keys().find(|c| !self.chats.contains_key(*c)) {
            return Some(format!(
                "[bridges.{name}.senders] names chat `{chat}`, which [bridges.{name}.chats] does not bind"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/h/b00t.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_telegram_bridge_with_defaults_and_chats() {
        let config = parse(
            "[bridges.telegram]\ntrigger = \"@Andy\"\n[bridges.telegram.chats]\n\"-1001\" = \"family\"\n",
        )
        .unwrap();
        let bridge = &config.bridges["telegram"];
        assert_eq!(bridge.kind_or("telegram"), "telegram");
        assert!(bridge.enabled);
        assert_eq!(bridge.trigger(), Some("@Andy"));
        assert_eq!(bridge.reply_timeout_ms, 300_000);
        assert_eq!(bridge.chats["-1001"], "family");
        // What `b00t config` prints parses back the same.
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn mistakes_name_the_bridge_and_the_key() {
        for (text, needle) in [
            (
                "[bridges.telegram]\ntoken = \"x\"\n",
                "unknown field `token`",
            ),
            (
                "[bridges.tg]\n",
                "kind `tg` is not a bridge this build runs",
            ),
            ("[bridges.x]\nkind = \"irc\"\n", "kind `irc`"),
            ("[bridges.m]\nkind = \"matrix\"\n", "without `homeserver`"),
            (
                "[bridges.whatsapp]\nlisten = \"everywhere\"\n",
                "listen `everywhere` is not an address",
            ),
            (
                "[bridges.whatsapp]\napi_version = \"latest\"\n",
                "api_version `latest`",
            ),
            (
                "[bridges.Tele]\nkind = \"telegram\"\n",
                "[bridges.Tele]: the name",
            ),
            (
                "[bridges.telegram]\nreply_timeout_ms = 5\n",
                "reply_timeout_ms must be from 1000",
            ),
            (
                "[bridges.telegram.chats]\n\"1\" = \"No Group\"\n",
                "`1` names `No Group`",
            ),
            (
                "[bridges.telegram.senders]\n\"1\" = [\"5\"]\n",
                "names chat `1`, which [bridges.telegram.chats] does not bind",
            ),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
