//! `cairn status`: what the local state holds for the stack (no AWS call).

use std::path::PathBuf;

use super::{App, Exit, json, plain, pretty, state, state_error};

impl App {
    pub(super) fn cmd_status(&mut self, file: Option<PathBuf>) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let store = self.store(&loaded.spec);
        let state = match store.load() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        if self.g.json {
            println!("{}", pretty(&json::recorded("status", &loaded.spec.name, &state, &store.location())));
            return Exit::Ok;
        }
        if state.resources.is_empty() {
            println!("stack {}: nothing deployed (no resources in {})", loaded.spec.name, store.location());
            return Exit::Ok;
        }
        println!(
            "stack {} ({} resources, state serial {}, {})",
            state.stack,
            state.resources.len(),
            state.serial,
            store.location()
        );
        if let Some(at) = &state.expires {
            println!("expires {at}: `cairn sweep --expired` removes it after that");
        }
        let width = state.resources.keys().map(String::len).max().unwrap_or(0);
        for (id, r) in &state.resources {
            let mut flags = Vec::new();
            if r.derived {
                flags.push("derived");
            }
            if r.retain {
                flags.push("retain");
            }
            if r.protect {
                flags.push("protect");
            }
            if r.vanished {
                flags.push("deleted outside cairn");
            }
            let flags = if flags.is_empty() { String::new() } else { format!("  [{}]", flags.join(", ")) };
            println!("  {id:width$}  {:24}  {}{flags}", r.kind, r.physical_id);
        }
        if !state.outputs.is_empty() {
            println!("outputs:");
            for (k, v) in &state.outputs {
                // Made from a resource found gone: shown, but not as live.
                let written = loaded.spec.outputs.iter().find(|(name, _)| name == k).map(|(_, w)| w);
                let stale = written
                    .and_then(|w| state::stale_because(w, &state))
                    .map(|id| format!("  (stale: `{id}` was deleted outside cairn)"))
                    .unwrap_or_default();
                println!("  {k} = {}{stale}", plain(v));
            }
        }
        Exit::Ok
    }
}
