//! Conformance of `aws:lambda:Permission` against the emulator (TESTING.md layer 3).

#![cfg(all(feature = "lambda", feature = "iam"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_lambda::types::{FunctionCode, Runtime};
use cairn_aws::kinds::iam_role::trust_policy;
use cairn_aws::kinds::lambda_function::{ZipEntry, deterministic_zip};
use cairn_aws::kinds::lambda_permission::Permission;
use cairn_engine::kind::TypedKind;
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

#[test]
fn every_prop_replaces() {
    assert_eq!(Permission::REPLACE_ON, &["*"]);
    assert!(Permission::ATTRIBUTES.is_empty());
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
}
