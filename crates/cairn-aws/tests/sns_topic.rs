//! Conformance of `aws:sns:Topic` against the emulator (TESTING.md layer 3).

#![cfg(feature = "sns")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_sns::types::Tag;
use cairn_aws::kinds::sns_topic::{Topic, TopicProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:sns:Topic";

fn arn_of(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:{ACCOUNT_ID}:{name}")
}

fn publish_policy(arn: &str, principal: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "publish",
            "Effect": "Allow",
            "Principal": {"Service": [principal]},
            "Action": ["sns:Publish"],
            "Resource": arn
        }]
    })
}

async fn live_tags(sns: &aws_sdk_sns::Client, arn: &str) -> BTreeMap<String, String> {
    let out = sns.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

#[test]
fn replace_on_is_name_and_fifo() {
    assert_eq!(Topic::REPLACE_ON, &["name", "fifo"]);
    assert_eq!(Topic::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, a replace prop changed plans a
/// replace, update each updatable prop in place, unset them, delete,
/// delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("topic");
    let cx = op_ctx(&stack, "alerts");
    let name = format!("{stack}-alerts");
    let arn = arn_of(&name);

    let desired = common::checked(
        &*kind,
        &stack,
        "alerts",
        json!({"display_name": "Alerts", "policy": publish_policy(&arn, "events.amazonaws.com")}),
    );
    assert_eq!(desired["name"], json!(name));

    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, arn);
    assert_eq!(created.attrs["arn"], json!(arn));
    assert_eq!(created.attrs["name"], json!(name));

    // Read back every prop; reading twice still shows no change.
    let read = kind.read(&cx, &arn, &desired).await.unwrap().expect("topic exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &arn, &read.props).await.unwrap().expect("topic exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; a changed replace prop plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "alerts", physical_id: &arn };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let fifo = common::checked(&*kind, &stack, "alerts", json!({"fifo": true, "display_name": "Alerts"}));
    assert_eq!(re.step(&desired, &fifo).await, common::replace(&["fifo", "name"]));

    // Direct SDK reads, not through the kind.
    let attrs = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs["DisplayName"], "Alerts");
    let policy: Value = serde_json::from_str(&attrs["Policy"]).unwrap();
    assert_eq!(policy, publish_policy(&arn, "events.amazonaws.com"));
    let tags = live_tags(&sns, &arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("alerts"));

    // Update each updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "alerts",
        json!({"display_name": "Ops", "kms_key": "alias/aws/sns", "policy": publish_policy(&arn, "cloudwatch.amazonaws.com")}),
    );
    assert_eq!(re.step(&desired, &updated).await, common::update(&["display_name", "kms_key", "policy"]));
    let after = kind.update(&cx, &arn, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, arn);
    let read = kind.read(&cx, &arn, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let attrs = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap();
    assert_eq!(attrs.attributes().unwrap()["KmsMasterKeyId"], "alias/aws/sns");

    // Unset them: AWS's defaults come back and read as unset.
    let bare = common::checked(&*kind, &stack, "alerts", json!({}));
    kind.update(&cx, &arn, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &arn, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);
    assert_eq!(read.props, json!({"name": name, "fifo": false}));

    // Delete; delete again is success; then it reads as gone.
    kind.delete(&cx, &arn, &bare).await.unwrap();
    kind.delete(&cx, &arn, &bare).await.unwrap();
    assert!(kind.read(&cx, &arn, &bare).await.unwrap().is_none());
}

/// A policy AWS hands back in another form (collapsed lists, other key
/// order, no whitespace) reads as the one written: no perpetual diff.
#[tokio::test]
async fn equivalent_policy_shows_no_change() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("topicpol");
    let cx = op_ctx(&stack, "alerts");
    let arn = arn_of(&format!("{stack}-alerts"));
    let desired =
        common::checked(&*kind, &stack, "alerts", json!({"policy": publish_policy(&arn, "events.amazonaws.com")}));
    kind.create(&cx, &desired).await.unwrap();

    let reformatted = format!(
        r#"{{"Statement":{{"Resource":"{arn}","Action":"sns:Publish","Principal":{{"Service":"events.amazonaws.com"}},"Effect":"Allow","Sid":"publish"}},"Version":"2012-10-17"}}"#
    );
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Policy")
        .attribute_value(reformatted)
        .send()
        .await
        .unwrap();
    let read = kind.read(&cx, &arn, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);

    // A policy that means something else is drift and shows.
    let other = publish_policy(&arn, "s3.amazonaws.com");
    sns.set_topic_attributes()
        .topic_arn(&arn)
        .attribute_name("Policy")
        .attribute_value(other.to_string())
        .send()
        .await
        .unwrap();
    let read = kind.read(&cx, &arn, &desired).await.unwrap().unwrap();
    assert_eq!(read.props["policy"], other);

    kind.delete(&cx, &arn, &desired).await.unwrap();
}

#[tokio::test]
async fn fifo_topic() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("topicfifo");
    let cx = op_ctx(&stack, "orders");
    let desired = common::checked(&*kind, &stack, "orders", json!({"fifo": true}));
    assert_eq!(desired["name"], json!(format!("{stack}-orders.fifo")));
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("topicgone");
    let cx = op_ctx(&stack, "alerts");
    let desired = common::checked(&*kind, &stack, "alerts", json!({}));
    let created = kind.create(&cx, &desired).await.unwrap();
    sns.delete_topic().topic_arn(&created.physical_id).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "alerts",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// CreateTopic would silently return someone else's topic of the same name:
/// the kind refuses it, and adopts only its own (a crashed earlier run).
#[tokio::test]
async fn existing_topic_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("topicown");

    // Someone else's topic.
    let foreign = format!("{stack}-alerts");
    let tag = Tag::builder().key("team").value("other").build().unwrap();
    sns.create_topic().name(&foreign).tags(tag).send().await.unwrap();
    let cx = op_ctx(&stack, "alerts");
    let desired = common::checked(&*kind, &stack, "alerts", json!({"display_name": "Mine"}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("SNS topic {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    let attrs = sns.get_topic_attributes().topic_arn(arn_of(&foreign)).send().await.unwrap();
    assert_eq!(attrs.attributes().unwrap()["DisplayName"], "", "a foreign topic is left untouched");
    sns.delete_topic().topic_arn(arn_of(&foreign)).send().await.unwrap();

    // This stack's own topic, left behind by a run that died before saving state.
    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    let mut req = sns.create_topic().name(&own);
    for (k, v) in &cx.tags {
        req = req.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    req.send().await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", json!({"display_name": "Mine"}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, arn_of(&own));
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = TopicProps { name: Some("t".into()), ..TopicProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"name": "t", "fifo": false}));
}
