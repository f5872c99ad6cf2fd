//! The conversation: the last 20 turns go to the model with each task, are persisted in
//! the group folder, and are there again after the agent restarts.

use b00t_assistant::{spec, HISTORY_FILE};
use b00t_proto::AgentState;
use serde_json::{json, Value};

use crate::support::Bench;

/// The (role, content) pairs of a request after the system prompt.
fn conversation(request: &Value) -> Vec<(String, String)> {
    request["messages"].as_array().unwrap()[1..]
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn turns(from: usize, to: usize) -> Vec<(String, String)> {
    (from..to)
        .flat_map(|i| {
            [
                ("user".to_owned(), format!("message {i}")),
                ("assistant".to_owned(), format!("echo: message {i}")),
            ]
        })
        .collect()
}

#[tokio::test]
async fn twenty_turns_are_kept_and_survive_a_restart() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    let dir = options.group_dir.clone();
    let first = bench.stop.child_token();
    bench
        .run_with(spec(options.clone(), first.clone()).unwrap(), first.clone())
        .await;
    for i in 0..23 {
        let answer = bench
            .ask("family", "chat", json!({"text": format!("message {i}")}))
            .await;
        assert_eq!(answer.body()["text"], format!("echo: message {i}"));
    }
    let requests = bench.ollama.requests();
    assert_eq!(
        conversation(&requests[0]),
        [("user".to_owned(), "message 0".to_owned())]
    );
    let mut expected = turns(2, 22);
    expected.push(("user".into(), "message 22".into()));
    assert_eq!(
        conversation(&requests[22]),
        expected,
        "the last 20 turns, then the task"
    );

    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(HISTORY_FILE)).unwrap()).unwrap();
    let saved = file["turns"].as_array().unwrap();
    assert_eq!(saved.len(), 20);
    assert_eq!(saved[0]["user"], "message 3");
    assert_eq!(saved[19]["assistant"], "echo: message 22");

    // A new agent process for the same group picks the conversation up.
    first.cancel();
    bench.wait_card("family", AgentState::Offline, &[]).await;
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench
        .ask("family", "chat", json!({"text": "still there?"}))
        .await
        .body();
    let last = bench.ollama.requests().pop().unwrap();
    let mut expected = turns(3, 23);
    expected.push(("user".into(), "still there?".into()));
    assert_eq!(conversation(&last), expected);
}

#[tokio::test]
async fn a_corrupt_history_is_moved_aside_and_the_agent_answers() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    let dir = options.group_dir.clone();
    std::fs::write(dir.join(HISTORY_FILE), b"{\"version\":1,\"turns\":[{\"us").unwrap();
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    let answer = bench.ask("family", "chat", json!({"text": "hello"})).await;
    assert_eq!(answer.body()["text"], "echo: hello");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("history.json.corrupt-")),
        "{names:?}"
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(HISTORY_FILE)).unwrap()).unwrap();
    assert_eq!(file["turns"][0]["user"], "hello");
}
