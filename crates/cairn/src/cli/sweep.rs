//! `cairn sweep` and `cairn destroy --from-tags`: find what cairn made in
//! AWS by its ownership tags, whatever state says, and delete it,
//! dependents first. Nothing without a `cairn:stack` tag is ever listed or
//! touched.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use cairn_aws::AwsProvider;
use cairn_aws::sweep::{Found, find};
use cairn_engine::kind::{Environment, Provider, TAG_EXPIRES, TAG_RESOURCE, TAG_RETAINED, TAG_STACK, TAG_STATE};
use cairn_engine::plan::op_ctx;
use cairn_engine::state::{format_utc, lineage_born, parse_utc};
use futures::StreamExt;

use super::{App, Exit, pretty};

/// What to sweep.
#[derive(Clone, Debug, Default)]
pub(super) struct Sweep {
    /// Only these stacks (none: every stack).
    pub stacks: Vec<String>,
    /// Only stacks whose expiry has passed.
    pub expired: bool,
    /// Only deployments at least this many seconds old.
    pub older_than: Option<u64>,
    /// Only resources carrying every one of these tags.
    pub tags: Vec<(String, String)>,
    /// Every region enabled for the account, not only those given.
    pub all_regions: bool,
    /// Delete; otherwise only list.
    pub yes: bool,
    pub parallelism: usize,
}

/// The order of deletion: a resource of a lower wave goes before those of
/// higher ones, since they may refer to it (a mapping before its queue and
/// function, a subscription before its topic, a function before its role).
fn wave(kind: &str) -> u8 {
    match kind {
        "aws:lambda:EventSourceMapping"
        | "aws:lambda:Permission"
        | "aws:sns:Subscription"
        | "aws:logs:MetricFilter"
        | "aws:cloudwatch:Alarm"
        | "aws:events:Rule" => 0,
        "aws:cloudtrail:Trail" | "aws:lambda:Function" | "aws:ec2:Instance" => 1,
        "aws:iam:Role" => 3,
        _ => 2,
    }
}

/// Whether a kind is global (IAM), found from every region.
fn global(kind: &str) -> bool {
    kind.starts_with("aws:iam:")
}

/// A stack's name and the lineage its resources carry.
type Deployment<'a> = (&'a str, Option<&'a str>);

/// One deployment's resources as found (a stack and the lineage of the
/// state that made them), and what is known of it.
struct Group<'a> {
    stack: &'a str,
    /// The `cairn:state` tag, shared by all of them (`None`: made before
    /// cairn tagged lineages).
    lineage: Option<&'a str>,
    /// When that state was made, if its lineage says.
    born: Option<i64>,
    /// Each with the index of the place (region) it was found in.
    resources: Vec<(usize, &'a Found)>,
    /// The earliest `cairn:expires` among them.
    expires: Option<i64>,
    /// Where its state is, if there is one here and it is this deployment's.
    state: Option<String>,
    /// The lineage of a state here that is another deployment's.
    other_state: Option<String>,
}

fn now() -> i64 {
    i64::try_from(cairn_engine::state::unix_now()).unwrap_or(i64::MAX)
}

/// `3h`, `2d`: how long ago or ahead, roughly.
fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A region searched: its provider (whose kinds delete there) and account.
struct Place {
    provider: AwsProvider,
    env: Environment,
}

impl App {
    /// The regions to search: every enabled one, those given, or the
    /// configured one (`None`).
    async fn sweep_regions(&self, all: bool) -> Result<Vec<Option<String>>, Exit> {
        if !all {
            return Ok(if self.g.regions.is_empty() {
                vec![None]
            } else {
                self.g.regions.iter().cloned().map(Some).collect()
            });
        }
        let provider = self.provider_in(self.g.regions.first().cloned());
        match cairn_aws::sweep::enabled_regions(&provider.clients()).await {
            Ok(regions) => Ok(regions.into_iter().map(Some).collect()),
            Err(e) => {
                eprintln!("error: {}", cairn_engine::kind::brief(&e.to_string()));
                Err(Exit::Failed)
            }
        }
    }

    fn provider_in(&self, region: Option<String>) -> AwsProvider {
        AwsProvider::new(cairn_aws::AwsOptions {
            region,
            profile: self.g.profile.clone(),
            ..cairn_aws::AwsOptions::default()
        })
    }

