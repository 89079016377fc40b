//! A provider wrapper that logs every operation the engine asks of its
//! kinds, so tests can assert, for example, that a no-op plan writes nothing.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_engine::kind::{Environment, Kind, Live, NameCtx, OpCtx, OpError, PropError, Provider, Registry};
use serde_json::Value as Json;

/// Operations as `op id` lines: `read alerts`, `create ops-email`, ….
pub type Log = Arc<Mutex<Vec<String>>>;

struct RecordingKind {
    inner: Arc<dyn Kind>,
    log: Log,
}

impl RecordingKind {
    fn record(&self, op: &str, cx: &OpCtx) {
        if let Ok(mut l) = self.log.lock() {
            l.push(format!("{op} {}", cx.resource));
        }
    }
}

#[async_trait]
impl Kind for RecordingKind {
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }
    fn attributes(&self) -> &'static [&'static str] {
        self.inner.attributes()
    }
    fn replace_on(&self) -> &'static [&'static str] {
        self.inner.replace_on()
    }
    fn schema(&self) -> Json {
        self.inner.schema()
    }
    fn check(&self, props: &Json, cx: &NameCtx<'_>) -> Result<Json, Vec<PropError>> {
        self.inner.check(props, cx)
    }
    async fn create(&self, cx: &OpCtx, props: &Json) -> Result<Live, OpError> {
        self.record("create", cx);
        self.inner.create(cx, props).await
    }
    async fn read(&self, cx: &OpCtx, physical_id: &str, last: &Json) -> Result<Option<Live>, OpError> {
        self.record("read", cx);
        self.inner.read(cx, physical_id, last).await
    }
    async fn update(&self, cx: &OpCtx, physical_id: &str, old: &Json, new: &Json) -> Result<Live, OpError> {
        self.record("update", cx);
        self.inner.update(cx, physical_id, old, new).await
    }
    async fn delete(&self, cx: &OpCtx, physical_id: &str, props: &Json) -> Result<(), OpError> {
        self.record("delete", cx);
        self.inner.delete(cx, physical_id, props).await
    }
    async fn delete_found(&self, cx: &OpCtx, physical_id: &str) -> Result<(), OpError> {
        self.record("delete", cx);
        self.inner.delete_found(cx, physical_id).await
    }
    async fn live_tags(
        &self,
        cx: &OpCtx,
        physical_id: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, OpError> {
        // A read, as `writes` counts it.
        self.record("read", cx);
        self.inner.live_tags(cx, physical_id).await
    }
    async fn add_tags(
        &self,
        cx: &OpCtx,
        physical_id: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), OpError> {
        self.record("add_tags", cx);
        self.inner.add_tags(cx, physical_id, tags).await
    }
}

/// Wraps a provider, logging every kind operation.
pub struct Recording<P> {
    inner: P,
    registry: Registry,
    pub log: Log,
}

impl<P: Provider> Recording<P> {
    pub fn new(inner: P) -> Self {
        let log = Log::default();
        let mut registry = Registry::new();
        for k in inner.registry().kinds() {
            registry.add(Arc::new(RecordingKind { inner: Arc::clone(k), log: Arc::clone(&log) }));
        }
        Recording { inner, registry, log }
    }
    pub fn inner(&self) -> &P {
        &self.inner
    }
    /// Everything logged so far, then clears the log.
    pub fn take(&self) -> Vec<String> {
        self.log.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default()
    }
}

/// The logged operations that change something.
pub fn writes(log: &[String]) -> Vec<String> {
    log.iter().filter(|l| !l.starts_with("read ")).cloned().collect()
}

#[async_trait]
impl<P: Provider> Provider for Recording<P> {
    fn registry(&self) -> &Registry {
        &self.registry
    }
    async fn environment(&self) -> Result<Environment, OpError> {
        self.inner.environment().await
    }
}
