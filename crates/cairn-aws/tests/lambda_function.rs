//! Conformance of `aws:lambda:Function` against the emulator (TESTING.md layer 3).

#![cfg(all(feature = "lambda", feature = "iam"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use cairn_aws::kinds::iam_role::trust_policy;
use cairn_aws::kinds::lambda_function::Function;
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:lambda:Function";

/// A role Lambda may assume, made directly.
pub async fn lambda_role(iam: &aws_sdk_iam::Client, name: &str) -> String {
    let out = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy(&["lambda.amazonaws.com".into()]).to_string())
        .send()
        .await
        .unwrap();
    out.role().unwrap().arn().to_string()
}

#[test]
fn replace_on_is_name() {
    assert_eq!(Function::REPLACE_ON, &["name"]);
    assert_eq!(Function::ATTRIBUTES, &["arn", "name", "version", "role"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, a changed name plans a replace,
/// update each updatable prop in place, unset them, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let lambda = provider.clients().lambda().await.clone();
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("fn");
    let cx = op_ctx(&stack, "hello");
    let name = format!("{stack}-hello");
    let role = lambda_role(&iam, &format!("{stack}-role")).await;
    let role2 = lambda_role(&iam, &format!("{stack}-role2")).await;

    let desired = common::checked(
        &*kind,
        &stack,
        "hello",
        json!({
            "runtime": "python3.12", "handler": "index.handler", "role": role,
            "code": {"inline": "def handler(event, context):\n    return 'hi'\n"},
            "memory": 256, "timeout": 10, "environment": {"GREETING": "hi"},
            "description": "lab4", "reserved_concurrency": 2, "architecture": "arm64"
        }),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    assert_eq!(created.attrs["name"], json!(name));
    assert_eq!(created.attrs["role"], json!(role));
    assert_eq!(created.attrs["version"], json!("$LATEST"));
    assert!(created.attrs["arn"].as_str().unwrap().ends_with(&format!(":function:{name}")));
    assert_eq!(created.props, desired);

    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("function exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; a changed name plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "hello", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));

    // Direct SDK reads.
    let out = lambda.get_function().function_name(&name).send().await.unwrap();
    let c = out.configuration().unwrap();
    assert_eq!(c.memory_size(), Some(256));
    assert_eq!(c.timeout(), Some(10));
    assert_eq!(c.handler(), Some("index.handler"));
    assert_eq!(c.code_sha256(), desired["code_sha256"].as_str());
    assert_eq!(c.environment().unwrap().variables().unwrap()["GREETING"], "hi");
    let tags = out.tags().unwrap();
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("hello"));

    // Update every updatable prop in place (architecture too on AWS, where
    // UpdateFunctionCode takes it; moto ignores it there, so it stays put).
    let updated = common::checked(
        &*kind,
        &stack,
        "hello",
        json!({
            "runtime": "python3.13", "handler": "main.handler", "role": role2,
            "code": {"inline": "def handler(event, context):\n    return 'bye'\n"},
            "memory": 512, "timeout": 30, "environment": {"GREETING": "bye", "MORE": "1"},
            "architecture": "arm64", "description": "changed", "reserved_concurrency": 3
        }),
    );
    assert_ne!(updated["code_sha256"], desired["code_sha256"]);
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&[
            "code",
            "code_sha256",
            "description",
            "environment",
            "handler",
            "memory",
            "reserved_concurrency",
            "role",
            "runtime",
            "timeout"
        ])
    );
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.attrs["role"], json!(role2));
    let read = kind.read(&cx, &name, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): only the source text, which
    // AWS does not keep (its hash reads back), comes from those props.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, common::update(&["code"]), "{seen:?}");
    let c = lambda.get_function_configuration().function_name(&name).send().await.unwrap();
    assert_eq!(c.code_sha256(), updated["code_sha256"].as_str());
    assert_eq!(c.runtime().map(|r| r.as_str()), Some("python3.13"));

    // Unset the optional ones.
    let bare = common::checked(
        &*kind,
        &stack,
        "hello",
        json!({"runtime": "python3.13", "handler": "main.handler", "role": role2,
               "code": {"inline": "def handler(event, context):\n    return 'bye'\n"}, "architecture": "arm64"}),
    );
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);

    kind.delete(&cx, &name, &bare).await.unwrap();
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(kind.read(&cx, &name, &bare).await.unwrap().is_none());
}

