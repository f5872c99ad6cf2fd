//! The agent abstraction every agent uses: installer, group assistants, container CI
//! agents, echo. A handler gets a [`TaskContext`] and returns a JSON body or a
//! [`Failure`]; the host does the protocol around it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use b00t_proto::{ErrorCode, Name, Task};
use serde_json::Value;

use crate::reply::Replier;

/// What a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send + 'static>>;

/// The work of an agent's skills.
pub trait Handler: Send + Sync + 'static {
    /// Executes one task. Called at most once per (address, id).
    fn handle(&self, ctx: TaskContext) -> HandlerFuture;
}

/// A failed task: becomes an `error` reply with this code and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    /// Structured detail, sent as the error's `detail`.
    pub detail: Option<Value>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Failure {
        self.detail = Some(detail);
        self
    }
}

/// One task being executed.
pub struct TaskContext {
    pub agent: Name,
    pub skill: Name,
    pub task: Task,
    /// How many tasks this agent process has executed, this one included.
    pub seq: u64,
    pub progress: Progress,
}

/// Sends `progress` replies for the task being executed.
#[derive(Clone)]
pub struct Progress {
    pub(crate) replier: Replier,
    pub(crate) base: String,
    pub(crate) id: String,
    pub(crate) skill: String,
}

impl Progress {
    /// Reports step `n` of `of` (either may be unknown).
    pub async fn step(&self, step: &str, n: Option<u64>, of: Option<u64>) {
        self.send(step, n, of, None).await;
    }

    /// Reports one line of a child process's output during step `n` of `of`.
    pub async fn output(&self, step: &str, n: Option<u64>, of: Option<u64>, line: &str) {
        self.send(step, n, of, Some(line.to_owned())).await;
    }

    async fn send(&self, step: &str, n: Option<u64>, of: Option<u64>, output: Option<String>) {
        let reply = b00t_proto::Reply::Progress {
            id: self.id.clone(),
            agent: self.replier.agent().to_owned(),
            skill: self.skill.clone(),
            step: step.to_owned(),
            n,
            of,
            output,
            ts: b00t_proto::clock::now_rfc3339(),
        };
        self.replier.send(&self.base, &reply).await;
    }
}

/// An agent: who it is, what it can do, and the code that does it.
#[derive(Clone)]
pub struct AgentSpec {
    pub name: Name,
    pub kind: String,
    pub skills: Vec<Name>,
    pub handler: Arc<dyn Handler>,
    /// New skill lists for an agent whose skills change while it runs (a group agent
    /// whose skill folders are synced live). The host re-subscribes and publishes its
    /// card again on each change.
    pub skill_updates: Option<tokio::sync::watch::Receiver<Vec<Name>>>,
    /// The container this agent answers for (a container CI agent), shown on its card.
    pub container: Option<b00t_proto::ContainerRef>,
}

impl AgentSpec {
    /// An agent with a fixed set of skills.
    pub fn new(
        name: Name,
        kind: impl Into<String>,
        skills: Vec<Name>,
        handler: Arc<dyn Handler>,
    ) -> AgentSpec {
        AgentSpec {
            name,
            kind: kind.into(),
            skills,
            handler,
            skill_updates: None,
            container: None,
        }
    }

    /// Skills that change while the agent runs: each value sent replaces the list.
    pub fn with_skill_updates(
        mut self,
        updates: tokio::sync::watch::Receiver<Vec<Name>>,
    ) -> AgentSpec {
        self.skill_updates = Some(updates);
        self
    }

    /// The agent answers for `container`; its card says which.
    pub fn for_container(mut self, container: b00t_proto::ContainerRef) -> AgentSpec {
        self.container = Some(container);
        self
    }
}

impl std::fmt::Debug for AgentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("skills", &self.skills)
            .finish()
    }
}
