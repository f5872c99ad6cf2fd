//! `b00t bench`: measures the bus, and never judges it (the exit status is 0 whatever the
//! figures). Broker throughput of the embedded broker (a `b00t up --broker-only` child)
//! and of `--against`, task round trips through a full runtime child and through the
//! floor (Debian's `mosquitto` with a bare responder), and peak memory.
//!
//! Layout: `child` (the bus under test as a process), `throughput` (publisher to
//! subscriber), `tasks` (echo round trips), `floor` (mosquitto and the bare responder),
//! `rss` (`VmHWM`), `report` (table and JSON); `groups`, `ci`, `deploy`, `bridge`,
//! `cluster` and `mcp` are the modes of `--groups`, `--ci`, `--deploy`, `--bridge`,
//! `--cluster` and `--mcp`; `fakes` runs the test kit's stand-in programs.

mod bridge;
mod child;
mod ci;
mod cluster;
mod deploy;
mod fakes;
mod flood;
mod floor;
mod groups;
mod mcp;
mod report;
mod rss;
mod tasks;
mod throughput;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use b00t_bus::Qos;
use b00t_config::BrokerUrl;

use crate::cli::BenchArgs;
use child::{BusChild, Mode};
use report::Report;
use tasks::{EchoClient, Latency, Pipelined};
use throughput::Throughput;

/// Most tasks measured one at a time.
const MAX_LATENCY_TASKS: u64 = 5_000;
/// Tasks in flight during the pipelined run.
const PIPELINE_WINDOW: u64 = 64;

