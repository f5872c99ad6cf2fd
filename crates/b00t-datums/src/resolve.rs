//! Install order: the datums a root needs, dependencies before dependents, ties broken by id
//! so the same catalog always gives the same order. Built on petgraph: Kosaraju's SCCs
//! (iterative, so 10,000-deep chains are fine) find cycles, Kahn's algorithm with a min-heap
//! gives the order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use thiserror::Error;

use crate::catalog::{Catalog, DependencyKind};
use crate::id::DatumId;
use crate::model::Datum;

/// Why there is no install order.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResolveError {
    /// A `depends_on` or `members` entry names no datum.
    #[error("datum `{missing}` is not in the catalog, but `{wanted_by}` depends on it: add a `{missing}` datum to datums/ or fix `depends_on` in {}", path.display())]
    Missing {
        missing: String,
        wanted_by: DatumId,
        path: PathBuf,
    },
    /// A datum needed (the root, or what `wanted_by` depends on) is in a file that was refused.
    #[error("{}", refused_message(id, path, reason, wanted_by.as_ref()))]
    Refused {
        id: DatumId,
        /// The refused file.
        path: PathBuf,
        reason: String,
        wanted_by: Option<DatumId>,
    },
    /// Datums that depend on each other; `path` starts and ends with the same id.
    #[error("cycle: {}", join(path))]
    Cycle { path: Vec<DatumId> },
    /// The root itself is not in the catalog.
    #[error("datum `{id}` is not in the catalog: run `b00t datum list` to see the ids")]
    NotInCatalog { id: DatumId },
}

fn refused_message(
    id: &DatumId,
    path: &std::path::Path,
    reason: &str,
    wanted_by: Option<&DatumId>,
) -> String {
    let refused = format!(
        "`{id}` is in `{}` but was refused: {reason}",
        path.display()
    );
    match wanted_by {
        Some(wanted_by) => {
            format!("`{wanted_by}` depends on `{id}`, which cannot be used: {refused}")
        }
        None => refused,
    }
}

/// The install order for `root` and, when `deps`, everything it depends on, transitively:
/// dependencies before dependents; among datums ready at the same time, id order.
/// Without `deps`: just `[root]`.
pub fn resolve<'c>(
    catalog: &'c Catalog,
    root: &DatumId,
    deps: bool,
) -> Result<Vec<&'c Datum>, ResolveError> {
    let Some(position) = catalog.position(root) else {
        if let Some(refused) = catalog.refused_as(root.as_str()) {
            return Err(ResolveError::Refused {
                id: refused.id.clone(),
                path: refused.path.clone(),
                reason: refused.reason.clone(),
                wanted_by: None,
            });
        }
        return Err(ResolveError::NotInCatalog { id: root.clone() });
    };
    if !deps {
        return Ok(vec![catalog.at(position)]);
    }
    install_order(catalog, vec![position])
}

/// The whole catalog in dependency order.
pub fn resolve_all(catalog: &Catalog) -> Result<Vec<&Datum>, ResolveError> {
    install_order(catalog, (0..catalog.len()).collect())
}

/// The dependency graph reachable from some datums, by catalog position.
struct Reachable {
    /// Node weights are catalog positions; an edge `a -> b` means `a` depends on `b`.
    graph: DiGraph<usize, ()>,
    /// (wanted by, entry) for each `depends_on`/`members` entry naming no datum, in edge order;
    /// the error names the smallest id's first entry.
    missing: Vec<(usize, String)>,
}

fn install_order(catalog: &Catalog, starts: Vec<usize>) -> Result<Vec<&Datum>, ResolveError> {
    let reachable = collect(catalog, starts);
    if let Some((wanted_by, missing)) = reachable
        .missing
        .iter()
        .min_by_key(|(wanted_by, _)| *wanted_by)
    {
        let datum = catalog.at(*wanted_by);
        if let Some(refused) = catalog.refused_as(missing) {
            return Err(ResolveError::Refused {
                id: refused.id.clone(),
                path: refused.path.clone(),
                reason: refused.reason.clone(),
                wanted_by: Some(datum.id.clone()),
            });
        }
        return Err(ResolveError::Missing {
            missing: missing.clone(),
            wanted_by: datum.id.clone(),
            path: datum.path.clone(),
        });
    }
    if let Some(cycle) = find_cycle(&reachable.graph) {
        return Err(ResolveError::Cycle {
            path: cycle
                .into_iter()
                .map(|position| catalog.at(position).id.clone())
                .collect(),
        });
    }
    Ok(kahn(&reachable.graph)
        .into_iter()
        .map(|position| catalog.at(position))
        .collect())
}

