//! The tag-only operations `cairn import` uses, `Kind::live_tags` and
//! `Kind::add_tags`, against the emulator, for every kind that carries
//! tags: each resource is made by its kind's create, given a tag of its own
//! with the SDK (as someone outside cairn would), then read and tagged as an
//! import does. The tags added must land, the outside tag must stay, and the
//! resource must read back exactly as before.

#![cfg(all(
    feature = "sns",
    feature = "sqs",
    feature = "ssm",
    feature = "events",
    feature = "logs",
    feature = "cloudwatch",
    feature = "s3",
    feature = "cloudtrail",
    feature = "iam",
    feature = "lambda",
    feature = "ec2"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use cairn_aws::AwsProvider;
use cairn_aws::kinds::iam_role::trust_policy;
use cairn_engine::kind::{OpCtx, TAG_RESOURCE, TAG_STACK};
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

/// The tag someone outside cairn put on the resource.
const OUTSIDE: (&str, &str) = ("owner", "someone");

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
}

/// What an import adds: another stack as owner (a value changed) and a
/// stack tag (a key added).
fn added() -> BTreeMap<String, String> {
    tags(&[(TAG_STACK, "importer"), ("team", "x")])
}

/// One resource under test: made by `kind`'s create from `props`, then
/// tagged from outside by `tag_outside`.
struct Made {
    kind: &'static str,
    physical_id: String,
    props: Value,
    /// A physical id of this kind that names nothing.
    missing: String,
}

async fn make(provider: &AwsProvider, cx: &OpCtx, kind: &'static str, props: Value, missing: String) -> Made {
    let k = common::kind(provider, kind);
    let props = common::checked(&*k, &cx.stack, &cx.resource, props);
    let created = k.create(cx, &props).await.unwrap_or_else(|e| panic!("creating {kind}: {e}"));
    Made { kind, physical_id: created.physical_id, props, missing }
}

/// The import's tag operations on `m`, which carries the create's tags and
/// [`OUTSIDE`]; then the resource is deleted.
async fn assert_import_tags(provider: &AwsProvider, cx: &OpCtx, m: &Made) {
    let kind = common::kind(provider, m.kind);
    let what = m.kind;
    let before = kind.read(cx, &m.physical_id, &m.props).await.unwrap().unwrap_or_else(|| panic!("{what} exists"));

    let live = kind.live_tags(cx, &m.physical_id).await.unwrap().unwrap_or_else(|| panic!("{what} carries tags"));
    assert_eq!(live.get(OUTSIDE.0).map(String::as_str), Some(OUTSIDE.1), "{what}: {live:?}");
    assert_eq!(live.get(TAG_STACK), Some(&cx.stack), "{what}: {live:?}");
    assert_eq!(live.get(TAG_RESOURCE), Some(&cx.resource), "{what}: {live:?}");

    kind.add_tags(cx, &m.physical_id, &added()).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let after = kind.live_tags(cx, &m.physical_id).await.unwrap().unwrap();
    let mut want = live.clone();
    want.extend(added());
    assert_eq!(after, want, "{what}: every tag kept, the added ones set");

    // Nothing but the tags changed.
    let again = kind.read(cx, &m.physical_id, &m.props).await.unwrap().unwrap();
    assert_eq!(again.props, before.props, "{what}: props changed");
    assert_eq!(again.attrs, before.attrs, "{what}: attributes changed");

    // What is not there is an error that says so, for both.
    let e = kind.live_tags(cx, &m.missing).await.expect_err("reading a missing resource's tags").to_string();
    assert!(e.contains("does not exist"), "{what}: {e}");
    let e = kind.add_tags(cx, &m.missing, &added()).await.expect_err("tagging a missing resource").to_string();
    assert!(e.contains("does not exist"), "{what}: {e}");

    kind.delete(cx, &m.physical_id, &m.props).await.unwrap();
}

fn arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}:us-east-1:{ACCOUNT_ID}:{rest}")
}

