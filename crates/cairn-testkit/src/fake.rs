//! A fake provider for engine tests: resources live in memory, every call
//! is logged, and latency and failures can be set per test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cairn_engine::kind::{Environment, Kind, Live, NameCtx, OpCtx, OpError, PropError, Provider, ReadItem, Registry};
use serde_json::{Value as Json, json};

/// The fake kind's type name.
pub const THING: &str = "test:Thing";

/// A resource of kind [`THING`] with these props, as the engine's tests write
/// one.
pub fn thing(id: &str, props: Json) -> cairn_engine::ResourceSpec {
    cairn_engine::ResourceSpec {
        id: id.into(),
        kind: THING.into(),
        props,
        depends_on: vec![],
        options: cairn_engine::ResourceOptions::default(),
        derived: false,
        derived_props: Default::default(),
    }
}

/// The same kind, reading up to [`BATCH`] resources in one call
/// (logged as `read_many a,b,c`).
pub const BATCHED_THING: &str = "test:BatchedThing";
/// How many resources one `test:BatchedThing` read takes.
pub const BATCH: usize = 3;

/// What the fake cloud holds and what was asked of it.
#[derive(Default)]
pub struct Cloud {
    /// Physical id to props.
    pub objects: Mutex<BTreeMap<String, Json>>,
    /// Every call, as `op id` (`create alerts`, `read alerts`, …).
    pub calls: Mutex<Vec<String>>,
    /// Resource ids whose create or update fails.
    pub fail: Mutex<BTreeSet<String>>,
    /// Resource ids whose next create succeeds but whose answer is lost.
    pub lose_response: Mutex<BTreeSet<String>>,
    pub latency: Mutex<Duration>,
    created_after_look: Mutex<Vec<String>>,
    /// Most calls in flight at once, observed.
    pub max_in_flight: AtomicUsize,
    in_flight: AtomicUsize,
}

impl Cloud {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
    /// Calls other than reads (and looks, which read too).
    pub fn writes(&self) -> Vec<String> {
        self.calls().into_iter().filter(|c| !c.starts_with("read") && !c.starts_with("look ")).collect()
    }
    /// Ids created with [`OpCtx::absent`] set (an early look found nothing).
    pub fn created_after_look(&self) -> Vec<String> {
        self.created_after_look.lock().map(|c| c.clone()).unwrap_or_default()
    }
    pub fn clear_calls(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }
    pub fn set_latency(&self, d: Duration) {
        if let Ok(mut l) = self.latency.lock() {
            *l = d;
        }
    }
    pub fn fail_on(&self, id: &str) {
        if let Ok(mut f) = self.fail.lock() {
            f.insert(id.to_string());
        }
    }
    async fn call(&self, op: &str, id: &str) -> Result<(), OpError> {
        if let Ok(mut c) = self.calls.lock() {
            c.push(format!("{op} {id}"));
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let latency = self.latency.lock().map(|l| *l).unwrap_or_default();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let failing = self.fail.lock().map(|f| f.contains(id)).unwrap_or(false);
        if failing && (op == "create" || op == "update") {
            return Err(OpError::failed(format!("{op} {id}: injected failure")));
        }
        Ok(())
    }
}

/// `test:Thing`: props are any object; `name` (default `<stack>-<id>`)
/// forces replacement; attributes `arn` and `name`.
pub struct Thing {
    cloud: Arc<Cloud>,
    type_name: &'static str,
    batch: usize,
}

fn live(physical_id: &str, props: &Json) -> Live {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), json!(physical_id));
    attrs.insert("name".to_string(), props.get("name").cloned().unwrap_or(Json::Null));
    Live { physical_id: physical_id.to_string(), props: props.clone(), attrs }
}

