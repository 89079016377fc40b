//! The plan: for each resource, what apply will do, as explicit values that
//! can be printed, saved and applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::diag::{At, Diagnostic, Diagnostics, did_you_mean};
use crate::kind::{Environment, Live, OpCtx, OpError, Provider, Registry, TAG_RESOURCE, TAG_STACK};
use crate::spec::Moved;
use crate::state::State;
use crate::validate::Validated;
use crate::value::{Json, RefTarget, Resolver, has_unknown, resolve};

/// What apply will do to one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Step {
    Create,
    /// Changed in place.
    Update {
        fields: Vec<String>,
    },
    /// Deleted and created again because these fields cannot change in place.
    Replace {
        because: Vec<String>,
    },
    Delete,
    /// Left in AWS and removed from state (`retain`).
    Forget,
    NoOp,
}

impl Step {
    pub fn is_change(&self) -> bool {
        !matches!(self, Step::NoOp)
    }
    pub fn symbol(&self) -> &'static str {
        match self {
            Step::Create => "+",
            Step::Update { .. } => "~",
            Step::Replace { .. } => "-/+",
            Step::Delete => "-",
            Step::Forget => "~forget",
            Step::NoOp => "=",
        }
    }
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Json>,
    /// May hold values known only after apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Json>,
}

/// The plan for one resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedResource {
    pub id: String,
    pub kind: String,
    #[serde(flatten)]
    pub step: Step,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// Props the glue set, each with why (see [`crate::spec::ResourceSpec::derived_props`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived_props: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
    /// The props apply will send, resolved as far as known at plan time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Json>,
    /// Set when live AWS differs from what was last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Vec<String>>,
    /// The id state knew it by, when a `moved` entry renames it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
}

/// What a refresh says a resource's drift is when it is gone from AWS.
pub const VANISHED: &str = "deleted outside cairn";

impl PlannedResource {
    /// A create of something state holds but AWS no longer has.
    pub fn vanished(&self) -> bool {
        self.step == Step::Create && self.drift.as_ref().is_some_and(|d| d.iter().any(|x| x == VANISHED))
    }
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stack: String,
    /// The state serial the plan was made against.
    pub state_serial: u64,
    pub env: Environment,
    /// Desired resources in dependency order, then deletions.
    pub resources: Vec<PlannedResource>,
    /// Refreshed live views, by id (not saved with the plan).
    #[serde(skip)]
    pub live: BTreeMap<String, Live>,
    /// What the user should know that no step says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Renames apply makes in state before anything else (no AWS call).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<Moved>,
    /// Where the state the plan was made against is kept, for its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_location: Option<String>,
    /// A refresh-only plan ([`refresh_only`]): its steps change state
    /// only, never AWS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh_only: bool,
    /// The expiry apply sets (RFC 3339 UTC) on state and, as
    /// `cairn:expires`, on every taggable resource: now plus the stack's
    /// time to live. `None` leaves the recorded one as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl Plan {
    /// A copy for display, with every value holding a secret masked.
    #[must_use]
    pub fn masked(&self, secrets: &[String]) -> Plan {
        let mut p = self.clone();
        for r in &mut p.resources {
            r.desired = r.desired.as_ref().map(|d| crate::value::mask(d, secrets));
            for c in &mut r.changes {
                c.old = c.old.as_ref().map(|v| crate::value::mask(v, secrets));
                c.new = c.new.as_ref().map(|v| crate::value::mask(v, secrets));
            }
        }
        p
    }

    pub fn has_changes(&self) -> bool {
        !self.moves.is_empty() || self.expires.is_some() || self.resources.iter().any(|r| r.step.is_change())
    }
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for r in &self.resources {
            match r.step {
                Step::Create => c.0 += 1,
                Step::Update { .. } => c.1 += 1,
                Step::Replace { .. } => c.2 += 1,
                Step::Delete | Step::Forget => c.3 += 1,
                Step::NoOp => {}
            }
        }
        c
    }
    pub fn get(&self, id: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.id == id)
    }
}

