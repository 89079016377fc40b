//! Carrying out a plan: a DAG walk with bounded parallelism, where a node
//! starts as soon as its dependencies finished, a failure skips only its
//! dependents, and state is saved after every finished operation.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use crate::kind::{Environment, Provider};
use crate::plan::{Known, Plan, Step, changed_fields, op_ctx};
use crate::state::{Intent, ResourceState, State, StateStore};
use crate::validate::Validated;
use crate::value::{Json, as_unknown, has_unknown, resolve};

/// One node of an operation graph.
#[derive(Clone, Debug)]
pub struct Node {
    pub deps: Vec<usize>,
}

/// How a node ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeResult {
    Done,
    Failed(String),
    /// Not run, because of the node named (a failed or skipped dependency).
    Skipped {
        because: usize,
    },
    /// Not run: the run was interrupted.
    Interrupted,
}

/// Runs `op` for every node, each after its dependencies, at most
/// `parallelism` at once. A node whose dependency failed or was skipped is
/// skipped; once `cancel` is set, nothing new starts.
pub async fn run_dag<F, Fut>(nodes: &[Node], parallelism: usize, cancel: Option<&AtomicBool>, op: F) -> Vec<NodeResult>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let n = nodes.len();
    let mut results: Vec<Option<NodeResult>> = vec![None; n];
    let mut started = vec![false; n];
    let mut running = FuturesUnordered::new();
    loop {
        // Propagate skips and start what is ready.
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..n {
                if started[i] || results[i].is_some() {
                    continue;
                }
                if let Some(&bad) = nodes[i].deps.iter().find(|&&d| {
                    matches!(
                        results[d],
                        Some(NodeResult::Failed(_) | NodeResult::Skipped { .. } | NodeResult::Interrupted)
                    )
                }) {
                    results[i] = Some(if matches!(results[bad], Some(NodeResult::Interrupted)) {
                        NodeResult::Interrupted
                    } else {
                        NodeResult::Skipped { because: bad }
                    });
                    progress = true;
                    continue;
                }
                if cancel.is_some_and(|c| c.load(Ordering::SeqCst)) {
                    results[i] = Some(NodeResult::Interrupted);
                    progress = true;
                    continue;
                }
                if running.len() < parallelism.max(1)
                    && nodes[i].deps.iter().all(|&d| results[d] == Some(NodeResult::Done))
                {
                    started[i] = true;
                    let fut = op(i);
                    running.push(async move { (i, fut.await) });
                }
            }
        }
        match running.next().await {
            Some((i, r)) => results[i] = Some(r.map_or_else(NodeResult::Failed, |()| NodeResult::Done)),
            None => break,
        }
    }
    results.into_iter().map(|r| r.unwrap_or(NodeResult::Interrupted)).collect()
}

/// The kind of operation a node performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Delete,
    Forget,
    /// A rename in state (`moved`), no AWS call.
    Move,
}

impl OpKind {
    pub fn verb(self) -> &'static str {
        match self {
            OpKind::Create => "creating",
            OpKind::Update => "updating",
            OpKind::Delete => "deleting",
            OpKind::Forget => "forgetting",
            OpKind::Move => "moving",
        }
    }
    pub fn past(self) -> &'static str {
        match self {
            OpKind::Create => "created",
            OpKind::Update => "updated",
            OpKind::Delete => "deleted",
            OpKind::Forget => "forgotten",
            OpKind::Move => "moved",
        }
    }
}

/// Progress of an apply or destroy, for live output.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    Started { id: String, kind: String, op: OpKind },
    Waiting { id: String, message: String },
    Finished { id: String, kind: String, op: OpKind, elapsed_ms: u128, physical_id: Option<String> },
    Failed { id: String, kind: String, op: OpKind, error: String },
    Skipped { id: String, op: OpKind, because: String },
}

pub type EventSink = Arc<dyn Fn(Event) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct ExecOptions {
    pub parallelism: usize,
    pub on_event: EventSink,
    pub cancel: Option<Arc<AtomicBool>>,
    /// Let creates take over resources tagged for this stack that another
    /// state made (`apply --adopt`; see [`crate::kind::OpCtx::ensure_owns`]).
    pub adopt: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions { parallelism: 16, on_event: Arc::new(|_| {}), cancel: None, adopt: false }
    }
}

