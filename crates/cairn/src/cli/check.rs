//! `cairn check`: tries every edge of the deployed stack (see
//! `cairn_aws::check`) and prints a table of pass, fail and skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_aws::check::{Checker, EdgeReport, Outcome, Scratch, TAG_CHECK, edge_count, run};
use cairn_engine::kind::{Provider, brief};

use super::{App, Exit, Interrupts, json::FORMAT_VERSION, pretty, state_error};

impl App {
    pub(super) async fn cmd_check(&mut self, file: Option<PathBuf>, only: Vec<String>, timeout: Duration) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let stack = loaded.spec.name.clone();
        let store = self.store(&loaded.spec);
        let state = match store.load() {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        if state.resources.is_empty() {
            eprintln!(
                "error: stack {stack} has nothing deployed (no resources in {}): nothing to check\n  = help: `cairn apply` it first",
                store.location()
            );
            return Exit::Invalid;
        }
        let unknown: Vec<&String> = only.iter().filter(|id| !state.resources.contains_key(*id)).collect();
        if !unknown.is_empty() {
            let ids: Vec<&str> = state.resources.keys().map(String::as_str).collect();
            eprintln!(
                "error: --only {}: no such resource in the state of {stack}\n  = expected: one of {}",
                unknown.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
                ids.join(", ")
            );
            return Exit::Invalid;
        }
        let count = edge_count(&state, &only);
        if count == 0 {
            let what = if only.is_empty() { String::new() } else { format!(" touching {}", only.join(", ")) };
            self.say(&format!(
                "stack {stack}: no edge to check{what} (check tries rules, subscriptions, metric filters, alarms, \
                 trails, functions, queue mappings and instance logs)\n"
            ));
            return Exit::Ok;
        }
        let provider = self.provider(&loaded.spec);
        let env = match provider.environment().await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {}", brief(&e.to_string()));
                return Exit::Failed;
            }
        };
        if let Some(account) = state.account_id.as_deref().filter(|a| *a != env.account_id) {
            eprintln!(
                "error: stack {stack} was deployed in account {account}, but the credentials are for account {}\n  = help: use the profile of account {account} (--profile)",
                env.account_id
            );
            return Exit::Invalid;
        }
        self.say(&format!(
            "Checking {count} edge(s) of stack {stack} in account {}, {} (waiting up to {}s for what must arrive) …\n",
            env.account_id,
            env.region,
            timeout.as_secs()
        ));
        let clients = provider.clients();
        let scratch = Arc::new(Scratch::new(&stack));
        let checker = Checker {
            clients: Arc::clone(&clients),
            env: &env,
            state: &state,
            timeout,
            only,
            scratch: Arc::clone(&scratch),
        };
        let (style, quiet, verbose) = (self.style, self.g.quiet, self.g.verbose);
        // Each edge as it ends, for a stop that cuts the run short.
        let finished: std::sync::Mutex<Vec<EdgeReport>> = std::sync::Mutex::default();
        let show = |r: &EdgeReport| {
            if let Ok(mut f) = finished.lock() {
                f.push(r.clone());
            }
            if quiet && r.result != Outcome::Fail {
                return;
            }
            let (mark, word) = match r.result {
                Outcome::Pass => (style.green("✓"), style.green("pass")),
                Outcome::Fail => (style.red("✗"), style.red("fail")),
                Outcome::Skipped => (style.yellow("-"), style.yellow("skipped")),
            };
            let detail = if verbose { r.detail.clone() } else { brief(&r.detail) };
            eprintln!("  {mark} {word:7} {}  {}\n      {detail}", r.edge, style.dim(&format!("{:.1}s", r.seconds)));
        };
        let t0 = Instant::now();
        // Ctrl-C: stop trying, remove what was made, and say so.
        let sweep = format!("cairn sweep --stack {stack} --tag {TAG_CHECK}={stack} --yes");
        // Said once per process, at the first Ctrl-C: leaking it is fine.
        let stopping: &'static str = Box::leak(
            format!(
                "interrupt: stopping; the temporary queues are removed and alarms set back (Ctrl-C again aborts at \
                 once; `{sweep}` then finds what is left)"
            )
            .into_boxed_str(),
        );
        let interrupts = Interrupts::watch_saying(stopping);
        let cancel = Arc::clone(&interrupts.cancel);
        let stopped = async move {
            while !cancel.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let reports = tokio::select! {
            r = run(&checker, &show) => Some(r),
            () = stopped => None,
        };
        if !scratch.is_empty() {
            self.say("Removing the temporary subscriber queue(s) …\n");
        }
        let left = scratch.clean_up(&clients).await;
        drop(interrupts);
        if !left.is_empty() {
            eprintln!("error: what check made could not all be removed:");
            for l in &left {
                eprintln!("  {}", brief(l));
            }
            eprintln!("  = help: `{sweep}` removes it (it is tagged {TAG_CHECK}={stack})");
        }
        let interrupted = reports.is_none();
        let reports = reports.unwrap_or_else(|| finished.lock().map(|f| f.clone()).unwrap_or_default());
        let tally = |o: Outcome| reports.iter().filter(|r| r.result == o).count();
        let (passed, failed, skipped) = (tally(Outcome::Pass), tally(Outcome::Fail), tally(Outcome::Skipped));
        if self.g.json {
            println!(
                "{}",
                pretty(&serde_json::json!({
                    "format_version": FORMAT_VERSION,
                    "command": "check",
                    "stack": stack,
                    "environment": env,
                    "edges": reports,
                    "summary": {"pass": passed, "fail": failed, "skipped": skipped},
                    "left": left,
                    "interrupted": interrupted,
                    "ok": failed == 0 && left.is_empty() && !interrupted,
                    "elapsed_ms": u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
                }))
            );
        }
        if interrupted {
            eprintln!(
                "interrupted after {} edge(s): {}",
                reports.len(),
                if left.is_empty() { "nothing check made is left" } else { "see above" }
            );
            return Exit::Interrupted;
        }
        self.say(&format!(
            "Checked {} edge(s) in {:.1}s: {passed} passed, {failed} failed, {skipped} skipped.\n",
            reports.len(),
            t0.elapsed().as_secs_f64()
        ));
        if failed > 0 || !left.is_empty() { Exit::Failed } else { Exit::Ok }
    }
}