/// Builds the operation context of one resource.
pub fn op_ctx(
    stack_tags: &BTreeMap<String, String>,
    stack: &str,
    id: &str,
    env: &Environment,
    notify: Arc<dyn Fn(&str) + Send + Sync>,
) -> OpCtx {
    let mut tags = stack_tags.clone();
    tags.insert(TAG_STACK.to_string(), stack.to_string());
    tags.insert(TAG_RESOURCE.to_string(), id.to_string());
    OpCtx {
        stack: stack.to_string(),
        resource: id.to_string(),
        tags,
        env: env.clone(),
        notify,
        base_dir: PathBuf::new(),
        absent: false,
        adopt: false,
        state_location: None,
    }
}

/// Resolves references from parameters, pseudo values and resource
/// attributes known so far.
pub struct Known<'a> {
    pub params: &'a BTreeMap<String, Json>,
    pub env: &'a Environment,
    pub stack: &'a str,
    pub attrs: &'a BTreeMap<String, BTreeMap<String, Json>>,
}

impl Resolver for Known<'_> {
    fn lookup(&self, target: &RefTarget) -> Option<Json> {
        match target {
            RefTarget::Param { name } => self.params.get(name).cloned(),
            RefTarget::Pseudo { name } => Some(Json::String(match name.as_str() {
                "aws.region" => self.env.region.clone(),
                "aws.account_id" => self.env.account_id.clone(),
                "aws.partition" => self.env.partition.clone(),
                _ => self.stack.to_string(),
            })),
            RefTarget::Resource { id, attr } => self.attrs.get(id).and_then(|a| a.get(attr)).cloned(),
        }
    }
}

/// The top-level fields whose values differ.
pub fn changed_fields(desired: &Json, actual: &Json) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let d = desired.as_object().unwrap_or(&empty);
    let a = actual.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = d.keys().chain(a.keys()).collect();
    let mut out = Vec::new();
    for k in keys {
        let (old, new) = (a.get(k).filter(|v| !v.is_null()), d.get(k).filter(|v| !v.is_null()));
        if old != new || new.is_some_and(has_unknown) {
            out.push(FieldChange { field: k.clone(), old: old.cloned(), new: new.cloned() });
        }
    }
    out
}

/// A resource of state, by id.
type Member<'a> = (&'a String, &'a crate::state::ResourceState);