/// What an apply or destroy did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub done: Vec<(String, OpKind)>,
    pub failed: Vec<(String, OpKind, String)>,
    pub skipped: Vec<(String, OpKind, String)>,
    pub interrupted: bool,
    pub elapsed_ms: u128,
    /// The first state save that failed (someone else wrote the state, or
    /// it could not be reached): from then on nothing else was started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsaved: Option<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

#[derive(Clone, Debug)]
struct OpNode {
    id: String,
    kind: String,
    op: OpKind,
}

/// Turns a plan into operation nodes and their ordering edges.
fn build_nodes(plan: &Plan, stack: Option<&Validated>, state: &State) -> (Vec<OpNode>, Vec<Node>) {
    let mut ops = Vec::new();
    let mut apply_ix: BTreeMap<&str, usize> = BTreeMap::new();
    let mut delete_ix: BTreeMap<&str, usize> = BTreeMap::new();
    let mut removed: BTreeMap<&str, bool> = BTreeMap::new();
    for r in &plan.resources {
        let mut push = |op: OpKind, kind: &str| {
            ops.push(OpNode { id: r.id.clone(), kind: kind.to_string(), op });
            ops.len() - 1
        };
        let old_kind = state.resources.get(&r.id).map_or(r.kind.as_str(), |s| s.kind.as_str());
        match &r.step {
            Step::Create => {
                apply_ix.insert(&r.id, push(OpKind::Create, &r.kind));
            }
            Step::Update { .. } => {
                apply_ix.insert(&r.id, push(OpKind::Update, &r.kind));
            }
            Step::Replace { .. } => {
                delete_ix.insert(&r.id, push(OpKind::Delete, old_kind));
                apply_ix.insert(&r.id, push(OpKind::Create, &r.kind));
            }
            Step::Delete => {
                delete_ix.insert(&r.id, push(OpKind::Delete, old_kind));
                removed.insert(&r.id, true);
            }
            Step::Forget => {
                delete_ix.insert(&r.id, push(OpKind::Forget, old_kind));
                removed.insert(&r.id, true);
            }
            Step::NoOp => {}
        }
    }
    let mut nodes: Vec<Node> = ops.iter().map(|_| Node { deps: Vec::new() }).collect();
    for (i, o) in ops.iter().enumerate() {
        match o.op {
            OpKind::Create | OpKind::Update => {
                if let Some(v) = stack {
                    for d in v.graph.deps_of(&o.id) {
                        if let Some(&j) = apply_ix.get(d.as_str()) {
                            nodes[i].deps.push(j);
                        }
                    }
                }
                if let Some(&j) = delete_ix.get(o.id.as_str()) {
                    nodes[i].deps.push(j);
                }
            }
            // Moves are no nodes: apply makes them first.
            OpKind::Move => {}
            OpKind::Delete | OpKind::Forget => {
                // After everything that depended on it is gone, and, when it
                // is removed for good, after dependents stopped referring to it.
                for (dep_id, rs) in &state.resources {
                    if !rs.depends_on.contains(&o.id) {
                        continue;
                    }
                    if let Some(&j) = delete_ix.get(dep_id.as_str()) {
                        nodes[i].deps.push(j);
                    } else if removed.contains_key(o.id.as_str())
                        && let Some(&j) = apply_ix.get(dep_id.as_str())
                    {
                        nodes[i].deps.push(j);
                    }
                }
            }
        }
    }
    (ops, nodes)
}

struct Shared<'a> {
    state: Mutex<State>,
    store: &'a StateStore,
    /// The first failed save: once set, no operation starts.
    save_error: Mutex<Option<String>>,
    /// Bumped (under the state lock) by every change to `state`.
    changes: AtomicU64,
    /// The last change that is on disk; held while a save is in flight.
    saved: tokio::sync::Mutex<u64>,
}

impl<'a> Shared<'a> {
    fn new(state: State, store: &'a StateStore) -> Self {
        Shared {
            state: Mutex::new(state),
            store,
            save_error: Mutex::new(None),
            changes: AtomicU64::new(0),
            saved: tokio::sync::Mutex::new(0),
        }
    }

