//! `b00t bench --mcp`: `send_task` through `b00t mcp serve` over stdio. A runtime child
//! in a temporary home (the echo agent on), a `b00t mcp serve` child on it whose stdin
//! and stdout this bench speaks MCP's JSON-RPC on (one line each way), and tasks measured
//! one at a time, two ways in turn:
//!
//! - **through MCP**: a `tools/call` of `send_task` to `b00t.echo.echo`, to its response
//!   (JSON-RPC framing, the server's checks, the requester, the bus, the echo agent);
//! - **direct**: the same echo task through a b00t-bus requester on the same bus.
//!
//! The target is p50 ≤ 2 ms through MCP.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use b00t_bus::{Bus, BusOptions, Outcome, Request, Requester};
use b00t_proto::Address;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::sync::CancellationToken;

use super::child::BusChild;
use super::groups::percentile;

/// Longest wait for one answer.
const STEP_LIMIT: Duration = Duration::from_secs(30);

/// The figures.
#[derive(Debug, Serialize)]
pub(super) struct McpFigures {
    pub tasks: usize,
    pub mcp_ms_p50: f64,
    pub mcp_ms_p99: f64,
    pub direct_ms_p50: f64,
    pub direct_ms_p99: f64,
}

pub(super) async fn measure(exe: &Path, tasks: usize) -> anyhow::Result<McpFigures> {
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-mcp-")
        .tempdir()
        .context("cannot make a temporary home")?;
    std::fs::write(
        home.path().join("b00t.toml"),
        "[installer]\nenabled = false\n[deploy]\nenabled = false\n[ci]\nenabled = false\n",
    )
    .context("cannot write the bench home's b00t.toml")?;
    let home_path = home.path().to_owned();
    let child = BusChild::start_in(exe, home, &[], "runtime with the echo agent").await?;

    let mut server = tokio::process::Command::new(exe)
        .args(["mcp", "serve", "--home"])
        .arg(&home_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `b00t mcp serve`")?;
    let mut client = JsonRpc {
        stdin: server.stdin.take().context("no stdin")?,
        lines: BufReader::new(server.stdout.take().context("no stdout")?).lines(),
    };
    client
        .call(0, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "b00t-bench", "version": "1"}}))
        .await
        .context("the MCP handshake")?;
    client
        .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await?;

    let stop = CancellationToken::new();
    let (bus, events) = Bus::connect(
        BusOptions::new(
            child.url().clone(),
            format!("b00t-bench-{:08x}", fastrand::u32(..)),
        ),
        &stop,
    );
    bus.wait_connected(Duration::from_secs(5)).await?;
    let (requester, _rest) = Requester::open(
        bus.clone(),
        events,
        "b00t.bench-client.reply".to_owned(),
        "bench-client",
        Duration::from_secs(5),
        &stop,
    )
    .await?;
    let echo = Address::parse("b00t.echo.echo").expect("a valid address");

    // The first of each warms both paths; not measured.
    through_mcp(&mut client, 1).await?;
    direct(&requester, &echo).await?;
    let mut mcp = Vec::with_capacity(tasks);
    let mut on_bus = Vec::with_capacity(tasks);
    for n in 0..tasks {
        let started = Instant::now();
        through_mcp(&mut client, n as u64 + 2).await?;
        mcp.push(started.elapsed().as_secs_f64() * 1e3);
        let started = Instant::now();
        direct(&requester, &echo).await?;
        on_bus.push(started.elapsed().as_secs_f64() * 1e3);
    }
    drop(client);
    let _ = tokio::time::timeout(Duration::from_secs(2), server.wait()).await;
    stop.cancel();
    bus.close(Duration::from_millis(200)).await;
    child.stop().await;
    Ok(McpFigures {
        tasks,
        mcp_ms_p50: percentile(&mcp, 0.5),
        mcp_ms_p99: percentile(&mcp, 0.99),
        direct_ms_p50: percentile(&on_bus, 0.5),
        direct_ms_p99: percentile(&on_bus, 0.99),
    })
}

/// One `send_task` call, checked to be the echo's result.
async fn through_mcp(client: &mut JsonRpc, id: u64) -> anyhow::Result<()> {
    let response = client
        .call(
            id,
            "tools/call",
            json!({"name": "send_task", "arguments": {"address": "b00t.echo.echo", "body": {"n": id}, "timeout_ms": 10000}}),
        )
        .await?;
    anyhow::ensure!(
        response["result"]["isError"] != true,
        "send_task failed: {response}"
    );
    Ok(())
}

async fn direct(requester: &Requester, echo: &Address) -> anyhow::Result<()> {
    let request = Request::new(echo.clone(), "bench", json!({"n": 0}), STEP_LIMIT);
    match requester.request(&request, |_, _| {}).await? {
        Outcome::Result(_) => Ok(()),
        other => anyhow::bail!("the echo agent did not answer: {other:?}"),
    }
}

/// JSON-RPC over the server's stdin and stdout, a line each.
struct JsonRpc {
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl JsonRpc {
    async fn send(&mut self, message: &Value) -> anyhow::Result<()> {
        let line = message.to_string() + "\n";
        self.stdin
            .write_all(line.as_bytes())
            .await
            .context("cannot write to `b00t mcp serve`")?;
        self.stdin.flush().await?;
        Ok(())
    }

    /// Sends request `id` and returns its response (notifications in between skipped).
    async fn call(&mut self, id: u64, method: &str, params: Value) -> anyhow::Result<Value> {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        let deadline = tokio::time::Instant::now() + STEP_LIMIT;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .with_context(|| {
                    format!("no answer to `{method}` within {} s", STEP_LIMIT.as_secs())
                })?
                .context("cannot read `b00t mcp serve`")?
                .context("`b00t mcp serve` ended")?;
            let message: Value = serde_json::from_str(&line).with_context(|| {
                format!("`b00t mcp serve` wrote a line that is not JSON: {line}")
            })?;
            if message["id"] == id {
                anyhow::ensure!(
                    message.get("error").is_none(),
                    "`{method}` failed: {message}"
                );
                return Ok(message);
            }
        }
    }
}

impl McpFigures {
    pub(super) fn table(&self) -> String {
        format!(
            "MCP server (b00t mcp serve over stdio, send_task to the echo agent; {} tasks)\n  through MCP            p50 {:>8.2} ms   p99 {:>8.2} ms   (target p50 <= 2 ms)\n  direct on the bus      p50 {:>8.2} ms   p99 {:>8.2} ms\n",
            self.tasks, self.mcp_ms_p50, self.mcp_ms_p99, self.direct_ms_p50, self.direct_ms_p99
        )
    }
}
