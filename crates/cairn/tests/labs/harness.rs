//! What every lab test does: compare the two forms, round-trip on the
//! emulator, and look for leftovers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_aws::{AwsOptions, AwsProvider, Clients};
use cairn_engine::exec::{self, ExecOptions};
use cairn_engine::kind::{Environment, Provider, TAG_STACK};
use cairn_engine::plan::{self, Plan};
use cairn_engine::validate::{Validated, validate};
use cairn_engine::{StackSpec, State, StateStore};
use cairn_testkit::emulator;
use cairn_testkit::proxy::{Faults, Proxy};
use cairn_testkit::recording::{Recording, writes};

pub type R = Result<(), Box<dyn std::error::Error>>;

/// The repository's `stacks/` directory.
pub fn stacks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks")
}

/// A lab's YAML stack, loaded from its file (so relative paths start beside it).
pub fn yaml(file: &str) -> StackSpec {
    load(&stacks_dir().join(file))
}

/// A lab written out in full: the glue cairn derives written by hand, which
/// cairn must merge with (not duplicate) and deploy the same way.
pub fn hand_written(file: &str) -> StackSpec {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/labs/hand-written").join(file))
}

fn load(path: &Path) -> StackSpec {
    let file = path.display();
    let parsed = cairn_stack::load(path);
    match parsed.spec {
        Some(s) if !parsed.diagnostics.has_errors() => s,
        _ => panic!("{file} does not parse: {:?}", parsed.diagnostics),
    }
}

pub fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub fn valid(spec: &StackSpec, params: &BTreeMap<String, String>) -> Validated {
    let (v, d) = validate(spec, &cairn_aws::registry(), params);
    match v {
        Some(v) => v,
        None => panic!("stack {} does not validate: {d:?}", spec.name),
    }
}

/// The YAML and Rust forms of a lab are the same stack and make the same plan.
pub fn assert_same_stack(yaml: &StackSpec, rust: &StackSpec, params: &BTreeMap<String, String>) {
    let (y, r) = (valid(yaml, params), valid(rust, params));
    assert_eq!(y.spec.name, r.spec.name);
    assert_eq!(y.spec.parameters, r.spec.parameters, "parameters differ");
    assert_eq!(y.spec.tags, r.spec.tags, "stack tags differ");
    assert_eq!(y.order, r.order, "resources differ or are in another order");
    assert_eq!(y.props, r.props, "canonical props differ");
    assert_eq!(y.graph, r.graph, "dependencies differ");
    assert_eq!(y.spec.outputs, r.spec.outputs, "outputs differ");
    let env = Environment { account_id: "111122223333".into(), region: "eu-west-1".into(), partition: "aws".into() };
    let registry = cairn_aws::registry();
    let state = State::new(&y.spec.name);
    let py = plan::plan(&registry, Some(&y), &y.spec.name, &state, BTreeMap::new(), &env);
    let pr = plan::plan(&registry, Some(&r), &r.spec.name, &state, BTreeMap::new(), &env);
    assert_eq!(py, pr, "plans differ");
    assert_eq!(py.counts(), (y.order.len(), 0, 0, 0), "a first plan creates every resource");
}

/// One lab stack deployed on the emulator, for checks.
pub struct Deployed {
    pub stack: String,
    pub state: State,
    pub clients: std::sync::Arc<Clients>,
}

impl Deployed {
    /// The physical id of a resource.
    pub fn id(&self, resource: &str) -> &str {
        match self.state.resources.get(resource) {
            Some(r) => &r.physical_id,
            None => panic!("`{resource}` is not in the state"),
        }
    }
    /// An attribute of a resource, as recorded in the state.
    pub fn attr(&self, resource: &str, attr: &str) -> String {
        self.state
            .resources
            .get(resource)
            .and_then(|r| r.attrs.get(attr))
            .and_then(|v| v.as_str())
            .map(ToString::to_string)
            .unwrap_or_else(|| panic!("`{resource}.{attr}` is not in the state"))
    }
}

pub async fn run(
    p: &dyn Provider,
    v: Option<&Validated>,
    store: &StateStore,
) -> Result<Plan, Box<dyn std::error::Error>> {
    let state = store.load()?;
    let name = state.stack.clone();
    let pl = plan::make(p, v, &name, &state, 16).await?;
    let (_, outcome) = exec::apply(p, v, &pl, state, store, &ExecOptions::default()).await;
    assert!(outcome.ok(), "{outcome:?}");
    Ok(pl)
}

