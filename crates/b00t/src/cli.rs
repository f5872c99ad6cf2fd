//! The command line, in clap's derive style. `--help` on every command says what it does
//! and shows an example.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// b00t: a message bus for agents, over MQTT.
///
/// Agents answer tasks on `b00t.<agent>.<skill>/task` with ack, progress, result and
/// error replies; the runtime journals every task and retries it until an agent acks.
/// Start a bus with `b00t up`, then talk to it with `b00t send`, `b00t tail`, or any
/// MQTT client such as `mosquitto_pub`.
#[derive(Debug, Parser)]
#[command(name = "b00t", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the home is; shared by every command.
#[derive(Debug, Args, Clone)]
pub struct HomeArg {
    /// The home folder (b00t.toml, datums, state). Default: $B00T_HOME, else the current
    /// directory.
    #[arg(long, value_name = "DIR", global = true)]
    pub home: Option<PathBuf>,
}

/// Which broker a client command talks to.
#[derive(Debug, Args, Clone)]
pub struct BrokerArg {
    /// The broker, as `mqtt://HOST:PORT`. Default: $B00T_BROKER, else `[broker] url` in
    /// b00t.toml, else the address a running `b00t up` of the home recorded, else
    /// `[broker] listen`.
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bus: the embedded broker, the delivery journal, and the local agents.
    ///
    /// Example: `b00t up --listen 127.0.0.1:1883`, or against an existing broker:
    /// `b00t up --broker mqtt://10.0.0.5:1883`. Stop it with Ctrl-C or SIGTERM.
    Up(UpArgs),
    /// Send a task to an address, follow its ack and progress, print its result.
    ///
    /// PAYLOAD is the task's body: JSON when it parses as JSON, else text (sent as
    /// `{"text": …}`); `-` reads it from standard input. Exit status: 0 on a result,
    /// 1 on an error reply, 2 on a timeout or when no agent took the task.
    ///
    /// Example: `b00t send b00t.echo.echo '{"hello": "world"}'`
    Send(SendArgs),
    /// Watch the bus live: every message, readable and coloured.
    ///
    /// Example: `b00t tail 'b00t.echo.echo/#'`, or `b00t tail --json | jq .`
    Tail(TailArgs),
    /// List the agents on the bus: state, skills, last heartbeat.
    Agents(AgentsArgs),
    /// Run one agent as its own process (how agents run in containers).
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Print the effective configuration, defaults included.
    Config(ConfigArgs),
    /// The datum catalog: what can be installed, and how.
    #[command(subcommand)]
    Datum(DatumCommand),
    /// Install a datum and its dependencies, through the installer agent on the bus.
    ///
    /// Shows the plan first, asks before a step that needs root or touches Docker (unless
    /// `--yes`), then follows the install live. The task is signed with this home's
    /// operator key, so the policy whitelist does not limit it.
    ///
    /// Example: `b00t install browser-use --yes`, or `b00t install jq --dry-run`
    Install(InstallArgs),
    /// Whether a datum and its dependencies are installed, checked on this machine.
    ///
    /// Example: `b00t status uvx`
    Status(StatusArgs),
    /// The install whitelist (`policy.toml`) for tasks the operator did not sign.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show the audit log of install decisions, oldest first.
    Audit(AuditArgs),
    /// Measure the bus: broker throughput, task round trip, memory.
    ///
    /// Starts its own buses, each in a temporary home on a free loopback port, so that
    /// nothing else runs in them. Example: `b00t bench --against mqtt://127.0.0.1:1884 --json`
    Bench(BenchArgs),
}

