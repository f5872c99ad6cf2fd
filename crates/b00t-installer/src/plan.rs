//! Plans: the datum and (with `deps`) everything it depends on, in install order, each
//! node with its state (`missing`, `outdated`, `ok`), its version, what would run, and
//! what blocks it (an unmet constraint, a type the installer cannot install).

use std::time::Duration;

use b00t_datums::{
    check_constraints, resolve, Catalog, Datum, DatumId, DatumType, Environment, ResolveError,
};
use serde::Serialize;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::check::{self, Found, State};
use crate::methods::{self, Step, StepView};
use crate::policy::{Policy, Verdict};

/// One datum in a plan.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    pub id: DatumId,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desires: Option<String>,
    /// How the state was found.
    pub check: String,
    /// What installing it runs; absent when it is `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepView>,
    /// Why it cannot be installed here.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// The policy's verdict, for a task the operator did not sign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Verdict>,
    #[serde(skip)]
    pub action: Option<Step>,
}

/// A whole plan, in install order (dependencies first, the datum asked for last).
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub datum: DatumId,
    pub deps: bool,
    pub nodes: Vec<Node>,
}

impl Plan {
    /// Every reason something in the plan cannot be installed, with the node it is about.
    pub fn blocked(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| n.blocked.iter().cloned())
            .collect()
    }

    /// Sets each node's policy verdict; returns the first refusal, worded for the task.
    pub fn judge(&mut self, policy: &Policy, catalog: &Catalog) -> Option<String> {
        let mut refusal = None;
        for node in &mut self.nodes {
            let Some(datum) = catalog.get(&node.id) else {
                continue;
            };
            let verdict = policy.judge(datum);
            if !verdict.allowed && refusal.is_none() {
                let reason = verdict.reasons.first().cloned().unwrap_or_default();
                refusal = Some(if node.id == self.datum {
                    reason
                } else {
                    format!(
                        "`{}` depends on `{}`, which is refused: {reason}",
                        self.datum, node.id
                    )
                });
            }
            node.policy = Some(verdict);
        }
        refusal
    }

    /// Whether any step to run needs root or touches Docker (the CLI asks before those).
    pub fn needs_confirmation(&self) -> bool {
        self.nodes.iter().any(|n| {
            n.state != State::Ok
                && n.action
                    .as_ref()
                    .is_some_and(|s| s.needs_root || s.touches_docker)
        })
    }

    /// The short form an audit line keeps: id and state of each node.
    pub fn summary(&self) -> Vec<Value> {
        self.nodes
            .iter()
            .map(|n| json!({"id": n.id, "state": n.state, "version": n.version}))
            .collect()
    }
}

/// Timeouts and the shutdown signal for the checks a plan runs.
pub struct Checking<'a> {
    pub env: &'a (dyn Environment + Sync),
    pub timeout: Duration,
    pub stop: &'a CancellationToken,
}

/// Plans installing `root` (and its dependencies when `deps`).
pub async fn plan(
    catalog: &Catalog,
    root: &DatumId,
    deps: bool,
    checking: &Checking<'_>,
) -> Result<Plan, ResolveError> {
    let order: Vec<Datum> = resolve(catalog, root, deps)?.into_iter().cloned().collect();
    let mut nodes: Vec<Node> = Vec::with_capacity(order.len());
    for datum in &order {
        let found = check::check(datum, checking.env, checking.timeout, checking.stop).await;
        nodes.push(node(datum, found, checking.env));
    }
    // A stack is installed when all of its members are.
    for i in 0..nodes.len() {
        if order[i].kind == DatumType::Stack && deps {
            let members: Vec<DatumId> = catalog
                .dependencies(&order[i])
                .into_iter()
                .filter_map(|d| d.target.ok())
                .collect();
            let missing: Vec<String> = nodes
                .iter()
                .filter(|n| members.contains(&n.id) && n.state != State::Ok)
                .map(|n| n.id.to_string())
                .collect();
            if !missing.is_empty() {
                nodes[i].state = State::Missing;
                nodes[i].check = format!("members not installed: {}", missing.join(", "));
            }
        }
    }
    Ok(Plan {
        datum: root.clone(),
        deps,
        nodes,
    })
}

/// Re-checks one node (after its step ran).
pub async fn recheck(datum: &Datum, checking: &Checking<'_>) -> Found {
    check::check(datum, checking.env, checking.timeout, checking.stop).await
}

fn node(datum: &Datum, found: Found, env: &(dyn Environment + Sync)) -> Node {
    let mut blocked = Vec::new();
    let mut action = None;
    if found.state != State::Ok {
        for unmet in check_constraints(datum, env) {
            blocked.push(format!(
                "constraint `{}` of `{}` is not met: {}",
                unmet.constraint, datum.id, unmet.reason
            ));
        }
        match methods::step_for(datum, found.state) {
            Ok(step) => action = Some(step),
            Err(why) => blocked.push(why),
        }
    }
    Node {
        id: datum.id.clone(),
        kind: datum.kind.to_string(),
        state: found.state,
        version: found.version,
        desires: datum.desires.clone(),
        check: found.detail,
        step: action.as_ref().map(Step::view),
        blocked,
        policy: None,
        action,
    }
}