/// Applies `spec` under a fresh stack name, runs `check` on the live
/// resources, re-plans (no change, no write, one read per resource), destroys,
/// and asserts that nothing of the stack is left.
///
/// cairn talks to the emulator through the proxy's strict layer with every
/// rule on, so that what real AWS refuses and moto accepts fails here too.
pub async fn round_trip(
    spec: StackSpec,
    params: &BTreeMap<String, String>,
    check: impl AsyncFnOnce(&Deployed) -> R,
) -> R {
    let proxy = Proxy::start_with(&emulator::endpoint(), Faults::strict()).await?;
    let options = AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() };
    round_trip_with(spec, params, options, check).await
}

/// [`round_trip`] with a provider built from `options` (one whose endpoint is
/// a fault proxy, say); `check` and the search for leftovers still talk to
/// the emulator directly.
pub async fn round_trip_with(
    mut spec: StackSpec,
    params: &BTreeMap<String, String>,
    options: AwsOptions,
    check: impl AsyncFnOnce(&Deployed) -> R,
) -> R {
    emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let prefix = spec.name[..spec.name.len().min(12)].trim_end_matches('-').to_string();
    spec.name = emulator::unique_stack(&prefix);
    let stack = spec.name.clone();
    let store = StateStore::new(dir.path(), &stack);
    let provider = Recording::new(AwsProvider::new(options));
    let clients = std::sync::Arc::new(Clients::new(AwsOptions::default()));

    let v = valid(&spec, params);
    // Every resource, derived ones included.
    let count = v.order.len();
    let first = run(&provider, Some(&v), &store).await?;
    assert_eq!(first.counts().0, count, "the first apply creates everything: {first:?}");
    let state = store.load()?;
    assert_eq!(state.resources.len(), count);
    let deployed = Deployed { stack: stack.clone(), state, clients: clients.clone() };
    let refused = crate::delivery::undeliverable(&deployed).await?;
    assert_eq!(refused, Vec::<String>::new(), "AWS would not deliver these");
    check(&deployed).await?;

    provider.take();
    let again = run(&provider, Some(&v), &store).await?;
    assert!(!again.has_changes(), "a second plan shows changes: {again:?}");
    let log = provider.take();
    assert_eq!(writes(&log), Vec::<String>::new(), "a no-op apply wrote");
    assert_eq!(log.len(), count, "one read per resource: {log:?}");

    run(&provider, None, &store).await?;
    assert!(store.load()?.resources.is_empty(), "destroy left resources in the state");
    assert_eq!(leftovers(&clients, &stack).await?, Vec::<String>::new(), "destroy left resources behind");
    Ok(())
}

