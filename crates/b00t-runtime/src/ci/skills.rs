//! The skills of a container CI agent, deterministic first: `status`, `services`,
//! `health`, `logs`, `stats`, `diagnose` and `optimize`, each answered from what the
//! engine says now (b00t-container's `observe`) and b00t-ci's analyzers; `ask`, the
//! local model's answer from those facts (`ask.rs`); and the actions `restart`, `stop`
//! and `start`, the only skills that change the container, signed or allowed by the
//! policy (`actions.rs`).

use std::sync::Arc;
use std::time::Duration;

use b00t_agents::{Failure, Handler, HandlerFuture, TaskContext};
use b00t_ci::{Evidence, ServiceTable};
use b00t_container::{ContainerError, Docker, Facts, LogQuery};
use b00t_proto::ErrorCode;
use serde_json::{json, Value};

use super::actions::{Action, ActionGate};
use super::ask::{self, AskSettings};

/// The skills, in the order the card lists them.
pub const SKILLS: [&str; 11] = [
    "status", "services", "health", "logs", "stats", "diagnose", "optimize", "ask", "restart",
    "stop", "start",
];

/// Log lines `logs` returns when the body says nothing.
const DEFAULT_LOG_LINES: usize = 100;
/// Log lines `diagnose` reads for error lines.
const DIAGNOSE_LOG_LINES: usize = 200;
/// How long a TCP probe of a published port may take.
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// One container's agent.
pub struct CiAgent {
    pub docker: Docker,
    /// The container's id: the agent answers for it even after a rename.
    pub id: String,
    pub services: &'static ServiceTable,
    /// Replies are cut below this (the bus's payload limit).
    pub max_reply: usize,
    /// How `ask` reaches the model.
    pub ask: AskSettings,
    /// What judges and audits `restart`, `stop` and `start` (one for every agent).
    pub actions: Arc<ActionGate>,
    /// The last quick stats sample and when it was taken: the engine answers a second
    /// one-shot request only at its next one-second tick, so `status` reuses a recent one.
    pub recent_stats: Arc<Recent>,
}

/// How long `status` reuses a stats sample when the engine is slow to give a new one.
const STATS_FRESH: Duration = Duration::from_secs(5);
/// How long `status` waits for the engine's sample before answering with an older one.
const STATS_WAIT: Duration = Duration::from_millis(150);

impl Handler for CiAgent {
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let (docker, id, services, max_reply) = (
            self.docker.clone(),
            self.id.clone(),
            self.services,
            self.max_reply,
        );
        let recent = self.recent_stats.clone();
        let (ask_settings, actions) = (self.ask.clone(), self.actions.clone());
        Box::pin(async move {
            let body = &ctx.task.body;
            match ctx.skill.as_str() {
                "status" => status_with(&docker, &id, &recent).await,
                "services" => services_of(&docker, &id, services).await,
                "health" => health(&docker, &id).await,
                "logs" => logs(&docker, &id, body, max_reply).await,
                "stats" => stats(&docker, &id, body).await,
                "diagnose" => diagnose(&docker, &id).await,
                "optimize" => optimize(&docker, &id).await,
                "ask" => ask::ask(&ctx, &docker, &id, services, &ask_settings, max_reply).await,
                other => match Action::of_skill(other) {
                    Some(action) => actions.act(&ctx, &docker, &id, action).await,
                    None => Err(Failure::new(
                        ErrorCode::NotFound,
                        format!(
                            "a container CI agent has no skill `{other}`; its skills: {}",
                            SKILLS.join(", ")
                        ),
                    )),
                },
            }
        })
    }
}

/// An engine error as a task's error: a container that is gone is `not_found`.
fn failure(e: ContainerError) -> Failure {
    match e {
        ContainerError::NoSuchContainer { .. } => Failure::new(ErrorCode::NotFound, e.to_string()),
        other => Failure::new(ErrorCode::Failed, other.to_string()),
    }
}

pub(super) type Recent = std::sync::Mutex<Option<(std::time::Instant, b00t_container::Stats)>>;

/// A quick stats sample: a recent one, or the engine's one-shot within [`STATS_WAIT`].
async fn quick_stats(docker: &Docker, id: &str, recent: &Recent) -> Option<b00t_container::Stats> {
    let cached = |max_age: Duration| {
        let guard = recent.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, s)| s.clone())
    };
    if let Some(stats) = cached(Duration::from_millis(900)) {
        return Some(stats);
    }
    match tokio::time::timeout(STATS_WAIT, b00t_container::stats_quick(docker, id)).await {
        Ok(Ok(stats)) => {
            *recent.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((std::time::Instant::now(), stats.clone()));
            Some(stats)
        }
        _ => cached(STATS_FRESH),
    }
}