impl Command {
    /// Commands that serve until stopped log at `info` by default.
    pub fn is_long_running(&self) -> bool {
        matches!(self, Command::Up(_) | Command::Agent(_))
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Where the embedded broker listens (default `[broker] listen`, 127.0.0.1:1883).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Use this broker (`mqtt://HOST:PORT`) instead of starting the embedded one.
    #[arg(long, value_name = "URL", conflicts_with = "listen")]
    pub broker: Option<String>,
    /// Run only the embedded broker: no journal, no delivery watcher, no agents.
    #[arg(long, conflicts_with = "broker")]
    pub broker_only: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// Where to send it: `b00t.<agent>.<skill>`.
    pub address: String,
    /// The task's body (JSON or text; `-` for standard input). Default: null.
    pub payload: Option<String>,
    /// The task id (default: a fresh `cli-…` id). Reusing an id returns the stored result.
    #[arg(long)]
    pub id: Option<String>,
    /// Seconds to wait for the result (default: long enough for every retry, at least 60).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Print every reply as one JSON line instead of a readable view.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// An MQTT topic filter.
    #[arg(default_value = "#")]
    pub filter: String,
    /// One raw JSON object per line: `{"ts", "topic", "retain", "payload"}`.
    #[arg(long)]
    pub json: bool,
    /// Stop after this many messages.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
}

#[derive(Debug, Args)]
pub struct AgentsArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Run an agent of a built-in kind until stopped.
    ///
    /// Example: `b00t agent run echo --name echo2 --broker mqtt://127.0.0.1:1883`
    Run(AgentRunArgs),
}

#[derive(Debug, Args)]
pub struct AgentRunArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The kind of agent (`echo`, `installer`).
    pub kind: String,
    /// The agent's name: its address is `b00t.<name>.<skill>`.
    #[arg(long)]
    pub name: String,
    /// Keep the record of executed tasks in DIR/journal.db, so that a restarted agent
    /// does not run a finished task again. Default: in memory.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print the shipped default configuration, with comments.
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, Subcommand)]
pub enum DatumCommand {
    /// List the datums in the catalog (the home's datums/ and `[datums] paths`).
    ///
    /// Example: `b00t datum list --type mcp`
    List(DatumListArgs),
    /// Show one datum: its fields, its file, and notes about fields b00t does not use.
    ///
    /// Example: `b00t datum show gh.cli`
    Show(DatumShowArgs),
    /// Show what a datum depends on, as a tree, and the install order.
    ///
    /// Example: `b00t datum deps browser-use.mcp`
    Deps(DatumShowArgs),
}

#[derive(Debug, Args)]
pub struct DatumListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Only datums of this type (`cli`, `apt`, `mcp`, …).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Print the datums as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DatumShowArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// A datum id (`jq.apt`) or name (`jq`).
    pub datum: String,
    /// Print JSON instead of a readable view.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// A datum id (`jq.apt`) or name (`jq`).
    pub datum: String,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before steps that need root or touch Docker.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Install only the datum itself, not what it depends on.
    #[arg(long)]
    pub no_deps: bool,
    /// Print every reply as one JSON line instead of a readable view.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the whole install.
    #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// A datum id (`jq.apt`) or name (`jq`).
    pub datum: String,
    /// Only the datum itself, not its dependencies.
    #[arg(long)]
    pub no_deps: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Approve datums matching GLOB for unsigned tasks (`jq.apt`, `*.mcp`, `jq`).
    Allow(PolicyEditArgs),
    /// Refuse datums matching GLOB, whatever else allows them.
    Deny(PolicyEditArgs),
    /// Print the policy.
    List(PolicyListArgs),
    /// Explain whether an unsigned task may install a datum and its dependencies.
    ///
    /// Exit status 0 when allowed, 1 when forbidden.
    Check(DatumShowArgs),
}

#[derive(Debug, Args)]
pub struct PolicyEditArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// A glob over datum ids; without a dot it matches datum names.
    pub glob: String,
}

#[derive(Debug, Args)]
pub struct PolicyListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Only the last N decisions.
    #[arg(long, short = 'n', value_name = "N")]
    pub last: Option<usize>,
    /// Print the raw JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Also measure this broker (`mqtt://HOST:PORT`) with the same client code.
    #[arg(long, value_name = "URL")]
    pub against: Option<String>,
    /// Print one flat JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Messages per throughput run.
    #[arg(long, default_value_t = 50_000)]
    pub messages: u64,
    /// Tasks for the latency and pipelined runs.
    #[arg(long, default_value_t = 20_000)]
    pub tasks: u64,
}
