//! Conformance of `aws:events:Rule` against the emulator (TESTING.md layer 3).

#![cfg(feature = "events")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{Tag, Target};
use cairn_aws::kinds::events_rule::{InputTransformer, Rule, RuleProps};
use cairn_engine::kind::{OpError, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:events:Rule";

fn topic_arn(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:{ACCOUNT_ID}:{name}")
}

fn rule_arn(name: &str) -> String {
    format!("arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/{name}")
}

async fn live_tags(events: &aws_sdk_eventbridge::Client, arn: &str) -> BTreeMap<String, String> {
    let out = events.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

async fn live_target_ids(events: &aws_sdk_eventbridge::Client, name: &str, bus: &str) -> Vec<String> {
    let out = events.list_targets_by_rule().rule(name).event_bus_name(bus).send().await.unwrap();
    let mut ids: Vec<String> = out.targets().iter().map(|t| t.id().to_string()).collect();
    ids.sort();
    ids
}

#[test]
fn replace_on_is_name_and_bus() {
    assert_eq!(Rule::REPLACE_ON, &["name", "event_bus"]);
    assert_eq!(Rule::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop (targets of every input kind), no diff,
/// each replace prop changed plans a replace, update each updatable prop in
/// place (targets removed, changed and
/// added; pattern to schedule), delete, delete again, gone.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let events = provider.clients().events().await.clone();
    let stack = unique_stack("rule");
    let cx = op_ctx(&stack, "ec2-state");
    let name = format!("{stack}-ec2-state");
    let arn = rule_arn(&name);

    let desired = common::checked(
        &*kind,
        &stack,
        "ec2-state",
        json!({
            "description": "EC2 state changes",
            "event_pattern": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
            "targets": [
                {"arn": topic_arn("alerts"), "input": {"text": "changed", "n": [1, 2]}},
                {
                    "id": "shaped",
                    "arn": topic_arn("alerts"),
                    "input_transformer": {"paths": {"instance": "$.detail.instance-id"}, "template": "\"<instance> changed\""},
                    "role": format!("arn:aws:iam::{ACCOUNT_ID}:role/events"),
                    "dead_letter_queue": format!("arn:aws:sqs:us-east-1:{ACCOUNT_ID}:dlq")
                },
                {"arn": topic_arn("audit"), "input_path": "$.detail"}
            ]
        }),
    );
    assert_eq!(desired["targets"][0]["id"], json!("target-1"));
    assert_eq!(desired["targets"][2]["id"], json!("target-3"));

    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, arn);
    assert_eq!(created.attrs["arn"], json!(arn));
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &arn, &desired).await.unwrap().expect("rule exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &arn, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "ec2-state", physical_id: &arn };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let other_bus = common::with(&desired, "event_bus", json!(format!("{stack}-bus")));
    assert_eq!(re.step(&desired, &other_bus).await, common::replace(&["event_bus"]));

    // Direct SDK reads.
    let rule = events.describe_rule().name(&name).send().await.unwrap();
    assert_eq!(rule.description(), Some("EC2 state changes"));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    let input = events.list_targets_by_rule().rule(&name).send().await.unwrap();
    let first = input.targets().iter().find(|t| t.id() == "target-1").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(first.input().unwrap()).unwrap(),
        json!({"text": "changed", "n": [1, 2]})
    );
    assert_eq!(live_target_ids(&events, &name, "default").await, ["shaped", "target-1", "target-3"]);
    assert_eq!(live_tags(&events, &arn).await.get(TAG_STACK), Some(&stack));

    // Update in place: description, state, pattern; a target dropped, one
    // changed, one added.
    let updated = common::checked(
        &*kind,
        &stack,
        "ec2-state",
        json!({
            "description": "EC2 stops",
            "state": "DISABLED",
            "event_pattern": {"source": ["aws.ec2"], "detail": {"state": ["stopped"]}},
            "targets": [
                {"id": "shaped", "arn": topic_arn("alerts"), "input_transformer": {"template": "\"stopped\""}},
                {"id": "new", "arn": topic_arn("audit")}
            ]
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&["description", "event_pattern", "state", "targets"])
    );
    let after = kind.update(&cx, &arn, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, arn);
    assert_eq!(kind.read(&cx, &arn, &updated).await.unwrap().unwrap().props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    assert_eq!(live_target_ids(&events, &name, "default").await, ["new", "shaped"]);

    // Pattern to schedule, description and targets removed.
    let scheduled = common::checked(&*kind, &stack, "ec2-state", json!({"schedule": "rate(5 minutes)"}));
    kind.update(&cx, &arn, &updated, &scheduled).await.unwrap();
    assert_eq!(kind.read(&cx, &arn, &scheduled).await.unwrap().unwrap().props, scheduled);
    assert!(live_target_ids(&events, &name, "default").await.is_empty());

    kind.delete(&cx, &arn, &scheduled).await.unwrap();
    kind.delete(&cx, &arn, &scheduled).await.unwrap();
    assert!(kind.read(&cx, &arn, &scheduled).await.unwrap().is_none());
}

/// A rule on a custom bus: the ARN carries the bus, read gives it back as
/// the user wrote it.
#[tokio::test]
async fn custom_bus() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let events = provider.clients().events().await.clone();
    let stack = unique_stack("rulebus");
    let bus = format!("{stack}-bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let cx = op_ctx(&stack, "orders");

    let desired = common::checked(
        &*kind,
        &stack,
        "orders",
        json!({"event_bus": bus, "event_pattern": {"source": ["shop"]}, "targets": [{"arn": topic_arn("orders")}]}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = format!("{stack}-orders");
    assert_eq!(created.physical_id, format!("arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/{bus}/{name}"));
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);
    assert_eq!(live_target_ids(&events, &name, &bus).await, ["target-1"]);

    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    events.delete_event_bus().name(&bus).send().await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let events = provider.clients().events().await.clone();
    let stack = unique_stack("rulegone");
    let cx = op_ctx(&stack, "tick");
    let desired = common::checked(
        &*kind,
        &stack,
        "tick",
        json!({"schedule": "rate(1 hour)", "targets": [{"arn": topic_arn("t")}]}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = format!("{stack}-tick");
    events.remove_targets().rule(&name).ids("target-1").send().await.unwrap();
    events.delete_rule().name(&name).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "tick",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// PutRule would overwrite a rule of the same name: the kind refuses a rule
/// it does not own, and adopts (and converges) its own.
#[tokio::test]
async fn existing_rule_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let events = provider.clients().events().await.clone();
    let stack = unique_stack("ruleown");

    let foreign = format!("{stack}-tick");
    events.put_rule().name(&foreign).schedule_expression("rate(1 day)").description("theirs").send().await.unwrap();
    let cx = op_ctx(&stack, "tick");
    let desired = common::checked(&*kind, &stack, "tick", json!({"schedule": "rate(1 hour)"}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, .. }) => assert_eq!(what, format!("EventBridge rule {foreign}")),
        other => panic!("expected NotOwned, got {other:?}"),
    }
    let rule = events.describe_rule().name(&foreign).send().await.unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 day)"), "a foreign rule is left untouched");
    events.delete_rule().name(&foreign).send().await.unwrap();

    // Our own rule from a run that died before saving state, with a stale
    // target and a stale tag.
    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    let mut req = events.put_rule().name(&own).schedule_expression("rate(1 day)").description("old");
    for (k, v) in &cx.tags {
        req = req.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    req = req.tags(Tag::builder().key("stale").value("x").build().unwrap());
    req.send().await.unwrap();
    let stale = Target::builder().id("stale").arn(topic_arn("old")).build().unwrap();
    events.put_targets().rule(&own).targets(stale).send().await.unwrap();

    let desired = common::checked(
        &*kind,
        &stack,
        "mine",
        json!({"schedule": "rate(1 hour)", "targets": [{"arn": topic_arn("t")}]}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, rule_arn(&own));
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);
    assert_eq!(live_target_ids(&events, &own, "default").await, ["target-1"]);
    let tags = live_tags(&events, &created.physical_id).await;
    assert!(!tags.contains_key("stale"));
    assert_eq!(tags, cx.tags);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = RuleProps {
        schedule: Some("rate(1 hour)".into()),
        targets: vec![cairn_aws::kinds::events_rule::Target {
            arn: topic_arn("t"),
            input_transformer: Some(InputTransformer { paths: BTreeMap::new(), template: "\"x\"".into() }),
            ..Default::default()
        }],
        ..RuleProps::default()
    };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"schedule": "rate(1 hour)", "targets": [{"arn": topic_arn("t"), "input_transformer": {"paths": {}, "template": "\"x\""}}]})
    );
}
