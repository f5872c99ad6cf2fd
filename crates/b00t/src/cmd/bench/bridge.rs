//! `b00t bench --bridge`: a chat bridge's overhead per message. A runtime child in a
//! temporary home with the group `bench` (a local process, the fake Ollama answering at
//! once) and a Telegram bridge whose Bot API is b00t-testkit's `fake-telegram` (a child
//! process). Messages are measured one at a time, two ways in turn:
//!
//! - **through the bridge**: a message pushed into the stand-in (the bridge's long poll
//!   answered at once) to the bridge's `sendMessage` of the answer: Telegram's side, the
//!   bridge's journal, the task, the group agent, the reply and the send;
//! - **direct**: the same chat task published on the bus to the same agent, to its
//!   result (the peer: everything but the bridge).
//!
//! The overhead is the difference of the two medians; the target is p50 ≤ 5 ms.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use b00t_bus::{Bus, BusOptions, Qos};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::child::BusChild;
use super::fakes::FakeProgram;
use super::groups::{fake_ollama, percentile, publish, wait_result, GROUP, MODEL};

/// The bot's token in the stand-in.
const TOKEN: &str = "4242:bench-token";
/// The private chat that talks to the group.
const CHAT: i64 = 4242_0001;
/// Longest wait for one answer.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// The figures.
#[derive(Debug, Serialize)]
pub(super) struct BridgeFigures {
    pub messages: usize,
    pub bridge_ms_p50: f64,
    pub bridge_ms_p99: f64,
    pub direct_ms_p50: f64,
    pub direct_ms_p99: f64,
    /// `bridge_ms_p50 - direct_ms_p50`.
    pub overhead_ms_p50: f64,
    /// `bridge_ms_p50 / direct_ms_p50`.
    pub ratio_p50: f64,
}

pub(super) async fn measure(exe: &Path, messages: usize) -> anyhow::Result<BridgeFigures> {
    let ollama = fake_ollama(exe).await?;
    let mut telegram = FakeProgram::start(
        exe,
        "fake-telegram",
        b00t_config::env::B00T_FAKE_TELEGRAM,
        &["--listen", "127.0.0.1:0", "--token", TOKEN],
    )
    .await?;
    let home = tempfile::Builder::new()
        .prefix("b00t-bench-bridge-")
        .tempdir()
        .context("cannot make a temporary home")?;
    std::fs::write(
        home.path().join("b00t.toml"),
        format!(
            "[agents]\necho = false\n[installer]\nenabled = false\n[containers]\nruntime = \"none\"\nidle_timeout_ms = 600000\n[assistant]\nmodel = \"{MODEL}\"\nollama_url = \"{}\"\n[bridges.bench]\nkind = \"telegram\"\n[bridges.bench.chats]\n\"{CHAT}\" = \"{GROUP}\"\n",
            ollama.url
        ),
    )
    .context("cannot write the bench home's b00t.toml")?;
    b00t_groups::Groups::new(home.path().join("groups"))
        .add(GROUP)
        .context("cannot make the bench group")?;
    let child = BusChild::start_in(
        exe,
        home,
        &[
            (b00t_config::env::CONTAINER_RUNTIME, "none"),
            (b00t_config::env::TELEGRAM_BOT_TOKEN, TOKEN),
            (b00t_config::env::TELEGRAM_API_URL, &telegram.url),
        ],
        "runtime with a Telegram bridge",
    )
    .await?;
    let stop = CancellationToken::new();
    let (bus, mut events) = Bus::connect(
        BusOptions::new(
            child.url().clone(),
            format!("b00t-bench-{:08x}", fastrand::u32(..)),
        ),
        &stop,
    );
    bus.wait_connected(Duration::from_secs(5)).await?;
    let reply = "b00t.bench-client.reply";
    bus.subscribe_confirmed(
        &format!("{reply}/+"),
        Qos::AtLeastOnce,
        Duration::from_secs(5),
    )
    .await?;

    // The first of each starts the group agent and warms both paths; not measured.
    publish(&bus, reply, "warm-direct").await?;
    wait_result(&mut events, "warm-direct")
        .await
        .with_context(|| format!("the group's first answer{}", child.stderr_excerpt()))?;
    through_bridge(&mut telegram, "warm")
        .await
        .with_context(|| format!("the bridge's first answer{}", child.stderr_excerpt()))?;

    let mut bridge = Vec::with_capacity(messages);
    let mut direct = Vec::with_capacity(messages);
    for n in 0..messages {
        let started = Instant::now();
        through_bridge(&mut telegram, &format!("ping {n}")).await?;
        bridge.push(started.elapsed().as_secs_f64() * 1e3);
        let id = format!("direct-{n}");
        let started = Instant::now();
        publish(&bus, reply, &id).await?;
        wait_result(&mut events, &id).await?;
        direct.push(started.elapsed().as_secs_f64() * 1e3);
    }
    bus.close(Duration::from_millis(200)).await;
    child.stop().await;
    let bridge_p50 = percentile(&bridge, 0.5);
    let direct_p50 = percentile(&direct, 0.5);
    Ok(BridgeFigures {
        messages,
        bridge_ms_p50: bridge_p50,
        bridge_ms_p99: percentile(&bridge, 0.99),
        direct_ms_p50: direct_p50,
        direct_ms_p99: percentile(&direct, 0.99),
        overhead_ms_p50: ((bridge_p50 - direct_p50) * 100.0).round() / 100.0,
        ratio_p50: if direct_p50 > 0.0 {
            ((bridge_p50 / direct_p50) * 100.0).round() / 100.0
        } else {
            0.0
        },
    })
}

/// Pushes `text` into the stand-in's chat and waits for the bridge's answer there.
async fn through_bridge(telegram: &mut FakeProgram, text: &str) -> anyhow::Result<()> {
    let stdin = telegram
        .stdin
        .as_mut()
        .context("the stand-in's stdin is closed")?;
    let line = json!({"chat": CHAT, "text": text}).to_string() + "\n";
    stdin
        .write_all(line.as_bytes())
        .await
        .context("cannot write to `fake-telegram`")?;
    stdin.flush().await?;
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    loop {
        let line = tokio::time::timeout_at(deadline, telegram.lines.next_line())
            .await
            .with_context(|| format!("no answer in the chat within {} s", STEP_LIMIT.as_secs()))?
            .context("cannot read `fake-telegram`")?
            .context("`fake-telegram` ended")?;
        let Ok(sent) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if sent["chat_id"] == CHAT {
            return Ok(());
        }
    }
}

impl BridgeFigures {
    pub(super) fn table(&self) -> String {
        format!(
            "chat bridge (Telegram stand-in, fake Ollama answering at once; {} messages)\n  through the bridge     p50 {:>8.2} ms   p99 {:>8.2} ms\n  direct on the bus      p50 {:>8.2} ms   p99 {:>8.2} ms\n  bridge overhead        p50 {:>8.2} ms   ({:.2}x the direct round trip; target <= 5 ms)\n",
            self.messages,
            self.bridge_ms_p50,
            self.bridge_ms_p99,
            self.direct_ms_p50,
            self.direct_ms_p99,
            self.overhead_ms_p50,
            self.ratio_p50,
        )
    }
}
