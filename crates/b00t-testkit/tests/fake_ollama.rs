//! The fake Ollama against clients nobody here wrote: ollama-rs's own request and
//! response types (proving the JSON shapes are Ollama's), and raw HTTP through reqwest
//! for the status codes, the NDJSON stream and shutdown.

use std::time::Duration;

use b00t_testkit::{FakeOllama, Reply};
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::{ChatMessage, ChatMessageResponse, MessageRole};
use ollama_rs::Ollama;
use serde_json::{json, Value};

fn client(fake: &FakeOllama) -> Ollama {
    Ollama::try_new(fake.url()).unwrap()
}

async fn post(fake: &FakeOllama, body: &str) -> (u16, String, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/chat", fake.url()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn tags_are_read_by_ollama_rs() {
    let fake = FakeOllama::start(["llama3.2:latest", "qwen2.5:7b"]).await;
    let models = client(&fake).list_local_models().await.unwrap();
    let names: Vec<_> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["llama3.2:latest", "qwen2.5:7b"]);
    assert!(models[0].size > 0);
    let raw: Value = reqwest::get(format!("{}/api/tags", fake.url()))
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let details = &raw["models"][0]["details"];
    assert_eq!(details["format"], "gguf");
    assert_eq!(details["family"], "llama");
    assert_eq!(details["families"], json!(["llama"]));
    assert_eq!(details["quantization_level"], "Q4_K_M");
    assert_eq!(raw["models"][0]["model"], "llama3.2:latest");
    assert_eq!(raw["models"][0]["digest"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn chat_replies_are_ollama_rs_responses_with_text_and_tool_calls() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    let ollama = client(&fake);
    let request = |text: &str| {
        ChatMessageRequest::new(
            "llama3.2".into(),
            vec![
                ChatMessage::system("be brief".into()),
                ChatMessage::user(text.into()),
            ],
        )
    };

    // The empty script echoes the last user message.
    let echoed = ollama.send_chat_messages(request("hello")).await.unwrap();
    assert_eq!(echoed.message.role, MessageRole::Assistant);
    assert_eq!(echoed.message.content, "echo: hello");
    assert!(echoed.done);
    let stats = echoed.final_data.expect("the final statistics");
    assert!(stats.total_duration > 0 && stats.eval_count > 0);

    fake.push(Reply::Text("scripted".into()));
    fake.push(Reply::ToolCalls(vec![
        ("install".into(), json!({"datum": "jq.apt"})),
        ("remember".into(), json!({"text": "likes tea"})),
    ]));
    let text = ollama.send_chat_messages(request("one")).await.unwrap();
    assert_eq!(text.message.content, "scripted");
    let tools = ollama.send_chat_messages(request("two")).await.unwrap();
    assert_eq!(tools.message.content, "");
    let calls: Vec<_> = tools
        .message
        .tool_calls
        .iter()
        .map(|c| (c.function.name.as_str(), c.function.arguments.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            ("install", json!({"datum": "jq.apt"})),
            ("remember", json!({"text": "likes tea"}))
        ]
    );
    assert_eq!(fake.pending(), 0);

    let seen = fake.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0]["model"], "llama3.2");
    assert_eq!(seen[0]["stream"], false);
    assert_eq!(
        seen[0]["messages"][0],
        json!({"role": "system", "content": "be brief", "tool_calls": [], "thinking": null})
    );
    assert_eq!(seen[2]["messages"][1]["content"], "two");
}

#[tokio::test]
async fn an_unknown_model_is_a_404_with_ollamas_message() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    let request = ChatMessageRequest::new("mistral".into(), vec![ChatMessage::user("hi".into())]);
    let error = client(&fake)
        .send_chat_messages(request)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        r#"{"error":"model \"mistral\" not found, try pulling it first"}"#
    );
    let (status, content_type, body) = post(
        &fake,
        r#"{"model":"mistral","messages":[{"role":"user","content":"hi"}]}"#,
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": "model \"mistral\" not found, try pulling it first"})
    );
}

#[tokio::test]
async fn bad_requests_are_400_with_an_error_field() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    for body in [
        "{not json",
        "[1,2]",
        r#"{"messages":[]}"#,
        r#"{"model":"llama3.2","messages":5}"#,
    ] {
        let (status, _, text) = post(&fake, body).await;
        assert_eq!(status, 400, "{body}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}: {text}"
        );
    }
    let response = reqwest::get(format!("{}/api/nothing", fake.url()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = reqwest::get(format!("{}/api/chat", fake.url()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn without_stream_false_the_reply_is_an_ndjson_stream() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    fake.push(Reply::Text("the sky is blue".into()));
    fake.push(Reply::ToolCalls(vec![(
        "remember".into(),
        json!({"text": "x"}),
    )]));
    let body = r#"{"model":"llama3.2","messages":[{"role":"user","content":"why?"}]}"#;
    for expected_calls in [0, 1] {
        let (status, content_type, text) = post(&fake, body).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "application/x-ndjson");
        let chunks: Vec<ChatMessageResponse> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(chunks.len() >= 2, "{text}");
        let (last, rest) = chunks.split_last().unwrap();
        assert!(last.done && last.final_data.is_some());
        assert!(rest.iter().all(|c| !c.done));
        let content: String = chunks.iter().map(|c| c.message.content.as_str()).collect();
        let calls: usize = chunks.iter().map(|c| c.message.tool_calls.len()).sum();
        assert_eq!(calls, expected_calls);
        if expected_calls == 0 {
            assert_eq!(content, "the sky is blue");
        }
    }
}

#[tokio::test]
async fn scripted_errors_and_delays() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    fake.push(Reply::Error(500, "out of memory".into()));
    fake.push(Reply::Delay(
        Duration::from_millis(200),
        Box::new(Reply::Text("late".into())),
    ));
    let body = r#"{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"a"}]}"#;
    let (status, _, text) = post(&fake, body).await;
    assert_eq!(
        (status, text.as_str()),
        (500, r#"{"error":"out of memory"}"#)
    );
    let started = std::time::Instant::now();
    let (status, _, text) = post(&fake, body).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    let reply: ChatMessageResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(reply.message.content, "late");
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = FakeOllama::start(["llama3.2:latest"]).await;
    let addr = fake.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(fake);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting on {addr}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
