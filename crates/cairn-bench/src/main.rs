//! `cairn-bench-offline`: how long cairn takes to validate and plan a large
//! stack when AWS is out of the picture, and how much memory it needs.
//!
//! It generates a YAML stack of N resources (default 1000) from the lab
//! kinds, with references between them, and times, each on its own:
//! parse + validate (the real kinds' checks); a first plan (everything to
//! create); an apply through an offline provider that wraps the real kinds
//! but answers from memory; and a no-op plan (a read per resource, answered
//! from memory). Prints JSON: seconds per phase and peak resident memory.
//! Figures, not assertions: scripts/bench prints them.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use cairn_engine::exec::{self, ExecOptions};
use cairn_engine::kind::{Environment, Kind, Live, NameCtx, OpCtx, OpError, PropError, Provider, Registry};
use cairn_engine::plan;
use cairn_engine::validate::validate;
use cairn_engine::value::Json;
use cairn_engine::{State, StateStore};

/// One block of ten resources, repeated: queues with a dead-letter queue, a
/// topic and a subscription, a role, a log group with a metric filter and an
/// alarm on its metric, and a function.
fn block(i: usize) -> String {
    format!(
        r#"
  dlq-{i}:
    type: aws:sqs:Queue
    properties: {{retention: 1209600}}
  jobs-{i}:
    type: aws:sqs:Queue
    properties:
      visibility_timeout: 60
      dead_letter: {{queue: "${{dlq-{i}.arn}}", max_receive_count: 5}}
  topic-{i}:
    type: aws:sns:Topic
    properties: {{display_name: "alerts {i}"}}
  sub-{i}:
    type: aws:sns:Subscription
    properties: {{topic: "${{topic-{i}.arn}}", protocol: sqs, endpoint: "${{jobs-{i}.arn}}"}}
  role-{i}:
    type: aws:iam:Role
    properties:
      trusted_by: [lambda.amazonaws.com]
      inline_policies:
        read:
          Version: "2012-10-17"
          Statement:
            - {{Effect: Allow, Action: [sqs:ReceiveMessage], Resource: "${{jobs-{i}.arn}}"}}
  logs-{i}:
    type: aws:logs:LogGroup
    properties: {{name: "/aws/lambda/${{stack.name}}-fn-{i}", retention_days: 7}}
  errors-{i}:
    type: aws:logs:MetricFilter
    properties:
      log_group: ${{logs-{i}.name}}
      pattern: '{{ $.level = "ERROR" }}'
      metric: {{namespace: Bench, name: Errors{i}, value: "1"}}
  alarm-{i}:
    type: aws:cloudwatch:Alarm
    depends_on: [errors-{i}]
    properties:
      metric: {{namespace: Bench, name: Errors{i}, statistic: Sum, period: 300}}
      comparison: GreaterThanOrEqualToThreshold
      threshold: 1
      alarm_actions: ["${{topic-{i}.arn}}"]
  fn-{i}:
    type: aws:lambda:Function
    depends_on: [logs-{i}]
    properties:
      name: ${{stack.name}}-fn-{i}
      runtime: python3.13
      handler: index.handler
      role: ${{role-{i}.arn}}
      code: {{inline: "def handler(event, context):\n    return {i}\n"}}
  perm-{i}:
    type: aws:lambda:Permission
    properties: {{function: "${{fn-{i}.arn}}", principal: sns.amazonaws.com, source_arn: "${{topic-{i}.arn}}"}}
"#
    )
}

fn stack_yaml(resources: usize) -> String {
    let mut text = String::from("stack: bench\nresources:");
    for i in 0..resources.div_ceil(10) {
        text.push_str(&block(i));
    }
    text
}

/// A real kind (checks, attributes, replace rules) whose operations answer
/// from memory: create and update echo the props, read echoes the last.
struct Offline(Arc<dyn Kind>);

