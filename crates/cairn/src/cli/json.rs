//! The machine output of `plan`, `apply`, `destroy` and `status` with
//! `--json`: one versioned document per stack, of the same shape whatever
//! happened (documented in docs/json.md, schema in docs/output.schema.json).

use std::collections::BTreeMap;

use cairn_engine::State;
use cairn_engine::exec::{OpKind, Outcome};
use cairn_engine::kind::Environment;
use cairn_engine::plan::{FieldChange, Plan, Step};
use cairn_engine::value::Json;
use serde::Serialize;

/// The `format_version` of every document; bumped when a field changes
/// meaning or goes away (new fields may be added within a version).
pub const FORMAT_VERSION: &str = "1";

/// One stack's result.
#[derive(Clone, Debug, Serialize)]
pub struct StackDoc {
    pub format_version: &'static str,
    /// `plan`, `apply`, `destroy` or `status`.
    pub command: &'static str,
    pub stack: String,
    pub state: StateInfo,
    /// Where the plan was made; `null` for status.
    pub environment: Option<Environment>,
    pub summary: Summary,
    pub resources: Vec<ResourceDoc>,
    /// The stack's outputs as state holds them after the command.
    pub outputs: BTreeMap<String, Json>,
    pub warnings: Vec<String>,
    /// False when an operation failed, was skipped or interrupted.
    pub ok: bool,
    /// How long the apply or destroy took; `null` for plan and status.
    pub elapsed_ms: Option<u64>,
    /// Present (true) for `--refresh-only`: each action is a change to state
    /// only (`update`: state takes what AWS has, `old` is what state held and
    /// `new` what AWS has; `forget`: deleted outside cairn), never to AWS.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refresh_only: bool,
    /// Present when the command sets the stack's expiry (a time to live):
    /// the time, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Where the state is, and its serial after the command.
#[derive(Clone, Debug, Serialize)]
pub struct StateInfo {
    pub path: String,
    pub serial: u64,
}

/// Counts of planned steps, then of how the operations ended.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub forget: usize,
    pub unchanged: usize,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// One resource: its planned action and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceDoc {
    pub id: String,
    pub kind: String,
    /// `create`, `update`, `replace`, `delete`, `forget` or `no_op`.
    pub action: &'static str,
    pub derived: bool,
    /// Props cairn set that the stack does not say (secure defaults,
    /// derived glue), each with why; absent when none.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub derived_props: std::collections::BTreeMap<String, String>,
    pub physical_id: Option<String>,
    /// The id state knew it by, when a `moved` entry renames it.
    pub moved_from: Option<String>,
    /// Fields that differ: `old` is live AWS, `new` what apply sends.
    pub changes: Vec<FieldChange>,
    /// Why live AWS differs from what was last applied.
    pub drift: Vec<String>,
    /// `planned` or `unchanged` (plan), `done`, `failed`, `skipped` or
    /// `unchanged` (apply, destroy), `recorded` (status).
    pub outcome: &'static str,
    /// The failure, or why it was skipped.
    pub error: Option<String>,
}

fn action(step: &Step) -> &'static str {
    match step {
        Step::Create => "create",
        Step::Update { .. } => "update",
        Step::Replace { .. } => "replace",
        Step::Delete => "delete",
        Step::Forget => "forget",
        Step::NoOp => "no_op",
    }
}

/// The document of a plan (`plan.masked` already), before it is applied.
pub fn planned(command: &'static str, plan: &Plan, state: &State, location: &str) -> StackDoc {
    let mut summary = Summary::default();
    let resources = plan
        .resources
        .iter()
        .map(|r| {
            match r.step {
                Step::Create => summary.create += 1,
                Step::Update { .. } => summary.update += 1,
                Step::Replace { .. } => summary.replace += 1,
                Step::Delete => summary.delete += 1,
                Step::Forget => summary.forget += 1,
                Step::NoOp => summary.unchanged += 1,
            }
            ResourceDoc {
                id: r.id.clone(),
                kind: r.kind.clone(),
                action: action(&r.step),
                derived: r.derived,
                derived_props: r.derived_props.clone(),
                physical_id: r.physical_id.clone(),
                moved_from: r.moved_from.clone(),
                changes: r.changes.clone(),
                drift: r.drift.clone().unwrap_or_default(),
                outcome: if r.step.is_change() { "planned" } else { "unchanged" },
                error: None,
            }
        })
        .collect();
    StackDoc {
        format_version: FORMAT_VERSION,
        command,
        stack: plan.stack.clone(),
        state: StateInfo { path: location.to_string(), serial: state.serial },
        environment: Some(plan.env.clone()),
        summary,
        resources,
        outputs: state.outputs.clone(),
        warnings: plan.warnings.clone(),
        ok: true,
        elapsed_ms: None,
        refresh_only: plan.refresh_only,
        expires: plan.expires.clone(),
    }
}