/// Everything of `stack` still live on the emulator, across the services the
/// labs use: by the `cairn:stack` tag where the listing shows tags, by the
/// stack-prefixed name otherwise (every lab name starts with the stack's).
pub async fn leftovers(c: &Clients, stack: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut left = Vec::new();
    let tagged = |tags: Vec<(String, String)>| tags.iter().any(|(k, v)| k == TAG_STACK && v == stack);

    let sns = c.sns().await;
    for t in sns.list_topics().send().await?.topics() {
        let arn = t.topic_arn().unwrap_or_default();
        // Other tests delete their topics meanwhile: a topic gone is not left.
        let Ok(tags) = sns.list_tags_for_resource().resource_arn(arn).send().await else { continue };
        if tagged(tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()) {
            left.push(format!("topic {arn}"));
        }
    }
    let events = c.events().await;
    for r in events.list_rules().name_prefix(stack).send().await?.rules() {
        left.push(format!("rule {}", r.name().unwrap_or_default()));
    }
    let sqs = c.sqs().await;
    for q in sqs.list_queues().queue_name_prefix(stack).send().await?.queue_urls() {
        left.push(format!("queue {q}"));
    }
    let lambda = c.lambda().await;
    for f in lambda.list_functions().send().await?.functions() {
        if f.function_name().unwrap_or_default().starts_with(stack) {
            left.push(format!("function {}", f.function_name().unwrap_or_default()));
        }
    }
    for m in lambda.list_event_source_mappings().send().await?.event_source_mappings() {
        if m.function_arn().unwrap_or_default().contains(&format!(":function:{stack}-")) {
            left.push(format!("event source mapping {}", m.uuid().unwrap_or_default()));
        }
    }
    let logs = c.logs().await;
    for prefix in [format!("/aws/lambda/{stack}-"), format!("/cairn/{stack}/")] {
        for g in logs.describe_log_groups().log_group_name_prefix(prefix).send().await?.log_groups() {
            left.push(format!("log group {}", g.log_group_name().unwrap_or_default()));
        }
    }
    let cloudwatch = c.cloudwatch().await;
    for a in cloudwatch.describe_alarms().alarm_name_prefix(stack).send().await?.metric_alarms() {
        left.push(format!("alarm {}", a.alarm_name().unwrap_or_default()));
    }
    let s3 = c.s3().await;
    for b in s3.list_buckets().send().await?.buckets() {
        if b.name().unwrap_or_default().starts_with(stack) {
            left.push(format!("bucket {}", b.name().unwrap_or_default()));
        }
    }
    let cloudtrail = c.cloudtrail().await;
    for t in cloudtrail.describe_trails().send().await?.trail_list() {
        if t.name().unwrap_or_default().starts_with(stack) {
            left.push(format!("trail {}", t.name().unwrap_or_default()));
        }
    }
    let iam = c.iam().await;
    let mut roles = iam.list_roles().into_paginator().items().send();
    while let Some(role) = roles.next().await {
        let role = role?;
        if role.role_name().starts_with(stack) {
            left.push(format!("role {}", role.role_name()));
        }
    }
    let mut profiles = iam.list_instance_profiles().into_paginator().items().send();
    while let Some(p) = profiles.next().await {
        let p = p?;
        if p.instance_profile_name().starts_with(stack) {
            left.push(format!("instance profile {}", p.instance_profile_name()));
        }
    }
    // A key is never deleted at once: one scheduled for deletion is gone.
    let kms = c.kms().await;
    for k in kms.list_keys().send().await?.keys() {
        let id = k.key_id().unwrap_or_default();
        let Ok(tags) = kms.list_resource_tags().key_id(id).send().await else { continue };
        if !tagged(tags.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect()) {
            continue;
        }
        let state = kms.describe_key().key_id(id).send().await?;
        if state.key_metadata().and_then(|m| m.key_state()).map(|s| s.as_str()) != Some("PendingDeletion") {
            left.push(format!("key {id}"));
        }
    }
    let ssm = c.ssm().await;
    let mut pages = ssm.describe_parameters().into_paginator().send();
    while let Some(page) = pages.next().await {
        for p in page?.parameters() {
            let name = p.name().unwrap_or_default();
            if name.contains(stack) {
                left.push(format!("parameter {name}"));
            }
        }
    }
    let ec2 = c.ec2().await;
    for r in ec2.describe_instances().send().await?.reservations() {
        for i in r.instances() {
            let terminated = i.state().and_then(|s| s.name()).is_some_and(|n| n.as_str() == "terminated");
            let tags =
                i.tags().iter().map(|t| (t.key().unwrap_or_default().into(), t.value().unwrap_or_default().into()));
            if !terminated && tagged(tags.collect()) {
                left.push(format!("instance {}", i.instance_id().unwrap_or_default()));
            }
        }
    }
    for g in ec2.describe_security_groups().send().await?.security_groups() {
        let tags = g.tags().iter().map(|t| (t.key().unwrap_or_default().into(), t.value().unwrap_or_default().into()));
        if tagged(tags.collect()) {
            left.push(format!("security group {}", g.group_id().unwrap_or_default()));
        }
    }
    Ok(left)
}

/// The `cairn:stack` tag of a tag list, for checks.
pub fn has_stack_tag<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>, stack: &str) -> bool {
    tags.into_iter().any(|(k, v)| k == TAG_STACK && v == stack)
}

/// A JSON document held as a string by AWS (policies, redrive policies).
pub fn json(text: Option<&str>) -> serde_json::Value {
    let text = text.unwrap_or("null");
    let decoded = if text.starts_with('%') { urlencoding_decode(text) } else { text.to_string() };
    serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// IAM returns documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
