//! Conformance of `aws:iam:InstanceProfile` against the emulator (TESTING.md layer 3).

#![cfg(feature = "iam")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_aws::kinds::iam_instance_profile::InstanceProfile;
use cairn_aws::kinds::iam_role::trust_policy;
use cairn_engine::kind::{OpError, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:iam:InstanceProfile";

async fn role(iam: &aws_sdk_iam::Client, name: &str) {
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy(&["ec2.amazonaws.com".into()]).to_string())
        .send()
        .await
        .unwrap();
}

#[test]
fn replace_on_is_name() {
    assert_eq!(InstanceProfile::REPLACE_ON, &["name"]);
    assert_eq!(InstanceProfile::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back, no diff, a changed name plans a replace, the role
/// updated in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("ip");
    let cx = op_ctx(&stack, "web");
    let name = format!("{stack}-web");
    let (r1, r2) = (format!("{stack}-r1"), format!("{stack}-r2"));
    role(&iam, &r1).await;
    role(&iam, &r2).await;

    let desired = common::checked(&*kind, &stack, "web", json!({"role": r1}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:iam::{ACCOUNT_ID}:instance-profile/{name}")));
    assert_eq!(created.attrs["name"], json!(name));
    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("profile exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);

    // The re-plan is empty; a changed name plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "web", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));

    let p = iam.get_instance_profile().instance_profile_name(&name).send().await.unwrap();
    let p = p.instance_profile().unwrap();
    assert_eq!(p.roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(), vec![r1.as_str()]);
    assert!(p.tags().iter().any(|t| t.key() == TAG_STACK && t.value() == stack));

    // The role changes in place.
    let updated = common::checked(&*kind, &stack, "web", json!({"role": r2}));
    assert_eq!(re.step(&desired, &updated).await, common::update(&["role"]));
    kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(kind.read(&cx, &name, &updated).await.unwrap().unwrap().props, updated);
    let p = iam.get_instance_profile().instance_profile_name(&name).send().await.unwrap();
    let p = p.instance_profile().unwrap();
    assert_eq!(p.roles().iter().map(|r| r.role_name()).collect::<Vec<_>>(), vec![r2.as_str()]);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");

    kind.delete(&cx, &name, &updated).await.unwrap();
    kind.delete(&cx, &name, &updated).await.unwrap();
    assert!(kind.read(&cx, &name, &updated).await.unwrap().is_none());
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create;
/// someone else's profile of that name is then refused.
#[tokio::test]
async fn disappears_and_ownership() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("ipgone");
    let cx = op_ctx(&stack, "web");
    let r = format!("{stack}-r");
    role(&iam, &r).await;
    let desired = common::checked(&*kind, &stack, "web", json!({"role": r}));
    let created = kind.create(&cx, &desired).await.unwrap();
    iam.remove_role_from_instance_profile()
        .instance_profile_name(&created.physical_id)
        .role_name(&r)
        .send()
        .await
        .unwrap();
    iam.delete_instance_profile().instance_profile_name(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "web", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();

    // Someone else's profile of that name is refused.
    iam.create_instance_profile().instance_profile_name(&created.physical_id).send().await.unwrap();
    assert!(matches!(kind.create(&cx, &desired).await, Err(OpError::NotOwned { .. })));
    iam.delete_instance_profile().instance_profile_name(&created.physical_id).send().await.unwrap();
}