/// `status` without a cache of recent samples (for `ask`).
pub(crate) async fn status(docker: &Docker, id: &str) -> Result<Value, Failure> {
    status_with(docker, id, &Recent::default()).await
}

async fn status_with(docker: &Docker, id: &str, recent: &Recent) -> Result<Value, Failure> {
    let facts = b00t_container::facts(docker, id).await.map_err(failure)?;
    // The engine's one-shot sample answers at once; CPU % needs two samples a second
    // apart, which the `stats` skill takes.
    let stats = if facts.running {
        quick_stats(docker, id, recent).await.map(|s| {
            json!({
                "memory_used": s.memory_used,
                "memory_limit": s.memory_limit,
                "net_rx_bytes": s.net_rx_bytes,
                "net_tx_bytes": s.net_tx_bytes,
                "block_read_bytes": s.block_read_bytes,
                "block_write_bytes": s.block_write_bytes,
                "pids": s.pids,
                "cpu_percent": null,
            })
        })
    } else {
        None
    };
    Ok(json!({
        "container": {"id": facts.id, "name": facts.name, "image": facts.image},
        "state": facts.state,
        "running": facts.running,
        "image": facts.image,
        "started_at": facts.started_at,
        "finished_at": facts.finished_at,
        "uptime_s": uptime_s(&facts),
        "restart_count": facts.restart_count,
        "exit_code": facts.exit_code,
        "oom_killed": facts.oom_killed,
        "health": facts.health.as_ref().map(|h| h.status.clone()),
        "ports": facts.ports,
        "networks": facts.networks,
        "mounts": facts.mounts,
        "stats": stats,
    }))
}

/// Seconds since the container started, while it runs.
fn uptime_s(facts: &Facts) -> Option<i64> {
    let started = facts.started_at.as_deref()?;
    if !facts.running {
        return None;
    }
    let started = chrono::DateTime::parse_from_rfc3339(started).ok()?;
    Some((chrono::Utc::now() - started.with_timezone(&chrono::Utc)).num_seconds())
}

pub(super) async fn services_of(
    docker: &Docker,
    id: &str,
    table: &ServiceTable,
) -> Result<Value, Failure> {
    let facts = b00t_container::facts(docker, id).await.map_err(failure)?;
    if !facts.running {
        return Ok(json!({"running": false, "services": [], "unknown": [], "listening": []}));
    }
    let processes = b00t_container::top(docker, id).await.map_err(failure)?;
    let classified = table.classify(&processes);
    let listening = b00t_container::listening(facts.pid).await.ok();
    Ok(json!({
        "running": true,
        "services": classified.services,
        "unknown": classified.unknown,
        "listening": listening,
    }))
}

/// Everything the analyzers look at, read now (shared with the incidents).
async fn evidence(docker: &Docker, id: &str, log_lines: usize) -> Result<Evidence, Failure> {
    super::evidence::evidence(docker, id, log_lines)
        .await
        .map_err(failure)
}

pub(super) async fn health(docker: &Docker, id: &str) -> Result<Value, Failure> {
    let evidence = evidence(docker, id, DIAGNOSE_LOG_LINES).await?;
    let (verdict, reasons) = b00t_ci::verdict(&evidence);
    let mut probes = Vec::new();
    for port in evidence.facts.ports.iter().filter(|p| p.protocol == "tcp") {
        let Some(host_port) = port.host_port else {
            continue;
        };
        let host = match port.host_ip.as_deref() {
            None | Some("") | Some("0.0.0.0") => "127.0.0.1".to_owned(),
            Some("::") => "::1".to_owned(),
            Some(ip) => ip.to_owned(),
        };
        let target = if host.contains(':') {
            format!("[{host}]:{host_port}")
        } else {
            format!("{host}:{host_port}")
        };
        let outcome =
            tokio::time::timeout(PROBE_LIMIT, tokio::net::TcpStream::connect(&target)).await;
        let (ok, error) = match outcome {
            Ok(Ok(_)) => (true, None),
            Ok(Err(e)) => (false, Some(e.to_string())),
            Err(_) => (
                false,
                Some(format!("no answer within {} s", PROBE_LIMIT.as_secs())),
            ),
        };
        probes.push(json!({"port": port.private, "host": target, "ok": ok, "error": error}));
    }
    Ok(json!({
        "verdict": verdict,
        "reasons": reasons,
        "health": evidence.facts.health,
        "probes": probes,
    }))
}

