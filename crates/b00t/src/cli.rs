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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the home is; shared by every command.
#[derive(Debug, Args, Clone)]
pub(crate) struct HomeArg {
    /// The home folder (b00t.toml, datums, state). Default: $B00T_HOME, else the current
    /// directory.
    #[arg(long, value_name = "DIR", global = true)]
    pub home: Option<PathBuf>,
}

/// Which broker a client command talks to.
#[derive(Debug, Args, Clone)]
pub(crate) struct BrokerArg {
    /// The broker, as `mqtt://HOST:PORT`. Default: $B00T_BROKER, else `[broker] url` in
    /// b00t.toml, else the address a running `b00t up` of the home recorded, else
    /// `[broker] listen`.
    #[arg(long, value_name = "URL")]
    pub broker: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Deploy a stack or job through an orchestrator, by the deployer agent on the bus.
    ///
    /// The orchestrator is `--orchestrator`, else `[deploy] orchestrator` in b00t.toml,
    /// else the first `b00t orchestrator list` finds available. Follows the deploy live
    /// (stderr) and prints the endpoints. The task is signed with this home's operator
    /// key. `--dry-run` prints the manifests (made here, nothing changes, no bus needed).
    /// Exit status: 0 when everything is ready, 1 when the deployer refused or failed,
    /// 2 when no deployer answered in time.
    ///
    /// Example: `b00t deploy starter`, or `b00t deploy starter --orchestrator kubernetes
    /// --dry-run --out manifests/`
    Deploy(DeployArgs),
    /// Remove what `b00t deploy` made: containers, networks, volumes, processes.
    ///
    /// Example: `b00t undeploy starter`
    Undeploy(UndeployArgs),
    /// What is deployed from this home: datum, orchestrator, state, endpoints.
    Deployments(DeploymentsArgs),
    /// The orchestrators b00t deploys through, and whether each is available here.
    #[command(subcommand)]
    Orchestrator(OrchestratorCommand),
    /// Whether a datum and its dependencies are installed, checked on this machine.
    ///
    /// Example: `b00t status uvx`
    Status(StatusArgs),
    /// The install whitelist (`policy.toml`) for tasks the operator did not sign.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Show the audit log of install decisions, oldest first.
    Audit(AuditArgs),
    /// Container CI agents: one per running container of the local Docker engine.
    #[command(subcommand)]
    Ci(CiCommand),
    /// The bus's identities and topic rules, for an external broker.
    ///
    /// Example: `b00t acl export --mosquitto /etc/mosquitto/b00t`
    #[command(subcommand)]
    Acl(AclCommand),
    /// Measure the bus: broker throughput, task round trip, memory.
    ///
    /// Starts its own buses, each in a temporary home on a free loopback port, so that
    /// nothing else runs in them. Example: `b00t bench --against mqtt://127.0.0.1:1884 --json`
    Bench(BenchArgs),
    /// Chat with a group's assistant over the bus (its agent starts on demand).
    ///
    /// Example: `b00t chat family`, or one message: `b00t chat family "what's for dinner?"`
    Chat(crate::cmd::chat::ChatArgs),
    /// The group agents' image (`b00t-agent:<version>`), built locally on `scratch`.
    #[command(subcommand)]
    Image(ImageCommand),
    /// The groups under `<home>/groups`: each one's agent answers on `b00t.<group>.*`.
    #[command(subcommand)]
    Group(GroupCommand),
    /// The skills under `<home>/skills`, synced into every group's `.skills/`.
    #[command(subcommand)]
    Skills(SkillsCommand),
    /// Scheduled tasks for groups: a cron expression, an interval, or once. Each fire is
    /// a task on the group's chat address `b00t.<group>.chat`. The scheduler runs inside
    /// `b00t up`; cron times are in this machine's local time zone. After downtime, a
    /// missed cron or interval schedule fires once at start, not once per missed slot.
    ///
    /// Example: `b00t schedule add family --cron '0 9 * * 1-5' plan the day`
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Chat bridges (Telegram): which chat reaches which group, and running one.
    ///
    /// Example: `b00t bridge allow telegram:-1001234567890 --group family`
    #[command(subcommand)]
    Bridge(crate::cmd::bridge::BridgeCommand),
    /// MCP: wire catalog servers into AI apps, and serve the bus as an MCP server.
    ///
    /// Example: `b00t mcp wire github`, `b00t mcp serve`
    #[command(subcommand)]
    Mcp(crate::cmd::mcp::McpCommand),
}