    /// Searches one region: its place, and what cairn made there.
    /// IAM is global: only the search with `global` lists it.
    async fn search(
        &self,
        region: Option<String>,
        only: &[String],
        global: bool,
    ) -> Result<(Place, Vec<Found>), String> {
        let provider = self.provider_in(region.clone());
        let env = provider.environment().await.map_err(|e| {
            format!("finding the account{}: {e}", region.as_ref().map(|r| format!(" in {r}")).unwrap_or_default())
        })?;
        self.say(&format!("Looking for what cairn made in account {}, {} …\n", env.account_id, env.region));
        let found = find(&provider.clients(), only, global)
            .await
            .map_err(|e| format!("finding cairn's resources in {}: {e}", env.region))?;
        Ok((Place { provider, env }, found))
    }

    pub(super) async fn cmd_sweep(&mut self, sweep: Sweep) -> Exit {
        let regions = match self.sweep_regions(sweep.all_regions).await {
            Ok(r) => r,
            Err(e) => return e,
        };
        let only = sweep.stacks.as_slice();
        let searched =
            futures::future::join_all(regions.into_iter().enumerate().map(|(i, r)| self.search(r, only, i == 0))).await;
        let mut places = Vec::new();
        let mut found: Vec<(usize, Found)> = Vec::new();
        // IAM is global, and bucket names are: a bucket may be listed by
        // more than one region's Tagging API (the emulator's lists it in
        // every region). Keep each once, where it was first found.
        let mut seen_global = std::collections::BTreeSet::new();
        for result in searched {
            let (place, in_place) = match result {
                Ok(x) => x,
                Err(e) => {
                    let e = if self.g.verbose { e } else { cairn_engine::kind::brief(&e) };
                    eprintln!("error: {e}");
                    return Exit::Failed;
                }
            };
            places.push(place);
            for f in in_place {
                let once = global(f.kind) || f.kind == "aws:s3:Bucket";
                if once && !seen_global.insert((f.kind, f.physical_id.clone())) {
                    continue;
                }
                found.push((places.len() - 1, f));
            }
        }
        let now = now();
        // Never anything without cairn's stack tag, whatever the finder says.
        // Grouped by deployment: the same stack applied from two state
        // directories (or in two regions) is two groups.
        let mut by_stack: BTreeMap<Deployment<'_>, Vec<(usize, &Found)>> = BTreeMap::new();
        for (place, f) in &found {
            let Some(stack) = f.tags.get(TAG_STACK) else { continue };
            if !sweep.stacks.is_empty() && !sweep.stacks.contains(stack) {
                continue;
            }
            if !sweep.tags.iter().all(|(k, v)| f.tags.get(k) == Some(v)) {
                continue;
            }
            by_stack.entry((stack.as_str(), f.tags.get(TAG_STATE).map(String::as_str))).or_default().push((*place, f));
        }
        // What the user meant to keep is never swept: a resource `retain`
        // left in AWS (tagged so when cairn forgot it), and what the stack's
        // state here marks protect or retain.
        let mut kept: Vec<String> = Vec::new();
        for ((stack, _), resources) in &mut by_stack {
            let held = self.store_named(stack).load().ok();
            let marked = |f: &Found| {
                let in_state = held
                    .as_ref()
                    .and_then(|s| s.resources.values().find(|r| r.kind == f.kind && r.physical_id == f.physical_id));
                f.tags.contains_key(TAG_RETAINED) || in_state.is_some_and(|r| r.protect || r.retain)
            };
            resources.retain(|(_, f)| {
                let keep = marked(f);
                if keep {
                    let id = f.tags.get(TAG_RESOURCE).map_or("?", String::as_str);
                    kept.push(format!("{stack}/{id} ({})", f.kind));
                }
                !keep
            });
        }
        by_stack.retain(|_, r| !r.is_empty());
        if !kept.is_empty() {
            self.say(&format!("note: kept, being protected or retained: {}\n", kept.join(", ")));
        }
        let mut groups: Vec<Group<'_>> = by_stack
            .into_iter()
            .map(|((stack, lineage), mut resources)| {
                resources.sort_by_key(|(p, f)| (wave(f.kind), f.kind, *p, f.physical_id.clone()));
                let expires =
                    resources.iter().filter_map(|(_, f)| f.tags.get(TAG_EXPIRES)).filter_map(|t| parse_utc(t)).min();
                let store = self.store_named(stack);
                // A state here is this deployment's when its lineage is the
                // one the resources carry (or they carry none: made before
                // lineages, they can only be the state's). One that cannot
                // be looked at counts as there: it is locked before anything
                // is deleted, which then fails.
                let (state, other_state) = if store.exists().unwrap_or(true) {
                    let held = store.load().ok().and_then(|s| s.lineage);
                    match (lineage, held) {
                        (Some(l), Some(h)) if l != h => (None, Some(h)),
                        _ => (Some(store.location()), None),
                    }
                } else {
                    (None, None)
                };
                Group { stack, lineage, born: lineage.and_then(lineage_born), resources, expires, state, other_state }
            })
            .collect();
        if sweep.expired {
            groups.retain(|g| g.expires.is_some_and(|e| e <= now));
        }
        if let Some(age) = sweep.older_than {
            let age = i64::try_from(age).unwrap_or(i64::MAX);
            let unknown: Vec<&str> = groups.iter().filter(|g| g.born.is_none()).map(|g| g.stack).collect();
            if !unknown.is_empty() {
                self.say(&format!(
                    "note: left out, their age unknown (made before cairn recorded ages; sweep them without \
                     --older-than): {}\n",
                    unknown.join(", ")
                ));
            }
            groups.retain(|g| g.born.is_some_and(|b| now - b >= age));
            // The age is the state's: a deployment applied every day from an
            // old state is old by it. One whose state is here is live, and
            // goes only when named.
            let live: Vec<&str> = groups
                .iter()
                .filter(|g| g.state.is_some() && !sweep.stacks.iter().any(|s| s == g.stack))
                .map(|g| g.stack)
                .collect();
            if !live.is_empty() {
                self.say(&format!(
                    "note: left out, live with their state here (name them with --stack to sweep them): {}\n",
                    live.join(", ")
                ));
            }
            groups.retain(|g| g.state.is_none() || sweep.stacks.iter().any(|s| s == g.stack));
        }
        // IAM is global: a deployment with nothing else where we looked may
        // well live in another region, and losing its roles would break it
        // there. Such a deployment is swept only when its stack is named.
        let mut elsewhere = Vec::new();
        groups.retain(|g| {
            let keep = sweep.stacks.iter().any(|s| s == g.stack) || g.resources.iter().any(|(_, f)| !global(f.kind));
            if !keep {
                elsewhere.push(format!("{} ({} IAM resource(s))", g.stack, g.resources.len()));
            }
            keep
        });
        if !elsewhere.is_empty() {
            self.say(&format!(
                "note: left alone, having only global IAM resources (their stack may live in another region; name it \
                 with --stack to sweep it): {}\n",
                elsewhere.join(", ")
            ));
        }
        let total: usize = groups.iter().map(|g| g.resources.len()).sum();
        let region_names: Vec<&str> = places.iter().map(|p| p.env.region.as_str()).collect();
        if self.g.json && !sweep.yes {
            println!("{}", pretty(&listing(&groups, now, &region_names)));
        }
        let show_region = places.len() > 1;
        self.say(&listing_text(&groups, now, &self.state_home(), show_region.then_some(&region_names[..])));
        if groups.iter().any(|g| g.state.is_none()) {
            // Sweep has no stack file, so a stack whose file names its own
            // `state:` is looked for here, not there.
            self.say(&format!(
                "note: `orphaned` means no state of it in {}; a stack whose stack file names its own `state:` \
                 keeps it elsewhere: give that place with --state (or --state-dir) to see it as live\n",
                self.state_home()
            ));
        }
        if total == 0 {
            self.say("Nothing to sweep.\n");
            return Exit::Ok;
        }
        if !sweep.yes {
            self.say(&format!(
                "Dry run: nothing was deleted. Run again with --yes to delete these {total} resource(s), dependents first.\n"
            ));
            return Exit::Ok;
        }
        // A stack whose state is here is locked first (an apply of it may be
        // running), and its state then forgets what was deleted.
        let mut locks = Vec::new();
        for g in groups.iter().filter(|g| g.state.is_some()) {
            if locks.iter().any(|(s, _, _)| *s == g.stack) {
                continue; // its untagged-lineage group and its own: one state, one lock
            }
            let store = self.store_named(g.stack);
            match self.lock_and_load(&store, "sweep") {
                Ok((lock, _)) => locks.push((g.stack, store, lock)),
                Err(e) => {
                    eprintln!("error: nothing was deleted: the state of stack {} could not be locked", g.stack);
                    return e;
                }
            }
        }
        let left = self.delete_found(&places, &groups, sweep.parallelism).await;
        for (stack, store, _lock) in &locks {
            let mine: Vec<&Group<'_>> = groups.iter().filter(|g| g.stack == *stack && g.state.is_some()).collect();
            forget_swept(store, stack, &mine, &left, self.g.quiet);
        }
        if self.g.json {
            let mut doc = listing(&groups, now, &region_names);
            doc["left"] = serde_json::json!(
                left.iter()
                    .map(|(f, e)| serde_json::json!({"kind": f.kind, "physical_id": f.physical_id, "error": e}))
                    .collect::<Vec<_>>()
            );
            println!("{}", pretty(&doc));
        }
        if left.is_empty() {
            let rest = if kept.is_empty() {
                format!("nothing of {} stack(s) is left", groups.len())
            } else {
                format!("the {} kept above stay", kept.len())
            };
            self.say(&format!("Swept {total} resource(s); {rest}.\n"));
            return Exit::Ok;
        }
        let mut text = format!("error: {} of {total} resource(s) are left:\n", left.len());
        for (f, e) in &left {
            let _ = writeln!(text, "  {} {}: {e}", f.kind, f.physical_id);
        }
        eprint!("{text}");
        Exit::Failed
    }

