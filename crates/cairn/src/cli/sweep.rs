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
use cairn_engine::kind::{Provider, TAG_EXPIRES, TAG_RESOURCE, TAG_STACK};
use cairn_engine::plan::op_ctx;
use cairn_engine::state::{format_utc, parse_utc};
use futures::StreamExt;

use super::{App, Exit, pretty};

/// What to sweep.
#[derive(Clone, Debug, Default)]
pub(super) struct Sweep {
    /// Only these stacks (none: every stack).
    pub stacks: Vec<String>,
    /// Only stacks whose expiry has passed.
    pub expired: bool,
    /// Only resources carrying every one of these tags.
    pub tags: Vec<(String, String)>,
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

/// One stack's resources as found, and what is known of it.
struct Group<'a> {
    stack: &'a str,
    resources: Vec<&'a Found>,
    /// The earliest `cairn:expires` among them.
    expires: Option<i64>,
    /// Where its state would be, if there is one here.
    state: Option<std::path::PathBuf>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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

impl App {
    pub(super) async fn cmd_sweep(&mut self, sweep: Sweep) -> Exit {
        let provider = AwsProvider::new(cairn_aws::AwsOptions {
            region: self.g.region.clone(),
            profile: self.g.profile.clone(),
            ..cairn_aws::AwsOptions::default()
        });
        let env = match provider.environment().await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: finding the account: {}", cairn_engine::kind::brief(&e.to_string()));
                return Exit::Failed;
            }
        };
        self.say(&format!("Looking for what cairn made in account {}, {} …\n", env.account_id, env.region));
        let only = match sweep.stacks.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        let found = match find(&provider.clients(), only).await {
            Ok(f) => f,
            Err(e) => {
                let e = if self.g.verbose { e.to_string() } else { cairn_engine::kind::brief(&e.to_string()) };
                eprintln!("error: finding cairn's resources: {e}");
                return Exit::Failed;
            }
        };
        let now = now();
        // Never anything without cairn's stack tag, whatever the finder says.
        let mut by_stack: BTreeMap<&str, Vec<&Found>> = BTreeMap::new();
        for f in &found {
            let Some(stack) = f.tags.get(TAG_STACK) else { continue };
            if !sweep.stacks.is_empty() && !sweep.stacks.contains(stack) {
                continue;
            }
            if !sweep.tags.iter().all(|(k, v)| f.tags.get(k) == Some(v)) {
                continue;
            }
            by_stack.entry(stack.as_str()).or_default().push(f);
        }
        let mut groups: Vec<Group<'_>> = by_stack
            .into_iter()
            .map(|(stack, mut resources)| {
                resources.sort_by_key(|f| (wave(f.kind), f.kind, f.physical_id.clone()));
                let expires =
                    resources.iter().filter_map(|f| f.tags.get(TAG_EXPIRES)).filter_map(|t| parse_utc(t)).min();
                let path = cairn_engine::StateStore::new(&self.g.state_dir, stack).path();
                Group { stack, resources, expires, state: path.exists().then_some(path) }
            })
            .collect();
        if sweep.expired {
            groups.retain(|g| g.expires.is_some_and(|e| e <= now));
        }
        // IAM is global: a stack with nothing else here may well live in
        // another region, and losing its roles would break it there. Such
        // a stack is swept only when named.
        let mut elsewhere = Vec::new();
        groups.retain(|g| {
            let keep = sweep.stacks.iter().any(|s| s == g.stack) || g.resources.iter().any(|f| !global(f.kind));
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
        if self.g.json && !sweep.yes {
            println!("{}", pretty(&listing(&groups, now)));
        }
        self.say(&listing_text(&groups, now, &self.g.state_dir));
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
        let left = self.delete_found(&provider, &env, &groups, sweep.parallelism).await;
        if self.g.json {
            let mut doc = listing(&groups, now);
            doc["left"] = serde_json::json!(
                left.iter()
                    .map(|(f, e)| serde_json::json!({"kind": f.kind, "physical_id": f.physical_id, "error": e}))
                    .collect::<Vec<_>>()
            );
            println!("{}", pretty(&doc));
        }
        if left.is_empty() {
            self.say(&format!("Swept {total} resource(s); nothing of {} stack(s) is left.\n", groups.len()));
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
    /// (bounded); a resource whose wave-mates failed is still tried, but a
    /// later wave waits for the earlier one. Returns what is left.
    async fn delete_found<'a>(
        &self,
        provider: &AwsProvider,
        env: &cairn_engine::kind::Environment,
        groups: &[Group<'a>],
        parallelism: usize,
    ) -> Vec<(&'a Found, String)> {
        let mut left = Vec::new();
        let (style, quiet) = (self.style, self.g.quiet);
        for w in 0..=3u8 {
            let jobs = groups
                .iter()
                .flat_map(|g| g.resources.iter().map(move |f| (g.stack, *f)))
                .filter(|(_, f)| wave(f.kind) == w);
            let runs = jobs.map(|(stack, f)| async move {
                let id = f.tags.get(TAG_RESOURCE).cloned().unwrap_or_else(|| f.physical_id.clone());
                let Some(kind) = provider.registry().get(f.kind) else {
                    return (f, Err(format!("this cairn has no kind {}", f.kind)));
                };
                let scope = format!("{stack}/{id}");
                let notify_scope = scope.clone();
                let notify: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(move |m: &str| {
                    if !quiet {
                        eprintln!("  {} {notify_scope}: {m}", style.yellow("…"));
                    }
                });
                let cx = op_ctx(&BTreeMap::new(), stack, &id, env, notify);
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

/// The listing as text, one block per stack.
fn listing_text(groups: &[Group<'_>], now: i64, state_dir: &std::path::Path) -> String {
    let mut out = String::new();
    for g in groups {
        let class = match (g.expires, &g.state) {
            (Some(e), _) if e <= now => format!("expired {} ago ({})", span(now - e), format_utc(e)),
            (_, None) => format!("orphaned: no state in {}", state_dir.display()),
            (Some(e), Some(p)) => format!("live, expires in {} (state {})", span(e - now), p.display()),
            (None, Some(p)) => format!("live (state {})", p.display()),
        };
        let _ = writeln!(out, "\nstack {}  {}  {} resource(s)", g.stack, class, g.resources.len());
        let id_of = |f: &Found| f.tags.get(TAG_RESOURCE).map_or("?", String::as_str).to_string();
        let width = g.resources.iter().map(|f| f.kind.len()).max().unwrap_or(0);
        let id_width = g.resources.iter().map(|f| id_of(f).len()).max().unwrap_or(0);
        for f in &g.resources {
            let _ = writeln!(out, "  {:width$}  {:id_width$}  {}", f.kind, id_of(f), f.physical_id);
        }
    }
    out.push('\n');
    out
}

/// The listing for `--json`.
fn listing(groups: &[Group<'_>], now: i64) -> serde_json::Value {
    let stacks: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            serde_json::json!({
                "stack": g.stack,
                "expires": g.expires.map(format_utc),
                "expired": g.expires.is_some_and(|e| e <= now),
                "state": g.state.as_ref().map(|p| p.display().to_string()),
                "resources": g.resources.iter().map(|f| serde_json::json!({
                    "id": f.tags.get(TAG_RESOURCE),
                    "kind": f.kind,
                    "physical_id": f.physical_id,
                    "arn": f.arn,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({"format_version": super::json::FORMAT_VERSION, "command": "sweep", "stacks": stacks})
}