async fn logs(docker: &Docker, id: &str, body: &Value, max_reply: usize) -> Result<Value, Failure> {
    let bad = |why: String| Failure::new(ErrorCode::BadRequest, why);
    let lines = match body.get("lines") {
        None | Some(Value::Null) => DEFAULT_LOG_LINES,
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .map(|n| (n as usize).min(b00t_container::LOGS_MAX_TAIL))
            .ok_or_else(|| bad(format!("`lines` must be a whole number from 1, got {v}")))?,
    };
    let since = match body.get("since") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| bad("`since` must be unix seconds".into()))?,
        ),
        Some(Value::String(s)) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| bad(format!("`since` is not RFC 3339 ({e}): give e.g. 2026-12-01T09:00:00Z or unix seconds")))?
                .timestamp(),
        ),
        Some(v) => return Err(bad(format!("`since` must be unix seconds or RFC 3339, got {v}"))),
    };
    let (stdout, stderr) = match body.get("stream").and_then(Value::as_str) {
        None => (true, true),
        Some("both") => (true, true),
        Some("stdout") => (true, false),
        Some("stderr") => (false, true),
        Some(other) => {
            return Err(bad(format!(
                "`stream` is `{other}`: use stdout, stderr or both"
            )))
        }
    };
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.to_lowercase()),
        Some(v) => return Err(bad(format!("`filter` must be a string, got {v}"))),
    };
    let query = LogQuery {
        tail: lines,
        since,
        stdout,
        stderr,
    };
    let got = b00t_container::logs(docker, id, query)
        .await
        .map_err(failure)?;
    let mut kept: Vec<_> = got
        .lines
        .into_iter()
        .filter(|l| {
            filter
                .as_deref()
                .is_none_or(|f| l.text.to_lowercase().contains(f))
        })
        .collect();
    // Cut from the oldest so the reply fits the bus's payload limit.
    let budget = max_reply.saturating_sub(4096);
    let mut size: usize = kept.iter().map(|l| l.text.len() + 64).sum();
    let mut cut = 0;
    while size > budget && !kept.is_empty() {
        size -= kept[0].text.len() + 64;
        kept.remove(0);
        cut += 1;
    }
    let note = match (got.truncated, cut) {
        (false, 0) => None,
        (_, 0) => Some("the engine's logs were cut to the newest 1 MiB".to_owned()),
        (_, n) => Some(format!(
            "{n} older lines were left out to fit the bus's payload limit; ask with a smaller `lines` or a `since`"
        )),
    };
    Ok(json!({"lines": kept, "truncated": got.truncated || cut > 0, "note": note}))
}

/// The longest window `stats` samples over.
const MAX_STATS_WINDOW_S: u64 = 30;

/// One sample, or with `{"window_s": N}` one a second for N seconds and their min, avg
/// and max.
async fn stats(docker: &Docker, id: &str, body: &Value) -> Result<Value, Failure> {
    let window = match body.get("window_s") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= MAX_STATS_WINDOW_S)
            .ok_or_else(|| {
                Failure::new(
                    ErrorCode::BadRequest,
                    format!("`window_s` must be a whole number of seconds from 0 to {MAX_STATS_WINDOW_S}, got {v}"),
                )
            })?,
    };
    let first = b00t_container::stats_once(docker, id)
        .await
        .map_err(failure)?;
    if window == 0 {
        return Ok(json!({"sample": first}));
    }
    // Each sample takes the engine about a second (two readings a second apart).
    let started = std::time::Instant::now();
    let mut samples = vec![first];
    while started.elapsed() < Duration::from_secs(window) {
        samples.push(
            b00t_container::stats_once(docker, id)
                .await
                .map_err(failure)?,
        );
    }
    let summary = |f: &dyn Fn(&b00t_container::Stats) -> f64| {
        let values: Vec<f64> = samples.iter().map(f).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        json!({"min": min, "avg": avg, "max": max})
    };
    Ok(json!({
        "sample": samples.last(),
        "window_s": window,
        "samples": samples.len(),
        "cpu_percent": summary(&|s| s.cpu_percent),
        "memory_used": summary(&|s| s.memory_used as f64),
        "pids": summary(&|s| s.pids as f64),
    }))
}

pub(super) async fn diagnose(docker: &Docker, id: &str) -> Result<Value, Failure> {
    let evidence = evidence(docker, id, DIAGNOSE_LOG_LINES).await?;
    let findings = b00t_ci::diagnose(&evidence);
    let (verdict, _) = b00t_ci::verdict(&evidence);
    Ok(json!({"verdict": verdict, "findings": findings}))
}

pub(super) async fn optimize(docker: &Docker, id: &str) -> Result<Value, Failure> {
    let facts = b00t_container::facts(docker, id).await.map_err(failure)?;
    Ok(json!({"advice": b00t_ci::advise(&facts), "changed": false}))
}