/// Lab 5: code from a directory. Unchanged source: no diff. One byte
/// changed: only `code_sha256` differs, and the update is one code upload.
#[tokio::test]
async fn code_from_a_directory() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let lambda = provider.clients().lambda().await.clone();
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("fndir");
    let cx = op_ctx(&stack, "hello");
    let name = format!("{stack}-hello");
    let role = lambda_role(&iam, &format!("{stack}-role")).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.mjs"), "export const handler = async () => 1;\n").unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    std::fs::write(dir.path().join("lib/util.mjs"), "export const x = 1;\n").unwrap();
    let props = json!({"runtime": "nodejs22.x", "handler": "index.handler", "role": role,
                       "code": {"dir": dir.path().to_string_lossy()}});

    let desired = common::checked(&*kind, &stack, "hello", props.clone());
    kind.create(&cx, &desired).await.unwrap();
    let sha_before = lambda.get_function_configuration().function_name(&name).send().await.unwrap();
    let last_modified = sha_before.last_modified().map(String::from);

    // Deploying again without changes: same canonical props, nothing to do.
    std::fs::write(dir.path().join("index.mjs"), "export const handler = async () => 1;\n").unwrap();
    let again = common::checked(&*kind, &stack, "hello", props.clone());
    assert_eq!(again, desired);
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, again);

    // One byte changed: only the hash differs.
    std::fs::write(dir.path().join("lib/util.mjs"), "export const x = 2;\n").unwrap();
    let changed = common::checked(&*kind, &stack, "hello", props.clone());
    let diff: Vec<&String> =
        changed.as_object().unwrap().iter().filter(|(k, v)| read.props.get(*k) != Some(*v)).map(|(k, _)| k).collect();
    assert_eq!(diff, vec!["code_sha256"]);
    kind.update(&cx, &name, &read.props, &changed).await.unwrap();
    let c = lambda.get_function_configuration().function_name(&name).send().await.unwrap();
    assert_eq!(c.code_sha256(), changed["code_sha256"].as_str());
    assert_ne!(c.last_modified().map(String::from), None);
    let _ = last_modified;
    let read = kind.read(&cx, &name, &changed).await.unwrap().unwrap();
    assert_eq!(read.props, changed);
    kind.delete(&cx, &name, &changed).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let lambda = provider.clients().lambda().await.clone();
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("fngone");
    let cx = op_ctx(&stack, "f");
    let role = lambda_role(&iam, &format!("{stack}-role")).await;
    let desired = common::checked(
        &*kind,
        &stack,
        "f",
        json!({"runtime": "python3.12", "handler": "index.handler", "role": role, "code": {"inline": "x = 1"}}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    lambda.delete_function().function_name(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "f", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

#[tokio::test]
async fn existing_function_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let lambda = provider.clients().lambda().await.clone();
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("fnown");
    let role = lambda_role(&iam, &format!("{stack}-role")).await;
    let props = json!({"runtime": "python3.12", "handler": "index.handler", "role": role, "code": {"inline": "x = 1"}});
    let zip = cairn_aws::kinds::lambda_function::deterministic_zip(vec![cairn_aws::kinds::lambda_function::ZipEntry {
        path: "index.py".into(),
        data: b"x = 0".to_vec(),
        executable: false,
    }])
    .unwrap();
    let make = |name: String, tags: HashMap<String, String>| {
        lambda
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .handler("index.handler")
            .role(&role)
            .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(zip.clone().into()).build())
            .set_tags(Some(tags))
            .send()
    };

    make(format!("{stack}-f"), HashMap::new()).await.unwrap();
    let cx = op_ctx(&stack, "f");
    let desired = common::checked(&*kind, &stack, "f", props.clone());
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, .. }) => assert_eq!(what, format!("Lambda function {stack}-f")),
        other => panic!("expected NotOwned, got {other:?}"),
    }
    lambda.delete_function().function_name(format!("{stack}-f")).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    make(format!("{stack}-mine"), cx.tags.clone().into_iter().collect()).await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", props);
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired, "adoption uploads this stack's code");
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}
