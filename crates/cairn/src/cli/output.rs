//! `cairn output`: the stack's outputs, or one output's value (for scripts).

use std::path::PathBuf;

use super::{App, Exit, Origin, plain, pretty, state_error};

impl App {
    pub(super) fn cmd_output(&mut self, mut args: Vec<String>) -> Exit {
        let file = match (&self.origin, &self.g.file) {
            (Origin::Yaml, None) if !args.is_empty() => Some(PathBuf::from(args.remove(0))),
            _ => None,
        };
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let state = match self.store(&loaded.spec).load() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        match args.first() {
            Some(name) => match state.outputs.get(name) {
                Some(v) => {
                    println!("{}", if self.g.json { v.to_string() } else { plain(v) });
                    Exit::Ok
                }
                None => {
                    let known: Vec<&str> = loaded.spec.outputs.iter().map(|(k, _)| k.as_str()).collect();
                    let hint = cairn_engine::diag::did_you_mean(name, known.iter().copied())
                        .map(|c| format!("\n  = help: did you mean `{c}`?"))
                        .unwrap_or_default();
                    let why = if known.contains(&name.as_str()) {
                        "has no value yet (apply the stack first)"
                    } else {
                        "is not an output of this stack"
                    };
                    eprintln!("error: output `{name}` {why}{hint}");
                    Exit::Invalid
                }
            },
            None => {
                if self.g.json {
                    println!("{}", pretty(&state.outputs));
                } else {
                    for (k, v) in &state.outputs {
                        println!("{k} = {}", plain(v));
                    }
                }
                Exit::Ok
            }
        }
    }
}
