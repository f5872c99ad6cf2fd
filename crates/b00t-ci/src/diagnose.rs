//! The `diagnose` skill's analyzers, in code like k8sgpt's: each looks at the evidence
//! about one container (inspect facts, a stats sample, its listening sockets, recent logs,
//! recent restarts) and reports at most one finding with a severity and its evidence.
//! [`verdict`] turns the findings into the `health` skill's answer.

use b00t_container::{Facts, Health, Listening, LogLine, Port, Stats};
use serde::Serialize;
use serde_json::{json, Value};

use crate::exit_codes;
use crate::units::{excerpt, human_bytes};

/// Case-insensitive substrings that make a log line an error line.
pub const LOG_ERROR_PATTERNS: &[&str] = &[
    "error",
    "fatal",
    "panic",
    "exception",
    "traceback",
    "segmentation fault",
];

/// The finding codes, as they appear in results and events.
pub mod code {
    pub const OOM_KILLED: &str = "oom_killed";
    pub const CRASH_LOOP: &str = "crash_loop";
    pub const EXIT_CODE: &str = "exit_code";
    pub const UNHEALTHY: &str = "unhealthy";
    pub const PORT_NOT_LISTENING: &str = "port_not_listening";
    pub const MEMORY_NEAR_LIMIT: &str = "memory_near_limit";
    pub const LOG_ERRORS: &str = "log_errors";
}

/// Everything known about one container when it is diagnosed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    pub facts: Facts,
    /// One stats sample, when the container runs and the engine gave one.
    pub stats: Option<Stats>,
    /// The TCP sockets listening in its network namespace; `None` when they could not be
    /// read (not running, or the namespace is out of reach), so that nothing is concluded
    /// from their absence.
    pub listening: Option<Vec<Listening>>,
    /// The last log lines, oldest first.
    pub recent_logs: Vec<LogLine>,
    /// How often the engine restarted it lately, from its events.
    pub restarts_in_window: Option<RestartWindow>,
}

/// Restarts counted over a recent window of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RestartWindow {
    pub restarts: u32,
    pub window_s: u64,
}

/// Where the analyzers draw their lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Thresholds {
    /// Restarts within the window from which it is a crash loop.
    pub crash_loop_restarts: u32,
    /// Restarts since creation from which it is worth a warning.
    pub restart_count_warning: i64,
    /// The share of its memory limit from which memory is near the limit.
    pub memory_near_limit: f64,
    /// How many error lines a `log_errors` finding quotes.
    pub log_evidence_lines: usize,
    /// How many health probes an `unhealthy` finding quotes.
    pub probe_evidence: usize,
    /// How many bytes of each quoted line or probe output.
    pub excerpt_bytes: usize,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            crash_loop_restarts: 3,
            restart_count_warning: 5,
            memory_near_limit: 0.9,
            log_evidence_lines: 5,
            probe_evidence: 3,
            excerpt_bytes: 300,
        }
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One thing an analyzer found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// One of [`code`].
    pub code: &'static str,
    pub severity: Severity,
    /// One sentence for a person.
    pub summary: String,
    /// The facts the finding rests on.
    pub evidence: Value,
}

/// The `health` skill's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The findings about `evidence` with the default [`Thresholds`], most severe first.
pub fn diagnose(evidence: &Evidence) -> Vec<Finding> {
    diagnose_with(evidence, &Thresholds::default())
}

/// The findings about `evidence`, most severe first (analyzers in a fixed order within a
/// severity).
pub fn diagnose_with(evidence: &Evidence, thresholds: &Thresholds) -> Vec<Finding> {
    let mut findings: Vec<Finding> = ANALYZERS
        .iter()
        .filter_map(|analyze| analyze(evidence, thresholds))
        .collect();
    findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    findings
}

/// The verdict on `evidence` with the default [`Thresholds`], and the reasons for it.
pub fn verdict(evidence: &Evidence) -> (Verdict, Vec<String>) {
    verdict_with(evidence, &Thresholds::default())
}