/// The document of an applied (or destroyed) plan: each resource's
/// outcome, and the state after.
pub fn applied(mut doc: StackDoc, outcome: &Outcome, after: &State) -> StackDoc {
    // A replace is two operations: it is done when both are.
    let mut ends: BTreeMap<String, (&'static str, Option<String>)> = BTreeMap::new();
    let mut note = |id: &str, end: &'static str, why: Option<String>| {
        let rank = |e: &str| ["done", "skipped", "failed"].iter().position(|x| *x == e).unwrap_or(0);
        let slot = ends.entry(id.to_string()).or_insert(("done", None));
        if rank(end) >= rank(slot.0) {
            *slot = (end, why.or(slot.1.take()));
        }
    };
    for (id, _) in &outcome.done {
        note(id, "done", None);
    }
    for (id, op, why) in &outcome.skipped {
        note(id, "skipped", Some(format!("{} skipped: {why}", op_name(*op))));
    }
    for (id, op, e) in &outcome.failed {
        note(id, "failed", Some(format!("{} failed: {e}", op_name(*op))));
    }
    for r in &mut doc.resources {
        if r.action == "no_op" {
            continue;
        }
        if let Some((end, why)) = ends.get(&r.id) {
            r.outcome = end;
            r.error = why.clone();
        }
        r.physical_id = after.resources.get(&r.id).map(|s| s.physical_id.clone()).or(r.physical_id.take());
    }
    doc.summary.done = doc.resources.iter().filter(|r| r.outcome == "done").count();
    doc.summary.failed = doc.resources.iter().filter(|r| r.outcome == "failed").count();
    doc.summary.skipped = doc.resources.iter().filter(|r| r.outcome == "skipped").count();
    doc.state.serial = after.serial;
    doc.outputs = after.outputs.clone();
    doc.ok = outcome.ok();
    doc.elapsed_ms = Some(u64::try_from(outcome.elapsed_ms).unwrap_or(u64::MAX));
    doc
}

fn op_name(op: OpKind) -> &'static str {
    match op {
        OpKind::Create => "create",
        OpKind::Update => "update",
        OpKind::Delete => "delete",
        OpKind::Forget => "forget",
        OpKind::Move => "move",
    }
}

/// What state holds: for `status --json`, and for a destroy with nothing
/// to destroy.
pub fn recorded(command: &'static str, stack: &str, state: &State, location: &str) -> StackDoc {
    let resources: Vec<ResourceDoc> = state
        .resources
        .iter()
        .map(|(id, r)| ResourceDoc {
            id: id.clone(),
            kind: r.kind.clone(),
            action: "no_op",
            derived: r.derived,
            derived_props: Default::default(),
            physical_id: Some(r.physical_id.clone()),
            moved_from: None,
            changes: Vec::new(),
            drift: Vec::new(),
            outcome: "recorded",
            error: None,
        })
        .collect();
    let environment = match (&state.account_id, &state.region, &state.partition) {
        (Some(a), Some(r), Some(p)) => {
            Some(Environment { account_id: a.clone(), region: r.clone(), partition: p.clone() })
        }
        _ => None,
    };
    StackDoc {
        format_version: FORMAT_VERSION,
        command,
        stack: stack.to_string(),
        state: StateInfo { path: location.to_string(), serial: state.serial },
        environment,
        summary: Summary { unchanged: resources.len(), ..Summary::default() },
        resources,
        outputs: state.outputs.clone(),
        warnings: Vec::new(),
        ok: true,
        elapsed_ms: None,
        refresh_only: false,
        expires: state.expires.clone(),
    }
}

/// Several stacks in one command: `{"format_version", "command", "stacks": [...]}`.
pub fn many(command: &'static str, docs: Vec<StackDoc>) -> Json {
    serde_json::json!({"format_version": FORMAT_VERSION, "command": command, "stacks": docs})
}
