//! Lab 1 end to end: the YAML and Rust forms plan identically, and the
//! stack applies, re-plans as a no-op, updates, replaces and destroys on the
//! emulator, checked with direct SDK reads rather than cairn's own.

#[allow(dead_code)]
#[path = "../../../examples/lab1_notifications.rs"]
mod lab1_example;

use std::collections::BTreeMap;

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::exec::{self, ExecOptions};
use cairn_engine::kind::{Environment, Provider};
use cairn_engine::plan::{self, Step};
use cairn_engine::validate::{Validated, validate};
use cairn_engine::{StackSpec, State, StateStore};
use cairn_testkit::emulator;
use cairn_testkit::recording::{Recording, writes};

type R = Result<(), Box<dyn std::error::Error>>;

const YAML: &str = include_str!("../../../stacks/lab1-notifications.yaml");

fn params(email: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("email".to_string(), email.to_string())])
}

fn yaml_spec() -> StackSpec {
    let parsed = cairn_stack::parse("stacks/lab1-notifications.yaml", YAML);
    match parsed.spec {
        Some(s) => s,
        None => panic!("lab 1 YAML does not parse: {:?}", parsed.diagnostics),
    }
}

fn valid(spec: &StackSpec, email: &str) -> Validated {
    let (v, d) = validate(spec, &cairn_aws::registry(), &params(email));
    match v {
        Some(v) => v,
        None => panic!("stack does not validate: {d:?}"),
    }
}

#[test]
fn yaml_and_rust_forms_plan_identically() {
    let yaml = valid(&yaml_spec(), "ops@example.com");
    let rust = valid(&lab1_example::lab1().into(), "ops@example.com");
    assert_eq!(yaml.order, rust.order);
    assert_eq!(yaml.props, rust.props, "canonical props differ");
    assert_eq!(yaml.graph, rust.graph);
    let env = Environment { account_id: "111122223333".into(), region: "eu-west-1".into(), partition: "aws".into() };
    let registry = cairn_aws::registry();
    let state = State::new("lab1-notifications");
    let p_yaml = plan::plan(&registry, Some(&yaml), "lab1-notifications", &state, BTreeMap::new(), &env);
    let p_rust = plan::plan(&registry, Some(&rust), "lab1-notifications", &state, BTreeMap::new(), &env);
    assert_eq!(p_yaml, p_rust);
    assert_eq!(p_yaml.counts(), (3, 0, 0, 0));
    assert_eq!(yaml.spec.outputs, rust.spec.outputs);
}

async fn run(
    p: &dyn Provider,
    v: Option<&Validated>,
    store: &StateStore,
) -> Result<plan::Plan, Box<dyn std::error::Error>> {
    let state = store.load()?;
    let name = state.stack.clone();
    let pl = plan::make(p, v, &name, &state, 16).await?;
    let (_, outcome) = exec::apply(p, v, &pl, state, store, &ExecOptions::default()).await;
    assert!(outcome.ok(), "{outcome:?}");
    Ok(pl)
}

