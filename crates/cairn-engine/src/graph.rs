//! The dependency graph of a stack: edges from references and `depends_on`.

use std::collections::{BTreeMap, BTreeSet};

use crate::spec::StackSpec;
use crate::value::{RefTarget, refs_in};

/// Resource ids and, for each, the ids it depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// In the stack's order.
    pub nodes: Vec<String>,
    pub deps: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    /// Builds the graph, keeping only edges to resources that exist (unknown
    /// targets are reported by validation).
    pub fn from_spec(spec: &StackSpec) -> Graph {
        let ids: BTreeSet<&str> = spec.resources.iter().map(|r| r.id.as_str()).collect();
        let mut g = Graph::default();
        for r in &spec.resources {
            let mut deps = BTreeSet::new();
            for (_, found) in refs_in(&r.props) {
                if let Ok(reference) = found
                    && let RefTarget::Resource { id, .. } = reference.target
                    && ids.contains(id.as_str())
                    && id != r.id
                {
                    deps.insert(id);
                }
            }
            for d in &r.depends_on {
                if ids.contains(d.as_str()) && *d != r.id {
                    deps.insert(d.clone());
                }
            }
            g.nodes.push(r.id.clone());
            g.deps.insert(r.id.clone(), deps);
        }
        g
    }

    pub fn deps_of(&self, id: &str) -> impl Iterator<Item = &String> {
        self.deps.get(id).into_iter().flatten()
    }

    /// The ids that depend on `id`.
    pub fn dependents_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.deps.iter().filter(move |(_, d)| d.contains(id)).map(|(n, _)| n)
    }

    /// A topological order (dependencies first, ties in stack order), or the
    /// first cycle found as a closed path `a -> b -> a`.
    pub fn topo_order(&self) -> Result<Vec<String>, Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = self.nodes.iter().map(|n| (n.as_str(), Mark::New)).collect();
        let mut order = Vec::new();
        let mut stack: Vec<&str> = Vec::new();
        fn visit<'a>(
            g: &'a Graph,
            n: &'a str,
            marks: &mut BTreeMap<&'a str, Mark>,
            stack: &mut Vec<&'a str>,
            order: &mut Vec<String>,
        ) -> Result<(), Vec<String>> {
            match marks.get(n).copied() {
                Some(Mark::Done) | None => return Ok(()),
                Some(Mark::Active) => {
                    let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                    let mut cycle: Vec<String> = stack[start..].iter().map(|s| (*s).to_string()).collect();
                    cycle.push(n.to_string());
                    return Err(cycle);
                }
                Some(Mark::New) => {}
            }
            marks.insert(n, Mark::Active);
            stack.push(n);
            for d in g.deps_of(n) {
                visit(g, d, marks, stack, order)?;
            }
            stack.pop();
            marks.insert(n, Mark::Done);
            order.push(n.to_string());
            Ok(())
        }
        for n in &self.nodes {
            visit(self, n, &mut marks, &mut stack, &mut order)?;
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ResourceOptions, ResourceSpec};
    use serde_json::json;

    fn res(id: &str, props: serde_json::Value, depends_on: &[&str]) -> ResourceSpec {
        ResourceSpec {
            id: id.into(),
            kind: "test:Thing".into(),
            props,
            depends_on: depends_on.iter().map(|s| (*s).to_string()).collect(),
            options: ResourceOptions::default(),
            derived: false,
            derived_props: Default::default(),
        }
    }

    #[test]
    fn orders_dependencies_first() {
        let spec = StackSpec {
            name: "s".into(),
            resources: vec![
                res("c", json!({"x": "${b.arn}"}), &[]),
                res("b", json!({"x": "arn:${a.name}:${param.p}"}), &[]),
                res("a", json!({}), &[]),
                res("d", json!({}), &["a"]),
            ],
            ..StackSpec::default()
        };
        let order = Graph::from_spec(&spec).topo_order().unwrap_or_default();
        let pos = |id: &str| order.iter().position(|x| x == id).unwrap_or(usize::MAX);
        assert_eq!(order.len(), 4);
        assert!(pos("a") < pos("b") && pos("b") < pos("c") && pos("a") < pos("d"));
    }

    #[test]
    fn reports_a_cycle_as_its_path() {
        let spec = StackSpec {
            name: "s".into(),
            resources: vec![
                res("a", json!({"x": "${b.arn}"}), &[]),
                res("b", json!({}), &["c"]),
                res("c", json!({"y": "${a.arn}"}), &[]),
            ],
            ..StackSpec::default()
        };
        assert_eq!(Graph::from_spec(&spec).topo_order(), Err(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    }
}