fn live(kind: &dyn Kind, physical_id: &str, props: &Json) -> Live {
    let attrs: BTreeMap<String, Json> = kind
        .attributes()
        .iter()
        .map(|a| (a.to_string(), Json::String(format!("arn:aws:bench:::{physical_id}/{a}"))))
        .collect();
    Live { physical_id: physical_id.to_string(), props: props.clone(), attrs }
}

#[async_trait]
impl Kind for Offline {
    fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
    fn attributes(&self) -> &'static [&'static str] {
        self.0.attributes()
    }
    fn replace_on(&self) -> &'static [&'static str] {
        self.0.replace_on()
    }
    fn schema(&self) -> Json {
        self.0.schema()
    }
    fn check(&self, props: &Json, cx: &NameCtx<'_>) -> Result<Json, Vec<PropError>> {
        self.0.check(props, cx)
    }
    async fn create(&self, cx: &OpCtx, props: &Json) -> Result<Live, OpError> {
        Ok(live(&*self.0, &cx.resource, props))
    }
    async fn read(&self, _cx: &OpCtx, physical_id: &str, last: &Json) -> Result<Option<Live>, OpError> {
        Ok(Some(live(&*self.0, physical_id, last)))
    }
    async fn update(&self, _cx: &OpCtx, physical_id: &str, _old: &Json, new: &Json) -> Result<Live, OpError> {
        Ok(live(&*self.0, physical_id, new))
    }
    async fn delete(&self, _cx: &OpCtx, _physical_id: &str, _props: &Json) -> Result<(), OpError> {
        Ok(())
    }
}

struct OfflineProvider(Registry);

#[async_trait]
impl Provider for OfflineProvider {
    fn registry(&self) -> &Registry {
        &self.0
    }
    async fn environment(&self) -> Result<Environment, OpError> {
        Ok(Environment { account_id: "111122223333".into(), region: "eu-west-1".into(), partition: "aws".into() })
    }
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn seconds(t: Instant) -> f64 {
    (t.elapsed().as_secs_f64() * 1e6).round() / 1e6
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let resources: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("the resource count `{n}`: {e}"))?,
        None => 1000,
    };
    let text = stack_yaml(resources);
    let registry = cairn_aws::registry();
    let provider = OfflineProvider(
        registry
            .kinds()
            .map(|k| Arc::new(Offline(Arc::clone(k))) as Arc<dyn Kind>)
            .fold(Registry::new(), |r, k| r.with(k)),
    );

    let t = Instant::now();
    let parsed = cairn_stack::parse("bench.yaml", &text);
    let spec = parsed.spec.ok_or("the generated stack does not parse")?;
    let (v, diagnostics) = validate(&spec, provider.registry(), &BTreeMap::new());
    let validate_s = seconds(t);
    let v = v.ok_or_else(|| format!("the generated stack does not validate: {diagnostics:?}"))?;

    let state_dir = tempfile::tempdir()?;
    let store = StateStore::new(state_dir.path(), "bench");
    let t = Instant::now();
    let first = plan::make(&provider, Some(&v), "bench", &State::new("bench"), 16).await?;
    let plan_create_s = seconds(t);

    let t = Instant::now();
    let (_, outcome) = exec::apply(&provider, Some(&v), &first, store.load()?, &store, &ExecOptions::default()).await;
    let apply_s = seconds(t);
    if !outcome.ok() {
        return Err(format!("the offline apply failed: {outcome:?}").into());
    }

    let t = Instant::now();
    let state = store.load()?;
    let noop = plan::make(&provider, Some(&v), "bench", &state, 16).await?;
    let plan_noop_s = seconds(t);
    if noop.has_changes() {
        return Err("the no-op plan shows changes".into());
    }

    let out = serde_json::json!({
        "resources": v.order.len(),
        "yaml_bytes": text.len(),
        "validate_s": validate_s,
        "plan_create_s": plan_create_s,
        "apply_offline_s": apply_s,
        "plan_noop_s": plan_noop_s,
        "peak_rss_mb": peak_rss_mb(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
