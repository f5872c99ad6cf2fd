//! [`Webhook`]: what a Telegram bridge in webhook mode takes from its `[bridges.<name>]`
//! table and the environment before it starts: `webhook_url` (the public HTTPS URL that
//! Telegram posts to, published by a reverse proxy or tunnel), `listen` (where the
//! webhook serves, loopback by default) and `TELEGRAM_WEBHOOK_SECRET` (the `secret_token`
//! Telegram sends back in every call), each checked as Telegram checks it. Without
//! `webhook_url` the bridge long polls and needs none of them.

use std::net::SocketAddr;

use b00t_config::{env, BridgeConfig};

use crate::telegram::TelegramError;

/// The longest `secret_token` Telegram takes.
pub const MAX_SECRET: usize = 256;

/// A Telegram bridge's webhook mode. The secret is never logged.
#[derive(Clone)]
pub struct Webhook {
    /// `webhook_url`, as given to `setWebhook`.
    pub url: String,
    /// Its path: the only one the webhook serves (`/` when it has none).
    pub path: String,
    /// `TELEGRAM_WEBHOOK_SECRET`.
    pub secret: String,
    /// Where the webhook listens.
    pub listen: SocketAddr,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Bridge `bridge`'s webhook mode from the process environment and `config`: `None`
    /// when `webhook_url` is not set (long polling).
    pub fn from_env(bridge: &str, config: &BridgeConfig) -> Result<Option<Webhook>, TelegramError> {
        Webhook::from_lookup(bridge, config, env::var)
    }

    /// The same, reading variables with `lookup` (an empty value counts as unset).
    pub fn from_lookup(
        bridge: &str,
        config: &BridgeConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Webhook>, TelegramError> {
        let Some(url) = config.webhook_url.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let bad = |problem: &str| TelegramError::BadWebhookUrl {
            bridge: bridge.to_owned(),
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            bad(&format!(
                "is not a URL ({e}): write the public address, such as `https://bot.example.org/telegram`"
            ))
        })?;
        if parsed.scheme() != "https" || parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "must be an https:// URL with a host (Telegram calls only HTTPS webhooks)",
            ));
        }
        if !matches!(parsed.port_or_known_default(), Some(443 | 80 | 88 | 8443)) {
            return Err(bad(
                "has a port Telegram does not call: use 443, 80, 88 or 8443 (the proxy forwards to `listen`)",
            ));
        }
        let secret = lookup(env::TELEGRAM_WEBHOOK_SECRET)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| TelegramError::NoWebhookSecret {
                bridge: bridge.to_owned(),
            })?;
        check_secret(&secret)?;
        Ok(Some(Webhook {
            url: url.to_owned(),
            path: parsed.path().to_owned(),
            secret,
            listen: config.listen_addr(),
        }))
    }
}

/// Whether `secret` is a `secret_token` Telegram takes, naming what is wrong with it
/// (never the secret itself).
pub fn check_secret(secret: &str) -> Result<(), TelegramError> {
    let problem = if secret.is_empty() {
        Some("is empty".to_owned())
    } else if secret.len() > MAX_SECRET {
        Some(format!(
            "is {} characters long, more than {MAX_SECRET}",
            secret.chars().count()
        ))
    } else {
        secret
            .chars()
            .position(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .map(|at| {
                format!(
                    "has a character Telegram does not take at position {}",
                    at + 1
                )
            })
    };
    match problem {
        Some(problem) => Err(TelegramError::BadWebhookSecret { problem }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: Option<&str>, secret: Option<&str>) -> Result<Option<Webhook>, String> {
        let config = BridgeConfig {
            webhook_url: url.map(str::to_owned),
            ..BridgeConfig::default()
        };
        Webhook::from_lookup("telegram", &config, |name| {
            (name == "TELEGRAM_WEBHOOK_SECRET")
                .then(|| secret.map(str::to_owned))
                .flatten()
                .filter(|v| !v.is_empty())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn without_a_url_the_bridge_polls_and_needs_no_secret() {
        assert!(webhook(None, None).unwrap().is_none());
    }

    #[test]
    fn the_url_gives_the_path_and_listen_defaults_to_loopback() {
        let hook = webhook(
            Some("https://bot.example.org/tg/hook?x=1"),
            Some("s3cr3t_-X"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(hook.path, "/tg/hook");
        assert_eq!(hook.secret, "s3cr3t_-X");
        assert_eq!(hook.listen.to_string(), "127.0.0.1:8790");
        assert!(!format!("{hook:?}").contains("s3cr3t"));
        let root = webhook(Some("https://bot.example.org:8443"), Some("a"))
            .unwrap()
            .unwrap();
        assert_eq!(root.path, "/");
    }

    #[test]
    fn a_missing_secret_is_named_with_what_to_do() {
        let error = webhook(Some("https://bot.example.org/tg"), None).unwrap_err();
        assert!(
            error.starts_with("`TELEGRAM_WEBHOOK_SECRET` is not set"),
            "{error}"
        );
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        assert!(error.contains("remove `webhook_url`"), "{error}");
        assert!(webhook(Some("https://bot.example.org/tg"), Some("")).is_err());
    }

    #[test]
    fn secrets_are_checked_as_telegram_checks_them() {
        for good in ["a", "A-z_09", &"x".repeat(256)] {
            assert!(check_secret(good).is_ok(), "{good}");
        }
        for (bad, needle) in [
            ("", "is empty"),
            (
                &"x".repeat(257) as &str,
                "257 characters long, more than 256",
            ),
            ("no spaces", "at position 3"),
            ("café", "at position 4"),
            ("a+b", "at position 2"),
        ] {
            let error = check_secret(bad).unwrap_err().to_string();
            assert!(error.contains(needle), "{bad}: {error}");
            assert!(error.contains("1 to 256 of"), "{error}");
        }
        let error = webhook(Some("https://bot.example.org/tg"), Some("has space")).unwrap_err();
        assert!(
            !error.contains("has space"),
            "the secret is not shown: {error}"
        );
    }

    #[test]
    fn urls_telegram_would_not_call_are_refused() {
        for (url, needle) in [
            ("http://bot.example.org/tg", "must be an https:// URL"),
            ("bot.example.org/tg", "is not a URL"),
            ("https://bot.example.org:9000/tg", "443, 80, 88 or 8443"),
        ] {
            let error = webhook(Some(url), Some("s")).unwrap_err();
            assert!(error.contains(needle), "{url}: {error}");
            assert!(error.contains(&format!("webhook_url `{url}`")), "{error}");
        }
    }
}
