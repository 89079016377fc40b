//! Conformance of `aws:logs:LogGroup` against the emulator (TESTING.md layer 3).

#![cfg(feature = "logs")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use aws_sdk_cloudwatchlogs::types::LogGroup as AwsLogGroup;
use cairn_aws::kinds::logs_log_group::{LogGroup, LogGroupProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:logs:LogGroup";

fn arn_of(name: &str) -> String {
    format!("arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{name}")
}

async fn describe(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> Option<AwsLogGroup> {
    let out = logs.describe_log_groups().log_group_name_prefix(name).send().await.unwrap();
    out.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned()
}

async fn live_tags(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> HashMap<String, String> {
    let out = logs.list_tags_for_resource().resource_arn(arn_of(name)).send().await.unwrap();
    out.tags().cloned().unwrap_or_default()
}

#[test]
fn replace_on_is_name_and_kms_key() {
    assert_eq!(LogGroup::REPLACE_ON, &["name", "kms_key"]);
    assert_eq!(LogGroup::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update retention in place, unset it, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("loggroup");
    let cx = op_ctx(&stack, "messages");
    let name = format!("/cairn/{stack}/messages");

    let desired = common::checked(&*kind, &stack, "messages", json!({"retention_days": 14}));
    assert_eq!(desired["name"], json!(name));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    assert_eq!(created.attrs["arn"], json!(arn_of(&name)), "the arn has no `:*`");
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("group exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().expect("group exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "messages", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let keyed = common::with(&desired, "kms_key", json!(key));
    assert_eq!(re.step(&desired, &keyed).await, common::replace(&["kms_key"]));

    // Direct SDK reads.
    let group = describe(&logs, &name).await.unwrap();
    assert_eq!(group.retention_in_days(), Some(14));
    let tags = live_tags(&logs, &name).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("messages"));

    // Update retention in place, then unset it (events kept forever).
    let updated = common::checked(&*kind, &stack, "messages", json!({"retention_days": 365}));
    assert_eq!(re.step(&desired, &updated).await, common::update(&["retention_days"]));
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, name);
    assert_eq!(kind.read(&cx, &name, &updated).await.unwrap().unwrap().props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    assert_eq!(describe(&logs, &name).await.unwrap().retention_in_days(), Some(365));

    let bare = common::checked(&*kind, &stack, "messages", json!({}));
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);
    assert_eq!(read.props, json!({"name": name}));
    assert_eq!(describe(&logs, &name).await.unwrap().retention_in_days(), None);

    kind.delete(&cx, &name, &bare).await.unwrap();
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(kind.read(&cx, &name, &bare).await.unwrap().is_none());
    assert!(describe(&logs, &name).await.is_none());
}

/// A group with a KMS key reads it back; dropping the key plans a replace.
#[tokio::test]
async fn kms_key_reads_back() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("loggroupkms");
    let cx = op_ctx(&stack, "secure");
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let desired = common::checked(&*kind, &stack, "secure", json!({"kms_key": key}));
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "secure",
        physical_id: &created.physical_id,
    };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let unkeyed = common::with(&desired, "kms_key", serde_json::Value::Null);
    assert_eq!(re.step(&desired, &unkeyed).await, common::replace(&["kms_key"]));
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("loggroupgone");
    let cx = op_ctx(&stack, "messages");
    let desired = common::checked(&*kind, &stack, "messages", json!({}));
    let created = kind.create(&cx, &desired).await.unwrap();
    logs.delete_log_group().log_group_name(&created.physical_id).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "messages",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// A group someone else made (Lambda on first invocation, say) is refused;
/// this stack's own is adopted.
#[tokio::test]
async fn existing_group_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("loggroupown");

    let cx = op_ctx(&stack, "fn-logs");
    let foreign = format!("/cairn/{stack}/fn-logs");
    logs.create_log_group().log_group_name(&foreign).send().await.unwrap();
    let desired = common::checked(&*kind, &stack, "fn-logs", json!({"retention_days": 7}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("log group {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert_eq!(describe(&logs, &foreign).await.unwrap().retention_in_days(), None, "untouched");
    logs.delete_log_group().log_group_name(&foreign).send().await.unwrap();

    let mut req = logs.create_log_group().log_group_name(&foreign);
    for (k, v) in &cx.tags {
        req = req.tags(k, v);
    }
    req.send().await.unwrap();
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, foreign);
    assert_eq!(kind.read(&cx, &foreign, &desired).await.unwrap().unwrap().props, desired);
    kind.delete(&cx, &foreign, &desired).await.unwrap();
}

#[test]
fn props_serialize_canonically() {
    let p = LogGroupProps { name: Some("/g".into()), retention_days: Some(1), ..LogGroupProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"name": "/g", "retention_days": 1}));
}
