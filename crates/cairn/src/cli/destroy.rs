//! `cairn destroy STACK.yaml`: delete everything the stack owns, from its state.

use std::path::PathBuf;

use cairn_engine::{State, StateStore};

use super::{App, Exit, Job, json, pretty, render};

impl App {
    pub(super) async fn cmd_destroy(&mut self, file: Option<PathBuf>, yes: bool, parallelism: usize) -> Exit {
        // Destroy needs the stack's name and region only: parameters need not be given.
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let spec = loaded.spec;
        let store = self.store(&spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "destroy") {
            Ok(x) => x,
            Err(e) => return e,
        };
        // protect and retain as the stack says now.
        state.take_options(&spec);
        if state.resources.is_empty() {
            if !state.intents.is_empty() {
                eprintln!("{}", unfinished_creates(&state));
                return Exit::Failed;
            }
            if self.g.json {
                println!("{}", pretty(&json::recorded("destroy", &spec.name, &state, &store.location())));
            }
            self.say(&nothing_to_destroy(&spec.name, &store));
            return Exit::Ok;
        }
        let provider = self.provider(&spec);
        let plan = match self.make_plan(&provider, None, &spec, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        self.say(&render::plan_text(&plan, self.style));
        let question = if self.targets.is_empty() {
            format!("destroy every resource of stack {}", spec.name)
        } else {
            format!("destroy the resources of stack {} listed above", spec.name)
        };
        if let Err(e) = self.confirm(&question, yes) {
            return e;
        }
        let job = Job { provider: &provider, v: None, plan: &plan, state, store: &store };
        self.execute_one(job, &plan, parallelism, "Destroy").await
    }
}

/// What a destroy cannot remove: creates a killed or failed run left
/// unfinished, whose resources may exist in AWS with only an intent in
/// state naming them (no physical id to delete).
pub(super) fn unfinished_creates(state: &State) -> String {
    let ids: Vec<String> = state.intents.iter().map(|(id, i)| format!("{id} ({})", i.kind)).collect();
    format!(
        "error: state records {} create(s) that did not finish: {}; what they made may exist in AWS, where destroy cannot find it\n  = help: run `cairn apply` (it adopts what they made, by its tags), then `cairn destroy` again; state is kept until then",
        ids.len(),
        ids.join(", ")
    )
}

/// A destroy with no state: maybe there is none, maybe it is elsewhere.
pub(super) fn nothing_to_destroy(stack: &str, store: &StateStore) -> String {
    format!(
        "Nothing to destroy: stack {stack} has no resources in {}.\n  = note: if it was applied with another state (from \
         another directory, another --state-dir or CAIRN_STATE_DIR, or --state s3://…), run destroy with that one; \
         `cairn sweep --stack {stack}` finds what it made by its tags\n",
        store.location()
    )
}