    /// Changes the state and returns once the change is on disk.
    ///
    /// Group commit: one save writes every change made so far, so operations
    /// finishing together share one fsync instead of queueing for one each;
    /// the save runs off the async workers, which keep serving AWS answers.
    async fn update(&self, f: impl FnOnce(&mut State)) -> Result<(), String> {
        let mine = {
            let mut st = self.state.lock().map_err(|_| "state lock poisoned".to_string())?;
            f(&mut st);
            self.changes.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut saved = self.saved.lock().await;
        if *saved >= mine {
            return Ok(());
        }
        let (mut snapshot, generation) = {
            let st = self.state.lock().map_err(|_| "state lock poisoned".to_string())?;
            (st.clone(), self.changes.load(Ordering::SeqCst))
        };
        let store = self.store.clone();
        let result = tokio::task::spawn_blocking(move || store.save(&mut snapshot).map(|()| snapshot.serial))
            .await
            .map_err(|e| format!("saving state: {e}"))
            .and_then(|r| r.map_err(|e| format!("saving state: {e}")));
        match result {
            Ok(serial) => {
                if let Ok(mut st) = self.state.lock() {
                    st.serial = serial;
                }
                *saved = generation;
                Ok(())
            }
            Err(msg) => {
                if let Ok(mut s) = self.save_error.lock() {
                    *s = Some(msg.clone());
                }
                Err(msg)
            }
        }
    }
    fn attrs(&self) -> BTreeMap<String, BTreeMap<String, Json>> {
        self.state
            .lock()
            .map(|st| st.resources.iter().map(|(k, v)| (k.clone(), v.attrs.clone())).collect())
            .unwrap_or_default()
    }
}

/// Carries out a plan. `stack` is the validated stack the plan was made
/// from (`None` for destroy). State is saved after each operation.
pub async fn apply(
    provider: &dyn Provider,
    stack: Option<&Validated>,
    plan: &Plan,
    state: State,
    store: &StateStore,
    opts: &ExecOptions,
) -> (State, Outcome) {
    let started = Instant::now();
    let mut state = state;
    // Renames first: everything after works on the new ids.
    let moves: Vec<&crate::spec::Moved> = plan.moves.iter().filter(|m| state.rename(&m.from, &m.to)).collect();
    let (ops, nodes) = build_nodes(plan, stack, &state);
    let env: &Environment = &plan.env;
    // Creates an earlier run started and did not finish: what they made is
    // this state's to adopt, whatever its tags say of the state.
    let unfinished: std::collections::BTreeSet<String> = state.intents.keys().cloned().collect();
    // Where this state is applied, so that the next plan can read without
    // first asking AWS for the account (see plan::make).
    state.account_id = Some(env.account_id.clone());
    state.region = Some(env.region.clone());
    state.partition = Some(env.partition.clone());
    let lineage = state.lineage().to_string();
    // The expiry the resources carry after this apply: the plan's new one,
    // or the one recorded (which updates must keep, not strip).
    let expires = plan.expires.clone().or_else(|| state.expires.clone());
    let shared = Shared::new(state, store);
    let mut outcome = Outcome::default();
    if !moves.is_empty() {
        if let Err(e) = shared.update(|_| {}).await {
            outcome.failed.push(("state".into(), OpKind::Update, e));
        } else {
            for m in moves {
                outcome.done.push((m.to.clone(), OpKind::Move));
            }
        }
    }
    if let Err(e) = record_refreshed(&shared, plan).await {
        outcome.failed.push(("state".into(), OpKind::Update, e));
    }
    let mut stack_tags = stack.map(|v| v.spec.tags.clone()).unwrap_or_default();
    stack_tags.insert(crate::kind::TAG_STATE.to_string(), lineage);
    if let Some(e) = &expires {
        stack_tags.insert(crate::kind::TAG_EXPIRES.to_string(), e.clone());
    }
    let sink = opts.on_event.clone();
    let adopt = |id: &str| opts.adopt || unfinished.contains(id);
    let looks = early_looks(provider, plan, &ops, &nodes, env, &stack_tags, opts.parallelism);

    let run_one = |i: usize| {
        let o = ops[i].clone();
        let shared = &shared;
        let sink = sink.clone();
        let stack_tags = &stack_tags;
        let look = looks.get(&o.id).cloned();
        let adopt = adopt(&o.id);
        async move {
            // A change state could not record is one a later run cannot
            // see: after a failed save, nothing else is started in AWS.
            if let Some(e) = shared.save_error.lock().ok().and_then(|s| s.clone()) {
                let error = format!("not started: {e}; no other change is made once state cannot be saved");
                sink(Event::Failed { id: o.id.clone(), kind: o.kind.clone(), op: o.op, error: error.clone() });
                return Err(error);
            }
            let t0 = Instant::now();
            sink(Event::Started { id: o.id.clone(), kind: o.kind.clone(), op: o.op });
            // Ready by now, usually: it started with the apply.
            let looked_absent = match look {
                Some(look) if o.op == OpKind::Create => look.await == Some(true),
                _ => false,
            };
            let how = How { looked_absent, adopt };
            let r = run_op(provider, stack, plan, env, stack_tags, shared, &o, how, sink.clone()).await;
            match &r {
                Ok(pid) => sink(Event::Finished {
                    id: o.id.clone(),
                    kind: o.kind.clone(),
                    op: o.op,
                    elapsed_ms: t0.elapsed().as_millis(),
                    physical_id: pid.clone(),
                }),
                Err(e) => sink(Event::Failed { id: o.id.clone(), kind: o.kind.clone(), op: o.op, error: e.clone() }),
            }
            r.map(|_| ())
        }
    };
    // The looks run alongside, at most `parallelism` at once; a create whose
    // look has not started yet runs it itself when it needs the answer.
    // After a Ctrl-C no new look starts, and those still running are
    // dropped (they only read) when the operations are done.
    let cancel = opts.cancel.as_deref();
    let cancelled = move || cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::SeqCst));
    let drive_looks = async {
        futures::stream::iter(looks.values().cloned())
            .take_while(move |_| std::future::ready(!cancelled()))
            .buffer_unordered(opts.parallelism.max(1))
            .for_each(|_| async {})
            .await;
        std::future::pending::<()>().await;
    };
    let results = {
        let dag = std::pin::pin!(run_dag(&nodes, opts.parallelism, opts.cancel.as_deref(), run_one));
        match futures::future::select(dag, std::pin::pin!(drive_looks)).await {
            futures::future::Either::Left((results, _)) => results,
            futures::future::Either::Right(((), dag)) => dag.await,
        }
    };

    for (i, r) in results.into_iter().enumerate() {
        let o = &ops[i];
        match r {
            NodeResult::Done => outcome.done.push((o.id.clone(), o.op)),
            NodeResult::Failed(e) => outcome.failed.push((o.id.clone(), o.op, e)),
            NodeResult::Skipped { because } => {
                let why = format!("{} {} did not succeed", ops[because].op.verb(), ops[because].id);
                sink(Event::Skipped { id: o.id.clone(), op: o.op, because: why.clone() });
                outcome.skipped.push((o.id.clone(), o.op, why));
            }
            NodeResult::Interrupted => {
                outcome.interrupted = true;
                outcome.skipped.push((o.id.clone(), o.op, "interrupted".into()));
            }
        }
    }

    // Only the creates and updates that succeeded carry the new expiry;
    // everything else still in state is tagged now. Not after a Ctrl-C.
    if let Some(e) = plan.expires.as_ref().filter(|_| !outcome.interrupted) {
        let touched: std::collections::BTreeSet<&str> = outcome
            .done
            .iter()
            .filter(|(_, op)| matches!(op, OpKind::Create | OpKind::Update))
            .map(|(id, _)| id.as_str())
            .collect();
        outcome.failed.extend(move_expiry(provider, plan, &shared, &stack_tags, &touched, e, opts).await);
    }

    // Outputs, from what now exists.
    if let Some(v) = stack {
        let outputs = outputs(v, env, &shared.attrs());
        let changed = shared.state.lock().map(|st| st.outputs != outputs).unwrap_or(false);
        if changed && let Err(e) = shared.update(|st| st.outputs = outputs).await {
            outcome.failed.push(("outputs".into(), OpKind::Update, e));
        }
    } else if shared.state.lock().is_ok_and(|st| st.resources.is_empty())
        && let Err(e) = shared.update(|st| st.outputs.clear()).await
    {
        // A destroy of everything: no outputs left. (A targeted one keeps
        // them: the stack is not known here to tell which it ended.)
        outcome.failed.push(("outputs".into(), OpKind::Delete, e));
    }
    outcome.elapsed_ms = started.elapsed().as_millis();
    outcome.unsaved = shared.save_error.lock().ok().and_then(|s| s.clone());
    let state = shared.state.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    (state, outcome)
}

