//! The test bench: broker, fake Ollama, group folders, a client that sends tasks and
//! collects replies, and helpers to run agents on the bus.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use b00t_agents::{AgentSpec, Failure, Handler, HandlerFuture, HostOptions, Ledger, TaskContext};
use b00t_assistant::AssistantOptions;
use b00t_broker::{BrokerSettings, EmbeddedBroker};
use b00t_bus::{Bus, BusEvent, BusOptions, Events, Qos};
use b00t_config::BrokerUrl;
use b00t_proto::{AgentChannel, AgentState, Name, StatusCard, Task};
use b00t_testkit::FakeOllama;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where the client's replies come.
const REPLY_BASE: &str = "test.reply";

pub(crate) struct Bench {
    pub _root: tempfile::TempDir,
    pub groups: PathBuf,
    pub ollama: FakeOllama,
    pub url: BrokerUrl,
    /// Stops every agent started with `run`, the client, and the fake.
    pub stop: CancellationToken,
    client: Bus,
    events: Events,
}

/// What a task got back.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `result` or `error`.
    pub channel: String,
    pub reply: Value,
    /// The `step` of every progress reply, in order.
    pub progress: Vec<String>,
}

impl Answer {
    pub(crate) fn body(&self) -> &Value {
        assert_eq!(self.channel, "result", "{:#}", self.reply);
        &self.reply["body"]
    }

    pub(crate) fn error(&self) -> (&str, &str) {
        assert_eq!(self.channel, "error", "{:#}", self.reply);
        (
            self.reply["error"]["code"].as_str().unwrap(),
            self.reply["error"]["message"].as_str().unwrap(),
        )
    }
}

impl Bench {
    /// A broker, the fake Ollama serving `llama3.2:latest`, `groups/global/` and a client.
    pub(crate) async fn start() -> Bench {
        let broker = EmbeddedBroker::start(BrokerSettings {
            max_connections: 64,
            ..BrokerSettings::loopback()
        })
        .await
        .unwrap();
        let url = BrokerUrl::for_listen(broker.addr());
        let stop = CancellationToken::new();
        let (client, events) = Bus::connect(BusOptions::new(url.clone(), "test-client"), &stop);
        client
            .wait_connected(Duration::from_secs(10))
            .await
            .unwrap();
        client
            .subscribe_confirmed("#", Qos::AtLeastOnce, Duration::from_secs(10))
            .await
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let groups = root.path().join("groups");
        std::fs::create_dir_all(groups.join("global")).unwrap();
        Bench {
            _root: root,
            groups,
            ollama: FakeOllama::start(["llama3.2:latest"]).await,
            url,
            stop,
            client,
            events,
        }
    }

    /// Makes `groups/<group>/` and returns options for it: the fake Ollama, short timeouts.
    pub(crate) fn options(&self, group: &str) -> AssistantOptions {
        let dir = self.groups.join(group);
        std::fs::create_dir_all(&dir).unwrap();
        let mut options = AssistantOptions::new(
            Name::parse(group).unwrap(),
            dir,
            BusOptions::new(self.url.clone(), "unused"),
        );
        options.global_dir = Some(self.groups.join("global"));
        options.assistant_name = "Andy".into();
        options.ollama_url = self.ollama.url();
        options.ollama_timeout = Duration::from_secs(10);
        options.task_timeout = Duration::from_secs(30);
        options.tool_timeout = Duration::from_secs(10);
        options
    }

    /// Runs `spec` on the bus until `stop` (or the bench's stop), and waits for its card.
    pub(crate) async fn run_with(&mut self, spec: AgentSpec, stop: CancellationToken) {
        let name = spec.name.to_string();
        let options = HostOptions {
            url: self.url.clone(),
            max_payload: 1 << 20,
            packet_limit: 1 << 20,
            heartbeat: Duration::from_secs(60),
            ledger: Arc::new(Ledger::in_memory(&name)),
            drain: Duration::from_secs(2),
        };
        tokio::spawn(b00t_agents::run(spec, options, stop));
        self.wait_card(&name, AgentState::Online, &[]).await;
    }

    pub(crate) async fn run(&mut self, spec: AgentSpec) {
        let stop = self.stop.child_token();
        self.run_with(spec, stop).await;
    }