/// Unhealthy when it is not running or a finding is critical; degraded when it is paused,
/// its health check is still starting, or a finding is a warning; healthy otherwise. The
/// reasons say which; a healthy verdict says what was checked.
pub fn verdict_with(evidence: &Evidence, thresholds: &Thresholds) -> (Verdict, Vec<String>) {
    let facts = &evidence.facts;
    let mut verdict = Verdict::Healthy;
    let mut reasons = Vec::new();
    if !facts.running {
        verdict = Verdict::Unhealthy;
        reasons.push(format!("not running (state `{}`)", facts.state));
    } else if facts.state == "paused" {
        verdict = Verdict::Degraded;
        reasons.push("paused: its processes are frozen until `docker unpause`".to_owned());
    }
    if facts.running && health_status(facts) == Some("starting") {
        verdict = verdict.max(Verdict::Degraded);
        reasons.push("its health check has not passed yet (`starting`)".to_owned());
    }
    for finding in diagnose_with(evidence, thresholds) {
        let weight = match finding.severity {
            Severity::Critical => Verdict::Unhealthy,
            Severity::Warning => Verdict::Degraded,
            Severity::Info => continue,
        };
        verdict = verdict.max(weight);
        reasons.push(finding.summary);
    }
    if reasons.is_empty() {
        reasons.push("running".to_owned());
        if health_status(facts) == Some("healthy") {
            reasons.push("its health check passes".to_owned());
        }
        if evidence.listening.is_some() && published_tcp(&facts.ports).next().is_some() {
            reasons.push("something listens on every published port".to_owned());
        }
    }
    (verdict, reasons)
}

type Analyzer = fn(&Evidence, &Thresholds) -> Option<Finding>;

/// Every analyzer, in the order their findings are listed within a severity.
const ANALYZERS: &[Analyzer] = &[
    oom_killed,
    crash_loop,
    exit_code,
    unhealthy,
    port_not_listening,
    memory_near_limit,
    log_errors,
];

/// The kernel killed the container's process for memory.
fn oom_killed(evidence: &Evidence, _: &Thresholds) -> Option<Finding> {
    let facts = &evidence.facts;
    if !facts.oom_killed {
        return None;
    }
    let limit = match facts.memory_limit.filter(|limit| *limit > 0) {
        Some(limit) => format!("at its memory limit of {}", human_bytes(limit as u64)),
        None => "with no memory limit: the host itself ran short".to_owned(),
    };
    Some(Finding {
        code: code::OOM_KILLED,
        severity: Severity::Critical,
        summary: format!(
            "the kernel's OOM killer killed it {limit}; raise the limit (`--memory`) or find what uses the memory"
        ),
        evidence: json!({
            "oom_killed": true,
            "state": facts.state,
            "exit_code": facts.exit_code,
            "memory_limit": facts.memory_limit,
            "finished_at": facts.finished_at,
        }),
    })
}

/// The engine keeps restarting it.
fn crash_loop(evidence: &Evidence, thresholds: &Thresholds) -> Option<Finding> {
    let facts = &evidence.facts;
    let window = evidence.restarts_in_window;
    let restarting = facts.restarting || facts.state == "restarting";
    let last_exit = facts
        .exit_code
        .filter(|code| *code != 0)
        .map(|code| {
            format!(
                " (last exit code {code}: {})",
                exit_codes::meaning(code).summary
            )
        })
        .unwrap_or_default();
    let (severity, summary) = match window {
        Some(window) if window.restarts >= thresholds.crash_loop_restarts => (
            Severity::Critical,
            format!(
                "crash loop: restarted {} times in the last {}s{last_exit}",
                window.restarts, window.window_s
            ),
        ),
        _ if restarting => (
            Severity::Critical,
            format!(
                "crash loop: the engine is restarting it again (restart policy `{}`, {} restarts so far){last_exit}",
                facts.restart_policy, facts.restart_count
            ),
        ),
        _ if facts.restart_count >= thresholds.restart_count_warning => (
            Severity::Warning,
            format!("restarted {} times since it was created{last_exit}", facts.restart_count),
        ),
        _ => return None,
    };
    Some(Finding {
        code: code::CRASH_LOOP,
        severity,
        summary,
        evidence: json!({
            "state": facts.state,
            "restarting": restarting,
            "restart_count": facts.restart_count,
            "restart_policy": facts.restart_policy,
            "restarts_in_window": window,
            "exit_code": facts.exit_code,
        }),
    })
}

