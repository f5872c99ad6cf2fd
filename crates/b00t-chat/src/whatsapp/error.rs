//! [`WhatsAppError`]: why a WhatsApp bridge cannot start, each naming the variable, the
//! URL or the address and saying what to do.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum WhatsAppError {
    /// A secret the bridge needs is not in the environment.
    #[error("`{variable}` is not set: it is {what}; `export {variable}=…` before `b00t up` or `b00t bridge run {bridge}` (README, \"WhatsApp\")")]
    MissingSecret {
        variable: &'static str,
        /// What the secret is and where the Meta app shows it.
        what: &'static str,
        bridge: String,
    },
    #[error("`WHATSAPP_API_URL` `{url}` {problem}: use `https://graph.facebook.com` (the default) or a stand-in's `http://127.0.0.1:<port>`")]
    ApiUrl { url: String, problem: String },
    #[error("`WHATSAPP_TOKEN` holds whitespace or control characters: paste the system user's access token alone, as the Meta app shows it")]
    BadToken,
    #[error("the WhatsApp webhook cannot listen on `{addr}`: {source}; set another `listen = \"127.0.0.1:<port>\"` in `[bridges.{bridge}]` (and point the tunnel or reverse proxy at it)")]
    Listen {
        addr: SocketAddr,
        bridge: String,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Http(String),
}