/// SNS, SQS, SSM, EventBridge, CloudWatch Logs and CloudWatch alarms.
#[tokio::test]
async fn messaging_logs_and_alarms() {
    let provider = common::provider();
    let clients = provider.clients();
    let stack = unique_stack("imptag");
    let (k, v) = OUTSIDE;

    let cx = op_ctx(&stack, "topic");
    let m = make(&provider, &cx, "aws:sns:Topic", json!({"display_name": "T"}), arn("sns", "nothing-here")).await;
    let tag = aws_sdk_sns::types::Tag::builder().key(k).value(v).build().unwrap();
    clients.sns().await.tag_resource().resource_arn(&m.physical_id).tags(tag).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "queue");
    let missing = format!("https://sqs.us-east-1.amazonaws.com/{ACCOUNT_ID}/nothing-here");
    let m = make(&provider, &cx, "aws:sqs:Queue", json!({"visibility_timeout": 45}), missing).await;
    clients.sqs().await.tag_queue().queue_url(&m.physical_id).tags(k, v).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "param");
    let m =
        make(&provider, &cx, "aws:ssm:Parameter", json!({"value": "v1", "description": "d"}), "/nothing/here".into())
            .await;
    let tag = aws_sdk_ssm::types::Tag::builder().key(k).value(v).build().unwrap();
    let ssm = clients.ssm().await;
    ssm.add_tags_to_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::Parameter)
        .resource_id(&m.physical_id)
        .tags(tag)
        .send()
        .await
        .unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "rule");
    let props = json!({"description": "every hour", "schedule": "rate(1 hour)"});
    let m = make(&provider, &cx, "aws:events:Rule", props, arn("events", "rule/nothing-here")).await;
    let tag = aws_sdk_eventbridge::types::Tag::builder().key(k).value(v).build().unwrap();
    clients.events().await.tag_resource().resource_arn(&m.physical_id).tags(tag).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "logs");
    let m = make(&provider, &cx, "aws:logs:LogGroup", json!({"retention_days": 7}), "/nothing/here".into()).await;
    let group_arn = arn("logs", &format!("log-group:{}", m.physical_id));
    clients.logs().await.tag_resource().resource_arn(&group_arn).tags(k, v).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "alarm");
    let props = json!({
        "metric": {"namespace": "CIS", "name": "RootUsage", "statistic": "Sum", "period": 300},
        "comparison": "GreaterThanOrEqualToThreshold",
        "threshold": 1.0
    });
    let m = make(&provider, &cx, "aws:cloudwatch:Alarm", props, "nothing-here".into()).await;
    let alarm_arn = arn("cloudwatch", &format!("alarm:{}", m.physical_id));
    let tag = aws_sdk_cloudwatch::types::Tag::builder().key(k).value(v).build();
    clients.cloudwatch().await.tag_resource().resource_arn(&alarm_arn).tags(tag).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;
}

/// S3 (PutBucketTagging replaces the whole set) and CloudTrail.
#[tokio::test]
async fn buckets_and_trails() {
    let provider = common::provider();
    let clients = provider.clients();
    let s3 = clients.s3().await;
    let stack = unique_stack("imptag");
    let (k, v) = OUTSIDE;

    let cx = op_ctx(&stack, "bucket");
    let m = make(&provider, &cx, "aws:s3:Bucket", json!({"versioning": true}), format!("{stack}-nothing-here")).await;
    // The outside tag joins the set the create put.
    let mut set: Vec<aws_sdk_s3::types::Tag> =
        s3.get_bucket_tagging().bucket(&m.physical_id).send().await.unwrap().tag_set().to_vec();
    set.push(aws_sdk_s3::types::Tag::builder().key(k).value(v).build().unwrap());
    let tagging = aws_sdk_s3::types::Tagging::builder().set_tag_set(Some(set)).build().unwrap();
    s3.put_bucket_tagging().bucket(&m.physical_id).tagging(tagging).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "trail");
    let logs_bucket = format!("{stack}-trail-logs");
    s3.create_bucket().bucket(&logs_bucket).send().await.unwrap();
    let props = json!({"bucket": logs_bucket, "key_prefix": "audit"});
    let m = make(&provider, &cx, "aws:cloudtrail:Trail", props, arn("cloudtrail", "trail/nothing-here")).await;
    let tag = aws_sdk_cloudtrail::types::Tag::builder().key(k).value(v).build().unwrap();
    clients.cloudtrail().await.add_tags().resource_id(&m.physical_id).tags_list(tag).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;
}