/// It stopped with a non-zero exit code (an OOM kill is left to [`oom_killed`]).
fn exit_code(evidence: &Evidence, _: &Thresholds) -> Option<Finding> {
    let facts = &evidence.facts;
    let stopped = !facts.running || facts.restarting;
    let code = facts.exit_code.filter(|code| *code != 0)?;
    if !stopped || facts.oom_killed {
        return None;
    }
    let meaning = exit_codes::meaning(code);
    let severity = if meaning.is_failure() {
        Severity::Critical
    } else {
        Severity::Info
    };
    let engine_error = facts
        .error
        .as_deref()
        .map(str::trim)
        .filter(|error| !error.is_empty());
    let engine_says = engine_error
        .map(|error| format!("; the engine says `{}`", excerpt(error, 200)))
        .unwrap_or_default();
    Some(Finding {
        code: code::EXIT_CODE,
        severity,
        summary: format!("exited with code {code}: {}{engine_says}", meaning.summary),
        evidence: json!({
            "exit_code": code,
            "meaning": meaning,
            "engine_error": engine_error,
            "state": facts.state,
            "finished_at": facts.finished_at,
        }),
    })
}

/// Its health check fails.
fn unhealthy(evidence: &Evidence, thresholds: &Thresholds) -> Option<Finding> {
    let facts = &evidence.facts;
    let health = facts.health.as_ref().filter(|_| facts.running)?;
    let last_output = health
        .log
        .iter()
        .rev()
        .map(|probe| probe.output.trim())
        .find(|output| !output.is_empty())
        .map(|output| format!("; last output: `{}`", excerpt(output, 120)))
        .unwrap_or_default();
    let (severity, summary) = if health.status == "unhealthy" {
        (
            Severity::Critical,
            format!(
                "its health check fails ({} failures in a row){last_output}",
                health.failing_streak
            ),
        )
    } else if health.failing_streak > 0 {
        (
            Severity::Warning,
            format!(
                "its health check failed the last {} times (status still `{}`){last_output}",
                health.failing_streak, health.status
            ),
        )
    } else {
        return None;
    };
    Some(Finding {
        code: code::UNHEALTHY,
        severity,
        summary,
        evidence: json!({
            "status": health.status,
            "failing_streak": health.failing_streak,
            "last_probes": last_probes(health, thresholds),
        }),
    })
}

/// A published TCP port that nothing listens on, or that only a loopback address does
/// (which the published port cannot reach).
fn port_not_listening(evidence: &Evidence, _: &Thresholds) -> Option<Finding> {
    let facts = &evidence.facts;
    let listening = evidence.listening.as_ref().filter(|_| facts.running)?;
    let mut silent: Vec<&Port> = Vec::new();
    let mut loopback_only: Vec<(&Port, Vec<&str>)> = Vec::new();
    for port in published_tcp(&facts.ports) {
        let on_port: Vec<&str> = listening
            .iter()
            .filter(|socket| socket.port == port.private)
            .map(|socket| socket.address.as_str())
            .collect();
        if on_port.is_empty() {
            silent.push(port);
        } else if on_port.iter().all(|address| is_loopback(address)) {
            loopback_only.push((port, on_port));
        }
    }
    if silent.is_empty() && loopback_only.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !silent.is_empty() {
        let ports: Vec<String> = silent.iter().map(|port| describe_port(port)).collect();
        parts.push(format!(
            "nothing listens on published port {} inside the container",
            ports.join(", ")
        ));
    }
    if !loopback_only.is_empty() {
        let ports: Vec<String> = loopback_only
            .iter()
            .map(|(port, addresses)| {
                format!("{} (on {})", describe_port(port), addresses.join(", "))
            })
            .collect();
        parts.push(format!(
            "published port {} listens on loopback only, which the published port cannot reach: bind `0.0.0.0`",
            ports.join(", ")
        ));
    }
    let mut listening_ports: Vec<u16> = listening.iter().map(|socket| socket.port).collect();
    listening_ports.sort_unstable();
    listening_ports.dedup();
    Some(Finding {
        code: code::PORT_NOT_LISTENING,
        severity: Severity::Warning,
        summary: parts.join("; "),
        evidence: json!({
            "not_listening": silent,
            "loopback_only": loopback_only
                .iter()
                .map(|(port, addresses)| json!({ "port": port, "addresses": addresses }))
                .collect::<Vec<_>>(),
            "listening_ports": listening_ports,
        }),
    })
}

