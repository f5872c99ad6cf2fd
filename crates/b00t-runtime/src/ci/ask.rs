//! The `ask` skill: a question about the container in plain text, answered by the local
//! model (the group agents' Ollama settings) from the facts the other skills read now:
//! status, services, the health verdict, diagnose's findings, the last log lines and
//! optimize's advice. The answer carries the facts it was given; when Ollama cannot
//! answer (down, the model missing, too slow) the result says why, with `text: null`, and
//! still carries the facts.

use std::time::{Duration, Instant};

use b00t_agents::{Failure, TaskContext};
use b00t_assistant::Llm;
use b00t_ci::ServiceTable;
use b00t_container::{Docker, LogQuery};
use b00t_proto::ErrorCode;
use ollama_rs::generation::chat::ChatMessage;
use serde_json::{json, Value};

use super::skills;

/// How the agents reach the model: what `[assistant]` (or `OLLAMA_BASE_URL`,
/// `OLLAMA_MODEL`) says for the group agents.
#[derive(Clone, Debug)]
pub struct AskSettings {
    pub ollama_url: String,
    pub model: String,
    /// Longest wait for the model's answer.
    pub timeout: Duration,
}

/// Log lines handed to the model.
const ASK_LOG_LINES: usize = 50;
/// Longest log line handed to the model, in bytes; the rest is cut.
const ASK_LOG_LINE_BYTES: usize = 300;
/// Most bytes of facts in the prompt: past it the oldest log lines go first.
const FACTS_BUDGET: usize = 48 * 1024;

/// Answers `{"text": <question>}` about container `id`.
pub(super) async fn ask(
    ctx: &TaskContext,
    docker: &Docker,
    id: &str,
    services: &ServiceTable,
    settings: &AskSettings,
    max_reply: usize,
) -> Result<Value, Failure> {
    let question = question(&ctx.task.body)?;
    ctx.progress
        .step("reading the container's facts", Some(1), Some(2))
        .await;
    let facts = gather(docker, id, services).await?;
    let facts = fit(facts, FACTS_BUDGET);
    let (system, user) = prompt(&facts, &question);
    ctx.progress
        .step(&format!("asking `{}`", settings.model), Some(2), Some(2))
        .await;
    let started = Instant::now();
    let answer = match Llm::new(&settings.ollama_url, &settings.model, settings.timeout) {
        Ok(llm) => {
            llm.chat(
                vec![ChatMessage::system(system), ChatMessage::user(user)],
                Vec::new(),
            )
            .await
        }
        Err(e) => Err(Failure::new(ErrorCode::Failed, e.to_string())),
    };
    let llm_ms = started.elapsed().as_secs_f64() * 1000.0;
    let llm_ms = (llm_ms * 10.0).round() / 10.0;
    Ok(match answer {
        Ok(message) => {
            // The facts travel with the answer: the text gives way to fit the payload.
            let room = max_reply
                .saturating_sub(facts.to_string().len())
                .saturating_sub(4096)
                .max(1024);
            let (text, truncated) = cut(message.content.trim(), room);
            let mut body = json!({
                "text": text,
                "model": settings.model,
                "llm_ms": llm_ms,
                "facts": facts,
            });
            if truncated {
                body["truncated"] = json!(true);
            }
            body
        }
        Err(failure) => json!({
            "text": null,
            "model": settings.model,
            "llm_ms": llm_ms,
            "error": failure.message,
            "facts": facts,
        }),
    })
}

/// The question: the body's `text` (a plain-text task gives it).
fn question(body: &Value) -> Result<String, Failure> {
    let bad = |why: &str| {
        Failure::new(
            ErrorCode::BadRequest,
            format!("{why}: `ask` takes {{\"text\": \"<question>\"}}, or the question as plain text (`mosquitto_pub -t b00t.ci-web.ask/task -m 'why did you restart?'`)"),
        )
    };
    match body.get("text") {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Some(Value::String(_)) => Err(bad("the question is empty")),
        Some(other) => Err(bad(&format!("`text` must be a string, got {other}"))),
        None => Err(bad("no `text` in the body")),
    }
}

/// Everything the other skills say now. A fact that cannot be read is `{"error": …}`;
/// a container that is gone is `not_found`.
async fn gather(docker: &Docker, id: &str, services: &ServiceTable) -> Result<Value, Failure> {
    let query = LogQuery {
        tail: ASK_LOG_LINES,
        since: None,
        stdout: true,
        stderr: true,
    };
    let (status, services, health, diagnose, optimize, logs) = tokio::join!(
        skills::status(docker, id),
        skills::services_of(docker, id, services),
        skills::health(docker, id),
        skills::diagnose(docker, id),
        skills::optimize(docker, id),
        b00t_container::logs(docker, id, query),
    );
    let status = status?;
    let or_error =
        |fact: Result<Value, Failure>| fact.unwrap_or_else(|f| json!({"error": f.message}));
    let health = or_error(health);
    let logs = match logs {
        Ok(logs) => Value::Array(
            logs.lines
                .iter()
                .map(|line| {
                    let stream = serde_json::to_value(line.stream).unwrap_or(Value::Null);
                    let (text, _) = cut(&line.text, ASK_LOG_LINE_BYTES);
                    Value::String(format!(
                        "{} {}: {text}",
                        line.ts.as_deref().unwrap_or("-"),
                        stream.as_str().unwrap_or("?")
                    ))
                })
                .collect(),
        ),
        Err(e) => json!({"error": e.to_string()}),
    };
    Ok(json!({
        "container": status["container"].clone(),
        "status": status,
        "services": or_error(services),
        // What `health` concludes and its port probes; a failing health check's last
        // probe outputs are in `diagnose`'s evidence.
        "health": match health.get("error") {
            Some(_) => health,
            None => json!({
                "verdict": health["verdict"],
                "reasons": health["reasons"],
                "probes": health["probes"],
            }),
        },
        "diagnose": or_error(diagnose),
        "logs": logs,
        "optimize": or_error(optimize),
    }))
}

