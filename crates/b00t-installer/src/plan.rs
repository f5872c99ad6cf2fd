//! Plans: the datum and (with `deps`) everything it depends on, in install order, each
//! node with its state (`missing`, `outdated`, `ok`), its version, what would run, and
//! what blocks it (an unmet constraint, a type the installer cannot install).

use std::time::Duration;

use b00t_datums::{
    check_constraints, resolve, Catalog, Datum, DatumId, DatumType, DependencyKind, Environment,
    ResolveError,
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
        let mut found = check::check(datum, checking.env, checking.timeout, checking.stop).await;
        let unprovided = unprovided_tools(catalog, datum, checking.env);
        if !unprovided.is_empty() {
            let names = unprovided.join("`, `");
            found.state = State::Missing;
            found.detail = format!("{}; requires `{names}`, not on PATH", found.detail);
        }
        let mut node = node(datum, found, checking.env);
        for tool in unprovided {
            node.blocked.push(format!(
                "`{}` requires `{tool}`, which no datum in the catalog provides and which is not on PATH: install `{tool}`, or add a datum for it (e.g. `{tool}.cli`)",
                datum.id
            ));
        }
        nodes.push(node);
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

/// The tools `datum` requires (an MCP datum's `requires`) that no datum provides and that
/// are not on PATH either.
fn unprovided_tools(
    catalog: &Catalog,
    datum: &Datum,
    env: &(dyn Environment + Sync),
) -> Vec<String> {
    catalog
        .dependencies(datum)
        .into_iter()
        .filter_map(|dep| match (dep.target, dep.why) {
            (Err(tool), DependencyKind::Command(_)) if !env.has_command(&tool) => Some(tool),
            _ => None,
        })
        .collect()
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
        match methods::step_for(datum, found.state, env) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{datum, OnPath};

    #[tokio::test]
    async fn a_required_tool_no_datum_provides_is_reported() {
        let catalog = Catalog::from_datums(vec![datum(
            "browser-use.mcp.toml",
            "[b00t]\nname = \"browser-use\"\nhint = \"h\"\n[[b00t.mcp.stdio]]\ncommand = \"uvx\"\n\
             requires = [\"OPENAI_API_KEY\", \"python\", \"internet\"]\n",
        )]);
        let id = DatumId::parse("browser-use.mcp").unwrap();
        let stop = CancellationToken::new();
        let plan_on = |path: &'static [&'static str]| {
            let catalog = &catalog;
            let id = &id;
            let stop = &stop;
            async move {
                let env = OnPath(path);
                let checking = Checking {
                    env: &env,
                    timeout: Duration::from_secs(5),
                    stop,
                };
                plan(catalog, id, true, &checking).await.unwrap()
            }
        };
        let without = plan_on(&["uvx"]).await;
        assert_eq!(without.nodes[0].state, State::Missing);
        assert_eq!(
            without.blocked(),
            ["`browser-use.mcp` requires `python`, which no datum in the catalog provides and which is not on PATH: install `python`, or add a datum for it (e.g. `python.cli`)"]
        );
        let with = plan_on(&["uvx", "python"]).await;
        assert_eq!(with.nodes[0].state, State::Ok);
        assert!(with.blocked().is_empty());
    }
}