#[tokio::test]
async fn lab1_applies_updates_replaces_and_destroys_on_the_emulator() -> R {
    emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let mut spec = yaml_spec();
    spec.name = emulator::unique_stack("lab1");
    let stack = spec.name.clone();
    let store = StateStore::new(dir.path(), &stack);
    let provider = Recording::new(AwsProvider::new(AwsOptions::default()));
    let clients = provider.inner().clients();
    let (sns, events) = (clients.sns().await, clients.events().await);

    // Apply creates the topic, the subscription, the rule and its target.
    let v = valid(&spec, "ops@example.com");
    run(&provider, Some(&v), &store).await?;
    let state = store.load()?;
    let topic_arn = state.resources["alerts"].physical_id.clone();
    assert_eq!(topic_arn, format!("arn:aws:sns:us-east-1:{}:{stack}-alerts", emulator::ACCOUNT_ID));
    let attrs = sns.get_topic_attributes().topic_arn(&topic_arn).send().await?;
    let attrs = attrs.attributes().cloned().unwrap_or_default();
    assert_eq!(attrs.get("DisplayName").map(String::as_str), Some("EC2 alerts"));
    let policy: serde_json::Value = serde_json::from_str(attrs.get("Policy").map_or("{}", String::as_str))?;
    assert!(policy.to_string().contains("events.amazonaws.com"), "topic policy: {policy}");
    let tags = sns.list_tags_for_resource().resource_arn(&topic_arn).send().await?;
    assert!(tags.tags().iter().any(|t| t.key() == "cairn:stack" && t.value() == stack));
    let subs = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await?;
    assert!(
        subs.subscriptions().iter().any(|s| s.protocol() == Some("email") && s.endpoint() == Some("ops@example.com"))
    );
    let rule = events.describe_rule().name(format!("{stack}-ec2-state")).send().await?;
    let pattern: serde_json::Value = serde_json::from_str(rule.event_pattern().unwrap_or("{}"))?;
    assert_eq!(pattern["source"], serde_json::json!(["aws.ec2"]));
    let targets = events.list_targets_by_rule().rule(format!("{stack}-ec2-state")).send().await?;
    let target = targets.targets().first().ok_or("the rule has no target")?;
    assert_eq!(target.arn(), topic_arn);
    assert!(target.input_transformer().is_some_and(|t| t.input_template().contains("<instance>")));

    // A second plan reads and changes nothing.
    provider.take();
    let again = run(&provider, Some(&v), &store).await?;
    assert!(!again.has_changes(), "{again:?}");
    let log = provider.take();
    assert_eq!(writes(&log), Vec::<String>::new());
    assert_eq!(log.len(), 3, "one read per resource: {log:?}");

    // A new display name is an in-place update.
    let mut changed = spec.clone();
    if let Some(r) = changed.resources.iter_mut().find(|r| r.id == "alerts") {
        r.props["display_name"] = "EC2 alerts (lab)".into();
    }
    let v2 = valid(&changed, "ops@example.com");
    let pl = run(&provider, Some(&v2), &store).await?;
    assert_eq!(pl.get("alerts").map(|r| r.step.clone()), Some(Step::Update { fields: vec!["display_name".into()] }));
    assert_eq!(writes(&provider.take()), vec!["update alerts"]);
    let attrs = sns.get_topic_attributes().topic_arn(&topic_arn).send().await?;
    assert_eq!(attrs.attributes().and_then(|a| a.get("DisplayName")).map(String::as_str), Some("EC2 alerts (lab)"));

    // A new name is a replacement; the subscription follows, the rule's target is updated.
    if let Some(r) = changed.resources.iter_mut().find(|r| r.id == "alerts") {
        r.props["name"] = format!("{stack}-alerts2").into();
    }
    let v3 = valid(&changed, "ops@example.com");
    let pl = run(&provider, Some(&v3), &store).await?;
    assert_eq!(pl.get("alerts").map(|r| r.step.clone()), Some(Step::Replace { because: vec!["name".into()] }));
    let new_arn = store.load()?.resources["alerts"].physical_id.clone();
    assert!(new_arn.ends_with("-alerts2"));
    let targets = events.list_targets_by_rule().rule(format!("{stack}-ec2-state")).send().await?;
    assert_eq!(targets.targets().first().map(|t| t.arn()), Some(new_arn.as_str()));
    let old = sns.get_topic_attributes().topic_arn(&topic_arn).send().await;
    assert!(old.is_err(), "the replaced topic is gone");

    // Destroy leaves nothing tagged with the stack.
    run(&provider, None, &store).await?;
    assert!(store.load()?.resources.is_empty());
    let mut tagged = Vec::new();
    for t in sns.list_topics().send().await?.topics() {
        let arn = t.topic_arn().unwrap_or_default();
        if let Ok(tags) = sns.list_tags_for_resource().resource_arn(arn).send().await
            && tags.tags().iter().any(|t| t.key() == "cairn:stack" && t.value() == stack)
        {
            tagged.push(arn.to_string());
        }
    }
    let rules = events.list_rules().name_prefix(&stack).send().await?;
    for r in rules.rules() {
        tagged.push(r.arn().unwrap_or_default().to_string());
    }
    assert_eq!(tagged, Vec::<String>::new());
    Ok(())
}