/// `facts` within `budget` bytes as JSON: the oldest log lines go first, and a note says
/// how many went.
fn fit(mut facts: Value, budget: usize) -> Value {
    let mut size = facts.to_string().len();
    if size <= budget {
        return facts;
    }
    // Room for the note.
    let budget = budget.saturating_sub(128);
    let mut dropped = 0;
    while size > budget {
        let Some(lines) = facts["logs"].as_array_mut().filter(|l| !l.is_empty()) else {
            break;
        };
        let first = lines.remove(0);
        size = size.saturating_sub(first.to_string().len() + 1);
        dropped += 1;
    }
    if dropped > 0 {
        facts["logs_note"] = json!(format!(
            "{dropped} older log lines were left out to keep the prompt short"
        ));
    }
    facts
}

/// The system prompt (who the model speaks as, the rules, the facts) and the user's turn.
fn prompt(facts: &Value, question: &str) -> (String, String) {
    let container = &facts["container"];
    let name = container["name"].as_str().unwrap_or("?");
    let image = container["image"].as_str().unwrap_or("?");
    let short_id: String = container["id"]
        .as_str()
        .unwrap_or("?")
        .chars()
        .take(12)
        .collect();
    let system = format!(
        "You are the CI agent of the Docker container `{name}` (id {short_id}, image `{image}`) on the b00t bus. \
Answer the question about this container from the facts below only: they were read from the Docker engine just now \
(`status`: its state and times, restart count, exit code, OOM kill, ports and one stats sample; `services`: its processes \
and listening ports; `health`: the verdict and port probes; `diagnose`: findings with evidence; `logs`: its last log lines, \
oldest first; `optimize`: advice). Point to the facts you rely on (times, exit codes, log lines). When the facts do not \
tell, say so plainly, and say what would (a longer `logs` query, the application's own logs); never guess. \
You cannot change the container: the operator restarts, stops or starts it with `b00t ci restart|stop|start {name}`. \
Answer briefly, in plain text.\n\nFacts (JSON):\n{facts}"
    );
    (system, question.to_owned())
}

/// `text` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn cut(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}…", &text[..end]), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(log_lines: usize) -> Value {
        json!({
            "container": {"id": "0123456789abcdef0123", "name": "web", "image": "busybox:1"},
            "status": {"state": "running", "restart_count": 2},
            "services": {"services": [{"service": "httpd"}]},
            "logs": (0..log_lines).map(|i| format!("line {i} {}", "x".repeat(90))).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn the_question_is_the_text() {
        assert_eq!(
            question(&json!({"text": "  why did you restart? "})).unwrap(),
            "why did you restart?"
        );
        for (body, needle) in [
            (json!({}), "no `text`"),
            (Value::Null, "no `text`"),
            (json!({"text": " "}), "empty"),
            (json!({"text": 3}), "must be a string"),
        ] {
            let failure = question(&body).unwrap_err();
            assert_eq!(failure.code, ErrorCode::BadRequest);
            assert!(
                failure.message.contains(needle),
                "{body}: {}",
                failure.message
            );
            assert!(
                failure.message.contains("mosquitto_pub"),
                "{}",
                failure.message
            );
        }
    }

    #[test]
    fn the_prompt_names_the_container_and_holds_the_facts() {
        let facts = facts(3);
        let (system, user) = prompt(&facts, "why did you restart?");
        assert_eq!(user, "why did you restart?");
        assert!(
            system.contains("CI agent of the Docker container `web`"),
            "{system}"
        );
        assert!(system.contains("id 0123456789ab,"), "{system}");
        assert!(system.contains("facts below only"), "{system}");
        assert!(
            system.contains("When the facts do not tell, say so"),
            "{system}"
        );
        assert!(
            system.contains("`b00t ci restart|stop|start web`"),
            "{system}"
        );
        assert!(system.contains(r#""restart_count":2"#), "{system}");
        assert!(
            system.contains("httpd") && system.contains("line 2"),
            "{system}"
        );
    }

    #[test]
    fn facts_fit_by_dropping_the_oldest_log_lines() {
        let small = fit(facts(3), FACTS_BUDGET);
        assert_eq!(small, facts(3));
        let fitted = fit(facts(100), 4096);
        assert!(
            fitted.to_string().len() <= 4096,
            "{}",
            fitted.to_string().len()
        );
        let lines = fitted["logs"].as_array().unwrap();
        assert!(lines
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("line 99 "));
        assert!(!lines.is_empty() && lines.len() < 100);
        let note = fitted["logs_note"].as_str().unwrap();
        assert!(
            note.starts_with(&format!("{} older log lines", 100 - lines.len())),
            "{note}"
        );
    }

    #[test]
    fn cuts_keep_characters_whole() {
        assert_eq!(cut("short", 10), ("short".to_owned(), false));
        assert_eq!(cut("héllo", 2), ("h…".to_owned(), true));
        assert_eq!(cut("héllo", 3), ("hé…".to_owned(), true));
    }
}