    /// Deletes every group's resources, wave by wave, each wave's at once
    /// (bounded), each in its own region; a later wave waits for the
    /// earlier one. Returns what is left.
    async fn delete_found<'a>(
        &self,
        places: &[Place],
        groups: &[Group<'a>],
        parallelism: usize,
    ) -> Vec<(&'a Found, String)> {
        let mut left = Vec::new();
        let (style, quiet) = (self.style, self.g.quiet);
        for w in 0..=3u8 {
            let jobs = groups
                .iter()
                .flat_map(|g| g.resources.iter().map(move |(p, f)| (g.stack, *p, *f)))
                .filter(|(_, _, f)| wave(f.kind) == w);
            let runs = jobs.map(|(stack, p, f)| async move {
                let place = &places[p];
                let id = f.tags.get(TAG_RESOURCE).cloned().unwrap_or_else(|| f.physical_id.clone());
                let Some(kind) = place.provider.registry().get(f.kind) else {
                    return (f, Err(format!("this cairn has no kind {}", f.kind)));
                };
                let scope = format!("{stack}/{id}");
                let notify_scope = scope.clone();
                let notify: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |m: &str| {
                    if !quiet {
                        eprintln!("  {} {notify_scope}: {m}", style.yellow("…"));
                    }
                });
                let cx = op_ctx(&BTreeMap::new(), stack, &id, &place.env, notify);
                let t0 = Instant::now();
                let r =
                    kind.delete_found(&cx, &f.physical_id).await.map_err(|e| cairn_engine::kind::brief(&e.to_string()));
                if !quiet {
                    match &r {
                        Ok(()) => eprintln!(
                            "  {} deleted {scope} ({}) in {:.1}s",
                            style.green("✓"),
                            f.kind,
                            t0.elapsed().as_secs_f64()
                        ),
                        Err(e) => eprintln!("  {} delete {scope} ({}) failed: {e}", style.red("✗"), f.kind),
                    }
                }
                (f, r)
            });
            let results: Vec<(&Found, Result<(), String>)> =
                futures::stream::iter(runs).buffer_unordered(parallelism.max(1)).collect().await;
            left.extend(results.into_iter().filter_map(|(f, r)| r.err().map(|e| (f, e))));
        }
        left
    }
}

