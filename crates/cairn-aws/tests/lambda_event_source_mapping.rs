//! Conformance of `aws:lambda:EventSourceMapping` against the emulator
//! (TESTING.md layer 3). The queue, role and function are made directly.

#![cfg(all(feature = "lambda", feature = "iam"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_lambda::types::{FunctionCode, FunctionResponseType, Runtime};
use cairn_aws::kinds::iam_role::trust_policy;
use cairn_aws::kinds::lambda_event_source_mapping::EventSourceMapping;
use cairn_aws::kinds::lambda_function::{ZipEntry, deterministic_zip};
use cairn_engine::kind::{OpError, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:lambda:EventSourceMapping";

struct Fixture {
    lambda: aws_sdk_lambda::Client,
    function: String,
    function_arn: String,
    queue_arn: String,
}

async fn fixture(provider: &cairn_aws::AwsProvider, stack: &str) -> Fixture {
    let clients = provider.clients();
    let lambda = clients.lambda().await.clone();
    let iam = clients.iam().await;
    let sqs = aws_sdk_sqs::Client::new(clients.config().await);
    let role = iam
        .create_role()
        .role_name(format!("{stack}-role"))
        .assume_role_policy_document(trust_policy(&["lambda.amazonaws.com".into()]).to_string())
        .send()
        .await
        .unwrap();
    let zip = deterministic_zip(vec![ZipEntry {
        path: "index.py".into(),
        data: b"def handler(e, c): pass".to_vec(),
        executable: false,
    }])
    .unwrap();
    let function = format!("{stack}-worker");
    let f = lambda
        .create_function()
        .function_name(&function)
        .runtime(Runtime::Python312)
        .handler("index.handler")
        .role(role.role().unwrap().arn())
        .code(FunctionCode::builder().zip_file(zip.into()).build())
        .send()
        .await
        .unwrap();
    let queue = sqs.create_queue().queue_name(format!("{stack}-jobs")).send().await.unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let queue_arn = attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    Fixture { lambda, function, function_arn: f.function_arn().unwrap().to_string(), queue_arn }
}

#[test]
fn replace_on_is_function_and_source() {
    assert_eq!(EventSourceMapping::REPLACE_ON, &["function", "source"]);
    assert_eq!(EventSourceMapping::ATTRIBUTES, &["id", "arn"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update each updatable prop in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("esm");
    let fx = fixture(&provider, &stack).await;
    let cx = op_ctx(&stack, "jobs-to-worker");

    let desired = common::checked(
        &*kind,
        &stack,
        "jobs-to-worker",
        json!({"function": fx.function, "source": fx.queue_arn, "batch_size": 5, "batching_window": 2,
               "scaling_max_concurrency": 5, "report_batch_item_failures": true}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let uuid = created.physical_id.clone();
    assert_eq!(created.attrs["id"], json!(uuid));
    assert!(created.attrs["arn"].as_str().unwrap().ends_with(&uuid));

    let read = kind.read(&cx, &uuid, &desired).await.unwrap().expect("mapping exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &uuid, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "jobs-to-worker", physical_id: &uuid };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let other_function = common::with(&desired, "function", json!(format!("{}-2", fx.function)));
    assert_eq!(re.step(&desired, &other_function).await, common::replace(&["function"]));
    let other_source = common::with(&desired, "source", json!(format!("{}-2", fx.queue_arn)));
    assert_eq!(re.step(&desired, &other_source).await, common::replace(&["source"]));

    // Direct SDK reads.
    let m = fx.lambda.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(m.batch_size(), Some(5));
    assert_eq!(m.maximum_batching_window_in_seconds(), Some(2));
    assert_eq!(m.function_arn(), Some(fx.function_arn.as_str()));
    assert_eq!(m.state(), Some("Enabled"));
    assert_eq!(m.function_response_types(), &[FunctionResponseType::ReportBatchItemFailures]);
    let tags = fx.lambda.list_tags().resource(m.event_source_mapping_arn().unwrap()).send().await.unwrap();
    assert_eq!(tags.tags().unwrap().get(TAG_STACK), Some(&stack));

    // Update every updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "jobs-to-worker",
        json!({"function": fx.function, "source": fx.queue_arn, "batch_size": 100, "batching_window": 10,
               "enabled": false, "scaling_max_concurrency": 10}),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&[
            "batch_size",
            "batching_window",
            "enabled",
            "report_batch_item_failures",
            "scaling_max_concurrency"
        ])
    );
    let after = kind.update(&cx, &uuid, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, uuid);
    let read = kind.read(&cx, &uuid, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let m = fx.lambda.get_event_source_mapping().uuid(&uuid).send().await.unwrap();
    assert_eq!(m.state(), Some("Disabled"));
    assert_eq!(m.batch_size(), Some(100));

    // The function given by ARN is the same function: no diff.
    let mut by_arn = updated.clone();
    by_arn["function"] = json!(fx.function_arn);
    assert_eq!(kind.read(&cx, &uuid, &by_arn).await.unwrap().unwrap().props, by_arn);
    kind.delete(&cx, &uuid, &updated).await.unwrap();
    kind.delete(&cx, &uuid, &updated).await.unwrap();
    assert!(kind.read(&cx, &uuid, &updated).await.unwrap().is_none());
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("esmgone");
    let fx = fixture(&provider, &stack).await;
    let cx = op_ctx(&stack, "m");
    let desired = common::checked(&*kind, &stack, "m", json!({"function": fx.function_arn, "source": fx.queue_arn}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);
    fx.lambda.delete_event_source_mapping().uuid(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "m", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

#[tokio::test]
async fn existing_mapping_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("esmown");
    let fx = fixture(&provider, &stack).await;
    let foreign = fx
        .lambda
        .create_event_source_mapping()
        .function_name(&fx.function)
        .event_source_arn(&fx.queue_arn)
        .send()
        .await
        .unwrap();
    let cx = op_ctx(&stack, "m");
    let desired = common::checked(&*kind, &stack, "m", json!({"function": fx.function, "source": fx.queue_arn}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, .. }) => assert!(what.contains(foreign.uuid().unwrap())),
        other => panic!("expected NotOwned, got {other:?}"),
    }
    // As on AWS, a mapping cannot be deleted until it has settled.
    for _ in 0..50 {
        let m = fx.lambda.get_event_source_mapping().uuid(foreign.uuid().unwrap()).send().await.unwrap();
        if m.state() == Some("Enabled") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    fx.lambda.delete_event_source_mapping().uuid(foreign.uuid().unwrap()).send().await.unwrap();

    let own = fx
        .lambda
        .create_event_source_mapping()
        .function_name(&fx.function)
        .event_source_arn(&fx.queue_arn)
        .set_tags(Some(cx.tags.clone().into_iter().collect()))
        .send()
        .await
        .unwrap();
    let desired =
        common::checked(&*kind, &stack, "m", json!({"function": fx.function, "source": fx.queue_arn, "batch_size": 3}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own.uuid().unwrap());
    assert_eq!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap().props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}