/// Memory use near its limit (only where a limit was set: without one the sample's limit
/// is the host's memory).
fn memory_near_limit(evidence: &Evidence, thresholds: &Thresholds) -> Option<Finding> {
    let stats = evidence.stats.as_ref()?;
    evidence.facts.memory_limit.filter(|limit| *limit > 0)?;
    if stats.memory_limit == 0 {
        return None;
    }
    let ratio = stats.memory_used as f64 / stats.memory_limit as f64;
    if ratio < thresholds.memory_near_limit {
        return None;
    }
    Some(Finding {
        code: code::MEMORY_NEAR_LIMIT,
        severity: Severity::Warning,
        summary: format!(
            "uses {:.0}% of its memory limit ({} of {}): near an OOM kill",
            ratio * 100.0,
            human_bytes(stats.memory_used),
            human_bytes(stats.memory_limit)
        ),
        evidence: json!({
            "memory_used": stats.memory_used,
            "memory_limit": stats.memory_limit,
            "ratio": (ratio * 1000.0).round() / 1000.0,
        }),
    })
}

/// Error lines in its recent logs, by [`LOG_ERROR_PATTERNS`].
fn log_errors(evidence: &Evidence, thresholds: &Thresholds) -> Option<Finding> {
    let mut patterns_seen: Vec<&str> = Vec::new();
    let mut matching: Vec<&LogLine> = Vec::new();
    for line in &evidence.recent_logs {
        let text = line.text.to_lowercase();
        let found: Vec<&str> = LOG_ERROR_PATTERNS
            .iter()
            .copied()
            .filter(|pattern| text.contains(pattern))
            .collect();
        if found.is_empty() {
            continue;
        }
        for pattern in found {
            if !patterns_seen.contains(&pattern) {
                patterns_seen.push(pattern);
            }
        }
        matching.push(line);
    }
    let last = *matching.last()?;
    let quoted: Vec<Value> = matching
        .iter()
        .skip(matching.len().saturating_sub(thresholds.log_evidence_lines))
        .map(|line| {
            json!({
                "stream": line.stream,
                "ts": line.ts,
                "text": excerpt(&line.text, thresholds.excerpt_bytes),
            })
        })
        .collect();
    let named: Vec<String> = patterns_seen.iter().map(|p| format!("`{p}`")).collect();
    Some(Finding {
        code: code::LOG_ERRORS,
        severity: Severity::Warning,
        summary: format!(
            "{} of its last {} log lines look like errors ({}); the last: `{}`",
            matching.len(),
            evidence.recent_logs.len(),
            named.join(", "),
            excerpt(last.text.trim(), 120)
        ),
        evidence: json!({
            "matching_lines": matching.len(),
            "lines_read": evidence.recent_logs.len(),
            "patterns": patterns_seen,
            "lines": quoted,
        }),
    })
}

/// The engine's health status, when the container has a health check.
fn health_status(facts: &Facts) -> Option<&str> {
    facts.health.as_ref().map(|health| health.status.as_str())
}

/// The last probes, newest last, their outputs cut.
fn last_probes(health: &Health, thresholds: &Thresholds) -> Vec<Value> {
    let skip = health.log.len().saturating_sub(thresholds.probe_evidence);
    health
        .log
        .iter()
        .skip(skip)
        .map(|probe| {
            json!({
                "exit_code": probe.exit_code,
                "output": excerpt(probe.output.trim(), thresholds.excerpt_bytes),
                "end": probe.end,
            })
        })
        .collect()
}

/// The TCP ports published on the host, each container port once (Docker lists a port
/// once per host address, `0.0.0.0` and `::`).
fn published_tcp(ports: &[Port]) -> impl Iterator<Item = &Port> {
    ports.iter().enumerate().filter_map(|(at, port)| {
        let published = port.host_port.is_some() && port.protocol.eq_ignore_ascii_case("tcp");
        let first = !ports[..at].iter().any(|earlier| {
            earlier.private == port.private
                && earlier.protocol == port.protocol
                && earlier.host_port.is_some()
        });
        (published && first).then_some(port)
    })
}

/// `80/tcp (host 8080)`.
fn describe_port(port: &Port) -> String {
    match port.host_port {
        Some(host_port) => format!("{}/{} (host {host_port})", port.private, port.protocol),
        None => format!("{}/{}", port.private, port.protocol),
    }
}

/// Whether a listening address is only reachable from inside the container.
fn is_loopback(address: &str) -> bool {
    let address = address.trim_start_matches("::ffff:");
    address.starts_with("127.") || address == "::1" || address == "localhost"
}

