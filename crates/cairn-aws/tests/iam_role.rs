//! Conformance of `aws:iam:Role` against the emulator (TESTING.md layer 3).

#![cfg(feature = "iam")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;
use cairn_aws::kinds::iam_role::{Role, trust_policy};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:iam:Role";
const BASIC: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
const SQS: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole";

fn logs_policy(action: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}]})
}

async fn live_tags(iam: &aws_sdk_iam::Client, name: &str) -> BTreeMap<String, String> {
    let out = iam.list_role_tags().role_name(name).send().await.unwrap();
    out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

async fn attached(iam: &aws_sdk_iam::Client, name: &str) -> Vec<String> {
    let out = iam.list_attached_role_policies().role_name(name).send().await.unwrap();
    let mut v: Vec<String> = out.attached_policies().iter().filter_map(|p| p.policy_arn().map(String::from)).collect();
    v.sort();
    v
}

#[test]
fn replace_on_is_name_and_path() {
    assert_eq!(Role::REPLACE_ON, &["name", "path"]);
    assert_eq!(Role::ATTRIBUTES, &["arn", "name", "id"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update each updatable prop in place, unset them, delete, delete
/// again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("role");
    let cx = op_ctx(&stack, "fn-role");
    let name = format!("{stack}-fn-role");

    let desired = common::checked(
        &*kind,
        &stack,
        "fn-role",
        json!({
            "trusted_by": ["lambda.amazonaws.com"],
            "managed_policies": [BASIC],
            "inline_policies": {"logs": logs_policy("logs:PutLogEvents")},
            "description": "lab4 role",
            "max_session": 7200
        }),
    );
    assert_eq!(desired["assume_role_policy"], trust_policy(&["lambda.amazonaws.com".into()]));
    assert!(desired.get("trusted_by").is_none());

    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:iam::{ACCOUNT_ID}:role/{name}")));
    assert_eq!(created.attrs["name"], json!(name));
    assert!(created.attrs["id"].as_str().is_some_and(|s| !s.is_empty()));

    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("role exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "fn-role", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let moved = common::with(&desired, "path", json!("/service/"));
    assert_eq!(re.step(&desired, &moved).await, common::replace(&["path"]));

    // Direct SDK reads.
    let role = iam.get_role().role_name(&name).send().await.unwrap();
    let role = role.role().unwrap();
    assert_eq!(role.description(), Some("lab4 role"));
    assert_eq!(role.max_session_duration(), Some(7200));
    assert_eq!(attached(&iam, &name).await, vec![BASIC.to_string()]);
    let inline = iam.list_role_policies().role_name(&name).send().await.unwrap();
    assert_eq!(inline.policy_names(), &["logs".to_string()]);
    let tags = live_tags(&iam, &name).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("fn-role"));

    // Update every updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "fn-role",
        json!({
            "trusted_by": ["lambda.amazonaws.com", "events.amazonaws.com"],
            "managed_policies": [SQS],
            "inline_policies": {"logs2": logs_policy("logs:CreateLogStream")},
            "description": "changed",
            "max_session": 3600
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&["assume_role_policy", "description", "inline_policies", "managed_policies", "max_session"])
    );
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, name);
    let read = kind.read(&cx, &name, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    assert_eq!(attached(&iam, &name).await, vec![SQS.to_string()]);
    let inline = iam.list_role_policies().role_name(&name).send().await.unwrap();
    assert_eq!(inline.policy_names(), &["logs2".to_string()]);

    // Unset the optional ones.
    let bare = common::checked(&*kind, &stack, "fn-role", json!({"trusted_by": ["lambda.amazonaws.com"]}));
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);

    // Delete takes the attached and inline policies with it; again is success.
    kind.update(&cx, &name, &bare, &desired).await.unwrap();
    kind.delete(&cx, &name, &desired).await.unwrap();
    kind.delete(&cx, &name, &desired).await.unwrap();
    assert!(kind.read(&cx, &name, &desired).await.unwrap().is_none());
}

/// IAM hands documents back URL-encoded, reordered, lists collapsed: they
/// read as written. A real change reads as drift.
#[tokio::test]
async fn equivalent_policies_show_no_change() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("rolepol");
    let cx = op_ctx(&stack, "r");
    let name = format!("{stack}-r");
    let desired = common::checked(
        &*kind,
        &stack,
        "r",
        json!({"trusted_by": ["lambda.amazonaws.com"], "inline_policies": {"p": logs_policy("logs:PutLogEvents")}}),
    );
    kind.create(&cx, &desired).await.unwrap();
    iam.put_role_policy()
        .role_name(&name)
        .policy_name("p")
        .policy_document(
            r#"{"Statement":{"Resource":"*","Action":"logs:PutLogEvents","Effect":"Allow"},"Version":"2012-10-17"}"#,
        )
        .send()
        .await
        .unwrap();
    iam.update_assume_role_policy()
        .role_name(&name)
        .policy_document(r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"Service":"lambda.amazonaws.com"},"Effect":"Allow"}],"Version":"2012-10-17"}"#)
        .send()
        .await
        .unwrap();
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);

    iam.put_role_policy()
        .role_name(&name)
        .policy_name("p")
        .policy_document(logs_policy("logs:*").to_string())
        .send()
        .await
        .unwrap();
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props["inline_policies"]["p"], logs_policy("logs:*"));
    kind.delete(&cx, &name, &desired).await.unwrap();
}

