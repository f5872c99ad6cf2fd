//! Tool calling: each tool's round trip (the model's call, the tool's work on the bus or
//! on disk, the `tool` message back, the final text), the round limit, and bad calls
//! going back to the model instead of failing the task.

use b00t_agents::Failure;
use b00t_assistant::spec;
use b00t_proto::ErrorCode;
use b00t_testkit::Reply;
use serde_json::{json, Value};

use crate::support::{recorder, Bench};

fn calls(list: &[(&str, Value)]) -> Reply {
    Reply::ToolCalls(
        list.iter()
            .map(|(name, args)| ((*name).to_owned(), args.clone()))
            .collect(),
    )
}

/// The `tool` messages at the end of a request, parsed.
fn tool_messages(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn remember_round_trip_writes_memory_md() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    let dir = options.group_dir.clone();
    std::fs::write(dir.join("MEMORY.md"), "# Family\n").unwrap();
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[(
        "remember",
        json!({"text": "Sam likes green tea"}),
    )]));
    bench.ollama.push(Reply::Text("Noted!".into()));

    let answer = bench
        .ask(
            "family",
            "chat",
            json!({"text": "remember that Sam likes green tea"}),
        )
        .await;
    let body = answer.body();
    assert_eq!(body["text"], "Noted!");
    assert_eq!(
        body["tool_calls"],
        json!([{
            "name": "remember",
            "arguments": {"text": "Sam likes green tea"},
            "ok": true,
            "result": {"remembered": "Sam likes green tea", "file": "MEMORY.md"},
        }])
    );
    assert_eq!(answer.progress, ["calling remember(Sam likes green tea)"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("MEMORY.md")).unwrap(),
        "# Family\n\nSam likes green tea\n"
    );

    let requests = bench.ollama.requests();
    assert_eq!(requests.len(), 2);
    let second = requests[1]["messages"].as_array().unwrap();
    let n = second.len();
    assert_eq!(second[n - 2]["role"], "assistant");
    assert_eq!(
        second[n - 2]["tool_calls"][0]["function"]["name"],
        "remember"
    );
    assert_eq!(second[n - 1]["role"], "tool");
    assert_eq!(tool_messages(&requests[1])[0]["ok"], true);
    // The next task's prompt holds the new memory.
    bench
        .ask("family", "chat", json!({"text": "and?"}))
        .await
        .body();
    let prompt = bench.ollama.requests()[2]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(prompt.contains("Sam likes green tea"), "{prompt}");
}