#[cfg(test)]
mod tests {
    use b00t_container::{Probe, Stream};

    use super::*;
    use crate::testing::{healthy_evidence, listening, published, stats};

    fn log(text: &str) -> LogLine {
        LogLine {
            stream: Stream::Stderr,
            ts: Some("2025-01-01T00:00:01.000000000Z".to_owned()),
            text: text.to_owned(),
        }
    }

    fn probe(exit_code: i64, output: &str) -> Probe {
        Probe {
            exit_code: Some(exit_code),
            output: output.to_owned(),
            start: None,
            end: Some("2025-01-01T00:00:30Z".to_owned()),
        }
    }

    fn health(status: &str, failing_streak: i64, log: Vec<Probe>) -> Option<Health> {
        Some(Health {
            status: status.to_owned(),
            failing_streak,
            log,
        })
    }

    fn exited(evidence: &mut Evidence, code: i64) {
        evidence.facts.state = "exited".to_owned();
        evidence.facts.running = false;
        evidence.facts.exit_code = Some(code);
        evidence.facts.finished_at = Some("2025-01-01T01:00:00Z".to_owned());
        evidence.facts.pid = 0;
        evidence.stats = None;
        evidence.listening = None;
    }

    /// `(what the case is, how it changes the healthy evidence, the findings expected as
    /// (code, severity, a piece of the summary))`.
    type Case = (
        &'static str,
        fn(&mut Evidence),
        &'static [(&'static str, Severity, &'static str)],
    );

    fn check(cases: &[Case]) {
        for (what, change, expected) in cases {
            let mut evidence = healthy_evidence();
            change(&mut evidence);
            let findings = diagnose(&evidence);
            let found: Vec<(&str, Severity)> =
                findings.iter().map(|f| (f.code, f.severity)).collect();
            let wanted: Vec<(&str, Severity)> = expected
                .iter()
                .map(|(code, severity, _)| (*code, *severity))
                .collect();
            assert_eq!(found, wanted, "{what}: {findings:#?}");
            for (finding, (_, _, says)) in findings.iter().zip(expected.iter()) {
                assert!(
                    finding.summary.contains(says),
                    "{what}: `{}` does not say `{says}`",
                    finding.summary
                );
            }
        }
    }

    #[test]
    fn a_healthy_container_has_no_finding() {
        assert_eq!(diagnose(&healthy_evidence()), []);
        let (verdict, reasons) = verdict(&healthy_evidence());
        assert_eq!(verdict, Verdict::Healthy);
        assert_eq!(
            reasons,
            ["running", "something listens on every published port"]
        );
    }

    #[test]
    fn oom_kills() {
        use Severity::*;
        check(&[
            (
                "oom killed under a limit",
                |e| {
                    exited(e, 137);
                    e.facts.oom_killed = true;
                },
                &[(code::OOM_KILLED, Critical, "limit of 256 MiB")],
            ),
            (
                "oom killed without a limit",
                |e| {
                    exited(e, 137);
                    e.facts.oom_killed = true;
                    e.facts.memory_limit = None;
                },
                &[(code::OOM_KILLED, Critical, "no memory limit")],
            ),
            (
                "137 without the oom flag",
                |e| exited(e, 137),
                &[(code::EXIT_CODE, Critical, "SIGKILL")],
            ),
        ]);
    }

    #[test]
    fn crash_loops() {
        use Severity::*;
        check(&[
            (
                "restarts in the window",
                |e| {
                    e.restarts_in_window = Some(RestartWindow {
                        restarts: 4,
                        window_s: 60,
                    });
                },
                &[(
                    code::CRASH_LOOP,
                    Critical,
                    "restarted 4 times in the last 60s",
                )],
            ),
            (
                "few restarts in the window",
                |e| {
                    e.restarts_in_window = Some(RestartWindow {
                        restarts: 2,
                        window_s: 60,
                    });
                },
                &[],
            ),
            (
                "restarting now",
                |e| {
                    e.facts.state = "restarting".to_owned();
                    e.facts.restarting = true;
                    e.facts.restart_count = 2;
                    e.facts.restart_policy = "always".to_owned();
                    e.facts.exit_code = Some(1);
                    e.listening = None;
                },
                &[
                    (
                        code::CRASH_LOOP,
                        Critical,
                        "restart policy `always`, 2 restarts so far) (last exit code 1",
                    ),
                    (code::EXIT_CODE, Critical, "exited with code 1"),
                ],
            ),
            (
                "many restarts since creation",
                |e| e.facts.restart_count = 7,
                &[(
                    code::CRASH_LOOP,
                    Warning,
                    "restarted 7 times since it was created",
                )],
            ),
            (
                "a few restarts since creation",
                |e| e.facts.restart_count = 4,
                &[],
            ),
        ]);
    }

