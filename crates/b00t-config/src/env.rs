//! Every environment variable b00t reads or sets, named in one place (the tidy test in
//! `crates/b00t-tidy` fails on a `B00T_` name or a read of one of these written
//! anywhere else).

/// The home folder, when `--home` is not given.
pub const B00T_HOME: &str = "B00T_HOME";
/// The broker URL, or a comma-separated list of them (a cluster, tried in turn), for
/// client commands and agents, when `--broker` is not given.
pub const B00T_BROKER: &str = "B00T_BROKER";
/// A `tracing` filter for the logs, such as `info` or `b00t_runtime=debug`.
pub const B00T_LOG: &str = "B00T_LOG";
/// Set (to anything) to turn colours off, as <https://no-color.org> asks.
pub const NO_COLOR: &str = "NO_COLOR";

/// Where group agents run: `docker`, `none` (local processes) or `auto`.
pub const CONTAINER_RUNTIME: &str = "CONTAINER_RUNTIME";
/// Ollama's base URL for group agents, such as `http://localhost:11434`.
pub const OLLAMA_BASE_URL: &str = "OLLAMA_BASE_URL";
/// The Ollama model group agents use, such as `llama3.2`.
pub const OLLAMA_MODEL: &str = "OLLAMA_MODEL";
/// The engine b00t talks to, such as `unix:///var/run/docker.sock` (Docker's own).
pub const DOCKER_HOST: &str = "DOCKER_HOST";

/// The launch document `up` gives a group agent (JSON, see `launch::AgentLaunch`).
pub const B00T_AGENT: &str = "B00T_AGENT";
/// A group agent's group folder: `/workspace/group` in a container, the host path for a
/// local process.
pub const B00T_GROUP_DIR: &str = "B00T_GROUP_DIR";
/// Where a group agent finds `groups/global`, when mounted.
pub const B00T_GLOBAL_DIR: &str = "B00T_GLOBAL_DIR";
/// Where the main group finds the home.
pub const B00T_PROJECT_DIR: &str = "B00T_PROJECT_DIR";
/// Set to `1` by `up` for a group agent run as a local process: stop when standard
/// input ends (the parent is gone).
pub const B00T_STOP_ON_EOF: &str = "B00T_STOP_ON_EOF";
/// Set to `1` to make Docker tests fail instead of skipping when no engine answers.
pub const B00T_REQUIRE_DOCKER: &str = "B00T_REQUIRE_DOCKER";
/// Set to `1` to make tests fail instead of skipping when a validator they hand files to
/// is missing (`kubernetes-validate`, PyYAML).
pub const B00T_REQUIRE_TOOLS: &str = "B00T_REQUIRE_TOOLS";
/// Set to `1` to make golden-file tests rewrite their files instead of comparing.
pub const B00T_BLESS: &str = "B00T_BLESS";
/// The `fake-ollama` program `b00t bench --groups` runs, when it is not next to `b00t`.
pub const B00T_FAKE_OLLAMA: &str = "B00T_FAKE_OLLAMA";

/// The `fake-telegram` program `b00t bench --bridge` runs, when it is not next to `b00t`.
pub const B00T_FAKE_TELEGRAM: &str = "B00T_FAKE_TELEGRAM";

/// The user's home folder: where `b00t mcp wire` finds the apps' user files (`~/.claude.json`,
/// `~/.cursor/mcp.json`, …).
pub const HOME: &str = "HOME";
/// The user's config folder (default `~/.config`): Claude Desktop, VS Code and Zed keep
/// their files under it on Linux.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// Nomad's HTTP API for the deployer's `nomad` orchestrator, such as
/// `http://127.0.0.1:4646` (Nomad's own variable).
pub const NOMAD_ADDR: &str = "NOMAD_ADDR";
/// Nomad's ACL token, sent as `X-Nomad-Token` (Nomad's own variable).
pub const NOMAD_TOKEN: &str = "NOMAD_TOKEN";

/// The Telegram bridge's bot token, from @BotFather (`123456:ABC-…`).
pub const TELEGRAM_BOT_TOKEN: &str = "TELEGRAM_BOT_TOKEN";
/// The Bot API base the Telegram bridge calls, default `https://api.telegram.org` (a
/// local Bot API server, or a test's stand-in).
pub const TELEGRAM_API_URL: &str = "TELEGRAM_API_URL";

/// Telegram in webhook mode: the `secret_token` given to `setWebhook`, which Telegram
/// sends back in `X-Telegram-Bot-Api-Secret-Token` on every call (1 to 256 of A-Z, a-z,
/// 0-9, `_` and `-`).
pub const TELEGRAM_WEBHOOK_SECRET: &str = "TELEGRAM_WEBHOOK_SECRET";

/// The WhatsApp bridge's Graph API base, default `https://graph.facebook.com`.
pub const WHATSAPP_API_URL: &str = "WHATSAPP_API_URL";
/// The WhatsApp Cloud API access token (a system user's, from the Meta app).
pub const WHATSAPP_TOKEN: &str = "WHATSAPP_TOKEN";
/// The Meta app's secret: the key of every webhook call's `X-Hub-Signature-256`.
pub const WHATSAPP_APP_SECRET: &str = "WHATSAPP_APP_SECRET";
/// The verify token typed into the Meta app's webhook settings (`hub.verify_token`).
pub const WHATSAPP_VERIFY_TOKEN: &str = "WHATSAPP_VERIFY_TOKEN";

/// The Matrix bridge's bot account access token (from `/login`, or Element's settings).
pub const MATRIX_ACCESS_TOKEN: &str = "MATRIX_ACCESS_TOKEN";

/// Reads a variable, treating an empty value as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