/// Reads every resource in state at once (bounded), returning live views;
/// a resource that is gone is absent from the result. Resources of a kind
/// that reads in batches ([`crate::kind::Kind::read_batch`]) are read
/// together, a batch taking one of the `parallelism` slots.
pub async fn refresh(
    provider: &dyn Provider,
    state: &State,
    stack_tags: &BTreeMap<String, String>,
    env: &Environment,
    parallelism: usize,
) -> Result<BTreeMap<String, Live>, Vec<(String, OpError)>> {
    let mut errors = Vec::new();
    let mut by_kind: BTreeMap<&str, (&Arc<dyn crate::kind::Kind>, Vec<Member<'_>>)> = BTreeMap::new();
    for (id, rs) in &state.resources {
        match provider.registry().get(&rs.kind) {
            Some(kind) => by_kind.entry(rs.kind.as_str()).or_insert_with(|| (kind, Vec::new())).1.push((id, rs)),
            None => {
                errors.push((id.clone(), OpError::failed(format!("state holds `{id}` of unknown type {}", rs.kind))))
            }
        }
    }
    let mut jobs = Vec::new();
    for (kind, members) in by_kind.into_values() {
        for chunk in members.chunks(kind.read_batch().max(1)) {
            jobs.push((kind, chunk.to_vec()));
        }
    }
    let reads = jobs.into_iter().map(|(kind, chunk)| async move {
        let cxs: Vec<OpCtx> =
            chunk.iter().map(|(id, _)| op_ctx(stack_tags, &state.stack, id, env, Arc::new(|_| {}))).collect();
        let results = if let [(_, rs)] = chunk.as_slice() {
            vec![kind.read(&cxs[0], &rs.physical_id, &rs.props).await]
        } else {
            let items: Vec<crate::kind::ReadItem<'_, Json>> = chunk
                .iter()
                .zip(&cxs)
                .map(|((_, rs), cx)| crate::kind::ReadItem { cx, physical_id: &rs.physical_id, last: &rs.props })
                .collect();
            kind.read_many(&items).await
        };
        let mut results = results.into_iter();
        chunk
            .iter()
            .map(|(id, _)| {
                let r = results.next().unwrap_or_else(|| {
                    Err(OpError::failed(format!("reading `{id}`: the batched read gave no result")))
                });
                ((*id).clone(), r)
            })
            .collect::<Vec<_>>()
    });
    let results: Vec<_> = futures::stream::iter(reads).buffer_unordered(parallelism.max(1)).collect().await;
    let results = results.into_iter().flatten();
    let mut live = BTreeMap::new();
    for (id, r) in results {
        match r {
            Ok(Some(l)) => {
                live.insert(id, l);
            }
            Ok(None) => {}
            Err(e) => errors.push((id, e)),
        }
    }
    if errors.is_empty() { Ok(live) } else { Err(errors) }
}

/// Plans a validated stack against state and refreshed live views. `None`
/// for the stack plans its destruction.
pub fn plan(
    registry: &Registry,
    stack: Option<&Validated>,
    stack_name: &str,
    state: &State,
    live: BTreeMap<String, Live>,
    env: &Environment,
) -> Plan {
    let mut resources = Vec::new();
    let mut attrs: BTreeMap<String, BTreeMap<String, Json>> = BTreeMap::new();
    let mut desired_ids = BTreeSet::new();
    let moves = stack.map(|v| applicable_moves(&v.spec, state)).unwrap_or_default();
    let moved_state;
    let state = if moves.is_empty() {
        state
    } else {
        moved_state = moved(state, &moves);
        &moved_state
    };
    let moved_from: BTreeMap<&str, &str> = moves.iter().map(|m| (m.to.as_str(), m.from.as_str())).collect();
    if let Some(v) = stack {
        for id in &v.order {
            desired_ids.insert(id.clone());
            let Some(spec) = v.spec.resource(id) else { continue };
            let canonical = v.props.get(id).cloned().unwrap_or(Json::Null);
            let known = Known { params: &v.params, env, stack: &v.spec.name, attrs: &attrs };
            let desired = resolve(&canonical, &known);
            let prior = state.resources.get(id);
            let current = live.get(id);
            let (step, changes, drift) = match (prior, current) {
                (Some(p), Some(l)) if p.kind == spec.kind => {
                    let changes = changed_fields(&desired, &l.props);
                    let drift: Vec<String> = changed_fields(&p.props, &l.props).into_iter().map(|c| c.field).collect();
                    let replace_on = registry.get(&spec.kind).map_or(&[][..], |k| k.replace_on());
                    let because: Vec<String> = changes
                        .iter()
                        .filter(|c| replace_on.contains(&"*") || replace_on.contains(&c.field.as_str()))
                        .map(|c| c.field.clone())
                        .collect();
                    let mut changes = changes;
                    let step = if !because.is_empty() {
                        Step::Replace { because }
                    } else {
                        // protect and retain live in state only: a change to
                        // them is an update that makes no AWS call.
                        changes.extend(option_changes(p, &spec.options));
                        if changes.is_empty() {
                            Step::NoOp
                        } else {
                            Step::Update { fields: changes.iter().map(|c| c.field.clone()).collect() }
                        }
                    };
                    (step, changes, if drift.is_empty() { None } else { Some(drift) })
                }
                (Some(p), Some(_)) => {
                    (Step::Replace { because: vec![format!("type changed from {}", p.kind)] }, Vec::new(), None)
                }
                (Some(_), None) => (Step::Create, Vec::new(), Some(vec![VANISHED.to_string()])),
                (None, _) if state.intents.contains_key(id) => (
                    Step::Create,
                    Vec::new(),
                    Some(vec!["an earlier create did not finish; what it made is adopted".to_string()]),
                ),
                (None, _) => (Step::Create, Vec::new(), None),
            };
            // Attributes stay known through no-ops and updates; a create or
            // replace makes them known only after apply.
            if matches!(step, Step::NoOp | Step::Update { .. })
                && let Some(l) = current
            {
                attrs.insert(id.clone(), l.attrs.clone());
            }
            resources.push(PlannedResource {
                id: id.clone(),
                kind: spec.kind.clone(),
                step,
                derived: spec.derived,
                derived_props: spec.derived_props.clone(),
                physical_id: prior.filter(|_| current.is_some()).map(|p| p.physical_id.clone()),
                changes,
                desired: Some(desired),
                drift,
                moved_from: moved_from.get(id.as_str()).map(|f| (*f).to_string()),
            });
        }
    }
    // What state holds but the stack no longer wants, dependents first.
    let mut gone: Vec<(&String, &crate::state::ResourceState)> =
        state.resources.iter().filter(|(id, _)| !desired_ids.contains(*id)).collect();
    gone.sort_by_key(|(id, _)| std::cmp::Reverse(depth(state, id)));
    for (id, rs) in gone {
        let exists = live.contains_key(id);
        resources.push(PlannedResource {
            id: id.clone(),
            kind: rs.kind.clone(),
            step: if rs.retain { Step::Forget } else { Step::Delete },
            derived: rs.derived,
            derived_props: BTreeMap::new(),
            physical_id: Some(rs.physical_id.clone()),
            changes: Vec::new(),
            desired: None,
            drift: if exists { None } else { Some(vec!["already gone".into()]) },
            moved_from: None,
        });
    }
    let warnings = state
        .intents
        .iter()
        .filter(|(id, _)| !desired_ids.contains(*id))
        .map(|(id, i)| match stack {
            // Destroying: the stack may well still have it.
            None => format!(
                "a create of `{id}` ({}) was interrupted and the resource may exist untracked; \
                 run `cairn apply` to adopt it, then destroy again",
                i.kind
            ),
            Some(_) => format!(
                "a create of `{id}` ({}) was interrupted and the resource may exist untracked; \
                 put `{id}` back in the stack and apply to adopt it, then remove it",
                i.kind
            ),
        })
        .collect();
    Plan {
        stack: stack_name.to_string(),
        state_serial: state.serial,
        env: env.clone(),
        resources,
        live,
        warnings,
        moves,
        state_location: None,
        refresh_only: false,
        expires: None,
    }
}

/// The changes to `protect` and `retain` between state and the stack.
fn option_changes(prior: &crate::state::ResourceState, now: &crate::spec::ResourceOptions) -> Vec<FieldChange> {
    [("protect", prior.protect, now.protect), ("retain", prior.retain, now.retain)]
        .into_iter()
        .filter(|(_, old, new)| old != new)
        .map(|(field, old, new)| FieldChange {
            field: field.to_string(),
            old: Some(Json::Bool(old)),
            new: Some(Json::Bool(new)),
        })
        .collect()
}

/// The stack's `moved` entries that apply to this state: its `from` is in
/// state and its `to` is not (an entry already carried out, or for a state
/// that never held `from`, does nothing).
pub fn applicable_moves(spec: &crate::spec::StackSpec, state: &State) -> Vec<Moved> {
    spec.moved
        .iter()
        .filter(|m| state.resources.contains_key(&m.from) && !state.resources.contains_key(&m.to))
        .cloned()
        .collect()
}

/// A copy of `state` with `moves` carried out.
pub fn moved(state: &State, moves: &[Moved]) -> State {
    let mut s = state.clone();
    for m in moves {
        s.rename(&m.from, &m.to);
    }
    s
}

/// The stack's `moved` entries against state: an error for an entry whose
/// `from` and `to` are both in state, or whose `from` state does not hold
/// (when state holds anything: a typo there would delete the resource and
/// create it again). An entry whose move is done (`to` in state) is fine.
pub fn check_moves(spec: &crate::spec::StackSpec, state: &State) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for (index, m) in spec.moved.iter().enumerate() {
        let at = |key: &str| At::Moved { index, key: key.to_string() };
        let (has_from, has_to) = (state.resources.contains_key(&m.from), state.resources.contains_key(&m.to));
        if has_from && has_to {
            diags.push(
                Diagnostic::error(
                    at("to"),
                    format!("state holds both `{}` and `{}`; cannot move one onto the other", m.from, m.to),
                )
                .expected("a `to` that state does not hold yet")
                .suggest(Some(format!("`cairn state rm {}` first if state should forget it", m.to))),
            );
        } else if !has_from && !has_to && !state.resources.is_empty() {
            let s = did_you_mean(&m.from, state.resources.keys().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"));
            diags.push(
                Diagnostic::error(
                    at("from"),
                    format!("`from: {}` is not in state, so there is nothing to move", m.from),
                )
                .expected(format!(
                    "an id state holds: {}",
                    state.resources.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
                .suggest(s),
            );
        }
    }
    diags
}

/// Why each delete or replace of a protected resource in `plan` is refused;
/// empty when there is none. What is protected is read from the stack for
/// what it holds, from state for what it no longer does.
pub fn protected(plan: &Plan, stack: Option<&Validated>, state: &State) -> Vec<String> {
    let moved = moved(state, &plan.moves);
    let protect = |id: &str| {
        stack
            .and_then(|v| v.spec.resource(id))
            .map(|r| r.options.protect)
            .or_else(|| moved.resources.get(id).map(|r| r.protect))
    };
    plan.resources
        .iter()
        .filter(|r| protect(&r.id) == Some(true))
        .filter_map(|r| match &r.step {
            Step::Replace { because } => Some(format!(
                "`{}` is protected and would be replaced (because {} cannot change in place): undo that change, \
                 or set `protect: false` on it and run plan again",
                r.id,
                because.join(", ")
            )),
            Step::Delete if stack.is_some() => Some(format!(
                "`{}` is protected and would be deleted (it is no longer in the stack): put it back, or first apply \
                 it with `protect: false` and then remove it; `cairn state rm {}` forgets it and leaves it in AWS",
                r.id, r.id
            )),
            Step::Delete => Some(format!(
                "`{}` is protected: set `protect: false` on it and apply before destroying, or `cairn state rm {}` \
                 to forget it and leave it in AWS",
                r.id, r.id
            )),
            _ => None,
        })
        .collect()
}

/// How deep a resource sits in the state's dependency chains.
fn depth(state: &State, id: &str) -> usize {
    fn go(state: &State, id: &str, seen: &mut BTreeSet<String>) -> usize {
        if !seen.insert(id.to_string()) {
            return 0;
        }
        state.resources.get(id).map_or(0, |r| r.depends_on.iter().map(|d| 1 + go(state, d, seen)).max().unwrap_or(0))
    }
    go(state, id, &mut BTreeSet::new())
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("finding the account: {0}")]
    Environment(OpError),
    #[error("reading live resources:{}", .0.iter().map(|(id, e)| format!("\n  {id}: {e}")).collect::<String>())]
    Refresh(Vec<(String, OpError)>),
    /// Deletes or replaces of protected resources; nothing was changed.
    #[error("refusing to delete or replace protected resources; nothing was changed:\n  - {}", .0.join("\n  - "))]
    Protected(Vec<String>),
    /// The stack's `moved` entries do not fit the state.
    #[error("the stack's `moved` entries do not fit its state")]
    Moves(Diagnostics),
}

/// Finds the environment, refreshes everything in state concurrently and
/// plans. `None` for the stack plans its destruction.
pub async fn make(
    provider: &dyn Provider,
    stack: Option<&Validated>,
    stack_name: &str,
    state: &State,
    parallelism: usize,
) -> Result<Plan, PlanError> {
    make_targeted(provider, stack, stack_name, state, parallelism, &[]).await
}

/// [`make`], limited to `targets` (`--target`) and what they need (see
/// [`select`]) when any is given: the protect checks and data-loss
/// warnings see only what the limited plan would do.
pub async fn make_targeted(
    provider: &dyn Provider,
    stack: Option<&Validated>,
    stack_name: &str,
    state: &State,
    parallelism: usize,
    targets: &[String],
) -> Result<Plan, PlanError> {
    if let Some(v) = stack {
        let diags = check_moves(&v.spec, state);
        if diags.has_errors() {
            return Err(PlanError::Moves(diags));
        }
    }
    // Deletes of protected resources are known from state and the stack
    // alone: refused before any AWS call.
    let offline = Environment { account_id: String::new(), region: String::new(), partition: String::new() };
    let mut offline_plan = plan(provider.registry(), stack, stack_name, state, BTreeMap::new(), &offline);
    select(&mut offline_plan, stack, state, targets);
    let refused = protected(&offline_plan, stack, state);
    if !refused.is_empty() {
        return Err(PlanError::Protected(refused));
    }
    let original = state;
    let moved_state = stack.map(|v| moved(state, &applicable_moves(&v.spec, state)));
    let state = moved_state.as_ref().unwrap_or(state);
    let tags = stack.map(|v| v.spec.tags.clone()).unwrap_or_default();
    let (env, live) = read_live(provider, state, &tags, parallelism).await?;
    let mut p = plan(provider.registry(), stack, stack_name, original, live, &env);
    select(&mut p, stack, original, targets);
    let refused = protected(&p, stack, original);
    if !refused.is_empty() {
        return Err(PlanError::Protected(refused));
    }
    p.warnings.extend(data_at_risk(provider, &p, state, &tags, parallelism).await);
    if let Some(account) = &state.account_id
        && !state.resources.is_empty()
        && *account != env.account_id
    {
        p.warnings.push(format!(
            "the state of {stack_name} was applied to account {account}, but these credentials are for account {}: \
             resources there are not visible from here, and would be created again",
            env.account_id
        ));
    }
    Ok(p)
}

/// The account the credentials are for, and every resource of state as AWS
/// has it now (read concurrently; one that is gone is absent).
pub async fn read_live(
    provider: &dyn Provider,
    state: &State,
    stack_tags: &BTreeMap<String, String>,
    parallelism: usize,
) -> Result<(Environment, BTreeMap<String, Live>), PlanError> {
    // The account and region the state was last applied to, if it says.
    let recorded = match (&state.account_id, &state.region, &state.partition) {
        (Some(account_id), Some(region), Some(partition)) if !state.resources.is_empty() => {
            Some(Environment { account_id: account_id.clone(), region: region.clone(), partition: partition.clone() })
        }
        _ => None,
    };
    let (env, live) = match recorded {
        // Learning the account takes a round trip: overlap it with the reads,
        // which assume the recorded account, and read again if it differs.
        Some(assumed) => {
            let (env, live) =
                futures::join!(provider.environment(), refresh(provider, state, stack_tags, &assumed, parallelism));
            let env = env.map_err(PlanError::Environment)?;
            if env == assumed {
                (env, live)
            } else {
                (env.clone(), refresh(provider, state, stack_tags, &env, parallelism).await)
            }
        }
        None => {
            let env = provider.environment().await.map_err(PlanError::Environment)?;
            let live = refresh(provider, state, stack_tags, &env, parallelism).await;
            (env, live)
        }
    };
    Ok((env, live.map_err(PlanError::Refresh)?))
}

/// The ids a plan limited to `targets` keeps. Applying (a stack given):
/// each target and everything it depends on, so that its references
/// resolve; a target the stack no longer has (a delete) brings what in
/// state depends on it (deleted too, or updated to stop referring to it,
/// before it goes). Destroying: each target and
/// everything in state that depends on it, which cannot outlive it.
pub fn targeted(stack: Option<&Validated>, state: &State, targets: &[String]) -> BTreeSet<String> {
    let in_stack = |id: &str| stack.is_some_and(|v| v.spec.resource(id).is_some());
    let state_dependents = |id: &str| -> Vec<String> {
        state.resources.iter().filter(|(_, rs)| rs.depends_on.iter().any(|x| x == id)).map(|(d, _)| d.clone()).collect()
    };
    let mut keep = BTreeSet::new();
    let mut todo: Vec<String> = targets.to_vec();
    while let Some(id) = todo.pop() {
        if !keep.insert(id.clone()) {
            continue;
        }
        match stack {
            Some(v) if in_stack(&id) => todo.extend(v.graph.deps_of(&id).cloned()),
            _ => todo.extend(state_dependents(&id)),
        }
    }
    keep
}

/// Limits `plan` to `targets` and what they need ([`targeted`]), saying so
/// in its warnings; no targets leaves it whole.
pub fn select(plan: &mut Plan, stack: Option<&Validated>, state: &State, targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let keep = targeted(stack, state, targets);
    let before = plan.resources.len();
    plan.resources.retain(|r| keep.contains(&r.id));
    let left_out = before - plan.resources.len();
    let needed = if stack.is_some() { "what they depend on" } else { "what depends on them" };
    plan.warnings.push(format!(
        "limited by --target to {} and {needed}; {left_out} other resource(s) were left out of this plan, which may \
         therefore not be complete: run plan without --target before you rely on the stack being as written",
        targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    ));
}

/// A refresh-only plan: for each resource of state, what AWS has that
/// state does not record. A resource whose props differ is an update of
/// state (`old` what state holds, `new` what AWS has); one gone from AWS
/// is forgotten. Nothing in AWS is changed by applying it
/// ([`accept_refresh`]).
pub fn refresh_only(stack_name: &str, state: &State, live: BTreeMap<String, Live>, env: &Environment) -> Plan {
    let resources = state
        .resources
        .iter()
        .map(|(id, rs)| {
            let base = PlannedResource {
                id: id.clone(),
                kind: rs.kind.clone(),
                step: Step::NoOp,
                derived: rs.derived,
                derived_props: BTreeMap::new(),
                physical_id: Some(rs.physical_id.clone()),
                changes: Vec::new(),
                desired: None,
                drift: None,
                moved_from: None,
            };
            match live.get(id) {
                None => PlannedResource { step: Step::Forget, drift: Some(vec![VANISHED.to_string()]), ..base },
                Some(l) => {
                    let changes = changed_fields(&l.props, &rs.props);
                    if changes.is_empty() {
                        base
                    } else {
                        let fields: Vec<String> = changes.iter().map(|c| c.field.clone()).collect();
                        PlannedResource {
                            step: Step::Update { fields: fields.clone() },
                            physical_id: Some(l.physical_id.clone()),
                            changes,
                            drift: Some(fields),
                            ..base
                        }
                    }
                }
            }
        })
        .collect();
    Plan {
        stack: stack_name.to_string(),
        state_serial: state.serial,
        env: env.clone(),
        resources,
        live,
        warnings: Vec::new(),
        moves: Vec::new(),
        state_location: None,
        refresh_only: true,
        expires: None,
    }
}

/// Writes what a [`refresh_only`] plan found into state: props, attributes
/// and physical ids as AWS has them, and resources gone from AWS
/// forgotten. Returns whether state changed.
pub fn accept_refresh(state: &mut State, plan: &Plan) -> bool {
    let mut changed = false;
    for r in &plan.resources {
        match (&r.step, plan.live.get(&r.id)) {
            (Step::Forget, _) => changed |= state.resources.remove(&r.id).is_some(),
            (_, Some(l)) => {
                if let Some(rs) = state.resources.get_mut(&r.id) {
                    let before = (rs.props.clone(), rs.attrs.clone(), rs.physical_id.clone(), rs.vanished);
                    rs.props = l.props.clone();
                    rs.attrs = l.attrs.clone();
                    rs.physical_id = l.physical_id.clone();
                    rs.vanished = false;
                    changed |= before != (rs.props.clone(), rs.attrs.clone(), rs.physical_id.clone(), rs.vanished);
                }
            }
            (_, None) => {}
        }
    }
    changed
}

/// The warnings of [`crate::kind::Kind::data_at_risk`] for every resource
/// the plan deletes or replaces (and AWS still has), asked concurrently.
async fn data_at_risk(
    provider: &dyn Provider,
    plan: &Plan,
    state: &State,
    stack_tags: &BTreeMap<String, String>,
    parallelism: usize,
) -> Vec<String> {
    let asks = plan
        .resources
        .iter()
        .filter(|r| matches!(r.step, Step::Delete | Step::Replace { .. }) && plan.live.contains_key(&r.id))
        .filter_map(|r| {
            let rs = state.resources.get(&r.id)?;
            let kind = provider.registry().get(&rs.kind)?;
            let verb = if matches!(r.step, Step::Delete) { "deleting" } else { "replacing" };
            Some(async move {
                let cx = op_ctx(stack_tags, &plan.stack, &r.id, &plan.env, Arc::new(|_| {}));
                kind.data_at_risk(&cx, &rs.physical_id, &rs.props)
                    .await
                    .map(|what| format!("{verb} `{}` ({}) loses what it holds: {what}", r.id, rs.kind))
            })
        });
    let found: Vec<Option<String>> = futures::stream::iter(asks).buffered(parallelism.max(1)).collect().await;
    found.into_iter().flatten().collect()
}
