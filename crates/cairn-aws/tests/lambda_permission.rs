//! Conformance of `aws:lambda:Permission` against the emulator (TESTING.md layer 3).
//!
//! A permission has no in-place update: Lambda offers only `AddPermission`
//! and `RemovePermission`, so every prop forces a replacement (REPLACE_ON is
//! `*`). The conformance row "update in place" is therefore tested by its
//! nearest equivalents: every prop is covered by REPLACE_ON, changing any
//! one of them plans a replace (never an update), and the kind's `update`
//! refuses rather than pretending to succeed.

#![cfg(all(feature = "lambda", feature = "iam"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_lambda::types::{FunctionCode, Runtime};
use cairn_aws::kinds::iam_role::trust_policy;
use cairn_aws::kinds::lambda_function::{ZipEntry, deterministic_zip};
use cairn_aws::kinds::lambda_permission::Permission;
use cairn_engine::kind::TypedKind;
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:lambda:Permission";

async fn function(provider: &cairn_aws::AwsProvider, stack: &str) -> (aws_sdk_lambda::Client, String) {
    let clients = provider.clients();
    let lambda = clients.lambda().await.clone();
    let role = clients
        .iam()
        .await
        .create_role()
        .role_name(format!("{stack}-role"))
        .assume_role_policy_document(trust_policy(&["lambda.amazonaws.com".into()]).to_string())
        .send()
        .await
        .unwrap();
    let zip = deterministic_zip(vec![ZipEntry { path: "index.py".into(), data: b"x = 1".to_vec(), executable: false }])
        .unwrap();
    let name = format!("{stack}-f");
    lambda
        .create_function()
        .function_name(&name)
        .runtime(Runtime::Python312)
        .handler("index.handler")
        .role(role.role().unwrap().arn())
        .code(FunctionCode::builder().zip_file(zip.into()).build())
        .send()
        .await
        .unwrap();
    (lambda, name)
}

/// Every prop the schema has is one the engine replaces on.
#[test]
fn every_prop_replaces() {
    assert_eq!(Permission::REPLACE_ON, &["*"]);
    assert!(Permission::ATTRIBUTES.is_empty());
    let kind = common::offline_kind(KIND);
    common::assert_replace_on_are_props(&*kind);
    let schema = kind.schema();
    let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(props, ["function", "principal", "action", "source_arn", "source_account", "statement_id"]);
    for p in props {
        assert!(kind.replace_on().iter().any(|r| *r == "*" || r == p), "`{p}` would be updated in place");
    }
}

#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("perm");
    let (lambda, function) = function(&provider, &stack).await;
    let cx = op_ctx(&stack, "allow-events");
    let rule = "arn:aws:events:us-east-1:123456789012:rule/r";
    let desired = common::checked(
        &*kind,
        &stack,
        "allow-events",
        json!({"function": function, "principal": "events.amazonaws.com", "source_arn": rule, "source_account": "123456789012"}),
    );
    assert_eq!(desired["statement_id"], json!(format!("{stack}-allow-events")));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, format!("{function}/{stack}-allow-events"));
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().expect("permission exists");
    assert_eq!(read.props, desired);
    common::assert_attributes(&*kind, &read.attrs);

    // The re-plan is empty; any prop changed plans a replace, never an update.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "allow-events",
        physical_id: &created.physical_id,
    };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    for (field, value) in [
        ("function", json!(format!("{function}-2"))),
        ("principal", json!("sns.amazonaws.com")),
        ("action", json!("lambda:GetFunction")),
        ("source_arn", json!("arn:aws:events:us-east-1:123456789012:rule/other")),
        ("source_account", json!("210987654321")),
        ("statement_id", json!("other")),
    ] {
        assert_eq!(re.step(&desired, &common::with(&desired, field, value)).await, common::replace(&[field]));
    }

    // Were an update asked for anyway, it is refused and changes nothing.
    let other = common::with(&desired, "principal", json!("sns.amazonaws.com"));
    let err = kind.update(&cx, &created.physical_id, &desired, &other).await.unwrap_err().to_string();
    assert!(err.contains("cannot change in place"), "{err}");
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);

    // Direct SDK read of the function's policy.
    let policy: Value =
        serde_json::from_str(lambda.get_policy().function_name(&function).send().await.unwrap().policy().unwrap())
            .unwrap();
    let text = policy.to_string();
    assert!(text.contains("events.amazonaws.com") && text.contains(rule), "{text}");

    // Creating again (a crashed run) adopts the identical statement.
    kind.create(&cx, &desired).await.unwrap();

    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());

    // Gone with its function: read None, delete success.
    let created = kind.create(&cx, &desired).await.unwrap();
    lambda.delete_function().function_name(&function).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// Removed behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("permgone");
    let (lambda, function) = function(&provider, &stack).await;
    let cx = op_ctx(&stack, "p");
    let desired = common::checked(&*kind, &stack, "p", json!({"function": function, "principal": "sns.amazonaws.com"}));
    let created = kind.create(&cx, &desired).await.unwrap();
    lambda.remove_permission().function_name(&function).statement_id(format!("{stack}-p")).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "p", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}
