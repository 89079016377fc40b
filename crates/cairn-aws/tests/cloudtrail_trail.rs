//! Conformance of `aws:cloudtrail:Trail` against the emulator (TESTING.md
//! layer 3). moto accepts a trail without a bucket policy (AWS does not),
//! so the tests make a bare bucket directly.

#![cfg(all(feature = "cloudtrail", feature = "s3"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_cloudtrail::types::{ReadWriteType, Tag};
use cairn_aws::kinds::cloudtrail_trail::{Trail, TrailProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:cloudtrail:Trail";

fn arn_of(name: &str) -> String {
    format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT_ID}:trail/{name}")
}

async fn bucket(provider: &cairn_aws::AwsProvider, name: &str) {
    provider.clients().s3().await.create_bucket().bucket(name).send().await.unwrap();
}

async fn live_tags(ct: &aws_sdk_cloudtrail::Client, arn: &str) -> BTreeMap<String, String> {
    let out = ct.list_tags().resource_id_list(arn).send().await.unwrap();
    out.resource_tag_list()
        .iter()
        .flat_map(|r| r.tags_list())
        .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
        .collect()
}

#[test]
fn replace_on_is_name() {
    assert_eq!(Trail::REPLACE_ON, &["name"]);
    assert_eq!(Trail::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, a changed name plans a replace,
/// update each updatable prop in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ct = provider.clients().cloudtrail().await.clone();
    let stack = unique_stack("trail");
    let cx = op_ctx(&stack, "audit");
    let name = format!("{stack}-audit");
    let arn = arn_of(&name);
    let logs_bucket = format!("{stack}-logs");
    let other_bucket = format!("{stack}-other");
    bucket(&provider, &logs_bucket).await;
    bucket(&provider, &other_bucket).await;
    let role = format!("arn:aws:iam::{ACCOUNT_ID}:role/{stack}-trail");

    let desired = common::checked(
        &*kind,
        &stack,
        "audit",
        json!({
            "bucket": logs_bucket,
            "key_prefix": "audit",
            "cloudwatch_logs": {"log_group": format!("{stack}-trail"), "role": role}
        }),
    );
    assert_eq!(desired["name"], json!(name));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, arn);
    assert_eq!(created.attrs["arn"], json!(arn));
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &arn, &desired).await.unwrap().expect("trail exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &arn, &read.props).await.unwrap().expect("trail exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; a changed name plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "audit", physical_id: &arn };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));

    // Direct SDK reads, not through the kind.
    let trail = ct.get_trail().name(&arn).send().await.unwrap();
    let trail = trail.trail().unwrap();
    assert_eq!(trail.s3_bucket_name(), Some(logs_bucket.as_str()));
    assert_eq!(trail.s3_key_prefix(), Some("audit"));
    assert_eq!(trail.is_multi_region_trail(), Some(true));
    assert_eq!(trail.include_global_service_events(), Some(true));
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert_eq!(
        trail.cloud_watch_logs_log_group_arn(),
        Some(format!("arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:{stack}-trail:*").as_str())
    );
    assert_eq!(trail.cloud_watch_logs_role_arn(), Some(role.as_str()));
    let status = ct.get_trail_status().name(&arn).send().await.unwrap();
    assert_eq!(status.is_logging(), Some(true), "logging: true means started");
    let tags = live_tags(&ct, &arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("audit"));

    // Update each updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "audit",
        json!({
            "bucket": other_bucket,
            "key_prefix": "elsewhere",
            "multi_region": false,
            "include_global_events": false,
            "log_file_validation": false,
            "logging": false,
            "management_events": "write_only"
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&[
            "bucket",
            "cloudwatch_logs",
            "include_global_events",
            "key_prefix",
            "log_file_validation",
            "logging",
            "management_events",
            "multi_region"
        ])
    );
    let after = kind.update(&cx, &arn, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, arn);
    let read = kind.read(&cx, &arn, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let status = ct.get_trail_status().name(&arn).send().await.unwrap();
    assert_eq!(status.is_logging(), Some(false));
    let trail = ct.get_trail().name(&arn).send().await.unwrap();
    assert_eq!(trail.trail().unwrap().s3_bucket_name(), Some(other_bucket.as_str()));
    let sel = ct.get_event_selectors().trail_name(&arn).send().await.unwrap();
    assert_eq!(sel.event_selectors()[0].read_write_type(), Some(&ReadWriteType::WriteOnly));

    // And back, prefix removed: logging starts again.
    let back = common::checked(&*kind, &stack, "audit", json!({"bucket": logs_bucket}));
    kind.update(&cx, &arn, &updated, &back).await.unwrap();
    let read = kind.read(&cx, &arn, &back).await.unwrap().unwrap();
    assert_eq!(read.props, back);

    // Delete; delete again is success; then it reads as gone.
    kind.delete(&cx, &arn, &back).await.unwrap();
    assert!(ct.get_trail().name(&name).send().await.is_err(), "the trail is gone");
    kind.delete(&cx, &arn, &back).await.unwrap();
    assert!(kind.read(&cx, &arn, &back).await.unwrap().is_none());
}

