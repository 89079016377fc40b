//! `cairn plan|apply|destroy` given several stack files: worked on side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_aws::AwsProvider;
use cairn_engine::exec;
use cairn_engine::plan::Plan;
use cairn_engine::validate::Validated;
use cairn_engine::{StackSpec, State, StateStore};

use super::destroy::{nothing_to_destroy, unfinished_creates};
use super::{App, Exit, Interrupts, Job, json, pretty, render, worse};

impl App {
    /// `plan`, `apply` or `destroy` of several stacks in one command. Every
    /// stack is loaded (validated, for plan and apply) and locked before any
    /// AWS call: one bad file or held lock stops them all with nothing done.
    /// Then they are planned side by side, confirmed once, and applied side
    /// by side, each with its own state, provider (region) and parallelism;
    /// one stack failing does not stop the others. Exits with the worst code.
    pub(super) async fn cmd_many(&mut self, what: Many, files: Vec<PathBuf>, yes: bool, parallelism: usize) -> Exit {
        self.shared_params = true;
        let mut loaded: Vec<(PathBuf, Option<Validated>, StackSpec)> = Vec::new();
        let mut worst = Exit::Ok;
        for file in files {
            let r = if what == Many::Destroy {
                // Destroy needs the stack's name and region only.
                self.load(Some(file.clone())).map(|l| (None, l.spec))
            } else {
                self.validated(Some(file.clone())).map(|(v, _)| {
                    let spec = v.spec.clone();
                    (Some(v), spec)
                })
            };
            match r {
                Ok((v, spec)) => loaded.push((file, v, spec)),
                Err(e) => worst = worse(worst, e),
            }
        }
        if worst != Exit::Ok {
            eprintln!("error: nothing was done: every stack must be valid before any is worked on");
            return worst;
        }
        if what != Many::Destroy
            && let Err(e) = self.unclaimed_params(&loaded.iter().map(|(_, _, s)| s).collect::<Vec<_>>())
        {
            return e;
        }
        let mut seen: BTreeMap<&str, &Path> = BTreeMap::new();
        for (file, _, spec) in &loaded {
            if let Some(first) = seen.insert(spec.name.as_str(), file.as_path()) {
                eprintln!(
                    "error: {} and {} are both stack `{}`; a command works on each stack once\n  = help: give each stack file once, or rename one stack",
                    first.display(),
                    file.display(),
                    spec.name
                );
                return Exit::Invalid;
            }
        }
        let verb = match what {
            Many::Plan => "plan",
            Many::Apply => "apply",
            Many::Destroy => "destroy",
        };
        let mut targets = Vec::new();
        for (_, v, spec) in loaded {
            let store = self.store(&spec);
            let (lock, state) = match self.lock_and_load(&store, verb) {
                Ok(x) => x,
                Err(e) => return e,
            };
            targets.push(Target { provider: self.provider(&spec), v, spec, store, _lock: lock, state });
        }
        // The JSON document lists every stack given, in the order given.
        let order: Vec<String> = targets.iter().map(|t| t.spec.name.clone()).collect();
        let mut early: Vec<json::StackDoc> = Vec::new();
        if what == Many::Destroy {
            for t in &mut targets {
                t.state.take_options(&t.spec);
            }
            // A stack with nothing in state has nothing to plan; one whose
            // state holds only unfinished creates cannot be destroyed yet.
            targets.retain(|t| {
                if !t.state.resources.is_empty() {
                    return true;
                }
                let mut doc = json::recorded(verb, &t.spec.name, &t.state, &t.store.location());
                if t.state.intents.is_empty() {
                    self.say(&nothing_to_destroy(&t.spec.name, &t.store));
                } else {
                    let why = unfinished_creates(&t.state);
                    eprintln!("{}: {why}", t.spec.name);
                    doc.ok = false;
                    doc.warnings.push(why);
                    worst = Exit::Failed;
                }
                early.push(doc);
                false
            });
        }
        let in_order = |docs: Vec<json::StackDoc>| {
            let mut all: Vec<json::StackDoc> = early.iter().cloned().chain(docs).collect();
            all.sort_by_key(|d| order.iter().position(|n| *n == d.stack));
            json::many(verb, all)
        };
        let plans = futures::future::join_all(
            targets.iter().map(|t| self.make_plan(&t.provider, t.v.as_ref(), &t.spec, &t.state, parallelism)),
        )
        .await;
        let mut planned = Vec::new();
        let mut unplanned = Exit::Ok;
        for (t, p) in targets.into_iter().zip(plans) {
            match p {
                Ok(p) => planned.push((t, p)),
                Err(e) => unplanned = worse(unplanned, e),
            }
        }
        worst = worse(worst, unplanned);
        if unplanned != Exit::Ok && what != Many::Plan {
            eprintln!("error: nothing was changed: every stack must be planned before any is changed");
            return worst;
        }
        let shown: Vec<Plan> = planned
            .iter()
            .map(|(t, p)| match &t.v {
                Some(v) => p.masked(&v.secrets()),
                None => p.clone(),
            })
            .collect();
        let docs: Vec<json::StackDoc> = planned
            .iter()
            .zip(&shown)
            .map(|((t, _), p)| json::planned(verb, p, &t.state, &t.store.location()))
            .collect();
        for p in &shown {
            if what != Many::Plan || !self.g.json {
                self.say(&render::plan_text(p, self.style));
            }
        }
        if what == Many::Plan {
            if self.g.json {
                println!("{}", pretty(&in_order(docs)));
            }
            self.changes = planned.iter().any(|(_, p)| p.has_changes());
            return worst;
        }
        // Stacks with nothing to do are reported as they are.
        let mut docs: Vec<json::StackDoc> = docs
            .into_iter()
            .zip(&planned)
            .map(|(d, (t, _))| json::applied(d, &exec::Outcome::default(), &t.state))
            .collect();
        let todo: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].1.has_changes()).collect();
        if todo.is_empty() {
            if self.g.json {
                println!("{}", pretty(&in_order(docs)));
            }
            return worst;
        }
        let names: Vec<&str> = todo.iter().map(|&i| planned[i].0.spec.name.as_str()).collect();
        let question = match what {
            Many::Destroy => format!("destroy every resource of stacks {}", names.join(", ")),
            _ => format!("apply these changes to stacks {}", names.join(", ")),
        };
        if let Err(e) = self.confirm(&question, yes) {
            return e;
        }
        let interrupts = Interrupts::watch();
        let label = if what == Many::Destroy { "Destroy" } else { "Apply" };
        let app = &*self;
        let runs = planned.iter_mut().filter(|(_, p)| p.has_changes()).map(|(t, p)| {
            let job = Job {
                provider: &t.provider,
                v: t.v.as_ref(),
                plan: p,
                state: std::mem::take(&mut t.state),
                store: &t.store,
            };
            let what = format!("{label} of stack {}", t.spec.name);
            let scope = format!("{}/", t.spec.name);
            let cancel = &interrupts.cancel;
            async move { app.execute(job, parallelism, &what, &scope, cancel).await }
        });
        let results = futures::future::join_all(runs).await;
        for (&i, (exit, outcome, after)) in todo.iter().zip(results) {
            worst = worse(worst, exit);
            let doc = json::planned(verb, &shown[i], &after, &planned[i].0.store.location());
            docs[i] = json::applied(doc, &outcome, &after);
        }
        if self.g.json {
            println!("{}", pretty(&in_order(docs)));
        }
        worst
    }
}

/// The commands that work on several stacks at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Many {
    Plan,
    Apply,
    Destroy,
}

/// One stack of [`App::cmd_many`], loaded and locked.
struct Target {
    provider: AwsProvider,
    v: Option<Validated>,
    spec: StackSpec,
    store: StateStore,
    _lock: cairn_engine::state::StateLock,
    state: State,
}

/// The one stack file given (or none: -f or the Rust program), else all of them.
pub(super) fn one_or_many(files: Vec<PathBuf>) -> Result<Option<PathBuf>, Vec<PathBuf>> {
    if files.len() <= 1 { Ok(files.into_iter().next()) } else { Err(files) }
}

pub(super) fn refuse_many(why: &str) -> Exit {
    eprintln!("error: several stack files given, but {why}\n  = help: give one stack file");
    Exit::Invalid
}