/// Delete removes what it last applied while it lists, then whatever was
/// added behind cairn's back (a managed policy, an inline policy, an
/// instance profile), then the role.
#[tokio::test]
async fn delete_removes_policies_added_behind_cairns_back() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("roledel");
    let cx = op_ctx(&stack, "r");
    let desired = common::checked(
        &*kind,
        &stack,
        "r",
        json!({"trusted_by": ["lambda.amazonaws.com"], "managed_policies": [BASIC],
               "inline_policies": {"mine": logs_policy("logs:PutLogEvents")}}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = created.physical_id.clone();
    iam.attach_role_policy().role_name(&name).policy_arn(SQS).send().await.unwrap();
    let extra = logs_policy("logs:*").to_string();
    iam.put_role_policy().role_name(&name).policy_name("extra").policy_document(extra).send().await.unwrap();
    let profile = format!("{stack}-profile");
    iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    iam.add_role_to_instance_profile().instance_profile_name(&profile).role_name(&name).send().await.unwrap();

    kind.delete(&cx, &name, &desired).await.unwrap();
    let gone = iam.get_role().role_name(&name).send().await.unwrap_err();
    assert_eq!(aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&gone), Some("NoSuchEntity"));
    let out = iam.get_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    assert!(out.instance_profile().unwrap().roles().is_empty(), "the role is out of the profile");
    iam.delete_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    kind.delete(&cx, &name, &desired).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("rolegone");
    let cx = op_ctx(&stack, "r");
    let desired = common::checked(&*kind, &stack, "r", json!({"trusted_by": ["lambda.amazonaws.com"]}));
    let created = kind.create(&cx, &desired).await.unwrap();
    iam.delete_role().role_name(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "r", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

#[tokio::test]
async fn existing_role_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("roleown");
    let trust = trust_policy(&["lambda.amazonaws.com".into()]).to_string();

    let foreign = format!("{stack}-r");
    iam.create_role().role_name(&foreign).assume_role_policy_document(&trust).send().await.unwrap();
    let cx = op_ctx(&stack, "r");
    let desired = common::checked(
        &*kind,
        &stack,
        "r",
        json!({"trusted_by": ["lambda.amazonaws.com"], "managed_policies": [BASIC]}),
    );
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("IAM role {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert!(attached(&iam, &foreign).await.is_empty(), "a foreign role is left untouched");
    iam.delete_role().role_name(&foreign).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    let mut req = iam.create_role().role_name(&own).assume_role_policy_document(&trust);
    for (k, v) in &cx.tags {
        req = req.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    req.send().await.unwrap();
    let desired = common::checked(
        &*kind,
        &stack,
        "mine",
        json!({"trusted_by": ["lambda.amazonaws.com"], "managed_policies": [BASIC]}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    assert_eq!(kind.read(&cx, &own, &desired).await.unwrap().unwrap().props, desired);
    kind.delete(&cx, &own, &desired).await.unwrap();
}

/// Delete removes the role from instance profiles it is in.
#[tokio::test]
async fn delete_leaves_instance_profiles() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("roleip");
    let cx = op_ctx(&stack, "r");
    let desired = common::checked(&*kind, &stack, "r", json!({"trusted_by": ["ec2.amazonaws.com"]}));
    let created = kind.create(&cx, &desired).await.unwrap();
    let profile = format!("{stack}-p");
    iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name(&profile)
        .role_name(&created.physical_id)
        .send()
        .await
        .unwrap();
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let p = iam.get_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    assert!(p.instance_profile().unwrap().roles().is_empty());
    iam.delete_instance_profile().instance_profile_name(&profile).send().await.unwrap();
}