/// Iterative DFS from `starts` over the catalog's edges.
fn collect(catalog: &Catalog, starts: Vec<usize>) -> Reachable {
    let mut graph = DiGraph::new();
    let mut nodes: Vec<Option<NodeIndex>> = vec![None; catalog.len()];
    let mut missing = Vec::new();
    let mut stack = Vec::new();
    for start in starts {
        if nodes[start].is_none() {
            nodes[start] = Some(graph.add_node(start));
            stack.push(start);
        }
    }
    while let Some(position) = stack.pop() {
        let Some(from) = nodes[position] else {
            continue;
        };
        for (target, why) in catalog.edges(catalog.at(position)) {
            match target {
                Ok(target) => {
                    let to = match nodes[target] {
                        Some(node) => node,
                        None => {
                            let node = graph.add_node(target);
                            nodes[target] = Some(node);
                            stack.push(target);
                            node
                        }
                    };
                    graph.add_edge(from, to, ());
                }
                Err(raw) => {
                    if matches!(why, DependencyKind::DependsOn | DependencyKind::Member) {
                        missing.push((position, raw));
                    }
                }
            }
        }
    }
    Reachable { graph, missing }
}

/// The cycle through the smallest id of the cycle-bearing SCC whose smallest id is smallest,
/// as catalog positions, first repeated at the end; `None` when the graph is acyclic.
fn find_cycle(graph: &DiGraph<usize, ()>) -> Option<Vec<usize>> {
    let mut best: Option<(usize, Vec<NodeIndex>)> = None;
    for scc in kosaraju_scc(graph) {
        let cyclic = scc.len() > 1
            || scc
                .first()
                .is_some_and(|&node| graph.contains_edge(node, node));
        if !cyclic {
            continue;
        }
        let Some(smallest) = scc.iter().map(|&node| graph[node]).min() else {
            continue;
        };
        if best.as_ref().is_none_or(|(current, _)| smallest < *current) {
            best = Some((smallest, scc));
        }
    }
    let (_, scc) = best?;
    let start = scc.iter().copied().min_by_key(|&node| graph[node])?;
    let mut in_scc = vec![false; graph.node_count()];
    for &node in &scc {
        in_scc[node.index()] = true;
    }
    // BFS from `start` inside the SCC for the shortest way back to it; neighbours in id order.
    let mut parent: Vec<Option<NodeIndex>> = vec![None; graph.node_count()];
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph
            .neighbors(node)
            .filter(|n| in_scc[n.index()])
            .collect();
        next.sort_by_key(|&n| graph[n]);
        next.dedup();
        for neighbour in next {
            if neighbour == start {
                return Some(cycle_path(graph, start, node, &parent));
            }
            if parent[neighbour.index()].is_none() {
                parent[neighbour.index()] = Some(node);
                queue.push_back(neighbour);
            }
        }
    }
    None
}

/// `start -> … -> last -> start`, following BFS parents back from `last`.
fn cycle_path(
    graph: &DiGraph<usize, ()>,
    start: NodeIndex,
    last: NodeIndex,
    parent: &[Option<NodeIndex>],
) -> Vec<usize> {
    let mut backwards = vec![graph[start]];
    let mut at = last;
    while at != start {
        backwards.push(graph[at]);
        match parent[at.index()] {
            Some(previous) => at = previous,
            None => break,
        }
    }
    backwards.push(graph[start]);
    backwards.reverse();
    backwards
}

