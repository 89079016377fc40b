//! The look for an existing resource that apply makes as it starts
//! (`Kind::absent`), for every kind whose create looks first (except S3
//! buckets, which look right before their create): it finds
//! nothing before the create, the create told so (`OpCtx::absent`) makes
//! the resource without looking again, and the look then finds it.

#![cfg(all(
    feature = "sns",
    feature = "sqs",
    feature = "s3",
    feature = "cloudtrail",
    feature = "events",
    feature = "cloudwatch",
    feature = "logs"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::{Value, json};

/// Looks, creates as told the look found nothing, reads back, looks again,
/// deletes.
async fn check(provider: &cairn_aws::AwsProvider, type_name: &str, stack: &str, id: &str, props: Value) {
    let kind = common::kind(provider, type_name);
    let desired = common::checked(&*kind, stack, id, props);
    let mut cx = op_ctx(stack, id);
    assert_eq!(kind.absent(&cx, &desired).await, Some(true), "{type_name}: nothing there yet");
    cx.absent = true;
    let created = kind.create(&cx, &desired).await.unwrap_or_else(|e| panic!("{type_name}: {e}"));
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().expect("created");
    assert_eq!(read.props, desired, "{type_name}");
    assert_eq!(read.attrs, created.attrs, "{type_name}");
    assert_eq!(kind.absent(&cx, &desired).await, Some(false), "{type_name}: now it is there");
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

#[tokio::test]
async fn each_kind_that_looks_first_can_look_early() {
    let provider = common::provider();
    let stack = unique_stack("early");
    let clients = provider.clients();
    let bucket = format!("{stack}-trail-logs");
    clients.s3().await.create_bucket().bucket(&bucket).send().await.unwrap();
    let group = format!("/cairn/{stack}/trail");
    clients.logs().await.create_log_group().log_group_name(&group).send().await.unwrap();

    check(&provider, "aws:sns:Topic", &stack, "alerts", json!({})).await;
    check(&provider, "aws:sqs:Queue", &stack, "jobs", json!({})).await;
    check(&provider, "aws:cloudtrail:Trail", &stack, "audit", json!({"bucket": bucket})).await;
    check(&provider, "aws:events:Rule", &stack, "tick", json!({"schedule": "rate(1 hour)"})).await;
    let metric = json!({"namespace": "N", "name": "M", "statistic": "Sum", "period": 300});
    let alarm = json!({"metric": metric, "comparison": "GreaterThanOrEqualToThreshold", "threshold": 1.0});
    check(&provider, "aws:cloudwatch:Alarm", &stack, "denied", alarm).await;
    let filter = json!({"log_group": group, "pattern": "", "metric": {"name": "M", "namespace": "N"}});
    check(&provider, "aws:logs:MetricFilter", &stack, "errors", filter).await;

    // A bucket always looks for itself, right before its create: CreateBucket
    // succeeds on a bucket this account owns (us-east-1), so it cannot ask.
    let buckets = common::kind(&provider, "aws:s3:Bucket");
    let store = json!({"name": format!("{stack}-store")});
    assert_eq!(buckets.absent(&op_ctx(&stack, "store"), &store).await, None);

    // A name still to come from another resource: no early look.
    let kind = common::kind(&provider, "aws:logs:MetricFilter");
    let planned = json!({"name": "x", "log_group": {"$cairn_unknown": "trail-logs.name"}});
    assert_eq!(kind.absent(&op_ctx(&stack, "later"), &planned).await, None);

    clients.logs().await.delete_log_group().log_group_name(&group).send().await.unwrap();
    // The trail wrote into the bucket (the strict layer delivers as
    // CloudTrail does): the bucket kind empties what CloudTrail wrote.
    let props = common::checked(&*buckets, &stack, "trail-logs", json!({"name": bucket}));
    buckets.delete(&op_ctx(&stack, "trail-logs"), &bucket, &props).await.unwrap();
}
