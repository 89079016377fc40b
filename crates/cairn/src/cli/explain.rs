//! `cairn explain`: the kind reference in the terminal (see
//! [`crate::reference`]), or written as the pages of `docs/kinds/`.

use std::path::{Path, PathBuf};

use cairn_engine::diag::did_you_mean;
use clap::Args;

use super::{App, Exit, pretty};
use crate::reference;

/// The widest the reference is wrapped, even on a wider terminal.
const MAX_WIDTH: usize = 100;

#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    /// The kind, e.g. `aws:sqs:Queue` (or `sqs:queue`); none lists every kind.
    kind: Option<String>,
    /// Write the reference as Markdown pages into DIR (one per kind and a
    /// README.md index), as docs/kinds/ holds them, instead of printing.
    #[arg(long, value_name = "DIR", conflicts_with = "kind")]
    write_docs: Option<PathBuf>,
}

impl App {
    pub(super) fn cmd_explain(&self, args: ExplainArgs) -> Exit {
        if let Some(dir) = args.write_docs {
            return write_docs(&self.registry, &dir);
        }
        let width = self.style.width.min(MAX_WIDTH);
        let Some(asked) = args.kind else {
            let kinds = reference::all(&self.registry);
            if self.g.json {
                let list: Vec<_> =
                    kinds.iter().map(|k| serde_json::json!({"type": k.kind, "summary": k.summary})).collect();
                println!("{}", pretty(&serde_json::json!({ "kinds": list })));
            } else {
                print!("{}", reference::list_text(&kinds, width));
                println!("\n`cairn explain KIND` describes one: its props, attributes, derived glue and AWS quirks.");
            }
            return Exit::Ok;
        };
        let Some(kind) = find(&self.registry, &asked) else {
            let names: Vec<&str> = self.registry.names().collect();
            let hint = did_you_mean(&asked, names.iter().copied())
                .or_else(|| did_you_mean(&format!("aws:{asked}"), names.iter().copied()))
                .map(|k| format!("\n  = help: did you mean `{k}`?"))
                .unwrap_or_default();
            eprintln!("error: unknown kind `{asked}`{hint}\n  = help: `cairn explain` lists every kind");
            return Exit::Invalid;
        };
        let k = reference::kind_ref(&self.registry, kind);
        if self.g.json {
            println!("{}", pretty(&serde_json::to_value(&k).unwrap_or_default()));
        } else {
            print!("{}", reference::text(&k, width));
        }
        Exit::Ok
    }
}

/// The kind `asked` names: its exact type name, or the same without regard
/// to case, with `.` or `-` for `:`, or without the `aws:` prefix.
fn find<'a>(registry: &'a cairn_engine::kind::Registry, asked: &str) -> Option<&'a dyn cairn_engine::kind::Kind> {
    if let Some(k) = registry.get(asked) {
        return Some(k.as_ref());
    }
    let norm = |s: &str| s.to_lowercase().replace(['.', '-'], ":");
    let want = norm(asked);
    registry.kinds().map(AsRef::as_ref).find(|k| {
        let name = norm(k.type_name());
        name == want || name.strip_prefix("aws:") == Some(want.as_str())
    })
}

/// Writes the pages into `dir`, removing kind pages no kind has any more.
fn write_docs(registry: &cairn_engine::kind::Registry, dir: &Path) -> Exit {
    let pages = reference::pages(registry);
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            // Only a page this command wrote (it says so on its first line)
            // is removed: a file of the user's in the same directory stays.
            let generated = || {
                std::fs::read_to_string(dir.join(&name)).is_ok_and(|t| t.starts_with("<!-- Generated from the code"))
            };
            if name.starts_with("aws-")
                && name.ends_with(".md")
                && !pages.iter().any(|(n, _)| *n == name)
                && generated()
            {
                std::fs::remove_file(dir.join(&name))?;
            }
        }
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            eprintln!("wrote {} pages to {}", pages.len(), dir.display());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: writing the kind reference to {}: {e}", dir.display());
            Exit::Failed
        }
    }
}