    /// Waits for `agent`'s card in `state` listing at least `skills`.
    pub(crate) async fn wait_card(&mut self, agent: &str, state: AgentState, skills: &[&str]) {
        let topic = AgentChannel::Status.topic(agent);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {state:?} card of `{agent}` with {skills:?}"))
                .unwrap();
            if let BusEvent::Message(m) = event {
                if m.topic == topic {
                    if let Some(card) = StatusCard::parse(&m.payload) {
                        if card.state == state
                            && skills.iter().all(|s| card.skills.iter().any(|c| c == s))
                        {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The skills on the next card of `agent`.
    pub(crate) async fn wait_card_skills(&mut self, agent: &str) -> Vec<String> {
        let topic = AgentChannel::Status.topic(agent);
        loop {
            let Some(event) = self.events.recv().await else {
                return Vec::new();
            };
            if let BusEvent::Message(m) = event {
                if m.topic == topic {
                    if let Some(card) = StatusCard::parse(&m.payload) {
                        return card.skills;
                    }
                }
            }
        }
    }

    /// Sends `body` to `b00t.<agent>.<skill>` and waits for its final reply.
    pub(crate) async fn ask(&mut self, agent: &str, skill: &str, body: Value) -> Answer {
        let id = format!("t-{:08x}", fastrand::u32(..));
        let envelope = json!({"id": id, "from": "operator", "reply_to": REPLY_BASE, "body": body});
        self.send_raw(agent, skill, envelope.to_string().into_bytes())
            .await;
        self.answer(Some(&id)).await
    }

    /// Publishes `payload` as is to `b00t.<agent>.<skill>/task`.
    pub(crate) async fn send_raw(&self, agent: &str, skill: &str, payload: Vec<u8>) {
        self.client
            .publish(
                &format!("b00t.{agent}.{skill}/task"),
                Qos::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
    }

    /// The replies to task `id` (any task on the address when `None`) until the final one.
    pub(crate) async fn answer(&mut self, id: Option<&str>) -> Answer {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut progress = Vec::new();
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no final reply for {id:?}; progress {progress:?}"))
                .unwrap();
            let BusEvent::Message(m) = event else {
                continue;
            };
            let Some((base, channel)) = m.topic.rsplit_once('/') else {
                continue;
            };
            if id.is_some() && base != REPLY_BASE {
                continue;
            }
            let Ok(reply) = serde_json::from_slice::<Value>(&m.payload) else {
                continue;
            };
            if let Some(id) = id {
                if reply["id"] != id {
                    continue;
                }
            } else if !matches!(
                reply["type"].as_str(),
                Some("ack" | "progress" | "result" | "error")
            ) {
                continue;
            }
            match channel {
                "progress" => progress.push(reply["step"].as_str().unwrap_or("").to_owned()),
                "result" | "error" => {
                    return Answer {
                        channel: channel.to_owned(),
                        reply,
                        progress,
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes `groups/<group>/.skills/<name>/SKILL.md`.
pub(crate) fn write_skill(group_dir: &Path, name: &str, description: &str, body: &str) -> String {
    let folder = group_dir.join(".skills").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    // A JSON string is a YAML double-quoted scalar: descriptions may hold `: `.
    let quoted = serde_json::to_string(description).unwrap();
    let text = format!("---\nname: {name}\ndescription: {quoted}\n---\n{body}\n");
    std::fs::write(folder.join("SKILL.md"), &text).unwrap();
    text
}

/// The system prompt of a recorded `/api/chat` request.
pub(crate) fn system_prompt(request: &Value) -> String {
    assert_eq!(request["messages"][0]["role"], "system", "{request:#}");
    request["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A fake agent: records every task it gets and answers with `answer(skill, task)`.
pub(crate) struct Recorder<F> {
    pub seen: mpsc::UnboundedSender<(String, Task)>,
    pub answer: F,
}

impl<F> Handler for Recorder<F>
where
    F: Fn(&str, &Task) -> Result<Value, Failure> + Send + Sync + 'static,
{
    fn handle(&self, ctx: TaskContext) -> HandlerFuture {
        let outcome = (self.answer)(ctx.skill.as_str(), &ctx.task);
        let _ = self.seen.send((ctx.skill.to_string(), ctx.task));
        Box::pin(async move { outcome })
    }
}

/// An agent `name` with `skills` that records its tasks and answers with `answer`.
pub(crate) fn recorder<F>(
    name: &str,
    skills: &[&str],
    answer: F,
) -> (AgentSpec, mpsc::UnboundedReceiver<(String, Task)>)
where
    F: Fn(&str, &Task) -> Result<Value, Failure> + Send + Sync + 'static,
{
    let (seen, received) = mpsc::unbounded_channel();
    let spec = AgentSpec::new(
        Name::parse(name).unwrap(),
        "test",
        skills.iter().map(|s| Name::parse(s).unwrap()).collect(),
        Arc::new(Recorder { seen, answer }),
    );
    (spec, received)
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