/// Removes from a stack's state what the sweep deleted (and the state
/// itself once it holds nothing), so that it does not claim what is gone.
fn forget_swept(
    store: &cairn_engine::StateStore,
    stack: &str,
    groups: &[&Group<'_>],
    left: &[(&Found, String)],
    quiet: bool,
) {
    let gone: std::collections::BTreeSet<(&str, &str)> = groups
        .iter()
        .flat_map(|g| g.resources.iter())
        .filter(|(_, f)| !left.iter().any(|(l, _)| std::ptr::eq(*l, *f)))
        .map(|(_, f)| (f.kind, f.physical_id.as_str()))
        .collect();
    let mut state = match store.load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: the state of {stack} was not updated: {e}");
            return;
        }
    };
    let before = state.resources.len();
    state.resources.retain(|_, r| !gone.contains(&(r.kind.as_str(), r.physical_id.as_str())));
    // What carries no tags (a subscription, a metric filter, a Lambda
    // permission) went with the parent it depends on.
    let held: Vec<String> = state.resources.keys().cloned().collect();
    state.resources.retain(|_, r| {
        let untagged =
            matches!(r.kind.as_str(), "aws:sns:Subscription" | "aws:logs:MetricFilter" | "aws:lambda:Permission");
        !(untagged && !r.depends_on.is_empty() && r.depends_on.iter().all(|d| !held.contains(d)))
    });
    let forgotten = before - state.resources.len();
    if forgotten == 0 {
        return;
    }
    let result = if state.resources.is_empty() && state.intents.is_empty() {
        store.remove()
    } else {
        state.outputs.clear();
        store.save(&mut state)
    };
    match result {
        Err(e) => eprintln!("warning: the state of {stack} was not updated: {e}"),
        Ok(()) if !quiet => eprintln!(
            "State of {stack} ({}) forgets the {forgotten} resource(s) swept{}.",
            store.location(),
            if state.resources.is_empty() { "; it held nothing else and is removed" } else { "" }
        ),
        Ok(()) => {}
    }
}

