//! `cairn apply` (and `apply --plan`): show the plan, confirm, apply it;
//! and the confirmation and execution that destroy and several stacks share.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use cairn_engine::State;
use cairn_engine::diag::NoSource;
use cairn_engine::exec::{self, ExecOptions};
use cairn_engine::plan::Plan;
use cairn_engine::validate::validate_with;

use super::destroy::unfinished_creates;
use super::{App, Exit, Interrupts, Job, Origin, json, pretty, render, saved, state};

impl App {
    pub(super) fn confirm(&self, question: &str, yes: bool) -> Result<(), Exit> {
        if yes {
            return Ok(());
        }
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        if ci || !std::io::stdin().is_terminal() {
            eprintln!(
                "error: refusing to {question} without --yes: there is no terminal to confirm on\n  = help: review the plan above, then run again with --yes"
            );
            return Err(Exit::Invalid);
        }
        eprint!("Do you want to {question}? Only `yes` is accepted: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() || line.trim() != "yes" {
            eprintln!("Cancelled; nothing was changed.");
            return Err(Exit::Failed);
        }
        Ok(())
    }

    pub(super) async fn cmd_apply(
        &mut self,
        file: Option<PathBuf>,
        yes: bool,
        saved: Option<PathBuf>,
        parallelism: usize,
    ) -> Exit {
        if let Some(path) = saved {
            return self.cmd_apply_saved(file, yes, &path, parallelism).await;
        }
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "apply") {
            Ok(x) => x,
            Err(e) => return e,
        };
        let plan = match self.make_plan(&provider, Some(&v), &v.spec, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        state::note_vanished(&store, &mut state, &plan);
        let job = Job { provider: &provider, v: Some(&v), plan: &plan, state, store: &store };
        self.apply_planned(job, yes, parallelism).await
    }

    /// `apply --plan`: the saved stack and parameters, checked against
    /// what is given and against state, then exactly the saved plan.
    async fn cmd_apply_saved(&mut self, file: Option<PathBuf>, yes: bool, path: &Path, parallelism: usize) -> Exit {
        let refuse = |e: String| {
            eprintln!("error: {e}");
            Exit::Invalid
        };
        let saved = match saved::SavedPlan::read(path) {
            Ok(s) => s,
            Err(e) => return refuse(e),
        };
        let file = file.or_else(|| self.g.file.clone());
        let checked = match &self.origin {
            Origin::Rust(spec) => match &file {
                Some(f) => {
                    Err(format!("this program defines its stack in Rust; it takes no stack file (got {})", f.display()))
                }
                None => saved.check_spec(spec),
            },
            Origin::Yaml => saved.check_stack_file(file.as_deref()),
        };
        if let Err(e) = checked {
            return refuse(e);
        }
        let given = match saved.parameters(&self.g.params, |k| std::env::var(k).ok()) {
            Ok(g) => g,
            Err(e) => return refuse(e),
        };
        let (v, diags) = validate_with(&saved.spec, &self.registry, &given, true);
        self.report(&diags, &NoSource);
        let Some(v) = v else {
            return refuse(format!("the stack saved in {} is not valid with this cairn", path.display()));
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "apply") {
            Ok(x) => x,
            Err(e) => return e,
        };
        if let Err(e) = saved.check_state(&state, &store.location()) {
            return refuse(e);
        }
        let plan = saved.plan_for(&state);
        state::note_vanished(&store, &mut state, &plan);
        let job = Job { provider: &provider, v: Some(&v), plan: &plan, state, store: &store };
        self.apply_planned(job, yes, parallelism).await
    }

    /// Shows a plan, asks, and applies it.
    async fn apply_planned(&self, job: Job<'_>, yes: bool, parallelism: usize) -> Exit {
        let shown = match job.v {
            Some(v) => job.plan.masked(&v.secrets()),
            None => job.plan.clone(),
        };
        self.say(&render::plan_text(&shown, self.style));
        if !job.plan.has_changes() {
            if self.g.json {
                let doc = json::planned("apply", &shown, &job.state, &job.store.location());
                println!("{}", pretty(&json::applied(doc, &exec::Outcome::default(), &job.state)));
            }
            return Exit::Ok;
        }
        if let Err(e) = self.confirm("apply these changes", yes) {
            return e;
        }
        self.execute_one(job, &shown, parallelism, "Apply").await
    }

    /// Applies or destroys one stack, printing progress and its outcome;
    /// `scope` goes before resource ids (`stack/` when several run at once).
    pub(super) async fn execute(
        &self,
        job: Job<'_>,
        parallelism: usize,
        what: &str,
        scope: &str,
        cancel: &Arc<AtomicBool>,
    ) -> (Exit, exec::Outcome, State) {
        let (style, verbose, quiet) = (self.style, self.g.verbose, self.g.quiet);
        let scope_owned = scope.to_string();
        let on_event: exec::EventSink = Arc::new(move |e| {
            if !quiet && let Some(line) = render::event_line(&e, style, verbose, &scope_owned) {
                eprintln!("{line}");
            }
        });
        let opts = ExecOptions { parallelism, on_event, cancel: Some(cancel.clone()), adopt: self.adopt };
        let (state, outcome) = exec::apply(job.provider, job.v, job.plan, job.state, job.store, &opts).await;
        // A destroy keeps the state while it records unfinished creates:
        // removing it would lose the only trace of what they may have made.
        let untracked = job.v.is_none() && !state.intents.is_empty();
        if job.v.is_none()
            && state.resources.is_empty()
            && !untracked
            && outcome.ok()
            && let Err(e) = job.store.remove()
        {
            eprintln!("warning: {e}");
        }
        self.say(&render::outcome_text(&outcome, what, self.style));
        if untracked {
            match scope.strip_suffix('/') {
                Some(stack) => eprintln!("{stack}: {}", unfinished_creates(&state)),
                None => eprintln!("{}", unfinished_creates(&state)),
            }
        }
        let exit = if outcome.interrupted {
            Exit::Interrupted
        } else if outcome.unsaved.is_some() {
            // State is the thing that failed: exit 3, as for a lock or a
            // state that cannot be read.
            Exit::State
        } else if outcome.ok() && !untracked {
            Exit::Ok
        } else {
            Exit::Failed
        };
        (exit, outcome, state)
    }

    /// [`App::execute`] for a command on one stack, with its own Ctrl-C
    /// watch and JSON outcome; `shown` is the plan as shown (masked).
    pub(super) async fn execute_one(&self, job: Job<'_>, shown: &Plan, parallelism: usize, what: &str) -> Exit {
        let interrupts = Interrupts::watch();
        let location = job.store.location();
        let (exit, outcome, after) = self.execute(job, parallelism, what, "", &interrupts.cancel).await;
        if self.g.json {
            let command = if what == "Destroy" { "destroy" } else { "apply" };
            println!("{}", pretty(&json::applied(json::planned(command, shown, &after, &location), &outcome, &after)));
        }
        exit
    }
}
