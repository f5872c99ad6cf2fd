//! [`Settings`]: what a WhatsApp bridge takes from the environment and its
//! `[bridges.<name>]` table before it starts: the Graph API base (`WHATSAPP_API_URL`,
//! default Meta's) and version, the three secrets (`WHATSAPP_TOKEN`,
//! `WHATSAPP_APP_SECRET`, `WHATSAPP_VERIFY_TOKEN`; a missing one is named with where the
//! Meta app shows it), and the webhook's listen address.

use std::net::SocketAddr;

use b00t_config::{env, BridgeConfig};

use crate::whatsapp::api::{GraphApi, DEFAULT_API_URL};
use crate::whatsapp::webhook::Secrets;
use crate::whatsapp::WhatsAppError;

const TOKEN_IS: &str = "the Cloud API access token: in Meta's Business Settings, Users, System users, add a system user, assign it the app and the WhatsApp account, and generate a token with `whatsapp_business_messaging`";
const APP_SECRET_IS: &str = "the Meta app's secret, the key of every webhook call's `X-Hub-Signature-256`: App settings, Basic, App secret";
const VERIFY_TOKEN_IS: &str = "a string of your choosing that Meta sends back when it verifies the webhook: type the same into WhatsApp, Configuration, Webhook, Verify token";

/// A WhatsApp bridge's settings.
#[derive(Debug)]
pub struct Settings {
    pub api: GraphApi,
    pub secrets: Secrets,
    /// Where the webhook listens.
    pub listen: SocketAddr,
}

impl Settings {
    /// Bridge `bridge`'s settings from the process environment and `config`.
    pub fn from_env(bridge: &str, config: &BridgeConfig) -> Result<Settings, WhatsAppError> {
        Settings::from_lookup(bridge, config, env::var)
    }

    /// The same, reading variables with `lookup` (an empty value counts as unset).
    pub fn from_lookup(
        bridge: &str,
        config: &BridgeConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, WhatsAppError> {
        let secret = |variable: &'static str, what: &'static str| {
            lookup(variable)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .ok_or_else(|| WhatsAppError::MissingSecret {
                    variable,
                    what,
                    bridge: bridge.to_owned(),
                })
        };
        let token = secret(env::WHATSAPP_TOKEN, TOKEN_IS)?;
        let app_secret = secret(env::WHATSAPP_APP_SECRET, APP_SECRET_IS)?;
        let verify_token = secret(env::WHATSAPP_VERIFY_TOKEN, VERIFY_TOKEN_IS)?;
        let api_url = lookup(env::WHATSAPP_API_URL).unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        Ok(Settings {
            api: GraphApi::new(&api_url, config.graph_version(), &token)?,
            secrets: Secrets {
                app_secret: app_secret.into_bytes(),
                verify_token,
            },
            listen: config.listen_addr(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)], config: &BridgeConfig) -> Result<Settings, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup("whatsapp", config, |name| {
            vars.get(name).cloned().filter(|v| !v.is_empty())
        })
        .map_err(|e| e.to_string())
    }

    const ALL: [(&str, &str); 3] = [
        ("WHATSAPP_TOKEN", "EAAJB"),
        ("WHATSAPP_APP_SECRET", "app-secret"),
        ("WHATSAPP_VERIFY_TOKEN", "verify-me"),
    ];

    #[test]
    fn each_missing_secret_is_named_with_where_to_get_it() {
        let config = BridgeConfig::default();
        for (missing, needle) in [
            ("WHATSAPP_TOKEN", "System users"),
            ("WHATSAPP_APP_SECRET", "App settings, Basic, App secret"),
            ("WHATSAPP_VERIFY_TOKEN", "Verify token"),
        ] {
            let vars: Vec<_> = ALL.iter().filter(|(k, _)| *k != missing).copied().collect();
            let error = settings(&vars, &config).unwrap_err();
            assert!(
                error.starts_with(&format!("`{missing}` is not set")),
                "{error}"
            );
            assert!(error.contains(needle), "{error}");
            assert!(error.contains("b00t bridge run whatsapp"), "{error}");
            let blank: Vec<_> = ALL
                .iter()
                .map(|(k, v)| (*k, if *k == missing { "  " } else { *v }))
                .collect();
            assert!(settings(&blank, &config).is_err());
        }
    }

    #[test]
    fn defaults_are_meta_and_loopback_and_the_table_overrides_them() {
        let settings_default = settings(&ALL, &BridgeConfig::default()).unwrap();
        assert_eq!(settings_default.listen.to_string(), "127.0.0.1:8790");
        let shown = format!("{:?}", settings_default.api);
        assert!(shown.contains("https://graph.facebook.com"), "{shown}");
        assert!(shown.contains("v21.0"), "{shown}");
        assert!(!format!("{settings_default:?}").contains("app-secret"));
        assert_eq!(settings_default.secrets.app_secret, b"app-secret");
        assert_eq!(settings_default.secrets.verify_token, "verify-me");

        let config = BridgeConfig {
            listen: Some("127.0.0.1:9999".to_owned()),
            api_version: Some("v23.0".to_owned()),
            ..BridgeConfig::default()
        };
        let mut vars = ALL.to_vec();
        vars.push(("WHATSAPP_API_URL", "http://127.0.0.1:1/"));
        let custom = settings(&vars, &config).unwrap();
        assert_eq!(custom.listen.to_string(), "127.0.0.1:9999");
        let shown = format!("{:?}", custom.api);
        assert!(shown.contains("http://127.0.0.1:1\""), "{shown}");
        assert!(shown.contains("v23.0"), "{shown}");
        let mut bad = ALL.to_vec();
        bad.push(("WHATSAPP_API_URL", "graph.facebook.com"));
        let error = settings(&bad, &config).unwrap_err();
        assert!(error.contains("is not an http or https URL"), "{error}");
    }
}
