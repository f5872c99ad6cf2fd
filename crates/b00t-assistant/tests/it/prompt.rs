//! What the model is told: the assistant's name, the memories, the skills, and a skill's
//! whole SKILL.md on its own address; read afresh on every task. Also the chat body's
//! checks and the live skill list on the agent's card.

use std::time::Duration;

use b00t_assistant::spec;
use b00t_proto::AgentState;
use serde_json::json;

use crate::support::{system_prompt, write_skill, Bench};

#[tokio::test]
async fn the_prompt_holds_the_name_the_memories_and_the_skills() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    let dir = options.group_dir.clone();
    std::fs::write(dir.join("MEMORY.md"), "# Family\nThe dog is called Rex.\n").unwrap();
    std::fs::write(
        bench.groups.join("global/MEMORY.md"),
        "Everyone lives in Perth.\n",
    )
    .unwrap();
    write_skill(
        &dir,
        "weather",
        "Forecasts for the family's town",
        "Use the BOM.",
    );
    let recipes = write_skill(
        &dir,
        "recipes",
        "Cooking help: recipes, timings — and substitutions",
        "# Recipes\n\nAlways give metric quantities.\nSTEP-BY-STEP-MARKER",
    );
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;

    let answer = bench
        .ask("family", "chat", json!({"text": "hi there"}))
        .await;
    assert_eq!(answer.body()["text"], "echo: hi there");
    assert_eq!(answer.body()["model"], "llama3.2");
    assert_eq!(answer.body()["tool_calls"], json!([]));
    let requests = bench.ollama.requests();
    let prompt = system_prompt(&requests[0]);
    for needle in [
        "You are Andy, the assistant of the group `family`",
        "The dog is called Rex.",
        "Everyone lives in Perth.",
        "- recipes: Cooking help: recipes, timings — and substitutions",
        "- weather: Forecasts for the family's town",
    ] {
        assert!(prompt.contains(needle), "missing {needle:?} in:\n{prompt}");
    }
    assert!(
        !prompt.contains("STEP-BY-STEP-MARKER"),
        "a chat task gets no SKILL.md"
    );
    assert!(!prompt.contains("main group"), "family is not privileged");
    assert_eq!(
        requests[0]["messages"][1],
        json!({"role": "user", "content": "hi there", "tool_calls": [], "thinking": null})
    );
    assert_eq!(requests[0]["stream"], false);
    let tools: Vec<_> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tools, ["install", "send_message", "schedule", "remember"]);

    // A task on a skill's address carries its whole SKILL.md; live edits count.
    std::fs::write(dir.join("MEMORY.md"), "The dog is now called Max.\n").unwrap();
    let answer = bench
        .ask("family", "recipes", json!({"text": "pancakes?"}))
        .await;
    assert_eq!(answer.body()["text"], "echo: pancakes?");
    let prompt = system_prompt(&bench.ollama.requests()[1]);
    assert!(prompt.contains(recipes.trim_end()), "{prompt}");
    assert!(prompt.contains("The dog is now called Max."), "{prompt}");
    assert!(!prompt.contains("Rex"), "{prompt}");
}

#[tokio::test]
async fn the_main_group_is_told_it_is_privileged() {
    let mut bench = Bench::start().await;
    let options = bench.options("main");
    assert!(options.privileged);
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    bench
        .ask("main", "chat", json!({"text": "hello"}))
        .await
        .body();
    let request = &bench.ollama.requests()[0];
    assert!(system_prompt(request).contains("This is the main group"));
    let schedule = request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "schedule")
        .unwrap();
    assert!(schedule["function"]["parameters"]["properties"]["group"].is_object());
}

#[tokio::test]
async fn bodies_without_text_are_bad_requests_and_plain_text_works() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    let answer = bench.ask("family", "chat", json!({"message": "hi"})).await;
    let (code, message) = answer.error();
    assert_eq!(code, "bad_request");
    assert!(message.contains("field `text`"), "{message}");
    let answer = bench.ask("family", "chat", json!({"text": 42})).await;
    assert!(answer.error().1.contains("field `text` must be a string"));

    bench
        .send_raw("family", "chat", b"good morning".to_vec())
        .await;
    let answer = bench.answer(None).await;
    assert_eq!(answer.body()["text"], "echo: good morning");
    assert!(
        bench.ollama.requests().len() == 1,
        "bad requests never reach the model"
    );
}

#[tokio::test]
async fn a_skill_synced_while_running_gets_its_address() {
    let mut bench = Bench::start().await;
    let options = bench.options("family");
    let dir = options.group_dir.clone();
    bench
        .run(spec(options, bench.stop.child_token()).unwrap())
        .await;
    let text = write_skill(&dir, "garden", "Plants and watering", "Water at dawn.");
    bench
        .wait_card("family", AgentState::Online, &["chat", "garden"])
        .await;
    // The host keeps to the new list at once: the address answers.
    let answer = bench
        .ask("family", "garden", json!({"text": "tomatoes?"}))
        .await;
    assert_eq!(answer.body()["text"], "echo: tomatoes?");
    assert!(system_prompt(&bench.ollama.requests()[0]).contains(text.trim_end()));

    std::fs::remove_dir_all(dir.join(".skills/garden")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // Poll the card until `garden` is gone from it.
        let card = tokio::time::timeout_at(deadline, bench.wait_card_skills("family"))
            .await
            .expect("a card without `garden` within 10 s");
        if !card.iter().any(|s| s == "garden") {
            break;
        }
    }
}
