//! `cairn import ID PHYSICAL-ID`: take a resource that exists in AWS under
//! the stack's management, touching nothing of it but its tags.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use cairn_engine::diag::did_you_mean;
use cairn_engine::kind::{OpCtx, TAG_STATE};
use cairn_engine::plan::{FieldChange, Known, changed_fields, op_ctx};
use cairn_engine::state::ResourceState;
use cairn_engine::value::{has_unknown, resolve};

use super::{App, Exit, pretty, render};

/// What PHYSICAL-ID is for each kind, for `cairn import --help`.
pub(super) const PHYSICAL_IDS: &str = "PHYSICAL-ID by type (as `cairn state list` shows it):
  aws:cloudtrail:Trail              the trail's ARN
  aws:cloudwatch:Alarm              the alarm's name
  aws:ec2:Instance                  the instance id, i-...
  aws:ec2:SecurityGroup             the group id, sg-...
  aws:events:Rule                   the rule's ARN
  aws:iam:InstanceProfile           the profile's name
  aws:iam:Role                      the role's name (not its ARN)
  aws:lambda:EventSourceMapping     the mapping's UUID
  aws:lambda:Function               the function's name
  aws:lambda:Permission             FUNCTION/STATEMENT-ID
  aws:logs:LogGroup                 the group's name (not its ARN)
  aws:logs:MetricFilter             LOG-GROUP:FILTER-NAME
  aws:s3:Bucket                     the bucket's name
  aws:sns:Subscription              the subscription's ARN
  aws:sns:Topic                     the topic's ARN
  aws:sqs:Queue                     the queue's URL
  aws:ssm:Parameter                 the parameter's name, /like/this

Example: cairn import jobs https://sqs.eu-west-1.amazonaws.com/123456789012/old-jobs stacks/app.yaml";

impl App {
    pub(super) async fn cmd_import(&mut self, file: Option<PathBuf>, id: &str, physical_id: &str) -> Exit {
        let (v, _) = match self.validated(file) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let Some(spec) = v.spec.resource(id) else {
            let hint = did_you_mean(id, v.order.iter().map(String::as_str))
                .map(|c| format!("\n  = help: did you mean `{c}`?"))
                .unwrap_or_default();
            eprintln!(
                "error: `{id}` is not a resource of stack {}: add it to the stack first, then import it\n  = expected: one of {}{hint}",
                v.spec.name,
                v.order.join(", ")
            );
            return Exit::Invalid;
        };
        let Some(kind) = self.registry.get(&spec.kind).cloned() else {
            eprintln!("error: `{id}` is of unknown type {}", spec.kind);
            return Exit::Invalid;
        };
        let provider = self.provider(&v.spec);
        let store = self.store(&v.spec);
        let (_lock, mut state) = match self.lock_and_load(&store, "import") {
            Ok(x) => x,
            Err(e) => return e,
        };
        if let Some(rs) = state.resources.get(id) {
            eprintln!(
                "error: state already holds `{id}` ({} {}); nothing was changed\n  = help: `cairn state rm {id}` first to manage another resource as `{id}`",
                rs.kind, rs.physical_id
            );
            return Exit::Invalid;
        }
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            let e = if self.g.verbose { e.to_string() } else { cairn_engine::kind::brief(&e.to_string()) };
            eprintln!("error: importing `{id}`: {what}: {e}\n  nothing was recorded");
            Exit::Failed
        };
        let env = match cairn_engine::kind::Provider::environment(&provider).await {
            Ok(env) => env,
            Err(e) => return failed("finding the account", &e),
        };
        // What the stack wants of it, with the references state can answer.
        let attrs = state.resources.iter().map(|(k, r)| (k.clone(), r.attrs.clone())).collect();
        let known = Known { params: &v.params, env: &env, stack: &v.spec.name, attrs: &attrs };
        let desired = resolve(v.props.get(id).unwrap_or(&serde_json::Value::Null), &known);
        if has_unknown(&desired) {
            let missing: Vec<String> =
                v.graph.deps_of(id).filter(|d| !state.resources.contains_key(*d)).map(|d| format!("`{d}`")).collect();
            eprintln!(
                "error: `{id}` refers to {}, which state does not hold yet; nothing was changed\n  = help: apply or import {} first (`cairn apply --target ID` makes just those)",
                missing.join(", "),
                if missing.len() == 1 { "it" } else { "them" }
            );
            return Exit::Invalid;
        }
        if let Some(recorded) = state.account_id.as_ref().filter(|a| **a != env.account_id) {
            eprintln!(
                "error: the state of {} was applied to account {recorded}, but these credentials are for account {}; \
                 nothing was changed\n  = help: import with the credentials the stack was applied with",
                v.spec.name, env.account_id
            );
            return Exit::Invalid;
        }
        let lineage = state.lineage().to_string();
        let mut stack_tags = v.spec.tags.clone();
        stack_tags.insert(TAG_STATE.to_string(), lineage);
        // The stack's expiry, which every resource of it carries.
        if let Some(at) = &state.expires {
            stack_tags.insert(cairn_engine::kind::TAG_EXPIRES.to_string(), at.clone());
        }
        let mut cx: OpCtx = op_ctx(&stack_tags, &v.spec.name, id, &env, Arc::new(|m: &str| eprintln!("  … {m}")));
        cx.base_dir = v.spec.base_dir.clone().unwrap_or_default();
        cx.state_location = Some(store.location());