/// The listing as text, one block per stack; with `regions`, each
/// resource's region too.
fn listing_text(groups: &[Group<'_>], now: i64, state_home: &str, regions: Option<&[&str]>) -> String {
    let mut out = String::new();
    for g in groups {
        let class = match (g.expires, &g.state) {
            (Some(e), _) if e <= now => format!("expired {} ago ({})", span(now - e), format_utc(e)),
            (_, None) => match &g.other_state {
                Some(other) => {
                    format!("orphaned: the state in {state_home} is another deployment (lineage {other})")
                }
                None => format!("orphaned: no state in {state_home}"),
            },
            (Some(e), Some(p)) => format!("live, expires in {} (state {p})", span(e - now)),
            (None, Some(p)) => format!("live (state {p})"),
        };
        let age = g.born.map_or_else(|| "age unknown".to_string(), |b| format!("age {}", span(now - b)));
        let _ = writeln!(out, "\nstack {}  {age}  {}  {} resource(s)", g.stack, class, g.resources.len());
        let id_of = |f: &Found| f.tags.get(TAG_RESOURCE).map_or("?", String::as_str).to_string();
        let width = g.resources.iter().map(|(_, f)| f.kind.len()).max().unwrap_or(0);
        let id_width = g.resources.iter().map(|(_, f)| id_of(f).len()).max().unwrap_or(0);
        for (p, f) in &g.resources {
            let region = match regions {
                Some(_) if global(f.kind) => "  (global)".to_string(),
                Some(r) => format!("  ({})", r.get(*p).copied().unwrap_or("?")),
                None => String::new(),
            };
            let _ = writeln!(out, "  {:width$}  {:id_width$}  {}{region}", f.kind, id_of(f), f.physical_id);
        }
    }
    out.push('\n');
    out
}

/// The listing for `--json`.
fn listing(groups: &[Group<'_>], now: i64, regions: &[&str]) -> serde_json::Value {
    let stacks: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "stack": g.stack,
                "lineage": g.lineage,
                "created": g.born.map(format_utc),
                "age_seconds": g.born.map(|b| now - b),
                "expires": g.expires.map(format_utc),
                "expired": g.expires.is_some_and(|e| e <= now),
                "class": if g.expires.is_some_and(|e| e <= now) {
                    "expired"
                } else if g.state.is_some() {
                    "live"
                } else {
                    "orphaned"
                },
                "other_state_lineage": g.other_state,
                "state": g.state,
                "resources": g.resources.iter().map(|(p, f)| serde_json::json!({
                    "id": f.tags.get(TAG_RESOURCE),
                    "kind": f.kind,
                    "physical_id": f.physical_id,
                    "arn": f.arn,
                    "region": if global(f.kind) { None } else { regions.get(*p).copied() },
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({"format_version": super::json::FORMAT_VERSION, "command": "sweep", "regions": regions, "stacks": stacks})
}
