//! `plan --refresh-only` and `apply --refresh-only`: what changed in AWS
//! outside cairn, shown against state and, when applied, written into
//! state; AWS is never changed.

use std::path::PathBuf;

use cairn_engine::exec;
use cairn_engine::plan;

use super::{App, Exit, json, pretty, render};

impl App {
    /// `yes` is `None` for plan, `Some(--yes)` for apply.
    pub(super) async fn cmd_refresh_only(
        &mut self,
        file: Option<PathBuf>,
        yes: Option<bool>,
        parallelism: usize,
    ) -> Exit {
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let name = v.spec.name.clone();
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let command = if yes.is_some() { "apply" } else { "plan" };
        let (_lock, mut state) = match self.lock_and_load(&store, command) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let location = store.location();
        let (env, live) = match plan::read_live(&provider, &state, &v.spec.tags, parallelism).await {
            Ok(x) => x,
            Err(e) => return self.plan_error(&name, &location, e),
        };
        // Read with the wrong account or region, everything looks deleted:
        // accepting that would make state forget what still exists.
        let elsewhere = [(&state.account_id, &env.account_id, "account"), (&state.region, &env.region, "region")]
            .into_iter()
            .find(|(recorded, now, _)| recorded.as_ref().is_some_and(|r| r != *now));
        if let Some((recorded, now, what)) = elsewhere
            && !state.resources.is_empty()
        {
            eprintln!(
                "error: the state of {name} was applied to {what} {}, but this run reads {what} {now}; nothing was \
                 changed\n  = help: use the credentials (--profile) and --region the stack was applied with",
                recorded.as_deref().unwrap_or_default()
            );
            return Exit::Invalid;
        }
        let mut found = plan::refresh_only(&name, &state, live, &env);
        found.state_location = Some(location);
        self.changes = found.has_changes();
        let shown = found.masked(&v.secrets());
        let Some(yes) = yes else {
            if self.g.json {
                println!("{}", pretty(&json::planned("plan", &shown, &state, &store.location())));
            } else {
                self.say(&render::plan_text(&shown, self.style));
            }
            return Exit::Ok;
        };
        self.say(&render::plan_text(&shown, self.style));
        if found.has_changes() {
            if let Err(e) = self.confirm("write what changed in AWS into state (AWS is not changed)", yes) {
                return e;
            }
            plan::accept_refresh(&mut state, &found);
            let attrs = state.resources.iter().map(|(id, r)| (id.clone(), r.attrs.clone())).collect();
            state.outputs = exec::outputs(&v, &env, &attrs);
            if let Err(e) = store.save(&mut state) {
                return super::state_error(&e);
            }
            let (_, updated, _, forgotten) = found.counts();
            self.say(&format!(
                "State of {name} updated from AWS: {updated} resource(s) updated, {forgotten} forgotten; AWS was not changed.\n"
            ));
        }
        if self.g.json {
            let doc = json::planned("apply", &shown, &state, &store.location());
            println!("{}", pretty(&json::applied(doc, &state_only(&found), &state)));
        }
        Exit::Ok
    }
}

/// The outcome of accepting a refresh-only plan: every change done (in state).
fn state_only(found: &plan::Plan) -> exec::Outcome {
    let done = found
        .resources
        .iter()
        .filter(|r| r.step.is_change())
        .map(|r| {
            let op = if matches!(r.step, plan::Step::Forget) { exec::OpKind::Forget } else { exec::OpKind::Update };
            (r.id.clone(), op)
        })
        .collect();
    exec::Outcome { done, ..exec::Outcome::default() }
}