#[async_trait]
impl Kind for Thing {
    fn type_name(&self) -> &'static str {
        self.type_name
    }
    fn attributes(&self) -> &'static [&'static str] {
        &["arn", "name"]
    }
    fn replace_on(&self) -> &'static [&'static str] {
        &["name"]
    }
    fn schema(&self) -> Json {
        json!({"type": "object"})
    }
    fn check(&self, props: &Json, cx: &NameCtx<'_>) -> Result<Json, Vec<PropError>> {
        let Json::Object(map) = props else { return Err(vec![PropError::new(&[], "expected a mapping")]) };
        let mut map = map.clone();
        if map.contains_key("bad") {
            return Err(vec![PropError::new(&["bad"], "unknown field `bad`, expected `name` or `value`")]);
        }
        map.entry("name").or_insert_with(|| json!(cx.default_name()));
        Ok(Json::Object(map))
    }
    async fn create(&self, cx: &OpCtx, props: &Json) -> Result<Live, OpError> {
        self.cloud.call("create", &cx.resource).await?;
        if cx.absent
            && let Ok(mut c) = self.cloud.created_after_look.lock()
        {
            c.push(cx.resource.clone());
        }
        let pid = format!("arn:fake:{}", props.get("name").and_then(Json::as_str).unwrap_or(&cx.resource));
        if let Ok(mut o) = self.cloud.objects.lock() {
            // Deterministic names: a second create of the same name adopts, as real kinds do.
            o.insert(pid.clone(), props.clone());
        }
        if self.cloud.lose_response.lock().map(|mut l| l.remove(&cx.resource)).unwrap_or(false) {
            return Err(OpError::failed(format!("create {}: response lost", cx.resource)));
        }
        Ok(live(&pid, props))
    }
    async fn read(&self, cx: &OpCtx, physical_id: &str, _last: &Json) -> Result<Option<Live>, OpError> {
        self.cloud.call("read", &cx.resource).await?;
        let found = self.cloud.objects.lock().ok().and_then(|o| o.get(physical_id).cloned());
        Ok(found.map(|p| live(physical_id, &p)))
    }
    async fn update(&self, cx: &OpCtx, physical_id: &str, _old: &Json, new: &Json) -> Result<Live, OpError> {
        self.cloud.call("update", &cx.resource).await?;
        if let Ok(mut o) = self.cloud.objects.lock() {
            o.insert(physical_id.to_string(), new.clone());
        }
        Ok(live(physical_id, new))
    }
    async fn delete(&self, cx: &OpCtx, physical_id: &str, _props: &Json) -> Result<(), OpError> {
        self.cloud.call("delete", &cx.resource).await?;
        if let Ok(mut o) = self.cloud.objects.lock() {
            o.remove(physical_id);
        }
        Ok(())
    }
    /// Looks for the physical id a create would make (`arn:fake:<name>`).
    async fn absent(&self, cx: &OpCtx, props: &Json) -> Option<bool> {
        let name = props.get("name")?.as_str()?;
        self.cloud.call("look", &cx.resource).await.ok()?;
        let objects = self.cloud.objects.lock().ok()?;
        Some(!objects.contains_key(&format!("arn:fake:{name}")))
    }
    fn read_batch(&self) -> usize {
        self.batch
    }
    async fn read_many(&self, items: &[ReadItem<'_, Json>]) -> Vec<Result<Option<Live>, OpError>> {
        let ids: Vec<&str> = items.iter().map(|it| it.cx.resource.as_str()).collect();
        if let Err(e) = self.cloud.call("read_many", &ids.join(",")).await {
            let e = e.to_string();
            return items.iter().map(|_| Err(OpError::failed(e.clone()))).collect();
        }
        let objects = self.cloud.objects.lock().map(|o| o.clone()).unwrap_or_default();
        items.iter().map(|it| Ok(objects.get(it.physical_id).map(|p| live(it.physical_id, p)))).collect()
    }
}

/// A provider offering `test:Thing` and `test:BatchedThing`, backed by a [`Cloud`].
pub struct FakeProvider {
    pub cloud: Arc<Cloud>,
    registry: Registry,
}

impl Default for FakeProvider {
    fn default() -> Self {
        let cloud = Arc::new(Cloud::default());
        let registry = Registry::new()
            .with(Arc::new(Thing { cloud: cloud.clone(), type_name: THING, batch: 1 }))
            .with(Arc::new(Thing { cloud: cloud.clone(), type_name: BATCHED_THING, batch: BATCH }));
        FakeProvider { cloud, registry }
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn registry(&self) -> &Registry {
        &self.registry
    }
    async fn environment(&self) -> Result<Environment, OpError> {
        Ok(Environment { account_id: "000000000000".into(), region: "xx-test-1".into(), partition: "aws".into() })
    }
}
