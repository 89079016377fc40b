//! `cairn graph`: the stack's dependency graph, as DOT, Mermaid or JSON.

use std::path::PathBuf;

use super::{App, Exit, GraphFormat, pretty};

impl App {
    pub(super) fn cmd_graph(&mut self, file: Option<PathBuf>, format: GraphFormat) -> Exit {
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let mut out = String::new();
        let format = if self.g.json { GraphFormat::Json } else { format };
        match format {
            GraphFormat::Json => {
                let resources: Vec<_> = v
                    .order
                    .iter()
                    .map(|id| {
                        let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                        serde_json::json!({"id": id, "kind": kind, "depends_on": v.graph.deps_of(id).collect::<Vec<_>>()})
                    })
                    .collect();
                out = pretty(&serde_json::json!({"stack": v.spec.name, "resources": resources}));
                out.push('\n');
            }
            GraphFormat::Dot => {
                out.push_str(&format!("digraph \"{}\" {{\n  rankdir=LR;\n", v.spec.name));
                for id in &v.order {
                    let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                    out.push_str(&format!("  \"{id}\" [label=\"{id}\\n{kind}\"];\n"));
                    for d in v.graph.deps_of(id) {
                        out.push_str(&format!("  \"{id}\" -> \"{d}\";\n"));
                    }
                }
                out.push_str("}\n");
            }
            GraphFormat::Mermaid => {
                out.push_str("graph LR\n");
                for id in &v.order {
                    let kind = v.spec.resource(id).map_or("", |r| r.kind.as_str());
                    out.push_str(&format!("  {id}[\"{id}<br/>{kind}\"]\n"));
                    for d in v.graph.deps_of(id) {
                        out.push_str(&format!("  {id} --> {d}\n"));
                    }
                }
            }
        }
        print!("{out}");
        Exit::Ok
    }
}
