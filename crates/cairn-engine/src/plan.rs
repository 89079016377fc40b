//! The plan: for each resource, what apply will do, as explicit values that
//! can be printed, saved and applied.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::kind::{Environment, Live, OpCtx, OpError, Provider, Registry, TAG_RESOURCE, TAG_STACK};
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
        self.resources.iter().any(|r| r.step.is_change())
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
                    let step = if changes.is_empty() {
                        Step::NoOp
                    } else if !because.is_empty() {
                        Step::Replace { because }
                    } else {
                        Step::Update { fields: changes.iter().map(|c| c.field.clone()).collect() }
                    };
                    (step, changes, if drift.is_empty() { None } else { Some(drift) })
                }
                (Some(p), Some(_)) => {
                    (Step::Replace { because: vec![format!("type changed from {}", p.kind)] }, Vec::new(), None)
                }
                (Some(_), None) => (Step::Create, Vec::new(), Some(vec!["deleted outside cairn".to_string()])),
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
                physical_id: prior.filter(|_| current.is_some()).map(|p| p.physical_id.clone()),
                changes,
                desired: Some(desired),
                drift,
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
            physical_id: Some(rs.physical_id.clone()),
            changes: Vec::new(),
            desired: None,
            drift: if exists { None } else { Some(vec!["already gone".into()]) },
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
    Plan { stack: stack_name.to_string(), state_serial: state.serial, env: env.clone(), resources, live, warnings }
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
    let tags = stack.map(|v| v.spec.tags.clone()).unwrap_or_default();
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
                futures::join!(provider.environment(), refresh(provider, state, &tags, &assumed, parallelism));
            let env = env.map_err(PlanError::Environment)?;
            if env == assumed {
                (env, live)
            } else {
                (env.clone(), refresh(provider, state, &tags, &env, parallelism).await)
            }
        }
        None => {
            let env = provider.environment().await.map_err(PlanError::Environment)?;
            let live = refresh(provider, state, &tags, &env, parallelism).await;
            (env, live)
        }
    };
    let live = live.map_err(PlanError::Refresh)?;
    let mut p = plan(provider.registry(), stack, stack_name, state, live, &env);
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