/// Data events for S3 and Lambda with read-only management events map onto
/// one event selector and read back with no diff.
#[tokio::test]
async fn data_events_read_back_without_diff() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ct = provider.clients().cloudtrail().await.clone();
    let stack = unique_stack("traildata");
    let cx = op_ctx(&stack, "audit");
    let logs_bucket = format!("{stack}-logs");
    bucket(&provider, &logs_bucket).await;
    let function = format!("arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{stack}-fn");
    let desired = common::checked(
        &*kind,
        &stack,
        "audit",
        json!({
            "bucket": logs_bucket,
            "management_events": "read_only",
            "data_events": {
                "s3": [format!("arn:aws:s3:::{logs_bucket}/"), format!("arn:aws:s3:::{logs_bucket}/AWSLogs/")],
                "lambda": [function]
            }
        }),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);

    let out = ct.get_event_selectors().trail_name(&created.physical_id).send().await.unwrap();
    let sel = &out.event_selectors()[0];
    assert_eq!(sel.read_write_type(), Some(&ReadWriteType::ReadOnly));
    assert_eq!(sel.include_management_events(), Some(true));
    let types: Vec<_> = sel.data_resources().iter().filter_map(|d| d.r#type()).collect();
    assert_eq!(types, ["AWS::S3::Object", "AWS::Lambda::Function"]);
    assert_eq!(sel.data_resources()[1].values(), std::slice::from_ref(&function));

    // Data events only: management events off.
    let data_only = common::checked(
        &*kind,
        &stack,
        "audit",
        json!({"bucket": logs_bucket, "management_events": "none", "data_events": {"lambda": [function]}}),
    );
    kind.update(&cx, &created.physical_id, &desired, &data_only).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &data_only).await.unwrap().unwrap();
    assert_eq!(read.props, data_only);
    kind.delete(&cx, &created.physical_id, &data_only).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ct = provider.clients().cloudtrail().await.clone();
    let stack = unique_stack("trailgone");
    let cx = op_ctx(&stack, "audit");
    let logs_bucket = format!("{stack}-logs");
    bucket(&provider, &logs_bucket).await;
    let desired = common::checked(&*kind, &stack, "audit", json!({"bucket": logs_bucket}));
    let created = kind.create(&cx, &desired).await.unwrap();
    ct.delete_trail().name(format!("{stack}-audit")).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "audit",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// Someone else's trail of the same name is refused; this stack's own is adopted.
