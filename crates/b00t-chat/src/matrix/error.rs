//! [`MatrixError`]: why a Matrix bridge cannot start, each naming the variable or the
//! setting and saying what to do.

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("`MATRIX_ACCESS_TOKEN` is not set: log in as the bot account (README, \"Matrix\": `POST /_matrix/client/v3/login`) and `export MATRIX_ACCESS_TOKEN=<its access_token>` before `b00t up` or `b00t bridge run {bridge}`")]
    NoToken { bridge: String },
    #[error("`MATRIX_ACCESS_TOKEN` holds whitespace or control characters: paste the `access_token` of the bot's login alone")]
    BadToken,
    #[error("[bridges.{bridge}] has no `homeserver`: add `homeserver = \"https://matrix.example.org\"` (the client-server API's base)")]
    NoHomeserver { bridge: String },
    #[error("[bridges.{bridge}] homeserver `{url}` {problem}: write the client-server API's base, such as `https://matrix.example.org`")]
    Homeserver {
        bridge: String,
        url: String,
        problem: String,
    },
    #[error("cannot start the HTTP client: {0}")]
    Http(String),
}
