//! The dependency tree of one datum for display (`b00t datum deps`): repeated subtrees are
//! marked `seen`, missing dependencies and cycle edges are leaves. Built and dropped without
//! recursion, so it never loops and deep chains do not overflow the stack.

use serde::Serialize;

use crate::catalog::{Catalog, DependencyKind, Edge};
use crate::id::DatumId;

/// One node of the tree: a datum id (or the raw text of a missing dependency) and its children.
#[derive(Clone, Debug, Serialize)]
pub struct DepTree {
    pub id: String,
    /// Why the parent depends on this node; `None` at the root.
    pub kind: Option<DependencyKind>,
    /// No datum matches `id`.
    pub missing: bool,
    /// The edge leads back to an ancestor; not expanded.
    pub cycle: bool,
    /// Expanded elsewhere in the tree; not expanded again.
    pub seen: bool,
    pub children: Vec<DepTree>,
}

impl DepTree {
    fn leaf(id: String, kind: Option<DependencyKind>) -> DepTree {
        DepTree {
            id,
            kind,
            missing: false,
            cycle: false,
            seen: false,
            children: Vec::new(),
        }
    }
}

impl Drop for DepTree {
    /// Flattens the children so dropping a 10,000-deep chain does not recurse.
    fn drop(&mut self) {
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut node) = pending.pop() {
            pending.append(&mut node.children);
        }
    }
}

/// The dependency tree of `root`, depth first in edge order (`depends_on`, `members`, commands).
pub fn tree(catalog: &Catalog, root: &DatumId) -> DepTree {
    let Some(root_position) = catalog.position(root) else {
        let mut node = DepTree::leaf(root.to_string(), None);
        node.missing = true;
        return node;
    };
    struct Frame {
        node: DepTree,
        position: usize,
        edges: Vec<Edge>,
        next: usize,
    }
    let frame = |position: usize, kind: Option<DependencyKind>| Frame {
        node: DepTree::leaf(catalog.at(position).id.to_string(), kind),
        position,
        edges: catalog.edges(catalog.at(position)),
        next: 0,
    };
    let mut expanded = vec![false; catalog.len()];
    let mut on_path = vec![false; catalog.len()];
    expanded[root_position] = true;
    on_path[root_position] = true;
    let mut stack = vec![frame(root_position, None)];
    loop {
        let Some(top) = stack.last_mut() else {
            // Unreachable: the root frame is returned when it is popped.
            return DepTree::leaf(root.to_string(), None);
        };
        if let Some((target, why)) = top.edges.get(top.next).cloned() {
            top.next += 1;
            match target {
                Err(raw) => {
                    let mut leaf = DepTree::leaf(raw, Some(why));
                    leaf.missing = true;
                    top.node.children.push(leaf);
                }
                Ok(target) if on_path[target] || expanded[target] => {
                    let mut leaf = DepTree::leaf(catalog.at(target).id.to_string(), Some(why));
                    if on_path[target] {
                        leaf.cycle = true;
                    } else {
                        leaf.seen = true;
                    }
                    top.node.children.push(leaf);
                }
                Ok(target) => {
                    expanded[target] = true;
                    on_path[target] = true;
                    stack.push(frame(target, Some(why)));
                }
            }
            continue;
        }
        let Some(done) = stack.pop() else { continue };
        on_path[done.position] = false;
        match stack.last_mut() {
            Some(parent) => parent.node.children.push(done.node),
            None => return done.node,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{catalog, deps};

    /// One line per node: indentation, id, and the flags.
    fn render(tree: &DepTree) -> String {
        let mut lines = Vec::new();
        let mut pending = vec![(0, tree)];
        while let Some((depth, node)) = pending.pop() {
            let mut line = format!("{}{}", "  ".repeat(depth), node.id);
            for (flag, name) in [
                (node.missing, "missing"),
                (node.cycle, "cycle"),
                (node.seen, "seen"),
            ] {
                if flag {
                    line.push_str(&format!(" ({name})"));
                }
            }
            lines.push(line);
            pending.extend(node.children.iter().rev().map(|child| (depth + 1, child)));
        }
        lines.join("\n")
    }

    #[test]
    fn marks_seen_missing_and_cycles() {
        let catalog = catalog(&[
            ("top.stack", "members = [\"left\", \"right\"]"),
            ("left.cli", &deps(&["base.cli"])),
            ("right.cli", &deps(&["base.cli", "ghost"])),
            ("base.cli", &deps(&["top.stack"])),
        ]);
        let tree = tree(&catalog, &DatumId::parse("top.stack").unwrap());
        assert_eq!(
            render(&tree),
            "top.stack\n  left.cli\n    base.cli\n      top.stack (cycle)\n  right.cli\n    base.cli (seen)\n    ghost (missing)"
        );
        assert_eq!(tree.kind, None);
        assert_eq!(tree.children[0].kind, Some(DependencyKind::Member));
        let json = serde_json::to_value(&tree).unwrap();
        assert_eq!(json["children"][1]["children"][1]["missing"], true);
    }

    #[test]
    fn a_root_not_in_the_catalog_is_a_missing_leaf() {
        let catalog = catalog(&[]);
        let tree = tree(&catalog, &DatumId::parse("jq.cli").unwrap());
        assert!(tree.missing);
        assert!(tree.children.is_empty());
    }
}