#[tokio::test]
async fn existing_trail_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ct = provider.clients().cloudtrail().await.clone();
    let stack = unique_stack("trailown");
    let logs_bucket = format!("{stack}-logs");
    bucket(&provider, &logs_bucket).await;

    let foreign = format!("{stack}-audit");
    ct.create_trail().name(&foreign).s3_bucket_name(&logs_bucket).send().await.unwrap();
    let cx = op_ctx(&stack, "audit");
    let desired = common::checked(&*kind, &stack, "audit", json!({"bucket": logs_bucket}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("CloudTrail trail {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    let status = ct.get_trail_status().name(&foreign).send().await.unwrap();
    assert_eq!(status.is_logging(), Some(false), "a foreign trail is left untouched");
    ct.delete_trail().name(&foreign).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    let mut req = ct.create_trail().name(&own).s3_bucket_name(&logs_bucket);
    for (k, v) in &cx.tags {
        req = req.tags_list(Tag::builder().key(k).value(v).build().unwrap());
    }
    req.send().await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", json!({"bucket": logs_bucket}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, arn_of(&own));
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = TrailProps { name: Some("t".into()), bucket: "b".into(), ..TrailProps::default() };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({
            "name": "t", "bucket": "b", "multi_region": true, "log_file_validation": true,
            "include_global_events": true, "logging": true, "management_events": "all"
        })
    );
}

/// A trail encrypting with a KMS key: refused (strict rule
/// `cloudtrail-kms-policy`, as AWS does) while the key policy leaves
/// CloudTrail out, made once the policy lets this trail in, and read back
/// with the key.
#[cfg(feature = "kms")]
#[tokio::test]
async fn a_trail_encrypts_only_with_a_key_whose_policy_lets_it() {
    use cairn_testkit::proxy::strict::rule;
    let off = [rule::TRAIL_BUCKET_POLICY, rule::TRAIL_LOGS_ROLE, rule::S3_NEW_BUCKET_LAG];
    let waits = cairn_aws::Waits {
        first_delay: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_millis(100),
        propagation: std::time::Duration::from_millis(300),
        ..cairn_aws::Waits::default()
    };
    let endpoint = cairn_testkit::emulator::strict_endpoint(&off);
    let provider = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions {
        endpoint_url: Some(endpoint),
        waits,
        ..cairn_aws::AwsOptions::default()
    });
    let kind = common::kind(&provider, KIND);
    let kms = provider.clients().kms().await.clone();
    let ct = provider.clients().cloudtrail().await.clone();
    let stack = unique_stack("trailkms");
    let cx = op_ctx(&stack, "audit");
    let logs_bucket = format!("{stack}-logs");
    bucket(&provider, &logs_bucket).await;
    let name = format!("{stack}-audit");
    let trail_arn = arn_of(&name);
    let root = json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT_ID}:root")},
        "Action": "kms:*", "Resource": "*"});
    let key = kms
        .create_key()
        .policy(json!({"Version": "2012-10-17", "Statement": [root]}).to_string())
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    let (key_id, key_arn) = (key.key_id().to_string(), key.arn().unwrap().to_string());
    let desired = common::checked(&*kind, &stack, "audit", json!({"bucket": logs_bucket, "kms_key": key_arn}));

    let refused = kind.create(&cx, &desired).await.unwrap_err().to_string();
    assert!(refused.contains("InsufficientEncryptionPolicyException"), "{refused}");
    assert!(ct.get_trail().name(&name).send().await.is_err(), "no trail was made");

    // The statements the glue derives for this trail.
    let for_trail = |other: &str| {
        json!({"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": other},
                          "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": other}}})
    };
    let put = |statement: serde_json::Value| {
        let doc = json!({"Version": "2012-10-17", "Statement": [root, statement]}).to_string();
        kms.put_key_policy().key_id(&key_id).policy_name("default").policy(doc).send()
    };
    // A grant for another trail is no grant for this one.
    put(for_trail(&arn_of("someone-elses"))).await.unwrap();
    let refused = kind.create(&cx, &desired).await.unwrap_err().to_string();
    assert!(refused.contains("InsufficientEncryptionPolicyException"), "{refused}");

    put(for_trail(&trail_arn)).await.unwrap();
    let created = kind.create(&cx, &desired).await.unwrap();
    let trail = ct.get_trail().name(&trail_arn).send().await.unwrap();
    assert_eq!(trail.trail().unwrap().kms_key_id(), Some(key_arn.as_str()));
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);

    // Unset, the trail stops encrypting with it.
    let plain = common::checked(&*kind, &stack, "audit", json!({"bucket": logs_bucket}));
    kind.update(&cx, &created.physical_id, &desired, &plain).await.unwrap();
    let trail = ct.get_trail().name(&trail_arn).send().await.unwrap();
    assert!(trail.trail().unwrap().kms_key_id().is_none_or(str::is_empty));
    kind.delete(&cx, &created.physical_id, &plain).await.unwrap();
    kms.schedule_key_deletion().key_id(&key_id).pending_window_in_days(7).send().await.unwrap();
}