    #[test]
    fn exit_codes() {
        use Severity::*;
        check(&[
            (
                "exited with 1",
                |e| exited(e, 1),
                &[(code::EXIT_CODE, Critical, "general error")],
            ),
            (
                "command not found",
                |e| exited(e, 127),
                &[(code::EXIT_CODE, Critical, "not found")],
            ),
            (
                "a start that failed",
                |e| {
                    exited(e, 127);
                    e.facts.state = "created".to_owned();
                    e.facts.error =
                        Some("exec: \"nginxx\": executable file not found in $PATH".to_owned());
                },
                &[(
                    code::EXIT_CODE,
                    Critical,
                    "the engine says `exec: \"nginxx\": executable file not found",
                )],
            ),
            (
                "not executable",
                |e| exited(e, 126),
                &[(code::EXIT_CODE, Critical, "cannot be executed")],
            ),
            (
                "segfault",
                |e| exited(e, 139),
                &[(code::EXIT_CODE, Critical, "SIGSEGV")],
            ),
            (
                "docker stop",
                |e| exited(e, 143),
                &[(code::EXIT_CODE, Info, "SIGTERM")],
            ),
            (
                "ctrl-c",
                |e| exited(e, 130),
                &[(code::EXIT_CODE, Info, "SIGINT")],
            ),
            ("exited with 0", |e| exited(e, 0), &[]),
            (
                "running with a stale code",
                |e| e.facts.exit_code = Some(1),
                &[],
            ),
        ]);
    }

    #[test]
    fn health_checks() {
        use Severity::*;
        check(&[
            (
                "unhealthy",
                |e| {
                    e.facts.health = health(
                        "unhealthy",
                        3,
                        vec![
                            probe(1, "wget: can't connect to remote host: Connection refused"),
                            probe(1, "wget: can't connect to remote host: Connection refused"),
                            probe(1, "curl: (7) Failed to connect to localhost port 80"),
                        ],
                    );
                },
                &[(
                    code::UNHEALTHY,
                    Critical,
                    "3 failures in a row); last output: `curl: (7)",
                )],
            ),
            (
                "failing but not yet unhealthy",
                |e| {
                    e.facts.health = health("healthy", 1, vec![probe(0, "ok"), probe(1, "")]);
                },
                &[(
                    code::UNHEALTHY,
                    Warning,
                    "failed the last 1 times (status still `healthy`); last output: `ok`",
                )],
            ),
            (
                "healthy",
                |e| e.facts.health = health("healthy", 0, vec![probe(0, "ok")]),
                &[],
            ),
            (
                "starting",
                |e| e.facts.health = health("starting", 0, vec![]),
                &[],
            ),
            (
                "unhealthy but stopped",
                |e| {
                    exited(e, 0);
                    e.facts.health = health("unhealthy", 3, vec![]);
                },
                &[],
            ),
        ]);
    }