/// Moves the expiry: tags with it every resource this apply did not create
/// or update (those carry it already), then records it in state. Returns
/// the failures.
async fn move_expiry(
    provider: &dyn Provider,
    plan: &Plan,
    shared: &Shared<'_>,
    stack_tags: &BTreeMap<String, String>,
    touched: &std::collections::BTreeSet<&str>,
    expires: &str,
    opts: &ExecOptions,
) -> Vec<(String, OpKind, String)> {
    let untouched: Vec<(String, String, String)> = shared
        .state
        .lock()
        .map(|st| {
            st.resources
                .iter()
                // What the refresh found gone (left out by --target) has no tag to move.
                .filter(|(id, _)| !touched.contains(id.as_str()) && plan.live.contains_key(id.as_str()))
                .map(|(id, rs)| (id.clone(), rs.kind.clone(), rs.physical_id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let tag: BTreeMap<String, String> =
        [(crate::kind::TAG_EXPIRES.to_string(), expires.to_string())].into_iter().collect();
    let tagging = untouched.into_iter().map(|(id, kind, pid)| {
        let tag = &tag;
        async move {
            let k = provider.registry().get(&kind)?;
            let cx = op_ctx(stack_tags, &plan.stack, &id, &plan.env, Arc::new(|_| {}));
            match k.add_tags(&cx, &pid, tag).await {
                Ok(()) => None,
                Err(e) => Some((id, OpKind::Update, format!("setting its expiry tag: {e}"))),
            }
        }
    });
    let mut failed: Vec<_> = futures::stream::iter(tagging)
        .buffer_unordered(opts.parallelism.max(1))
        .filter_map(|r| async { r })
        .collect()
        .await;
    if failed.is_empty()
        && let Err(e) = shared.update(|st| st.expires = Some(expires.to_string())).await
    {
        failed.push(("state".into(), OpKind::Update, e));
    }
    failed
}

/// The stack's outputs from the attributes known: those that still refer
/// to something unknown are left out.
pub fn outputs(
    v: &Validated,
    env: &Environment,
    attrs: &BTreeMap<String, BTreeMap<String, Json>>,
) -> BTreeMap<String, Json> {
    let known = Known { params: &v.params, env, stack: &v.spec.name, attrs };
    v.spec
        .outputs
        .iter()
        .map(|(k, val)| (k.clone(), resolve(val, &known)))
        .filter(|(_, val)| !has_unknown(val))
        .collect()
}

/// Keeps what a refresh learned without any AWS write: a physical id or
/// attributes that changed on their own (a subscription confirmed since).
async fn record_refreshed(shared: &Shared<'_>, plan: &Plan) -> Result<(), String> {
    let changed: Vec<(String, crate::kind::Live)> = {
        let st = shared.state.lock().map_err(|_| "state lock poisoned".to_string())?;
        plan.resources
            .iter()
            .filter(|r| matches!(r.step, Step::NoOp))
            .filter_map(|r| Some((r, st.resources.get(&r.id)?, plan.live.get(&r.id)?)))
            .filter(|(_, rs, live)| rs.physical_id != live.physical_id || rs.attrs != live.attrs)
            .map(|(r, _, live)| (r.id.clone(), live.clone()))
            .collect()
    };
    if changed.is_empty() {
        return Ok(());
    }
    shared
        .update(|st| {
            for (id, live) in changed {
                if let Some(rs) = st.resources.get_mut(&id) {
                    rs.physical_id = live.physical_id;
                    rs.attrs = live.attrs;
                }
            }
        })
        .await
}

/// A look started with the apply, awaited by the create that needs it.
type Look<'a> = futures::future::Shared<futures::future::BoxFuture<'a, Option<bool>>>;

/// For every resource apply will create once its dependencies are done,
/// the kind's look for something of the same name
/// ([`crate::kind::Kind::absent`]), started now: a create deep in the graph
/// then sends its request the moment its inputs are known. A create with
/// nothing to wait for starts at once and looks for itself. Not at
/// `--parallelism 1`, which asks for one call at a time.
#[allow(clippy::too_many_arguments)]
fn early_looks<'a>(
    provider: &'a dyn Provider,
    plan: &'a Plan,
    ops: &[OpNode],
    nodes: &[Node],
    env: &Environment,
    stack_tags: &BTreeMap<String, String>,
    parallelism: usize,
) -> BTreeMap<String, Look<'a>> {
    let mut looks = BTreeMap::new();
    if parallelism <= 1 {
        return looks;
    }
    let planned = |o: &OpNode| plan.get(&o.id).and_then(|r| r.desired.as_ref());
    // Two creates of one kind and name in this apply would each find
    // nothing, and the second would not look again: they look for
    // themselves, so the second meets the first.
    let mut names: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for o in ops.iter().filter(|o| o.op == OpKind::Create) {
        if let Some(name) = planned(o).and_then(|d| d.get("name")).and_then(Json::as_str) {
            *names.entry((o.kind.as_str(), name)).or_default() += 1;
        }
    }
    let shared_name = |o: &OpNode, desired: &Json| {
        desired.get("name").and_then(Json::as_str).is_some_and(|n| names.get(&(o.kind.as_str(), n)) > Some(&1))
    };
    let waiting = ops.iter().zip(nodes).filter(|(o, n)| o.op == OpKind::Create && !n.deps.is_empty());
    for (o, _) in waiting {
        let (Some(kind), Some(desired)) = (provider.registry().get(&o.kind), planned(o)) else {
            continue;
        };
        if shared_name(o, desired) {
            continue;
        }
        let cx = op_ctx(stack_tags, &plan.stack, &o.id, env, Arc::new(|_| {}));
        let look: futures::future::BoxFuture<'a, Option<bool>> =
            Box::pin(async move { kind.absent(&cx, desired).await });
        looks.insert(o.id.clone(), futures::FutureExt::shared(look));
    }
    looks
}

/// What a create may assume and do (see [`crate::kind::OpCtx`]).
#[derive(Clone, Copy)]
struct How {
    looked_absent: bool,
    adopt: bool,
}

#[allow(clippy::too_many_arguments)]
async fn run_op(
    provider: &dyn Provider,
    stack: Option<&Validated>,
    plan: &Plan,
    env: &Environment,
    stack_tags: &BTreeMap<String, String>,
    shared: &Shared<'_>,
    o: &OpNode,
    how: How,
    sink: EventSink,
) -> Result<Option<String>, String> {
    let kind = provider.registry().get(&o.kind).ok_or_else(|| format!("unknown resource type {}", o.kind))?;
    let id = o.id.clone();
    let notify: Arc<dyn Fn(&str) + Send + Sync> =
        Arc::new(move |m: &str| sink(Event::Waiting { id: id.clone(), message: m.to_string() }));
    let mut cx = op_ctx(stack_tags, &plan.stack, &o.id, env, notify);
    cx.base_dir = stack.and_then(|v| v.spec.base_dir.clone()).unwrap_or_default();
    cx.adopt = how.adopt;
    cx.state_location = Some(shared.store.location());
    let prior = shared.state.lock().map_err(|_| "state lock poisoned".to_string())?.resources.get(&o.id).cloned();
    match o.op {
        OpKind::Move => Ok(None),
        OpKind::Delete => {
            let Some(rs) = prior else { return Ok(None) };
            let protect = stack.and_then(|v| v.spec.resource(&o.id)).map_or(rs.protect, |r| r.options.protect);
            if protect {
                return Err(format!(
                    "{} is protected: remove `protect` from it to allow deleting or replacing it",
                    o.id
                ));
            }
            kind.delete(&cx, &rs.physical_id, &rs.props).await.map_err(|e| e.to_string())?;
            shared
                .update(|st| {
                    st.resources.remove(&o.id);
                })
                .await?;
            Ok(Some(rs.physical_id))
        }
        OpKind::Forget => {
            // It stays in AWS with cairn's tags: mark it, so that a sweep
            // by those tags never deletes what was meant to be kept.
            if let Some(rs) = prior.as_ref().filter(|_| plan.live.contains_key(&o.id)) {
                let mark: BTreeMap<String, String> =
                    [(crate::kind::TAG_RETAINED.to_string(), "true".to_string())].into_iter().collect();
                if let Err(e) = kind.add_tags(&cx, &rs.physical_id, &mark).await {
                    (cx.notify)(&format!("could not tag it {}: {e}", crate::kind::TAG_RETAINED));
                }
            }
            shared
                .update(|st| {
                    st.resources.remove(&o.id);
                })
                .await?;
            Ok(prior.map(|p| p.physical_id))
        }
        OpKind::Create | OpKind::Update => {
            let v = stack.ok_or("no stack to apply")?;
            let spec = v.spec.resource(&o.id).ok_or_else(|| format!("resource {} is not in the stack", o.id))?;
            let attrs = shared.attrs();
            let known = Known { params: &v.params, env, stack: &v.spec.name, attrs: &attrs };
            let desired = resolve(v.props.get(&o.id).unwrap_or(&Json::Null), &known);
            if has_unknown(&desired) {
                return Err(format!(
                    "{}: a referenced value is still unknown ({})",
                    o.id,
                    first_unknown(&desired).unwrap_or_default()
                ));
            }
            let live = match o.op {
                OpKind::Create => {
                    let started_at = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    let intent = Intent { kind: o.kind.clone(), props: desired.clone(), started_at };
                    shared
                        .update(|st| {
                            st.intents.insert(o.id.clone(), intent);
                        })
                        .await?;
                    // The early look is trusted only if it looked for what is
                    // created now: a saved plan may be applied to a stack
                    // changed since, under another name.
                    let planned = plan.get(&o.id).and_then(|r| r.desired.as_ref());
                    cx.absent = how.looked_absent && planned.is_some_and(|p| agrees(p, &desired));
                    // On failure the intent stays: the call may have created it anyway.
                    kind.create(&cx, &desired).await.map_err(|e| e.to_string())?
                }
                _ => {
                    let rs = prior.ok_or_else(|| format!("{} has no state to update", o.id))?;
                    let current = plan.live.get(&o.id).map_or(&rs.props, |l| &l.props);
                    if changed_fields(&desired, current).is_empty() {
                        // The change was only "known after apply", and turned out the same.
                        crate::kind::Observed {
                            physical_id: rs.physical_id.clone(),
                            props: desired.clone(),
                            attrs: rs.attrs.clone(),
                        }
                    } else {
                        kind.update(&cx, &rs.physical_id, current, &desired).await.map_err(|e| e.to_string())?
                    }
                }
            };
            let record = ResourceState {
                kind: o.kind.clone(),
                physical_id: live.physical_id.clone(),
                props: desired,
                attrs: live.attrs,
                depends_on: v.graph.deps_of(&o.id).cloned().collect(),
                retain: spec.options.retain,
                protect: spec.options.protect,
                derived: spec.derived,
                vanished: false,
            };
            shared
                .update(|st| {
                    st.intents.remove(&o.id);
                    st.resources.insert(o.id.clone(), record);
                })
                .await?;
            Ok(Some(live.physical_id))
        }
    }
}

/// Whether `actual` is what `planned` said, the values planned as unknown
/// aside.
fn agrees(planned: &Json, actual: &Json) -> bool {
    if as_unknown(planned).is_some() {
        return true;
    }
    match (planned, actual) {
        (Json::Object(p), Json::Object(a)) => {
            p.len() == a.len() && p.iter().all(|(k, v)| a.get(k).is_some_and(|x| agrees(v, x)))
        }
        (Json::Array(p), Json::Array(a)) => p.len() == a.len() && p.iter().zip(a).all(|(x, y)| agrees(x, y)),
        _ => planned == actual,
    }
}

fn first_unknown(v: &Json) -> Option<String> {
    if let Some(u) = as_unknown(v) {
        return Some(u.to_string());
    }
    match v {
        Json::Object(m) => m.values().find_map(first_unknown),
        Json::Array(a) => a.iter().find_map(first_unknown),
        _ => None,
    }
}
