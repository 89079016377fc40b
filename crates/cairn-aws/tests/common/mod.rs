//! Shared set-up for the conformance tests: a provider pointed at the
//! emulator and the engine's way of calling a kind (check, then JSON ops),
//! and the engine's own refresh and plan, to see what a re-plan would do.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::graph::Graph;
use cairn_engine::kind::{Kind, NameCtx, OpCtx, Provider};
use cairn_engine::plan::{PlannedResource, Step, changed_fields};
use cairn_engine::spec::StackSpec;
use cairn_engine::state::{ResourceState, State};
use cairn_engine::validate::Validated;
use cairn_testkit::proxy::strict::rule;
use serde_json::{Value, json};

/// Strict rules the kind tests leave off: their set-ups make trails on bare
/// buckets and foreign buckets right before the create under test, which
/// these rules judge as AWS would. The labs, the strict lab tests and the
/// quirk tests cover what they reproduce.
const RULES_OFF: &[&str] = &[rule::TRAIL_BUCKET_POLICY, rule::TRAIL_LOGS_ROLE, rule::S3_NEW_BUCKET_LAG];

/// A provider for the emulator, through the strict layer of the test proxy
/// (every rule on but [`RULES_OFF`]), so that what AWS refuses fails here
/// too; fails clearly when no emulator is running.
pub fn provider() -> AwsProvider {
    let endpoint = cairn_testkit::emulator::strict_endpoint(RULES_OFF);
    AwsProvider::new(AwsOptions { endpoint_url: Some(endpoint), ..AwsOptions::default() })
}

pub fn kind(p: &AwsProvider, type_name: &str) -> Arc<dyn Kind> {
    Arc::clone(p.registry().get(type_name).expect("kind is registered"))
}

/// A kind from the offline registry, for tests that make no AWS call.
pub fn offline_kind(type_name: &str) -> Arc<dyn Kind> {
    Arc::clone(cairn_aws::registry().get(type_name).expect("kind is registered"))
}

/// The canonical desired props, as the engine computes them.
pub fn checked(kind: &dyn Kind, stack: &str, id: &str, props: Value) -> Value {
    match kind.check(&props, &NameCtx { stack, id, base_dir: std::path::Path::new("") }) {
        Ok(v) => v,
        Err(errors) => panic!("props do not check: {errors:?}"),
    }
}

/// Every attribute the kind declares (what `${id.attr}` may read) is present
/// and not null.
pub fn assert_attributes(kind: &dyn Kind, attrs: &BTreeMap<String, Value>) {
    for a in kind.attributes() {
        assert!(attrs.get(*a).is_some_and(|v| !v.is_null()), "attribute `{a}` is missing from {attrs:?}");
    }
}

/// What the engine compares for a no-op: no top-level field differs
/// between the desired props and the live ones.
pub fn assert_no_changes(desired: &Value, live: &Value) {
    let changes = changed_fields(desired, live);
    assert!(changes.is_empty(), "a re-plan would change {changes:?}");
}

/// Every entry of the kind's REPLACE_ON is one of its props (or `*`, every
/// prop), so that a misspelt entry cannot silently turn a replace into an
/// update that AWS refuses.
pub fn assert_replace_on_are_props(kind: &dyn Kind) {
    let schema = kind.schema();
    let props = schema["properties"].as_object().expect("the schema lists properties");
    for field in kind.replace_on() {
        assert!(*field == "*" || props.contains_key(*field), "REPLACE_ON names `{field}`, which is not a prop");
    }
}

/// One resource as the engine's re-plan sees it: state holds it at
/// `physical_id`; [`Replan::plan`] runs the engine's own refresh (a read
/// through the kind) and its own plan.
pub struct Replan<'a> {
    pub provider: &'a AwsProvider,
    pub kind: &'a str,
    pub stack: &'a str,
    pub id: &'a str,
    pub physical_id: &'a str,
}

impl Replan<'_> {
    /// The plan for the resource when it was last applied with `applied`
    /// and the stack now wants `desired` (canonical props).
    pub async fn plan(&self, applied: &Value, desired: &Value) -> PlannedResource {
        // Built from JSON, as state and stack files are, so that fields the
        // engine adds later take their defaults here too.
        let mut state = State::new(self.stack);
        let record: ResourceState = serde_json::from_value(json!({
            "kind": self.kind, "physical_id": self.physical_id, "props": applied, "attrs": {}
        }))
        .expect("a state record");
        state.resources.insert(self.id.to_string(), record);
        let env = cairn_testkit::emulator::environment();
        let live = cairn_engine::plan::refresh(self.provider, &state, &BTreeMap::new(), &env, 1)
            .await
            .unwrap_or_else(|e| panic!("refresh failed: {e:?}"));
        let spec: StackSpec = serde_json::from_value(json!({
            "name": self.stack,
            "resources": [{"id": self.id, "kind": self.kind, "props": desired}]
        }))
        .expect("a stack");
        let validated = Validated {
            graph: Graph::from_spec(&spec),
            props: BTreeMap::from([(self.id.to_string(), desired.clone())]),
            params: BTreeMap::new(),
            order: vec![self.id.to_string()],
            spec,
        };
        let plan = cairn_engine::plan::plan(self.provider.registry(), Some(&validated), self.stack, &state, live, &env);
        plan.get(self.id).expect("the resource is planned").clone()
    }

    /// The step of [`Replan::plan`].
    pub async fn step(&self, applied: &Value, desired: &Value) -> Step {
        self.plan(applied, desired).await.step
    }

    /// The last row of the conformance table, once the resource was deleted
    /// behind cairn's back: a read finds nothing, the engine's re-plan makes
    /// it a create, and deleting what is gone is success.
    pub async fn assert_gone_plans_create(&self, kind: &dyn Kind, cx: &OpCtx, desired: &Value) {
        assert!(kind.read(cx, self.physical_id, desired).await.unwrap().is_none(), "read after an outside delete");
        assert_eq!(self.step(desired, desired).await, Step::Create);
        kind.delete(cx, self.physical_id, desired).await.unwrap();
    }
}

/// `Step::Replace` because of these fields.
pub fn replace(because: &[&str]) -> Step {
    Step::Replace { because: because.iter().map(ToString::to_string).collect() }
}

/// `Step::Update` of these fields.
pub fn update(fields: &[&str]) -> Step {
    Step::Update { fields: fields.iter().map(ToString::to_string).collect() }
}

/// `props` with `field` set to `value`.
pub fn with(props: &Value, field: &str, value: Value) -> Value {
    let mut p = props.clone();
    p[field] = value;
    p
}

/// Reading these resources in one batch gives what reading each alone
/// gives, in order; `(context, physical id, last props)` each. Returns the
/// batch's results for further checks.
pub async fn assert_read_many_is_read(
    kind: &dyn Kind,
    items: &[(OpCtx, String, Value)],
) -> Vec<Option<cairn_engine::kind::Live>> {
    assert!(kind.read_batch() >= items.len(), "{} reads {} at once", kind.type_name(), kind.read_batch());
    let batch: Vec<cairn_engine::kind::ReadItem<'_, Value>> =
        items.iter().map(|(cx, id, last)| cairn_engine::kind::ReadItem { cx, physical_id: id, last }).collect();
    let many: Vec<_> = kind.read_many(&batch).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(many.len(), items.len());
    for ((cx, id, last), got) in items.iter().zip(&many) {
        let alone = kind.read(cx, id, last).await.unwrap();
        assert_eq!(got, &alone, "{id}: batched read differs from a read alone");
    }
    many
}