impl Command {
    /// Commands that serve until stopped log at `info` by default.
    pub(crate) fn is_long_running(&self) -> bool {
        match self {
            Command::Bridge(command) => command.is_long_running(),
            Command::Mcp(command) => command.is_long_running(),
            _ => matches!(self, Command::Up(_) | Command::Agent(_)),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
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
    /// Stand by for the runtime that holds the bus's lease on the external broker
    /// (`--broker` or `[broker] url`): follow its journal and take over when its lease
    /// lapses. A free lease is left free for one lapse first.
    #[arg(long, conflicts_with_all = ["listen", "broker_only"])]
    pub standby: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
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
pub(crate) struct TailArgs {
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
pub(crate) struct AgentsArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Run an agent of a built-in kind until stopped.
    ///
    /// Example: `b00t agent run echo --name echo2 --broker mqtt://127.0.0.1:1883`
    Run(AgentRunArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AgentRunArgs {
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
pub(crate) struct ConfigArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print the shipped default configuration, with comments.
    #[arg(long)]
    pub default: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DatumCommand {
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
pub(crate) struct DatumListArgs {
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
pub(crate) struct DatumShowArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// A datum id (`jq.apt`) or name (`jq`).
    pub datum: String,
    /// Print JSON instead of a readable view.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
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
    /// MCP servers: then wire it into these apps' user files (claude-code,
    /// claude-desktop, vscode, cursor, windsurf, zed, codex); repeat or separate with commas.
    #[arg(long, value_name = "APP", value_delimiter = ',')]
    pub wire: Vec<String>,
    /// Print every reply as one JSON line instead of a readable view.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the whole install.
    #[arg(long, value_name = "SECS", default_value_t = 3600.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// A stack or job: its id (`starter.stack`) or name (`starter`).
    pub datum: String,
    /// compose, kubernetes, nomad or direct.
    #[arg(long, short = 'o', value_name = "NAME")]
    pub orchestrator: Option<String>,
    /// Print the manifests and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the manifests into this folder (made if missing).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print JSON instead of a readable view: the plan, or every reply as one line.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the deploy to be ready.
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub(crate) struct UndeployArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The stack or job deployed.
    pub datum: String,
    /// compose, kubernetes, nomad or direct; default: where it is deployed.
    #[arg(long, short = 'o', value_name = "NAME")]
    pub orchestrator: Option<String>,
    /// Print every reply as one JSON line instead of a readable view.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub(crate) struct DeploymentsArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// One JSON object per deployment, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrchestratorCommand {
    /// Each orchestrator, available or not, why, and the commands that told.
    List(OrchestratorListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct OrchestratorListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// One JSON object per orchestrator, one per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
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
pub(crate) enum PolicyCommand {
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
pub(crate) struct PolicyEditArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// A glob over datum ids; without a dot it matches datum names.
    pub glob: String,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CiCommand {
    /// The container CI agents and the containers they answer for.
    List(AgentsArgs),
    /// Ask a container's CI agent a question: the local model answers from the
    /// container's facts (status, services, health, diagnosis, logs, advice).
    ///
    /// Example: `b00t ci ask web why did you restart?`
    Ask(CiAskArgs),
    /// Restart a container through its CI agent (signed with the operator key).
    ///
    /// Example: `b00t ci restart web --grace 5`
    Restart(CiActionArgs),
    /// Stop a container through its CI agent (signed with the operator key).
    Stop(CiActionArgs),
    /// Start a stopped container through its CI agent (signed with the operator key).
    Start(CiActionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CiAskArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The container (its name, its agent `ci-<name>`, or the start of its id).
    pub container: String,
    /// The question, in plain words.
    #[arg(required = true, num_args = 1..)]
    pub question: Vec<String>,
    /// Print the answer with the facts it was given, as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for the answer (default: `[assistant] ollama_timeout_ms` + 30 s).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub(crate) struct CiActionArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The container (its name, its agent `ci-<name>`, or the start of its id).
    pub container: String,
    /// Seconds `restart` and `stop` wait for the process to exit before SIGKILL
    /// (default 10, Docker's).
    #[arg(long, value_name = "SECS")]
    pub grace: Option<u64>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AclCommand {
    /// Write a password_file and an acl_file that give Mosquitto the same rules, where
    /// its format can express them (the rest is printed).
    Export(AclExportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AclExportArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The folder to write `password_file` and `acl_file` into.
    #[arg(long, value_name = "DIR")]
    pub mosquitto: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
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
pub(crate) struct BenchArgs {
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
    /// Tasks for the flood (published as fast as one client can, on a fresh runtime
    /// whose peak memory is reported); 0 skips it.
    #[arg(long, default_value_t = 200_000)]
    pub flood: u64,
    /// Measure group agents instead: a container's cold start to online, and the warm
    /// dispatch of a chat task, against a fake Ollama that answers at once.
    #[arg(long)]
    pub groups: bool,
    /// Measure the container CI agents instead (needs a Docker engine): a container's
    /// start to its agent's online card, `status` round trips, and memory with
    /// `--ci-watched` containers watched.
    #[arg(long, conflicts_with = "groups")]
    pub ci: bool,
    /// Measure the deployer instead: the starter stack of this home deployed through
    /// `b00t up` (compose, and direct), against docker-compose alone; compose needs a
    /// Docker engine and `docker-compose`, and is skipped without them.
    #[arg(long, conflicts_with_all = ["groups", "ci"])]
    pub deploy: bool,
    /// Measure a chat bridge instead: a message through a Telegram bridge (b00t-testkit's
    /// `fake-telegram` as the Bot API) to the group's answer in the chat, against the same
    /// task sent directly on the bus, with a fake Ollama answering at once.
    #[arg(long, conflicts_with_all = ["groups", "ci", "deploy"])]
    pub bridge: bool,
    /// Measure b00t on a three-node NATS cluster instead (`nats-server` 2.10+ on PATH or
    /// in Python's user base, started by the bench): task round trip and pipelined tasks/s
    /// through another node than the runtime's against one node, and the failover time
    /// (the runtime's node killed to its card online again). `--tasks` per run.
    #[arg(long, conflicts_with_all = ["groups", "ci", "deploy", "bridge"])]
    pub cluster: bool,
    /// Measure the MCP server instead: `send_task` to the echo agent through `b00t mcp
    /// serve` over stdio (this bench as the MCP client), against the same echo task sent
    /// directly on the bus in the same run.
    #[arg(long, conflicts_with_all = ["groups", "ci", "deploy", "bridge"])]
    pub mcp: bool,
    /// With `--mcp`: tasks measured each way.
    #[arg(long, default_value_t = 2_000, requires = "mcp")]
    pub mcp_tasks: usize,
    /// With `--bridge`: messages measured each way.
    #[arg(long, default_value_t = 200, requires = "bridge")]
    pub bridge_messages: usize,
    /// With `--deploy`: timed runs per mode.
    #[arg(long, default_value_t = 5, requires = "deploy")]
    pub runs: usize,
    /// With `--ci`: containers watched for the memory figure.
    #[arg(long, default_value_t = 100, requires = "ci")]
    pub ci_watched: usize,
    /// With `--groups`: `docker` or `none` (local processes).
    #[arg(
        long,
        value_name = "RUNTIME",
        default_value = "docker",
        requires = "groups"
    )]
    pub runtime: String,
    /// With `--groups`: cold starts measured.
    #[arg(long, default_value_t = 5, requires = "groups")]
    pub cold_runs: usize,
    /// With `--groups`: warm chat tasks measured.
    #[arg(long, default_value_t = 300, requires = "groups")]
    pub warm_tasks: usize,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Build the image from the home's `container/` folder and this binary, with no base
    /// image and no registry: the binary and the libraries it loads go on `scratch`.
    ///
    /// Example: `b00t image build`, or `b00t image build --tag b00t-agent:dev --binary target/release/b00t`
    Build(ImageBuildArgs),
    /// Whether the image is missing, stale (holds another binary) or current.
    ///
    /// Exit status 0 when current, 1 when missing or stale.
    Status(ImageStatusArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImageBuildArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The image's tag. Default: `[containers] image`, else `b00t-agent:<version>`.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The b00t binary to put in the image. Default: this one.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ImageStatusArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The image's tag. Default: `[containers] image`, else `b00t-agent:<version>`.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The binary to compare with. Default: this one.
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Create a group: its folder with MEMORY.md, group.toml and the home's skills.
    ///
    /// Example: `b00t group add family`, then `b00t chat family`
    Add(GroupAddArgs),
    /// List the groups: privileged or not, skills synced, memory size.
    List(GroupListArgs),
    /// Delete a group's folder, with its memory and conversation history.
    ///
    /// Asks first on a terminal; elsewhere it needs `--yes`. `main` and `global` stay.
    Remove(GroupRemoveArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GroupAddArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The group's name, which is also its agent's: 1 to 63 of `a-z`, `0-9` and `-`.
    pub name: String,
}

#[derive(Debug, Args)]
pub(crate) struct GroupListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print the groups as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct GroupRemoveArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// The group to delete.
    pub name: String,
    /// Do not ask before deleting.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SkillsCommand {
    /// List the skills with their descriptions, and the folders that are not usable.
    ///
    /// Exit status 1 when a skill folder has a problem.
    List(SkillsListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SkillsListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    /// Print `{"skills": [...], "problems": [...]}` as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// Schedule TEXT for GROUP's agent; give exactly one of `--cron`, `--every`, `--at`
    /// and `--in`.
    ///
    /// Examples: `b00t schedule add family --every 30m check the oven`,
    /// `b00t schedule add main --at 2026-11-21T09:00:00+11:00 call the bank`,
    /// `b00t schedule add main --in 10m stretch`
    Add(ScheduleAddArgs),
    /// List the schedules with their next fire times.
    ///
    /// Example: `b00t schedule list --group family`
    List(ScheduleListArgs),
    /// Remove a schedule by its id (`b00t schedule list` shows them).
    ///
    /// Example: `b00t schedule remove s-1a2b3c4d`
    Remove(ScheduleRemoveArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("when").required(true).args(["cron", "every", "at", "in"])))]
pub(crate) struct ScheduleAddArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The group whose agent gets the task.
    pub group: String,
    /// A crontab expression in local time: 5 fields (`0 9 * * 1-5`), or 6 with seconds
    /// first.
    #[arg(long, value_name = "EXPR")]
    pub cron: Option<String>,
    /// Every DURATION (`30m`, `1h 30m`, `1day`), at least 1 s.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Once, at an RFC 3339 time (`2026-11-21T09:00:00Z`).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Once, DURATION from now (`10m`).
    #[arg(long = "in", id = "in", value_name = "DURATION")]
    pub r#in: Option<String>,
    /// What the group's agent is asked each time (words are joined with spaces).
    #[arg(required = true, num_args = 1..)]
    pub text: Vec<String>,
    /// Print the scheduler's answer as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleListArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// Only this group's schedules.
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Print the schedules as a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleRemoveArgs {
    #[command(flatten)]
    pub home: HomeArg,
    #[command(flatten)]
    pub broker: BrokerArg,
    /// The schedule's id, like `s-1a2b3c4d`.
    pub id: String,
}
