//! Failures within a bounded time, never a hang: Ollama down, the model missing, Ollama
//! too slow, the whole task too slow; and options refused when building the agent.

use std::time::{Duration, Instant};

use b00t_assistant::{spec, AssistantError};
use b00t_testkit::Reply;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::Bench;

#[tokio::test]
async fn ollama_down_says_how_to_start_it() {
    let mut bench = Bench::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut options = bench.options("family");
    options.ollama_url = format!("http://127.0.0.1:{closed}");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    let started = Instant::now();
    let answer = bench.ask("family", "chat", json!({"text": "hi"})).await;
    assert_eq!(
        answer.error(),
        (
            "failed",
            format!("Ollama is not reachable at http://127.0.0.1:{closed}: start it with `ollama serve`, or set OLLAMA_BASE_URL").as_str()
        )
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_missing_model_says_how_to_pull_it() {
    let mut bench = Bench::start().await;
    let mut options = bench.options("family");
    options.model = "mistral".into();
    let url = bench.ollama.url();
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    let answer = bench.ask("family", "chat", json!({"text": "hi"})).await;
    assert_eq!(
        answer.error(),
        (
            "failed",
            format!("model `mistral` is not available in Ollama at {url}: run `ollama pull mistral`, or set OLLAMA_MODEL").as_str()
        )
    );
    assert_eq!(bench.ollama.requests()[0]["model"], "mistral");
}

#[tokio::test]
async fn a_slow_ollama_and_a_slow_task_time_out() {
    let mut bench = Bench::start().await;
    let mut options = bench.options("family");
    options.ollama_timeout = Duration::from_millis(500);
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(Reply::Delay(
        Duration::from_secs(30),
        Box::new(Reply::Text("too late".into())),
    ));
    let started = Instant::now();
    let answer = bench.ask("family", "chat", json!({"text": "hi"})).await;
    let (code, message) = answer.error();
    assert_eq!(code, "timeout");
    assert!(message.contains("did not answer within 0.5 s"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // The task's own limit covers every round.
    let mut options = bench.options("slow");
    options.task_timeout = Duration::from_millis(700);
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    for _ in 0..2 {
        bench.ollama.push(Reply::Delay(
            Duration::from_millis(500),
            Box::new(Reply::ToolCalls(vec![(
                "remember".into(),
                json!({"text": "x"}),
            )])),
        ));
    }
    let answer = bench.ask("slow", "chat", json!({"text": "hi"})).await;
    let (code, message) = answer.error();
    assert_eq!(code, "timeout");
    assert!(message.contains("did not finish task"), "{message}");
}

#[tokio::test]
async fn bad_options_are_refused_with_what_to_do() {
    let bench = Bench::start().await;
    let stop = CancellationToken::new();

    let mut options = bench.options("family");
    options.group_dir = bench.groups.join("nobody");
    let error = spec(options, stop.clone()).unwrap_err();
    assert!(matches!(error, AssistantError::NoGroupDir { .. }));
    assert!(
        error.to_string().contains("b00t group add family"),
        "{error}"
    );

    let mut options = bench.options("family");
    options.bus.client_id = "b00t-agent-other-tools".into();
    let error = spec(options, stop.clone()).unwrap_err().to_string();
    assert!(error.contains("must be `b00t-tools-family`"), "{error}");

    let mut options = bench.options("family");
    options.ollama_url = "ollama:11434".into();
    let error = spec(options, stop.clone()).unwrap_err().to_string();
    assert!(error.contains("OLLAMA_BASE_URL"), "{error}");

    let mut options = bench.options("family");
    options.model = String::new();
    let error = spec(options, stop.clone()).unwrap_err().to_string();
    assert_eq!(
        error,
        "the Ollama model for group `family` is empty: set OLLAMA_MODEL, for example `llama3.2`"
    );

    let mut options = bench.options("family");
    options.task_timeout = Duration::ZERO;
    let error = spec(options, stop.clone()).unwrap_err().to_string();
    assert_eq!(error, "`task_timeout` of group `family` must be above zero");
    stop.cancel();
}