/// IAM roles and instance profiles, Lambda functions and event source
/// mappings.
#[tokio::test]
async fn iam_and_lambda() {
    let provider = common::provider();
    let clients = provider.clients();
    let iam = clients.iam().await;
    let lambda = clients.lambda().await;
    let stack = unique_stack("imptag");
    let (k, v) = OUTSIDE;
    let iam_tag = || aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();

    let cx = op_ctx(&stack, "role");
    let props = json!({"trusted_by": ["lambda.amazonaws.com"], "description": "for import"});
    let m = make(&provider, &cx, "aws:iam:Role", props, "nothing-here".into()).await;
    iam.tag_role().role_name(&m.physical_id).tags(iam_tag()).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    // A role for the profile and the function, made directly.
    let role = iam
        .create_role()
        .role_name(format!("{stack}-fn"))
        .assume_role_policy_document(trust_policy(&["lambda.amazonaws.com".into()]).to_string())
        .send()
        .await
        .unwrap();
    let role_name = role.role().unwrap().role_name().to_string();
    let role_arn = role.role().unwrap().arn().to_string();

    let cx = op_ctx(&stack, "profile");
    let m = make(&provider, &cx, "aws:iam:InstanceProfile", json!({"role": role_name}), "nothing-here".into()).await;
    iam.tag_instance_profile().instance_profile_name(&m.physical_id).tags(iam_tag()).send().await.unwrap();
    assert_import_tags(&provider, &cx, &m).await;

    let cx = op_ctx(&stack, "fn");
    let props = json!({
        "runtime": "python3.12", "handler": "index.handler", "role": role_arn,
        "code": {"inline": "def handler(event, context):\n    return 'hi'\n"}, "memory": 256
    });
    let function = make(&provider, &cx, "aws:lambda:Function", props, "nothing-here".into()).await;
    let function_arn = arn("lambda", &format!("function:{}", function.physical_id));
    lambda.tag_resource().resource(&function_arn).tags(k, v).send().await.unwrap();

    // The mapping before the function's check deletes it.
    let sqs = clients.sqs().await;
    let queue = sqs.create_queue().queue_name(format!("{stack}-jobs")).send().await.unwrap();
    let queue_arn = arn("sqs", &format!("{stack}-jobs"));
    let mcx = op_ctx(&stack, "mapping");
    let props = json!({"function": function.physical_id, "source": queue_arn, "batch_size": 5});
    let missing = "00000000-0000-0000-0000-000000000000".to_string();
    let m = make(&provider, &mcx, "aws:lambda:EventSourceMapping", props, missing).await;
    let mapping_arn = arn("lambda", &format!("event-source-mapping:{}", m.physical_id));
    lambda.tag_resource().resource(&mapping_arn).tags(k, v).send().await.unwrap();
    assert_import_tags(&provider, &mcx, &m).await;
    assert_import_tags(&provider, &cx, &function).await;
    sqs.delete_queue().queue_url(queue.queue_url().unwrap()).send().await.unwrap();
}

/// EC2 security groups and instances.
#[tokio::test]
async fn ec2() {
    let provider = common::provider();
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("imptag");
    let tag = || aws_sdk_ec2::types::Tag::builder().key(OUTSIDE.0).value(OUTSIDE.1).build();

    let cx = op_ctx(&stack, "web");
    let props = json!({"ingress": [{"protocol": "tcp", "from_port": 443, "cidr": "0.0.0.0/0"}]});
    let group = make(&provider, &cx, "aws:ec2:SecurityGroup", props, "sg-0123456789abcdef0".into()).await;
    ec2.create_tags().resources(&group.physical_id).tags(tag()).send().await.unwrap();

    let icx = op_ctx(&stack, "host");
    let props = json!({
        "image": "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "security_groups": [group.physical_id]
    });
    let m = make(&provider, &icx, "aws:ec2:Instance", props, "i-0123456789abcdef0".into()).await;
    ec2.create_tags().resources(&m.physical_id).tags(tag()).send().await.unwrap();
    assert_import_tags(&provider, &icx, &m).await;
    assert_import_tags(&provider, &cx, &group).await;
}

/// Kinds AWS cannot tag say so, offline.
#[tokio::test]
async fn untaggable_kinds_carry_no_tags() {
    let cx = op_ctx("s", "r");
    for kind in ["aws:logs:MetricFilter", "aws:lambda:Permission", "aws:sns:Subscription"] {
        let tags = common::offline_kind(kind).live_tags(&cx, "any").await.unwrap();
        assert_eq!(tags, None, "{kind}");
    }
}