/// Kahn's algorithm: a datum is ready when all its dependencies are placed; the smallest
/// position (id) among the ready goes first.
fn kahn(graph: &DiGraph<usize, ()>) -> Vec<usize> {
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|node| graph.neighbors(node).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<(usize, NodeIndex)>> = graph
        .node_indices()
        .filter(|node| waiting[node.index()] == 0)
        .map(|node| Reverse((graph[node], node)))
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(Reverse((position, node))) = ready.pop() {
        order.push(position);
        for dependent in graph.neighbors_directed(node, Direction::Incoming) {
            let count = &mut waiting[dependent.index()];
            *count = count.saturating_sub(1);
            if *count == 0 {
                ready.push(Reverse((graph[dependent], dependent)));
            }
        }
    }
    order
}

fn join(path: &[DatumId]) -> String {
    path.iter()
        .map(DatumId::as_str)
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{catalog, datum, deps};

    fn id(s: &str) -> DatumId {
        DatumId::parse(s).unwrap()
    }

    fn order(catalog: &Catalog, root: &str) -> Result<Vec<String>, String> {
        resolve(catalog, &id(root), true)
            .map(|datums| datums.iter().map(|datum| datum.id.to_string()).collect())
            .map_err(|error| error.to_string())
    }

    fn order_all(catalog: &Catalog) -> Result<Vec<String>, String> {
        resolve_all(catalog)
            .map(|datums| datums.iter().map(|datum| datum.id.to_string()).collect())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn diamond_dependencies_first_ties_by_id() {
        // top -> (left, right) -> base; right also needs a-util.
        let datums = [
            ("top.cli", deps(&["right.cli", "left.cli"])),
            ("left.cli", deps(&["base.cli"])),
            ("right.cli", deps(&["base.cli", "a-util.cli"])),
            ("base.cli", String::new()),
            ("a-util.cli", String::new()),
            ("unrelated.cli", String::new()),
        ];
        let refs: Vec<(&str, &str)> = datums
            .iter()
            .map(|(id, body)| (*id, body.as_str()))
            .collect();
        let expected = ["a-util.cli", "base.cli", "left.cli", "right.cli", "top.cli"];
        let first = catalog(&refs);
        assert_eq!(order(&first, "top.cli").unwrap(), expected);
        assert_eq!(
            order(&first, "top.cli").unwrap(),
            expected,
            "same result on a second run"
        );
        assert_eq!(order(&first, "left.cli").unwrap(), ["base.cli", "left.cli"]);
        assert_eq!(resolve(&first, &id("top.cli"), false).unwrap().len(), 1);
        assert_eq!(
            order_all(&first).unwrap(),
            [
                "a-util.cli",
                "base.cli",
                "left.cli",
                "right.cli",
                "top.cli",
                "unrelated.cli"
            ]
        );
        // Any insertion order gives the same result.
        for rotation in 1..refs.len() {
            let mut rotated = refs.clone();
            rotated.rotate_left(rotation);
            rotated.swap(0, refs.len() - 1);
            let catalog = catalog(&rotated);
            assert_eq!(order(&catalog, "top.cli").unwrap(), expected);
            assert_eq!(order_all(&catalog).unwrap(), order_all(&first).unwrap());
        }
    }

    #[test]
    fn ready_datums_come_out_in_id_order() {
        let catalog = catalog(&[
            ("z.cli", ""),
            ("m.cli", &deps(&["z.cli"])),
            ("a.cli", ""),
            ("root.stack", "members = [\"m\", \"a\"]"),
        ]);
        assert_eq!(
            order(&catalog, "root.stack").unwrap(),
            ["a.cli", "z.cli", "m.cli", "root.stack"]
        );
    }

    #[test]
    fn a_missing_dependency_names_who_wants_it() {
        let catalog = catalog(&[
            ("b.cli", &deps(&["ghost.cli"])),
            ("a.cli", &deps(&["b.cli", "phantom", "ghost.cli"])),
        ]);
        let expected = "datum `phantom` is not in the catalog, but `a.cli` depends on it: add a `phantom` datum to datums/ or fix `depends_on` in datums/a.cli.toml";
        assert_eq!(order(&catalog, "a.cli").unwrap_err(), expected);
        assert_eq!(order_all(&catalog).unwrap_err(), expected);
        assert_eq!(
            order(&catalog, "b.cli").unwrap_err(),
            "datum `ghost.cli` is not in the catalog, but `b.cli` depends on it: add a `ghost.cli` datum to datums/ or fix `depends_on` in datums/b.cli.toml"
        );
        assert_eq!(
            resolve(&catalog, &id("nope.cli"), true)
                .unwrap_err()
                .to_string(),
            "datum `nope.cli` is not in the catalog: run `b00t datum list` to see the ids"
        );
    }

    #[test]
    fn cycles_give_the_whole_path() {
        let two = catalog(&[("a.cli", &deps(&["b.cli"])), ("b.cli", &deps(&["a.cli"]))]);
        assert_eq!(
            order(&two, "b.cli").unwrap_err(),
            "cycle: a.cli -> b.cli -> a.cli"
        );
        let three = catalog(&[
            ("x.cli", &deps(&["c.cli"])),
            ("c.cli", &deps(&["a.cli"])),
            ("b.cli", &deps(&["c.cli"])),
            ("a.cli", &deps(&["b.cli"])),
        ]);
        assert_eq!(
            order(&three, "x.cli").unwrap_err(),
            "cycle: a.cli -> b.cli -> c.cli -> a.cli"
        );
        assert_eq!(
            order_all(&three).unwrap_err(),
            "cycle: a.cli -> b.cli -> c.cli -> a.cli"
        );
        let selfish = catalog(&[("me.cli", &deps(&["me.cli"]))]);
        assert_eq!(
            order(&selfish, "me.cli").unwrap_err(),
            "cycle: me.cli -> me.cli"
        );
        assert_eq!(
            resolve(&selfish, &id("me.cli"), true).unwrap_err(),
            ResolveError::Cycle {
                path: vec![id("me.cli"), id("me.cli")]
            }
        );
    }

    #[test]
    fn the_cycle_with_the_smallest_id_is_reported_shortest_first() {
        // Two cycles; the one holding `b.cli` wins over the one holding `m.cli`. Inside it the
        // shortest way back to `b.cli` is taken.
        let catalog = catalog(&[
            ("m.cli", &deps(&["n.cli"])),
            ("n.cli", &deps(&["m.cli"])),
            ("b.cli", &deps(&["d.cli", "c.cli"])),
            ("c.cli", &deps(&["b.cli"])),
            ("d.cli", &deps(&["e.cli"])),
            ("e.cli", &deps(&["b.cli"])),
        ]);
        assert_eq!(
            order_all(&catalog).unwrap_err(),
            "cycle: b.cli -> c.cli -> b.cli"
        );
        assert_eq!(
            order(&catalog, "m.cli").unwrap_err(),
            "cycle: m.cli -> n.cli -> m.cli"
        );
    }

    #[test]
    fn mcp_datums_install_after_their_command_providers() {
        let browser = "[[b00t.mcp.stdio]]\ncommand = \"uvx\"\nrequires = [\"OPENAI_API_KEY\"]\n";
        let catalog = catalog(&[
            ("browser-use.mcp", browser),
            ("zz-uv.cli", "aliases = [\"uvx\"]"),
        ]);
        assert_eq!(
            order(&catalog, "browser-use.mcp").unwrap(),
            ["zz-uv.cli", "browser-use.mcp"]
        );
        let alone = crate::Catalog::from_datums(vec![datum("browser-use.mcp", browser)]);
        assert_eq!(
            order(&alone, "browser-use.mcp").unwrap(),
            ["browser-use.mcp"]
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let datums: Vec<Datum> = (0..10_000)
            .map(|i| {
                let body = if i == 0 {
                    String::new()
                } else {
                    deps(&[&format!("n{:05}.cli", i - 1)])
                };
                datum(&format!("n{i:05}.cli"), &body)
            })
            .collect();
        let catalog = crate::Catalog::from_datums(datums);
        let order = resolve(&catalog, &id("n09999.cli"), true).unwrap();
        assert_eq!(order.len(), 10_000);
        assert_eq!(order[0].id.as_str(), "n00000.cli");
        let tree = crate::tree(&catalog, &id("n09999.cli"));
        assert_eq!(tree.children.len(), 1);
    }
}