        let live = match kind.read(&cx, physical_id, &desired).await {
            Ok(Some(live)) => live,
            Ok(None) => {
                eprintln!(
                    "error: importing `{id}`: no {} `{physical_id}` in account {}, {}\n  = help: see `cairn import --help` for the form of PHYSICAL-ID",
                    spec.kind, env.account_id, env.region
                );
                return Exit::Failed;
            }
            Err(e) => return failed("reading it", &e),
        };
        // Whose it is: never another stack's, nor another state's of this one.
        let tags = match kind.live_tags(&cx, &live.physical_id).await {
            Ok(t) => t,
            Err(e) => return failed("reading its tags", &e),
        };
        let mut added = Vec::new();
        let mut kept = Vec::new();
        if let Some(tags) = &tags {
            if let Some(refusal) = foreign(&cx, tags, self.adopt) {
                eprintln!(
                    "error: importing `{id}`: {} {}; nothing was changed\n{refusal}",
                    spec.kind, live.physical_id
                );
                return Exit::Failed;
            }
            let add: BTreeMap<String, String> = cx
                .tags
                .iter()
                .filter(|(k, val)| tags.get(*k) != Some(*val))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !add.is_empty()
                && let Err(e) = kind.add_tags(&cx, &live.physical_id, &add).await
            {
                return failed("tagging it", &e);
            }
            added = add.into_keys().collect();
            kept = tags.keys().filter(|k| !cx.tags.contains_key(*k) && !k.starts_with("aws:")).cloned().collect();
        }
        // Masked once, for every output below.
        let secrets = v.secrets();
        let changes: Vec<FieldChange> = changed_fields(&desired, &live.props)
            .into_iter()
            .map(|c| FieldChange {
                field: c.field,
                old: c.old.map(|x| cairn_engine::value::mask(&x, &secrets)),
                new: c.new.map(|x| cairn_engine::value::mask(&x, &secrets)),
            })
            .collect();
        state.resources.insert(
            id.to_string(),
            ResourceState {
                kind: spec.kind.clone(),
                physical_id: live.physical_id.clone(),
                props: live.props.clone(),
                attrs: live.attrs.clone(),
                depends_on: v.graph.deps_of(id).cloned().collect(),
                retain: spec.options.retain,
                protect: spec.options.protect,
                derived: spec.derived,
                vanished: false,
            },
        );
        state.intents.remove(id);
        if state.account_id.is_none() {
            state.account_id = Some(env.account_id.clone());
            state.region = Some(env.region.clone());
            state.partition = Some(env.partition.clone());
        }
        if let Err(e) = store.save(&mut state) {
            return super::state_error(&e);
        }
        let forced: Vec<&str> = changes
            .iter()
            .map(|c| c.field.as_str())
            .filter(|f| kind.replace_on().contains(&"*") || kind.replace_on().contains(f))
            .collect();
        if self.g.json {
            println!(
                "{}",
                pretty(&serde_json::json!({
                    "format_version": super::json::FORMAT_VERSION,
                    "command": "import",
                    "stack": v.spec.name,
                    "id": id,
                    "kind": spec.kind,
                    "physical_id": live.physical_id,
                    "tags_added": added,
                    "changes": changes,
                    "replace_because": forced,
                }))
            );
        }
        let mut text = format!("Imported `{id}` ({} {}) into {}.\n", spec.kind, live.physical_id, store.location());
        if tags.is_none() {
            text.push_str(&format!("  {} resources carry no tags; state alone records it.\n", spec.kind));
        } else if !added.is_empty() {
            text.push_str(&format!("  tagged: {}\n", added.join(", ")));
        }
        if !kept.is_empty() {
            text.push_str(&format!(
                "  note: tags not in the stack were kept ({}); the next update of `{id}` removes them unless the \
                 stack's `tags:` lists them\n",
                kept.join(", ")
            ));
        }
        if changes.is_empty() {
            text.push_str("  It matches the stack: the next plan shows no change for it.\n");
        } else {
            text.push_str("  It differs from the stack; the next apply makes it as the stack says:\n");
            for c in &changes {
                render::change_lines(&mut text, self.style, c);
            }
            if !forced.is_empty() {
                text.push_str(&format!(
                    "  warning: {} cannot change in place: the next apply would DELETE it and create it again; change the \
                     stack to match it (or add `protect: true`) first\n",
                    forced.join(", ")
                ));
            }
        }
        self.say(&text);
        Exit::Ok
    }
}

/// Why the live tags forbid the import, if they do: another cairn stack's
/// resource, another resource of this stack, or this stack's in another
/// state (unless `adopt`).
fn foreign(cx: &OpCtx, tags: &BTreeMap<String, String>, adopt: bool) -> Option<String> {
    use cairn_engine::kind::{TAG_RESOURCE, TAG_STACK};
    let stack = tags.get(TAG_STACK)?;
    if *stack != cx.stack || tags.get(TAG_RESOURCE).is_some_and(|r| *r != cx.resource) {
        return Some(format!(
            "  = {}: import only what no cairn stack manages\n  = help: destroy it from that stack, or `cairn state rm` it there and remove its cairn: tags",
            OpCtx::owner_of(tags)
        ));
    }
    match tags.get(TAG_STATE) {
        Some(l) if Some(l) != cx.tags.get(TAG_STATE) && !adopt => Some(format!(
            "  = it is this stack's, in another state (lineage {l})\n  = help: run cairn where that state is, or `cairn import --adopt` to take it into this one (then `cairn state rm` it in the other)"
        )),
        _ => None,
    }
}
