//! `b00t bridge run|allow|deny|list`: the chat bridges. `run` runs one as its own process
//! (logged in as the operator when this user can read the home's credentials, else
//! anonymously); `allow` and `deny` bind a chat to a group in b00t.toml (a running bridge
//! reads the bindings for every message, so no restart is needed); `list` shows the
//! bindings and each bridge's state from the journal.

use std::process::ExitCode;

use anyhow::Context;
use b00t_chat::bindings::{self, ChatRef};
use b00t_config::{Config, Home};
use b00t_journal::BridgeStore;
use b00t_proto::Name;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::cli::{BrokerArg, HomeArg};
use crate::exit::{self, Refusal};
use crate::{connect, shutdown};

#[derive(Debug, Subcommand)]
pub(crate) enum BridgeCommand {
    /// Run bridge NAME (`[bridges.NAME]` in b00t.toml) as its own process, until SIGINT
    /// or SIGTERM. `b00t up` runs every enabled bridge itself: use this only when `up`
    /// does not (`enabled = false`), or runs elsewhere.
    ///
    /// Example: `TELEGRAM_BOT_TOKEN=123:abc b00t bridge run telegram`
    Run(BridgeRunArgs),
    /// Let a chat reach a group: `b00t bridge allow telegram:<chat id> --group <group>`.
    ///
    /// The chat id is in the hint the bot gives an unbound chat. Takes effect at once.
    Allow(BridgeAllowArgs),
    /// Stop a chat reaching any group: `b00t bridge deny telegram:<chat id>`.
    Deny(BridgeDenyArgs),
    /// The bridges: bindings, state, last error, failed replies.
    List(BridgeListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BridgeRunArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The bridge, as named in `[bridges.<name>]`.
    pub name: String,
}

#[derive(Debug, Args)]
pub(crate) struct BridgeAllowArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// `telegram:<chat id>`.
    pub chat: String,
    /// The group the chat's messages go to.
    #[arg(long)]
    pub group: String,
    /// The bridge, when several of the chat's platform are configured.
    #[arg(long)]
    pub bridge: Option<String>,
    /// Only this sender's messages reach the group (the platform's user id; repeat it
    /// for more). Without it, everyone in the chat, or the list set before.
    #[arg(long = "sender", value_name = "USER_ID")]
    pub senders: Vec<String>,
    /// Let everyone in the chat through again (drop its sender list).
    #[arg(long, conflicts_with = "senders")]
    pub any_sender: bool,
}

#[derive(Debug, Args)]
pub(crate) struct BridgeDenyArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// `telegram:<chat id>`.
    pub chat: String,
    /// The bridge, when several of the chat's platform are configured.
    #[arg(long)]
    pub bridge: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct BridgeListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl BridgeCommand {
    pub(crate) fn is_long_running(&self) -> bool {
        matches!(self, BridgeCommand::Run(_))
    }
}

pub(super) async fn run(command: BridgeCommand) -> anyhow::Result<ExitCode> {
    match command {
        BridgeCommand::Run(args) => run_one(args).await,
        BridgeCommand::Allow(args) => allow(args),
        BridgeCommand::Deny(args) => deny(args),
        BridgeCommand::List(args) => list(args),
    }
}

async fn run_one(args: BridgeRunArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let url = connect::broker_url(args.broker.broker.as_deref(), &home)?;
    // Two pollers of one bot knock each other off (Telegram answers 409), and two cards
    // of one name evict each other: refuse beside a running one.
    let agent = Name::parse(&b00t_chat::agent_name(&args.name))
        .with_context(|| format!("bridge `{}`", args.name))?;
    if let Ok(Some(card)) = super::agent_run::online_card(&url, &agent).await {
        let place = match (card.pid, card.host.as_deref()) {
            (Some(pid), Some(host)) => format!(" (pid {pid} on host {host})"),
            _ => String::new(),
        };
        return Err(Refusal {
            code: exit::NAME_TAKEN,
            message: format!(
                "bridge `{}` already runs{place}, as agent `{agent}`: `b00t up` runs every enabled bridge; set `enabled = false` in [bridges.{}] to run it here instead",
                args.name, args.name
            ),
        }
        .into());
    }
    let run = b00t_chat::BridgeRun::for_home(&home, url);
    let shutdown = shutdown::on_signal();
    b00t_chat::run_bridge(&home, &args.name, run, shutdown)
        .await
        .with_context(|| format!("bridge `{}`", args.name))?;
    Ok(ExitCode::SUCCESS)
}