#[tokio::test]
async fn install_publishes_an_unsigned_task_and_forbidden_is_visible() {
    let mut bench = Bench::start().await;
    let (installer, mut seen) = recorder(
        "installer",
        &["apt", "bash", "cli", "docker", "mcp", "stack"],
        |_, task| {
            Err(Failure::new(
                ErrorCode::Forbidden,
                format!(
                    "`{}` is not on the whitelist and the task is not signed",
                    task.body["datum"].as_str().unwrap_or("?")
                ),
            ))
        },
    );
    bench.run(installer).await;
    let options = bench.options("family");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[
        ("install", json!({"datum": "jq"})),
        ("install", json!({"datum": "jq.rpm"})),
        ("install", json!({"datum": "jq.apt"})),
    ]));
    bench
        .ollama
        .push(Reply::Text("The installer refused jq.".into()));

    let answer = bench
        .ask("family", "chat", json!({"text": "install jq please"}))
        .await;
    let body = answer.body();
    assert_eq!(body["text"], "The installer refused jq.");
    let made = body["tool_calls"].as_array().unwrap();
    assert_eq!(made.len(), 3);
    assert_eq!(made[0]["error"]["code"], "bad_request");
    assert!(made[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`<name>.<type>`"));
    assert!(made[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("type `rpm`"));
    assert_eq!(made[2]["name"], "install");
    assert_eq!(made[2]["ok"], false);
    assert_eq!(made[2]["error"]["code"], "forbidden");
    assert_eq!(
        made[2]["error"]["message"],
        "`jq.apt` is not on the whitelist and the task is not signed"
    );
    assert_eq!(
        answer.progress,
        [
            "calling install(jq)",
            "calling install(jq.rpm)",
            "calling install(jq.apt)"
        ]
    );

    // Exactly one task reached the installer: on `apt`, from the group, unsigned.
    let (skill, task) = seen.recv().await.unwrap();
    assert_eq!(skill, "apt");
    assert_eq!(task.from.as_deref(), Some("family"));
    assert_eq!(task.body, json!({"datum": "jq.apt"}));
    assert_eq!(task.reply_to.as_deref(), Some("b00t.family/reply"));
    assert!(seen.try_recv().is_err());
    // The model saw the refusal.
    let results = tool_messages(&bench.ollama.requests()[1]);
    assert_eq!(results[2]["error"]["code"], "forbidden");
}

#[tokio::test]
async fn send_message_asks_another_agent_and_returns_its_result() {
    let mut bench = Bench::start().await;
    bench
        .run(b00t_agents::kinds::echo(
            b00t_proto::Name::parse("echo").unwrap(),
        ))
        .await;
    let options = bench.options("family");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[
        (
            "send_message",
            json!({"address": "b00t.echo.echo", "text": "ping"}),
        ),
        ("send_message", json!({"address": "echo", "text": "ping"})),
        (
            "send_message",
            json!({"address": "b00t.family.chat", "text": "me?"}),
        ),
    ]));
    bench.ollama.push(Reply::Text("echo said pong".into()));
    let answer = bench
        .ask("family", "chat", json!({"text": "ping echo"}))
        .await;
    let made = answer.body()["tool_calls"].as_array().unwrap().clone();
    assert_eq!(made[0]["ok"], true, "{made:?}");
    assert_eq!(made[0]["result"]["echo"], json!({"text": "ping"}));
    assert_eq!(made[1]["error"]["code"], "bad_request");
    assert!(made[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("b00t.<agent>.<skill>"));
    assert!(made[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("this assistant itself"));
}

#[tokio::test]
async fn schedule_asks_the_scheduler_and_only_main_names_another_group() {
    let mut bench = Bench::start().await;
    let (scheduler, mut seen) = recorder("scheduler", &["add"], |_, _| {
        Ok(json!({"id": "sch-1", "next": "2026-12-24T09:00:00Z"}))
    });
    bench.run(scheduler).await;
    let family = bench.options("family");
    bench
        .run(spec(family, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[
        (
            "schedule",
            json!({"text": "water the plants", "every": "30m"}),
        ),
        (
            "schedule",
            json!({"text": "x", "in": "10m", "group": "main"}),
        ),
        ("schedule", json!({"text": "x"})),
        (
            "schedule",
            json!({"text": "x", "in": "10m", "at": "2026-12-24T09:00:00Z"}),
        ),
    ]));
    bench.ollama.push(Reply::Text("Scheduled.".into()));
    let answer = bench
        .ask("family", "chat", json!({"text": "remind me"}))
        .await;
    let made = answer.body()["tool_calls"].as_array().unwrap().clone();
    assert_eq!(
        made[0]["result"],
        json!({"id": "sch-1", "next": "2026-12-24T09:00:00Z"})
    );
    assert_eq!(made[1]["error"]["code"], "forbidden");
    assert!(made[2]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("say when"));
    assert!(made[3]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("only one of"));
    let (_, task) = seen.recv().await.unwrap();
    assert_eq!(
        task.body,
        json!({"group": "family", "text": "water the plants", "every": "30m"})
    );
    assert!(seen.try_recv().is_err(), "refused calls publish nothing");

    let main = bench.options("main");
    bench
        .run(spec(main, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[(
        "schedule",
        json!({"text": "say hi", "cron": "0 9 * * *", "group": "family"}),
    )]));
    bench.ollama.push(Reply::Text("Done.".into()));
    let answer = bench.ask("main", "chat", json!({"text": "schedule"})).await;
    assert_eq!(answer.body()["tool_calls"][0]["ok"], true);
    let (_, task) = seen.recv().await.unwrap();
    assert_eq!(
        task.body,
        json!({"group": "family", "text": "say hi", "cron": "0 9 * * *"})
    );
    assert_eq!(task.from.as_deref(), Some("main"));
}

#[tokio::test]
async fn unknown_tools_and_bad_arguments_go_back_to_the_model() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench.ollama.push(calls(&[
        ("fly", json!({"to": "moon"})),
        ("remember", json!({"text": 5})),
        ("remember", json!("{\"text\": \"from a string\"}")),
    ]));
    bench.ollama.push(Reply::Text("Sorry.".into()));
    let answer = bench.ask("family", "chat", json!({"text": "go"})).await;
    let made = answer.body()["tool_calls"].as_array().unwrap().clone();
    assert_eq!(made[0]["error"]["code"], "not_found");
    assert!(made[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no tool `fly`"));
    assert_eq!(
        made[1]["error"]["message"],
        "`text` must be a string, not a number"
    );
    assert_eq!(
        made[2]["ok"], true,
        "arguments sent as a JSON string are read"
    );
    let results = tool_messages(&bench.ollama.requests()[1]);
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ok"], false);
}

#[tokio::test]
async fn the_rounds_are_limited() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    // A model that never stops asking: 8 rounds, then one call without tools, then a failure.
    for i in 0..9 {
        bench
            .ollama
            .push(calls(&[("remember", json!({"text": format!("note {i}")}))]));
    }
    let answer = bench.ask("family", "chat", json!({"text": "loop"})).await;
    let (code, message) = answer.error();
    assert_eq!(code, "failed");
    assert!(
        message.contains("still asked for tools after 8 rounds"),
        "{message}"
    );
    assert_eq!(answer.progress.len(), 8);
    assert_eq!(
        answer.reply["error"]["detail"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    let requests = bench.ollama.requests();
    assert_eq!(requests.len(), 9);
    assert!(requests[..8]
        .iter()
        .all(|r| r["tools"].as_array().is_some_and(|t| t.len() == 4)));
    assert!(
        requests[8].get("tools").is_none(),
        "the last call offers no tools"
    );

    // With 2 rounds allowed, a model that answers after the limit gives the answer.
    let mut options = bench.options("two");
    options.max_tool_rounds = 2;
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench
        .ollama
        .push(calls(&[("remember", json!({"text": "a"}))]));
    bench
        .ollama
        .push(calls(&[("remember", json!({"text": "b"}))]));
    bench.ollama.push(Reply::Text("Both noted.".into()));
    let answer = bench.ask("two", "chat", json!({"text": "two notes"})).await;
    assert_eq!(answer.body()["text"], "Both noted.");
    assert_eq!(answer.body()["tool_calls"].as_array().unwrap().len(), 2);
    let last = bench.ollama.requests().pop().unwrap();
    assert!(last.get("tools").is_none());
    let system_note = last["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(system_note["role"], "system");
    assert!(system_note["content"]
        .as_str()
        .unwrap()
        .contains("limit of 2 rounds"));
}
