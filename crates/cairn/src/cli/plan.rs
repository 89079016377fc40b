//! `cairn plan`: refresh live resources and show what apply would change;
//! and the plan making that apply and destroy share.

use std::path::PathBuf;

use cairn_aws::AwsProvider;
use cairn_engine::diag::{NoSource, did_you_mean};
use cairn_engine::plan::{self, Plan};
use cairn_engine::validate::Validated;
use cairn_engine::{StackSpec, State};

use super::{App, Exit, Origin, json, pretty, render, saved, state};

impl App {
    pub(super) async fn make_plan(
        &self,
        provider: &AwsProvider,
        v: Option<&Validated>,
        spec: &StackSpec,
        state: &State,
        parallelism: usize,
    ) -> Result<Plan, Exit> {
        let (name, location) = (spec.name.as_str(), self.store(spec).location());
        self.check_targets(v, state)?;
        match plan::make_targeted(provider, v, name, state, parallelism, &self.targets).await {
            Ok(mut p) => {
                p.state_location = Some(location);
                // The time to live runs from now: each apply with one moves it.
                // (Not for a destroy: what it leaves has nothing to expire.)
                let ttl = v.and_then(|v| self.g.ttl.as_ref().or(v.spec.ttl.as_ref()));
                if let Some(v) = v.filter(|_| ttl.is_some() || state.expires.is_some())
                    && let Some(d) = cairn_engine::tags::check_expiry_room(&v.spec.tags)
                {
                    eprintln!("error: {}\n  = expected: {}", d.message, d.expected.unwrap_or_default());
                    return Err(Exit::Invalid);
                }
                if let Some(secs) = ttl.and_then(|t| cairn_engine::spec::parse_ttl(t).ok()) {
                    let now = cairn_engine::state::unix_now();
                    let at = i64::try_from(now.saturating_add(secs)).unwrap_or(i64::MAX);
                    p.expires = Some(cairn_engine::state::format_utc(at));
                } else if let (Some(at), Some(_)) = (&state.expires, v) {
                    p.warnings.push(format!(
                        "the stack expires {at}, as an earlier apply with a time to live set: `cairn sweep --expired` \
                         removes it after that; apply with a longer --ttl to move it"
                    ));
                }
                Ok(p)
            }
            Err(e) => Err(self.plan_error(name, &location, e)),
        }
    }

    /// Reports why a plan could not be made; the exit code to end with.
    pub(super) fn plan_error(&self, name: &str, location: &str, e: plan::PlanError) -> Exit {
        match e {
            plan::PlanError::Moves(diags) => {
                match self.sources.get(name) {
                    Some(source) => self.report(&diags, source),
                    None => self.report(&diags, &NoSource),
                }
                eprintln!("error: planning {name}: the stack's `moved` entries do not fit its state ({location})");
                Exit::Invalid
            }
            e => {
                let e = if self.g.verbose { e.to_string() } else { cairn_engine::kind::brief(&e.to_string()) };
                eprintln!("error: planning {name}: {e}");
                Exit::Failed
            }
        }
    }

    /// Every `--target` must name a resource of the stack or of its state
    /// (of state only, for destroy).
    fn check_targets(&self, v: Option<&Validated>, state: &State) -> Result<(), Exit> {
        let mut known: Vec<&str> = state.resources.keys().map(String::as_str).collect();
        if let Some(v) = v {
            known.extend(v.spec.resources.iter().map(|r| r.id.as_str()));
        }
        known.sort_unstable();
        known.dedup();
        for t in &self.targets {
            if known.contains(&t.as_str()) {
                continue;
            }
            let hint = did_you_mean(t, known.iter().copied())
                .map(|c| format!("\n  = help: did you mean `{c}`?"))
                .unwrap_or_default();
            let place = if v.is_some() { "the stack or its state" } else { "the stack's state" };
            eprintln!(
                "error: --target `{t}` is not a resource of {place}\n  = expected: one of {}{hint}",
                if known.is_empty() { "(none)".to_string() } else { known.join(", ") }
            );
            return Err(Exit::Invalid);
        }
        Ok(())
    }

    pub(super) async fn cmd_plan(&mut self, file: Option<PathBuf>, out: Option<PathBuf>, parallelism: usize) -> Exit {
        let file = file.or_else(|| self.g.file.clone());
        let loaded = match self.load(file.clone()) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let (written, given) = (loaded.spec.clone(), self.params(&loaded.spec));
        let (v, _) = match self.validated_loaded(loaded, true) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "plan") {
            Ok(x) => x,
            Err(e) => return e,
        };
        let plan = match self.make_plan(&provider, Some(&v), &v.spec, &state, parallelism).await {
            Ok(p) => p,
            Err(e) => return e,
        };
        self.changes = plan.has_changes();
        state::note_vanished(&store, &mut state, &plan);
        let shown = plan.masked(&v.secrets());
        if self.g.json {
            println!("{}", pretty(&json::planned("plan", &shown, &state, &store.location())));
        } else {
            self.say(&render::plan_text(&shown, self.style));
        }
        if let Some(path) = out {
            let making = saved::Making {
                spec: &written,
                file: file.as_deref().filter(|_| matches!(self.origin, Origin::Yaml)),
                given: &given,
                state: &state,
                state_location: store.location(),
                plan: &plan,
                secrets: &v.secrets(),
            };
            let written = saved::SavedPlan::new(&making).and_then(|s| {
                std::fs::write(&path, pretty(&s)).map_err(|e| format!("writing plan to {}: {e}", path.display()))
            });
            if let Err(e) = written {
                eprintln!("error: {e}");
                return Exit::Failed;
            }
            self.say(&format!(
                "Saved the plan to {}; apply exactly this plan with `cairn apply --plan {}`.\n",
                path.display(),
                path.display()
            ));
        }
        Exit::Ok
    }
}