    #[test]
    fn probe_evidence_is_the_last_few_probes_cut() {
        let mut evidence = healthy_evidence();
        let long = "x".repeat(1000);
        let probes = (0..5).map(|n| probe(n, &long)).collect();
        evidence.facts.health = health("unhealthy", 5, probes);
        let findings = diagnose(&evidence);
        let last = findings[0].evidence["last_probes"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(last.len(), 3);
        assert_eq!(last[0]["exit_code"], 2);
        assert_eq!(last[2]["exit_code"], 4);
        assert!(last[2]["output"].as_str().unwrap().len() <= 300 + "…".len());
    }

    #[test]
    fn ports() {
        use Severity::*;
        check(&[
            (
                "nothing listens",
                |e| e.listening = Some(vec![]),
                &[(
                    code::PORT_NOT_LISTENING,
                    Warning,
                    "nothing listens on published port 80/tcp (host 8080)",
                )],
            ),
            (
                "listening elsewhere",
                |e| e.listening = Some(vec![listening(8080, "0.0.0.0")]),
                &[(code::PORT_NOT_LISTENING, Warning, "80/tcp")],
            ),
            (
                "loopback only",
                |e| e.listening = Some(vec![listening(80, "127.0.0.1")]),
                &[(
                    code::PORT_NOT_LISTENING,
                    Warning,
                    "80/tcp (host 8080) (on 127.0.0.1) listens on loopback only",
                )],
            ),
            (
                "ipv6 wildcard",
                |e| e.listening = Some(vec![listening(80, "::")]),
                &[],
            ),
            (
                "loopback and wildcard",
                |e| e.listening = Some(vec![listening(80, "127.0.0.1"), listening(80, "::")]),
                &[],
            ),
            ("listening unknown", |e| e.listening = None, &[]),
            (
                "published on ipv4 and ipv6, one finding",
                |e| {
                    let mut v6 = published(443, 8443);
                    v6.host_ip = Some("::".to_owned());
                    e.facts.ports.push(published(443, 8443));
                    e.facts.ports.push(v6);
                    e.listening = Some(vec![listening(80, "0.0.0.0")]);
                },
                &[(
                    code::PORT_NOT_LISTENING,
                    Warning,
                    "published port 443/tcp (host 8443) inside",
                )],
            ),
            (
                "exposed, not published",
                |e| {
                    e.facts.ports.push(Port {
                        private: 9000,
                        protocol: "tcp".to_owned(),
                        host_ip: None,
                        host_port: None,
                    });
                },
                &[],
            ),
            (
                "udp is not read",
                |e| {
                    e.facts.ports.push(Port {
                        private: 53,
                        protocol: "udp".to_owned(),
                        host_ip: Some("0.0.0.0".to_owned()),
                        host_port: Some(53),
                    });
                },
                &[],
            ),
        ]);
    }

    #[test]
    fn port_evidence_names_the_ports() {
        let mut evidence = healthy_evidence();
        evidence.listening = Some(vec![listening(22, "0.0.0.0"), listening(22, "::")]);
        let finding = &diagnose(&evidence)[0];
        assert_eq!(finding.evidence["not_listening"][0]["private"], 80);
        assert_eq!(finding.evidence["not_listening"][0]["host_port"], 8080);
        assert_eq!(finding.evidence["listening_ports"], json!([22]));
    }

    #[test]
    fn memory() {
        use Severity::*;
        const MIB: u64 = 1024 * 1024;
        check(&[
            (
                "at 95%",
                |e| e.stats = Some(stats(243 * MIB, 256 * MIB)),
                &[(
                    code::MEMORY_NEAR_LIMIT,
                    Warning,
                    "uses 95% of its memory limit (243 MiB of 256 MiB)",
                )],
            ),
            (
                "at 89%",
                |e| e.stats = Some(stats(228 * MIB, 256 * MIB)),
                &[],
            ),
            (
                "no limit: the host's memory",
                |e| {
                    e.facts.memory_limit = None;
                    e.stats = Some(stats(15 * 1024 * MIB, 16 * 1024 * MIB));
                },
                &[],
            ),
            ("no sample", |e| e.stats = None, &[]),
        ]);
    }

    #[test]
    fn logs() {
        use Severity::*;
        check(&[
            (
                "an error line",
                |e| {
                    e.recent_logs = vec![
                        log("listening on :80"),
                        log("2025/01/01 [error] 29#29: *1 open() failed"),
                    ];
                },
                &[(
                    code::LOG_ERRORS,
                    Warning,
                    "1 of its last 2 log lines look like errors (`error`)",
                )],
            ),
            (
                "a python traceback",
                |e| {
                    e.recent_logs = vec![
                        log("Traceback (most recent call last):"),
                        log("  File \"app.py\", line 3"),
                        log("ZeroDivisionError: division by zero"),
                    ];
                },
                &[(
                    code::LOG_ERRORS,
                    Warning,
                    "(`traceback`, `error`); the last: `ZeroDivisionError",
                )],
            ),
            (
                "case-insensitive",
                |e| e.recent_logs = vec![log("FATAL: password authentication failed")],
                &[(code::LOG_ERRORS, Warning, "`fatal`")],
            ),
            (
                "go panic",
                |e| e.recent_logs = vec![log("panic: runtime error: index out of range")],
                &[(code::LOG_ERRORS, Warning, "`error`, `panic`")],
            ),
            (
                "java exception",
                |e| e.recent_logs = vec![log("java.lang.NullPointerException")],
                &[(code::LOG_ERRORS, Warning, "`exception`")],
            ),
            (
                "segfault",
                |e| e.recent_logs = vec![log("Segmentation fault (core dumped)")],
                &[(code::LOG_ERRORS, Warning, "`segmentation fault`")],
            ),
            (
                "quiet logs",
                |e| e.recent_logs = vec![log("GET / 200"), log("ready")],
                &[],
            ),
        ]);
    }

    #[test]
    fn log_evidence_is_bounded() {
        let mut evidence = healthy_evidence();
        evidence.recent_logs = (0..20)
            .map(|n| log(&format!("error {n} {}", "y".repeat(500))))
            .collect();
        let finding = &diagnose(&evidence)[0];
        assert_eq!(finding.evidence["matching_lines"], 20);
        let lines = finding.evidence["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 5);
        assert!(lines[4]["text"].as_str().unwrap().starts_with("error 19 "));
        assert!(lines[4]["text"].as_str().unwrap().len() <= 300 + "…".len());
        assert_eq!(lines[4]["stream"], "stderr");
    }

    #[test]
    fn findings_are_sorted_most_severe_first() {
        let mut evidence = healthy_evidence();
        evidence.recent_logs = vec![log("error")];
        evidence.facts.health = health("unhealthy", 3, vec![]);
        let codes: Vec<&str> = diagnose(&evidence).iter().map(|f| f.code).collect();
        assert_eq!(codes, [code::UNHEALTHY, code::LOG_ERRORS]);
    }

    #[test]
    fn thresholds_can_be_changed() {
        let mut evidence = healthy_evidence();
        evidence.facts.restart_count = 2;
        let strict = Thresholds {
            restart_count_warning: 2,
            ..Thresholds::default()
        };
        assert_eq!(diagnose(&evidence), []);
        assert_eq!(diagnose_with(&evidence, &strict)[0].code, code::CRASH_LOOP);
    }

    #[test]
    fn verdicts() {
        type VerdictCase = (&'static str, fn(&mut Evidence), Verdict, &'static str);
        let cases: [VerdictCase; 7] = [
            (
                "exited",
                |e| exited(e, 0),
                Verdict::Unhealthy,
                "not running (state `exited`)",
            ),
            (
                "exited with 1",
                |e| exited(e, 1),
                Verdict::Unhealthy,
                "exited with code 1",
            ),
            (
                "unhealthy",
                |e| e.facts.health = health("unhealthy", 3, vec![]),
                Verdict::Unhealthy,
                "health check fails",
            ),
            (
                "starting",
                |e| e.facts.health = health("starting", 0, vec![]),
                Verdict::Degraded,
                "not passed yet",
            ),
            (
                "paused",
                |e| e.facts.state = "paused".to_owned(),
                Verdict::Degraded,
                "paused",
            ),
            (
                "port silent",
                |e| e.listening = Some(vec![]),
                Verdict::Degraded,
                "nothing listens",
            ),
            (
                "healthy check",
                |e| e.facts.health = health("healthy", 0, vec![]),
                Verdict::Healthy,
                "its health check passes",
            ),
        ];
        for (what, change, expected, says) in cases {
            let mut evidence = healthy_evidence();
            change(&mut evidence);
            let (verdict, reasons) = verdict(&evidence);
            assert_eq!(verdict, expected, "{what}: {reasons:?}");
            assert!(
                reasons.iter().any(|r| r.contains(says)),
                "{what}: {reasons:?}"
            );
        }
    }

    #[test]
    fn findings_serialize_for_the_bus() {
        let mut evidence = healthy_evidence();
        exited(&mut evidence, 127);
        let json = serde_json::to_value(diagnose(&evidence)).unwrap();
        assert_eq!(json[0]["code"], "exit_code");
        assert_eq!(json[0]["severity"], "critical");
        assert_eq!(json[0]["evidence"]["meaning"]["kind"], "not_found");
        let (verdict, _) = verdict(&evidence);
        assert_eq!(serde_json::to_value(verdict).unwrap(), "unhealthy");
        assert!(serde_json::to_value(&evidence).is_ok());
    }
}