fn allow(args: BridgeAllowArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let chat = ChatRef::parse(&args.chat)?;
    let path = bindings::config_path(home.root());
    let bridge =
        bindings::bridge_for(home.config(), &path, &chat.platform, args.bridge.as_deref())?;
    let before = bindings::allow(home.root(), &bridge, &chat.chat_id, &args.group)?;
    if !args.senders.is_empty() || args.any_sender {
        bindings::set_senders(home.root(), &bridge, &chat.chat_id, &args.senders)?;
        if args.any_sender {
            outln!("everyone in `{chat}` may write to the group")?;
        } else {
            outln!(
                "only {} of `{chat}` may write to the group",
                args.senders.join(", ")
            )?;
        }
    }
    if !home.groups_dir().join(&args.group).is_dir() {
        errln!(
            "warning: there is no group `{}` yet: its messages will wait until `b00t group add {}`",
            args.group,
            args.group
        );
    }
    if !home.config().bridges.contains_key(&bridge) {
        outln!("added [bridges.{bridge}]: `b00t up` runs it with TELEGRAM_BOT_TOKEN set")?;
    }
    match before {
        Some(old) if old == args.group => {
            outln!("`{chat}` already reaches the group `{}`", args.group)?
        }
        Some(old) => outln!(
            "`{chat}` now reaches the group `{}` (was `{old}`), in [bridges.{bridge}.chats] of {}",
            args.group,
            path.display()
        )?,
        None => outln!(
            "`{chat}` now reaches the group `{}`, in [bridges.{bridge}.chats] of {}",
            args.group,
            path.display()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn deny(args: BridgeDenyArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    let chat = ChatRef::parse(&args.chat)?;
    let path = bindings::config_path(home.root());
    let bridge =
        bindings::bridge_for(home.config(), &path, &chat.platform, args.bridge.as_deref())?;
    match bindings::deny(home.root(), &bridge, &chat.chat_id)? {
        Some(group) => outln!("`{chat}` no longer reaches the group `{group}`")?,
        None => outln!("`{chat}` was not bound to a group")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: BridgeListArgs) -> anyhow::Result<ExitCode> {
    let home = Home::resolve(args.home.home.as_deref())?;
    // Read afresh: `allow` may have changed it since this home was opened.
    let config = Config::load(home.root())?;
    let statuses = match home.state_dir() {
        Ok(state) if state.join("journal.db").exists() => {
            BridgeStore::open(&state.join("journal.db"))?.statuses()?
        }
        _ => Vec::new(),
    };
    let mut rows = Vec::new();
    for (name, bridge) in &config.bridges {
        let status = statuses.iter().find(|s| &s.bridge == name);
        let running = status.is_some_and(|s| {
            s.stopped_ms.is_none()
                && s.pid
                    .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        });
        rows.push(json!({
            "bridge": name,
            "agent": b00t_chat::agent_name(name),
            "kind": bridge.kind_or(name),
            "enabled": bridge.enabled,
            "running": running,
            "pid": status.and_then(|s| s.pid),
            "last_error": status.and_then(|s| s.last_error.clone()),
            "failed_replies": status.map_or(0, |s| s.failed_replies),
            "waiting": status.map_or(0, |s| s.waiting),
            "chats": bridge.chats,
            "senders": bridge.senders,
        }));
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"bridges": rows}))?
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!(
            "no bridges: add [bridges.telegram] to {} (see the README's \"Telegram\" section)",
            bindings::config_path(home.root()).display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    for row in &rows {
        let state = match (row["running"].as_bool(), row["enabled"].as_bool()) {
            (Some(true), _) => "running",
            (_, Some(false)) => "disabled",
            _ => "not running",
        };
        outln!(
            "{} ({}, agent {}): {state}; {} failed replies, {} waiting",
            row["bridge"].as_str().unwrap_or_default(),
            row["kind"].as_str().unwrap_or_default(),
            row["agent"].as_str().unwrap_or_default(),
            row["failed_replies"],
            row["waiting"],
        )?;
        if let Some(error) = row["last_error"].as_str() {
            outln!("  last error: {error}")?;
        }
        let chats = row["chats"].as_object().cloned().unwrap_or_default();
        if chats.is_empty() {
            outln!(
                "  no chats bound: `b00t bridge allow {}:<chat id> --group <group>`",
                row["kind"].as_str().unwrap_or("telegram")
            )?;
        }
        for (chat, group) in chats {
            let only = row["senders"][&chat]
                .as_array()
                .map(|senders| {
                    let ids: Vec<String> = senders
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    format!(" (only senders {})", ids.join(", "))
                })
                .unwrap_or_default();
            outln!(
                "  {}:{chat} -> {}{only}",
                row["kind"].as_str().unwrap_or_default(),
                group.as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
