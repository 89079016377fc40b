//! Conformance of `aws:kms:Key` against the emulator (TESTING.md layer 3):
//! every setting read back with the SDK directly, not the kind's own read.

#![cfg(feature = "kms")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_kms::types::KeyState;
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:kms:Key";

async fn aliases(kms: &aws_sdk_kms::Client, id: &str) -> Vec<String> {
    let out = kms.list_aliases().key_id(id).send().await.unwrap();
    out.aliases().iter().filter_map(|a| a.alias_name().map(ToString::to_string)).collect()
}

async fn policy(kms: &aws_sdk_kms::Client, id: &str) -> Value {
    let out = kms.get_key_policy().key_id(id).policy_name("default").send().await.unwrap();
    serde_json::from_str(out.policy().unwrap()).unwrap()
}

/// Create, read back every prop, no diff, update each prop in place,
/// delete (scheduled, with the window), delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let kms = provider.clients().kms().await.clone();
    let stack = unique_stack("key");
    let mut cx = op_ctx(&stack, "trail-key");
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = Arc::clone(&said);
    cx.notify = Arc::new(move |m: &str| heard.lock().unwrap().push(m.to_string()));
    let alias = format!("alias/{stack}-trail");
    let root = format!("arn:aws:iam::{ACCOUNT_ID}:root");
    let admin = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
    ]});
    let desired = common::checked(
        &*kind,
        &stack,
        "trail-key",
        json!({"description": "encrypts the trail", "alias": alias, "policy": admin, "deletion_window_days": 7}),
    );
    assert_eq!(desired["rotation"], json!(true), "rotation is on by default");
    let created = kind.create(&cx, &desired).await.unwrap();
    let id = created.physical_id.clone();
    assert_eq!(created.attrs["key_id"], json!(id));
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{id}")));
    common::assert_attributes(&*kind, &created.attrs);

    // Direct SDK reads.
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.description(), Some("encrypts the trail"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(kms.get_key_rotation_status().key_id(&id).send().await.unwrap().key_rotation_enabled());
    assert_eq!(aliases(&kms, &id).await, vec![alias.clone()]);
    assert_eq!(policy(&kms, &id).await["Statement"][0]["Sid"], "Account");
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    let tag = |k: &str| tags.tags().iter().find(|t| t.tag_key() == k).map(|t| t.tag_value().to_string());
    assert_eq!(tag(TAG_STACK), Some(stack.clone()));
    assert_eq!(tag(TAG_RESOURCE).as_deref(), Some("trail-key"));

    // Read back with no diff.
    let read = kind.read(&cx, &id, &desired).await.unwrap().expect("key exists");
    assert_eq!(read.props, desired);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "trail-key", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);

    // Update each prop in place: nothing about a key forces a new one.
    let granted = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Trail", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "kms:GenerateDataKey*", "Resource": "*"}
    ]});
    let renamed = format!("{alias}-2");
    let updated = common::checked(
        &*kind,
        &stack,
        "trail-key",
        json!({"alias": renamed, "rotation": false, "policy": granted, "deletion_window_days": 7}),
    );
    assert_eq!(re.step(&desired, &updated).await, common::update(&["alias", "description", "policy", "rotation"]));
    kind.update(&cx, &id, &desired, &updated).await.unwrap();
    assert!(!kms.get_key_rotation_status().key_id(&id).send().await.unwrap().key_rotation_enabled(), "rotation off");
    assert_eq!(aliases(&kms, &id).await, vec![renamed.clone()], "the old alias is gone");
    assert_eq!(policy(&kms, &id).await["Statement"][1]["Sid"], "Trail");
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(meta.key_metadata().unwrap().description(), Some(""));
    assert_eq!(kind.read(&cx, &id, &updated).await.unwrap().unwrap().props, updated);

    // Delete: the alias goes, the key waits out its window, and it is said.
    kind.delete(&cx, &id, &updated).await.unwrap();
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    let days = (meta.deletion_date().unwrap().secs()
        - aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs()) as f64
        / 86_400.0;
    assert!((6.9..=7.1).contains(&days), "deletion in {days} days, not the 7 asked for");
    assert!(aliases(&kms, &id).await.is_empty());
    assert!(said.lock().unwrap().iter().any(|m| m.contains("in 7 days")), "{:?}", said.lock().unwrap());
    kind.delete(&cx, &id, &updated).await.unwrap();
    assert!(kind.read(&cx, &id, &updated).await.unwrap().is_none(), "a key pending deletion reads as gone");
}

/// A lost create is found again by its alias; another stack's alias is not
/// taken over.
#[tokio::test]
async fn a_create_finds_its_own_key_by_alias_and_refuses_another_stacks() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("keyadopt");
    let cx = op_ctx(&stack, "k");
    let alias = format!("alias/{stack}");
    let desired = common::checked(&*kind, &stack, "k", json!({"alias": alias}));
    let first = kind.create(&cx, &desired).await.unwrap();
    let again = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(again.physical_id, first.physical_id, "the same key, not a second one");

    let other = op_ctx("someone-else", "k");
    match kind.create(&other, &desired).await {
        Err(OpError::NotOwned { what, .. }) => assert_eq!(what, format!("KMS key {alias}")),
        other => panic!("another stack's key was taken over: {other:?}"),
    }
    kind.delete(&cx, &first.physical_id, &desired).await.unwrap();
}