pub(super) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.messages == 0 {
        anyhow::bail!("`--messages 0` measures nothing; pass at least 1");
    }
    if args.tasks == 0 {
        anyhow::bail!("`--tasks 0` measures nothing; pass at least 1");
    }
    let against = args
        .against
        .as_deref()
        .map(BrokerUrl::parse)
        .transpose()
        .context("in `--against`")?;
    let exe = std::env::current_exe().context(
        "cannot find the running `b00t` executable, which bench starts as the bus under test",
    )?;
    if args.groups {
        anyhow::ensure!(
            ["docker", "none"].contains(&args.runtime.as_str()),
            "`--runtime {}` must be `docker` or `none`",
            args.runtime
        );
        anyhow::ensure!(
            args.cold_runs > 0 && args.warm_tasks > 0,
            "`--cold-runs` and `--warm-tasks` must be at least 1"
        );
        Progress::new().say(&format!(
            "group agents ({} runtime): {} cold starts, {} warm chat tasks",
            args.runtime, args.cold_runs, args.warm_tasks
        ));
        let figures = groups::measure(&exe, &args.runtime, args.cold_runs, args.warm_tasks).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.deploy {
        anyhow::ensure!(
            args.runs > 0,
            "`--runs 0` measures nothing; pass at least 1"
        );
        let figures = deploy::measure(&exe, args.runs, &Progress::new()).await?;
        if args.json {
            outln!("{}", figures.json())?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.mcp {
        anyhow::ensure!(
            args.mcp_tasks > 0,
            "`--mcp-tasks 0` measures nothing; pass at least 1"
        );
        Progress::new().say(&format!(
            "MCP server: {} send_task calls through `b00t mcp serve` over stdio, each against the same task sent directly",
            args.mcp_tasks
        ));
        let figures = mcp::measure(&exe, args.mcp_tasks).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.bridge {
        anyhow::ensure!(
            args.bridge_messages > 0,
            "`--bridge-messages 0` measures nothing; pass at least 1"
        );
        Progress::new().say(&format!(
            "chat bridge: {} messages through a Telegram stand-in, each against the same task sent directly",
            args.bridge_messages
        ));
        let figures = bridge::measure(&exe, args.bridge_messages).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.cluster {
        Progress::new().say(&format!(
            "NATS: {} tasks on one node, then on three with a node killed, then {} takeovers by a standby runtime",
            args.tasks,
            cluster::TAKEOVERS
        ));
        let tasks = args.tasks.min(MAX_LATENCY_TASKS);
        let figures = cluster::measure(&exe, tasks, PIPELINE_WINDOW).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.ci {
        Progress::new().say(&format!(
            "container CI agents: {} containers watched on the local engine",
            args.ci_watched
        ));
        let figures = ci::measure(&exe, args.ci_watched.max(10)).await?;
        if args.json {
            outln!("{}", serde_json::to_string(&figures)?)?;
        } else {
            out!("{}", figures.table())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::new();

    progress.say("starting the embedded broker (`b00t up --broker-only`)");
    let broker = BusChild::start(&exe, Mode::BrokerOnly).await?;
    let embedded_qos0 =
        throughput(&progress, "embedded broker", broker.url(), 0, args.messages).await?;
    let embedded_qos1 =
        throughput(&progress, "embedded broker", broker.url(), 1, args.messages).await?;
    let latency_tasks = args.tasks.min(MAX_LATENCY_TASKS);
    // The bare responder through the embedded broker alone: what the broker costs a round
    // trip, apart from the journal and the agent.
    progress.say("the broker floor: a bare responder through the embedded broker");
    let broker_floor = measure_responder(&progress, broker.url(), latency_tasks, args.tasks)
        .await
        .context("measuring the bare responder through the embedded broker")?;
    let broker_only_peak_rss_mib = broker.peak_rss_mib();
    broker.stop().await;

    let mut against_figures = None;
    if let Some(url) = &against {
        let qos0 = throughput(&progress, "`--against` broker", url, 0, args.messages).await?;
        let qos1 = throughput(&progress, "`--against` broker", url, 1, args.messages).await?;
        against_figures = Some((qos0, qos1));
    }

    progress.say("starting the runtime (`b00t up`)");
    let runtime = BusChild::start(&exe, Mode::Runtime).await?;
    let (latency, pipelined, runtime_qos1) =
        measure_runtime(&progress, &runtime, latency_tasks, &args).await?;
    let peak_rss_mib = runtime.peak_rss_mib();
    runtime.stop().await;

    // The same again without the topic rules, in the same run: what they cost.
    progress.say("starting the runtime without topic rules (`[broker] acl = false`)");
    let open = BusChild::start(&exe, Mode::RuntimeWithoutRules).await?;
    let (open_latency, open_pipelined, open_qos1) =
        measure_runtime(&progress, &open, latency_tasks, &args).await?;
    open.stop().await;

    let flood_figures = if args.flood > 0 {
        progress.say(&format!(
            "a flood of {} tasks on a fresh runtime, as fast as one client publishes",
            args.flood
        ));
        let fresh = BusChild::start(&exe, Mode::Runtime).await?;
        let figures = flood::run(fresh.url(), args.flood)
            .await
            .context("flooding the runtime")?;
        let peak = fresh.peak_rss_mib();
        fresh.stop().await;
        Some((figures, peak))
    } else {
        None
    };

    let floor_figures = match floor::find_mosquitto() {
        None => {
            progress.say("no `mosquitto` installed: the floor is not measured");
            None
        }
        Some(mosquitto) => Some(
            measure_floor(&progress, &mosquitto, latency_tasks, args.tasks)
                .await
                .with_context(|| {
                    format!(
                        "measuring the floor (`{}` with a bare responder)",
                        mosquitto.display()
                    )
                })?,
        ),
    };

    let report = Report {
        embedded_qos0_msgs_per_s: embedded_qos0.msgs_per_s,
        embedded_qos1_msgs_per_s: embedded_qos1.msgs_per_s,
        against_qos0_msgs_per_s: against_figures.map(|(q0, _)| q0.msgs_per_s),
        against_qos1_msgs_per_s: against_figures.map(|(_, q1)| q1.msgs_per_s),
        task_p50_us: latency.p50_us,
        task_p99_us: latency.p99_us,
        tasks_per_s: pipelined.tasks_per_s,
        peak_rss_mib,
        floor_task_p50_us: floor_figures.map(|(l, _)| l.p50_us),
        floor_task_p99_us: floor_figures.map(|(l, _)| l.p99_us),
        floor_tasks_per_s: floor_figures.map(|(_, p)| p.tasks_per_s),
        messages: args.messages,
        payload_bytes: throughput::PAYLOAD_BYTES,
        embedded_qos0_received: embedded_qos0.received,
        embedded_qos1_received: embedded_qos1.received,
        against_url: against.as_ref().map(ToString::to_string),
        against_qos0_received: against_figures.map(|(q0, _)| q0.received),
        against_qos1_received: against_figures.map(|(_, q1)| q1.received),
        latency_tasks: latency.tasks,
        pipelined_tasks: pipelined.tasks,
        pipeline_window: pipelined.window,
        broker_only_peak_rss_mib,
        runtime_qos1_msgs_per_s: runtime_qos1.msgs_per_s,
        acl_off_task_p50_us: open_latency.p50_us,
        acl_off_task_p99_us: open_latency.p99_us,
        acl_off_tasks_per_s: open_pipelined.tasks_per_s,
        acl_off_qos1_msgs_per_s: open_qos1.msgs_per_s,
        flood_tasks: flood_figures.map(|(f, _)| f.tasks),
        flood_results: flood_figures.map(|(f, _)| f.results),
        flood_tasks_per_s: flood_figures.map(|(f, _)| f.tasks as f64 / f.seconds.max(1e-9)),
        flood_peak_rss_mib: flood_figures.and_then(|(_, peak)| peak),
        broker_floor_task_p50_us: broker_floor.0.p50_us,
        broker_floor_task_p99_us: broker_floor.0.p99_us,
        broker_floor_tasks_per_s: broker_floor.1.tasks_per_s,
    }
    .rounded();
    if args.json {
        outln!("{}", report.json())?;
    } else {
        out!("{}", report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Round trips (an anonymous client, so the topic rules hold it) and QoS 1 throughput
/// through one running `b00t up`.
async fn measure_runtime(
    progress: &Progress,
    runtime: &BusChild,
    latency_tasks: u64,
    args: &BenchArgs,
) -> anyhow::Result<(Latency, Pipelined, throughput::Throughput)> {
    let mut client = EchoClient::connect(runtime.url()).await.with_context(|| {
        format!(
            "connecting to the runtime under test at `{}`",
            runtime.url()
        )
    })?;
    let (latency, pipelined) =
        round_trips(progress, &mut client, latency_tasks, args.tasks).await?;
    client.close().await;
    let qos1 = throughput(progress, "runtime", runtime.url(), 1, args.messages).await?;
    Ok((latency, pipelined, qos1))
}

/// The echo round trips through the broker `client` is connected to: `latency_tasks` one
/// at a time, then `tasks` with [`PIPELINE_WINDOW`] in flight.
async fn round_trips(
    progress: &Progress,
    client: &mut EchoClient,
    latency_tasks: u64,
    tasks: u64,
) -> anyhow::Result<(Latency, Pipelined)> {
    progress.say(&format!("{latency_tasks} tasks one at a time"));
    let latency = client
        .latency(latency_tasks)
        .await
        .context("measuring the task round trip one at a time")?;
    progress.say(&format!("{tasks} tasks, {PIPELINE_WINDOW} in flight"));
    let pipelined = client
        .pipelined(tasks, PIPELINE_WINDOW)
        .await
        .context("measuring pipelined tasks")?;
    Ok((latency, pipelined))
}

/// The same round trips through `mosquitto` (the executable) and the bare responder.
async fn measure_floor(
    progress: &Progress,
    mosquitto: &std::path::Path,
    latency_tasks: u64,
    tasks: u64,
) -> anyhow::Result<(Latency, Pipelined)> {
    progress.say(&format!(
        "the floor: starting `{}` and a bare responder",
        mosquitto.display()
    ));
    let broker = floor::Mosquitto::start(mosquitto).await?;
    let figures = measure_responder(progress, broker.url(), latency_tasks, tasks).await;
    broker.stop().await;
    figures
}

/// Round trips through the broker at `url` and the bare responder, which journals nothing.
async fn measure_responder(
    progress: &Progress,
    url: &BrokerUrl,
    latency_tasks: u64,
    tasks: u64,
) -> anyhow::Result<(Latency, Pipelined)> {
    let responder = floor::Responder::start(url).await?;
    let mut client = EchoClient::connect(url)
        .await
        .with_context(|| format!("connecting to the broker at `{url}`"))?;
    let figures = round_trips(progress, &mut client, latency_tasks, tasks).await;
    client.close().await;
    responder.stop().await;
    figures
}

/// One throughput run, with progress and an error that names the broker and the QoS.
async fn throughput(
    progress: &Progress,
    what: &str,
    url: &BrokerUrl,
    level: u8,
    messages: u64,
) -> anyhow::Result<Throughput> {
    let qos = if level == 0 {
        Qos::AtMostOnce
    } else {
        Qos::AtLeastOnce
    };
    progress.say(&format!(
        "{what} at `{url}`, QoS {level}, {messages} messages"
    ));
    throughput::measure(url, qos, messages)
        .await
        .with_context(|| format!("measuring the {what} at `{url}` at QoS {level}"))
}

/// One line per step on standard error, only when a person watches it.
struct Progress {
    on: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
        }
    }

    fn say(&self, step: &str) {
        if self.on {
            errln!("bench: {step}");
        }
    }
}
